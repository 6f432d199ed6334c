/** SQLite persistence of rollouts and their per-site state (tables: the `models` migrations, ./schema.ts). */
import type { CloudDb } from '../db.ts';
import type { GateSpec, GateVerdict } from './gates.ts';

export type RolloutState = 'canary' | 'promoting' | 'completed' | 'paused' | 'rolling_back' | 'rolled_back' | 'aborted';
export type SiteState = 'pending' | 'deploying' | 'observing' | 'active' | 'refused' | 'failed' | 'rolling_back' | 'rolled_back' | 'rollback_failed' | 'skipped';

export interface RolloutRow {
  id: string;
  name: string;
  version: string;
  digest: string;
  size: number;
  budget: number;
  state: RolloutState;
  resumeTo: RolloutState | null;
  reason: string | null;
  spec: { gates: GateSpec; observeMs: number; batchSize: number; maxFailures: number };
  created: number;
  updated: number;
  by: string;
}

export interface SiteRow {
  rollout: string;
  site: string;
  stage: 'canary' | 'rest';
  state: SiteState;
  cmd: { v: 1; id: string; name: string; args: Record<string, unknown>; issuedAt: number; expiresAt: number } | null;
  sentAt: number | null;
  lastSent: number | null;
  deployedAt: number | null;
  prev: string | null;
  result: Record<string, unknown> | null;
  gates: GateVerdict | null;
  updated: number;
}

const j = (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v));
const p = <T>(v: unknown): T | null => (typeof v === 'string' ? (JSON.parse(v) as T) : null);

export class RolloutStore {
  constructor(private readonly db: CloudDb) {}

  insert(r: RolloutRow, sites: Array<{ site: string; stage: 'canary' | 'rest' }>): void {
    this.db.transaction(() => {
      this.db.prepare('INSERT INTO model_rollouts (id, name, version, digest, size, budget, state, resume_to, reason, spec, created, updated, by) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)')
        .run(r.id, r.name, r.version, r.digest, r.size, r.budget, r.state, null, null, JSON.stringify(r.spec), r.created, r.updated, r.by);
      const ins = this.db.prepare("INSERT INTO model_rollout_sites (rollout, site, stage, state, updated) VALUES (?, ?, ?, 'pending', ?)");
      for (const s of sites) ins.run(r.id, s.site, s.stage, r.created);
    })();
  }

  private static rollout(x: Record<string, unknown>): RolloutRow {
    return { id: x.id as string, name: x.name as string, version: x.version as string, digest: x.digest as string, size: x.size as number, budget: x.budget as number, state: x.state as RolloutState, resumeTo: x.resume_to as RolloutState | null, reason: x.reason as string | null, spec: JSON.parse(x.spec as string), created: x.created as number, updated: x.updated as number, by: x.by as string };
  }

  private static site(x: Record<string, unknown>): SiteRow {
    return { rollout: x.rollout as string, site: x.site as string, stage: x.stage as SiteRow['stage'], state: x.state as SiteState, cmd: p(x.cmd), sentAt: x.sent_at as number | null, lastSent: x.last_sent as number | null, deployedAt: x.deployed_at as number | null, prev: x.prev as string | null, result: p(x.result), gates: p(x.gates), updated: x.updated as number };
  }

  get(id: string): RolloutRow | undefined {
    const x = this.db.prepare('SELECT * FROM model_rollouts WHERE id = ?').get(id) as Record<string, unknown> | undefined;
    return x && RolloutStore.rollout(x);
  }

  list(states?: string[]): RolloutRow[] {
    const rows = (states
      ? this.db.prepare(`SELECT * FROM model_rollouts WHERE state IN (${states.map(() => '?').join(',')}) ORDER BY created`).all(...states)
      : this.db.prepare('SELECT * FROM model_rollouts ORDER BY created DESC LIMIT 200').all()) as Array<Record<string, unknown>>;
    return rows.map(RolloutStore.rollout);
  }

  sites(id: string): SiteRow[] {
    return (this.db.prepare('SELECT * FROM model_rollout_sites WHERE rollout = ? ORDER BY stage, site').all(id) as Array<Record<string, unknown>>).map(RolloutStore.site);
  }

  siteByCmd(cmdId: string): SiteRow | undefined {
    const x = this.db.prepare('SELECT * FROM model_rollout_sites WHERE cmd_id = ?').get(cmdId) as Record<string, unknown> | undefined;
    return x && RolloutStore.site(x);
  }

  sitesInActiveRollouts(sites: string[]): string[] {
    const set = new Set(sites);
    const rows = this.db.prepare("SELECT s.site FROM model_rollout_sites s JOIN model_rollouts r ON r.id = s.rollout WHERE r.state IN ('canary','promoting','paused','rolling_back')").all() as Array<{ site: string }>;
    return rows.map((r) => r.site).filter((s) => set.has(s));
  }

  setState(id: string, state: RolloutState, resumeTo: RolloutState | null, reason?: string | null): void {
    this.db.prepare('UPDATE model_rollouts SET state = ?, resume_to = ?, reason = coalesce(?, reason), updated = ? WHERE id = ?').run(state, resumeTo, reason ?? null, Date.now(), id);
  }

  skipPending(id: string): void {
    this.db.prepare("UPDATE model_rollout_sites SET state = 'skipped', updated = ? WHERE rollout = ? AND state = 'pending'").run(Date.now(), id);
  }

  updateSite(rollout: string, site: string, u: Partial<Pick<SiteRow, 'state' | 'cmd' | 'sentAt' | 'lastSent' | 'deployedAt' | 'prev' | 'result' | 'gates'>>): void {
    const sets: string[] = ['updated = ?'];
    const args: unknown[] = [Date.now()];
    const col: Record<string, string> = { state: 'state', sentAt: 'sent_at', lastSent: 'last_sent', deployedAt: 'deployed_at', prev: 'prev' };
    for (const [k, v] of Object.entries(u)) {
      if (k === 'cmd') { sets.push('cmd = ?', 'cmd_id = ?'); args.push(j(v), (v as SiteRow['cmd'])?.id ?? null); }
      else if (k === 'result' || k === 'gates') { sets.push(`${k} = ?`); args.push(j(v)); }
      else { sets.push(`${col[k]} = ?`); args.push(v); }
    }
    this.db.prepare(`UPDATE model_rollout_sites SET ${sets.join(', ')} WHERE rollout = ? AND site = ?`).run(...args, rollout, site);
  }
}
