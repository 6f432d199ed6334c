/**
 * Rollouts: deploy a registry bundle to a group of sites — a canary stage first (gates judged from
 * the canary's own model_stats against the previous model on the same site), then the rest in
 * batches; a failed gate, a refused or timed-out canary, or too many failures later roll every
 * touched site back. State lives in SQLite, so a cloud restart continues where it stopped.
 * Commands go out with ctx.commands.publishCommand; results come back as cmdres items.
 */
import crypto from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { CodedError, errMessage } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import type { CommandResultItem, TelemetryItem } from '../../protocol/schemas.ts';
import type { CommandBus } from '../context.ts';
import type { CloudDb } from '../db.ts';
import type { DeviceRegistry } from '../devices/registry.ts';
import type { ModelsConfig } from './config.ts';
import { aggregate, evaluateGates, GateSpecSchema, type GateSpec, type GateVerdict } from './gates.ts';
import type { ModelRegistry } from './registry.ts';
import { migrate } from '../migrations.ts';
import { RolloutStore, type RolloutRow, type SiteRow } from './rollout-store.ts';
import { MODELS_SCHEMA } from './schema.ts';

const SiteId = Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' });
export const RolloutSpecSchema = Type.Object({
  name: Type.String({ minLength: 1 }),
  version: Type.String({ minLength: 1 }),
  sites: Type.Optional(Type.Array(SiteId, { minItems: 1, maxItems: 10_000 })),
  select: Type.Optional(Type.String({ pattern: '^[a-z0-9*-]{1,64}$', description: "glob over provisioned site ids, e.g. 'street-*'" })),
  canary: Type.Optional(Type.Object({
    sites: Type.Optional(Type.Array(SiteId, { minItems: 1 })),
    percent: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 100 })),
  }, { additionalProperties: false })),
  gates: Type.Optional(GateSpecSchema),
  observeMs: Type.Optional(Type.Integer({ minimum: 0 })),
  batchSize: Type.Optional(Type.Integer({ minimum: 1 })),
  maxFailures: Type.Optional(Type.Integer({ minimum: 0, description: 'failed sites tolerated after the canary before everything rolls back' })),
}, { additionalProperties: false });
export type RolloutSpec = Static<typeof RolloutSpecSchema>;

const hashToken = (t: string) => crypto.createHash('sha256').update(t).digest('hex');
const ACTIVE_STATES = ['canary', 'promoting', 'rolling_back'];

export class RolloutEngine {
  readonly store: RolloutStore;
  private timer?: NodeJS.Timeout;
  private ticking = false;

  constructor(private readonly db: CloudDb, private readonly registry: ModelRegistry, private readonly bus: CommandBus, private readonly devices: DeviceRegistry, private readonly cfg: ModelsConfig, private readonly log: Logger) {
    migrate(db, [MODELS_SCHEMA]); // a no-op when the cloud applied it at start
    this.store = new RolloutStore(db);
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.cfg.rollout.tickMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  create(spec: RolloutSpec, by: string): RolloutRow {
    const bundle = this.registry.get(spec.name, spec.version);
    if (!bundle) throw new CodedError('MODEL_NOT_FOUND', `${spec.name}@${spec.version} is not in the registry; push it first`, { status: 404 });
    const known = this.devices.list().filter((d) => d.revoked === null).map((d) => d.site);
    let group: string[];
    if (spec.sites) {
      const unknown = spec.sites.filter((s) => !known.includes(s));
      if (unknown.length) throw new CodedError('ROLLOUT_UNKNOWN_SITE', `not provisioned: ${unknown.join(', ')}`, { status: 404 });
      group = [...new Set(spec.sites)];
    } else if (spec.select) {
      const re = new RegExp(`^${spec.select.replace(/[-]/g, '\\-').replace(/\*/g, '.*')}$`);
      group = known.filter((s) => re.test(s));
    } else throw new CodedError('ROLLOUT_NO_TARGET', 'give `sites` (a list) or `select` (a glob such as street-*)');
    if (!group.length) throw new CodedError('ROLLOUT_NO_TARGET', `no provisioned site matches ${spec.select}`);
    const busy = this.store.sitesInActiveRollouts(group);
    if (busy.length) throw new CodedError('ROLLOUT_CONFLICT', `sites already in a running rollout: ${busy.slice(0, 5).join(', ')}${busy.length > 5 ? '…' : ''}; pause/abort it first`, { status: 409 });
    let canary: string[];
    if (spec.canary?.sites) {
      const outside = spec.canary.sites.filter((s) => !group.includes(s));
      if (outside.length) throw new CodedError('ROLLOUT_BAD_CANARY', `canary sites not in the group: ${outside.join(', ')}`);
      canary = spec.canary.sites;
    } else canary = group.slice(0, Math.max(1, Math.ceil((group.length * (spec.canary?.percent ?? 0)) / 100)));
    const gates = { minFrames: 20, maxErrorRate: 0.01, latencyFactor: 1, minFpsRatio: 0.8, maxDetectionDrift: 0.5, ...(spec.gates ?? {}) } as GateSpec;
    const id = crypto.randomUUID();
    const row: RolloutRow = {
      id, name: bundle.name, version: bundle.version, digest: bundle.digest, size: bundle.size, budget: bundle.latencyBudgetMs,
      state: 'canary', resumeTo: null, reason: null, created: Date.now(), updated: Date.now(), by,
      spec: { gates, observeMs: spec.observeMs ?? this.cfg.rollout.observeMs, batchSize: spec.batchSize ?? this.cfg.rollout.batchSize, maxFailures: spec.maxFailures ?? 0 },
    };
    this.store.insert(row, group.map((site) => ({ site, stage: canary.includes(site) ? 'canary' : 'rest' })));
    this.log.info({ rollout: id, model: `${row.name}@${row.version}`, sites: group.length, canary }, 'rollout started');
    void this.tick();
    return row;
  }

  pause(id: string): RolloutRow {
    const r = this.must(id);
    if (r.state !== 'canary' && r.state !== 'promoting') throw new CodedError('ROLLOUT_BAD_STATE', `rollout is ${r.state}; only a canary or promoting rollout can be paused`, { status: 409 });
    this.store.setState(id, 'paused', r.state);
    return this.must(id);
  }

  resume(id: string): RolloutRow {
    const r = this.must(id);
    if (r.state !== 'paused') throw new CodedError('ROLLOUT_BAD_STATE', `rollout is ${r.state}, not paused`, { status: 409 });
    this.store.setState(id, r.resumeTo ?? 'canary', null);
    void this.tick();
    return this.must(id);
  }

  abort(id: string): RolloutRow {
    const r = this.must(id);
    if (!['canary', 'promoting', 'paused'].includes(r.state)) throw new CodedError('ROLLOUT_BAD_STATE', `rollout is ${r.state}; nothing to abort`, { status: 409 });
    this.store.setState(id, 'aborted', null, 'aborted by operator; sites keep the model they run');
    this.store.skipPending(id);
    return this.must(id);
  }

  rollback(id: string, reason: string): RolloutRow {
    const r = this.must(id);
    if (r.state === 'rolling_back' || r.state === 'rolled_back') return r;
    this.store.setState(id, 'rolling_back', null, reason);
    this.store.skipPending(id);
    this.log.warn({ rollout: id, reason }, 'rolling back');
    void this.tick();
    return this.must(id);
  }

  get(id: string): (RolloutRow & { sites: SiteRow[] }) | undefined {
    const r = this.store.get(id);
    return r && { ...r, sites: this.store.sites(id) };
  }

  private must(id: string): RolloutRow {
    const r = this.store.get(id);
    if (!r) throw new CodedError('ROLLOUT_NOT_FOUND', `no rollout ${id}`, { status: 404 });
    return r;
  }

  /** A download token authorises exactly one site to fetch exactly one bundle. */
  checkDownloadToken(token: string, digest: string): string | undefined {
    const row = this.db.prepare('SELECT site, digest, expires FROM model_download_tokens WHERE hash = ?').get(hashToken(token)) as { site: string; digest: string; expires: number } | undefined;
    if (!row || row.digest !== digest || row.expires < Date.now()) return undefined;
    return row.site;
  }

  onCmdRes(site: string, item: CommandResultItem): void {
    const row = this.store.siteByCmd(item.cmdId);
    if (!row || row.site !== site) return;
    const res = item.result as Record<string, unknown>;
    if (row.state === 'deploying') {
      if (item.ok) this.store.updateSite(row.rollout, site, { state: row.stage === 'canary' ? 'observing' : 'active', deployedAt: item.ts, prev: (res.previous as string | null) ?? null, result: res });
      // a site still starting has no model commands yet: keep it deploying, the resend retries
      else if (res.code === 'EDGE_UNKNOWN_COMMAND') this.store.updateSite(row.rollout, site, { result: res });
      else this.store.updateSite(row.rollout, site, { state: 'refused', result: res });
    } else if (row.state === 'rolling_back') {
      this.store.updateSite(row.rollout, site, { state: item.ok ? 'rolled_back' : 'rollback_failed', result: res });
    }
    void this.tick();
  }

  onStats(site: string, item: TelemetryItem): void {
    const f = item.fields;
    this.db.prepare('INSERT OR IGNORE INTO model_site_stats (site, model, version, ts, frames, errors, detections, p95, fps, window_ms) VALUES (?,?,?,?,?,?,?,?,?,?)')
      .run(site, item.tags.model, item.tags.version, item.ts, Number(f.frames) || 0, Number(f.errors) || 0, Number(f.detections) || 0, Number(f.p95_ms) || 0, Number(f.fps) || 0, Number(f.window_ms) || 0);
  }

  private async send(r: RolloutRow, s: SiteRow, name: 'model.deploy' | 'model.rollback'): Promise<void> {
    const now = Date.now();
    let cmd = s.cmd && s.cmd.name === name ? s.cmd : undefined;
    if (!cmd) {
      const args: Record<string, unknown> = { rollout: r.id };
      if (name === 'model.deploy') {
        const token = crypto.randomBytes(24).toString('base64url');
        this.db.prepare('INSERT OR REPLACE INTO model_download_tokens (hash, site, digest, expires) VALUES (?,?,?,?)').run(hashToken(token), s.site, r.digest, now + this.cfg.downloadTokenTtlSec * 1000);
        const p = `/api/v1/models/${encodeURIComponent(r.name)}/${encodeURIComponent(r.version)}/bundle`;
        args.target = { name: r.name, version: r.version, digest: r.digest, size: r.size, url: this.cfg.publicUrl ? new URL(p, this.cfg.publicUrl).href : p, token };
      } else args.from = r.digest;
      cmd = { v: 1, id: crypto.randomUUID(), name, args, issuedAt: now, expiresAt: now + this.cfg.rollout.deployTimeoutMs };
      this.store.updateSite(r.id, s.site, { state: name === 'model.deploy' ? 'deploying' : 'rolling_back', cmd, sentAt: now, lastSent: now });
    } else this.store.updateSite(r.id, s.site, { lastSent: now });
    await this.bus.publishCommand(s.site, name, cmd).catch((err) => this.log.warn({ site: s.site, err: (err as Error).message }, 'command publish failed; will resend'));
  }

  private verdict(r: RolloutRow, s: SiteRow): GateVerdict {
    const cand = aggregate(this.db.prepare('SELECT frames, errors, detections, p95, window_ms FROM model_site_stats WHERE site = ? AND model = ? AND version = ? AND ts > ?').all(s.site, r.name, r.version, s.deployedAt ?? 0) as never);
    let base = null;
    if (s.prev) {
      const [pm, pv] = s.prev.split('@');
      base = aggregate(this.db.prepare('SELECT frames, errors, detections, p95, window_ms FROM model_site_stats WHERE site = ? AND model = ? AND version = ? AND ts <= ? AND ts > ?').all(s.site, pm, pv, s.deployedAt ?? 0, (s.deployedAt ?? 0) - 15 * 60_000) as never);
    }
    return evaluateGates(r.spec.gates, r.budget, cand, base);
  }

  /**
   * Drive every running rollout one step. Idempotent; runs on a timer and after each result.
   * Never rejects: callers fire it with `void`, where a rejection would end the process; a step
   * that fails (a locked or full database) is logged and tried again on the next tick.
   */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      for (const r of this.store.list(ACTIVE_STATES)) await this.step(r);
      this.db.prepare('DELETE FROM model_site_stats WHERE ts < ?').run(Date.now() - this.cfg.rollout.statsRetentionMs);
    } catch (err) {
      this.log.warn({ err: errMessage(err) }, 'rollout tick failed; retrying on the next tick');
    } finally {
      this.ticking = false;
    }
  }

  private async step(r: RolloutRow): Promise<void> {
    const now = Date.now();
    const { deployTimeoutMs, resendMs } = this.cfg.rollout;
    const sites = this.store.sites(r.id);
    for (const s of sites) {
      if ((s.state === 'deploying' || s.state === 'rolling_back') && s.sentAt) {
        if (now - s.sentAt > deployTimeoutMs) this.store.updateSite(r.id, s.site, { state: s.state === 'deploying' ? 'failed' : 'rollback_failed', result: { code: 'MODEL_DEPLOY_TIMEOUT', message: `no result within ${deployTimeoutMs} ms` } });
        else if (now - (s.lastSent ?? 0) > resendMs) await this.send(r, s, s.state === 'deploying' ? 'model.deploy' : 'model.rollback');
      }
    }
    if (r.state === 'rolling_back') {
      for (const s of this.store.sites(r.id)) if (['deploying', 'observing', 'active', 'failed'].includes(s.state)) await this.send(r, { ...s, cmd: null }, 'model.rollback');
      if (this.store.sites(r.id).every((s) => !['deploying', 'observing', 'active', 'failed', 'rolling_back'].includes(s.state))) this.store.setState(r.id, 'rolled_back', null, r.reason);
      return;
    }
    const canary = sites.filter((s) => s.stage === 'canary');
    const rest = sites.filter((s) => s.stage === 'rest');
    if (r.state === 'canary') {
      const bad = canary.find((s) => s.state === 'refused' || s.state === 'failed');
      if (bad) return void this.rollback(r.id, `canary ${bad.site} ${bad.state}: ${(bad.result as { code?: string; message?: string } | null)?.code ?? ''} ${(bad.result as { message?: string } | null)?.message ?? ''}`.trim());
      for (const s of canary) {
        if (s.state === 'pending') await this.send(r, s, 'model.deploy');
        else if (s.state === 'observing' && now - (s.deployedAt ?? now) >= r.spec.observeMs) {
          const v = this.verdict(r, s);
          if (v.verdict === 'pass') this.store.updateSite(r.id, s.site, { state: 'active', gates: v });
          else if (v.verdict === 'fail' || now - (s.deployedAt ?? now) > r.spec.observeMs * 3 + 60_000) {
            this.store.updateSite(r.id, s.site, { state: 'failed', gates: v });
            return void this.rollback(r.id, `canary ${s.site} failed its health gates: ${v.reason}`);
          } else this.store.updateSite(r.id, s.site, { gates: v });
        }
      }
      if (this.store.sites(r.id).filter((s) => s.stage === 'canary').every((s) => s.state === 'active')) {
        this.store.setState(r.id, rest.length ? 'promoting' : 'completed', null);
        if (rest.length) await this.step({ ...r, state: 'promoting' });
      }
      return;
    }
    if (r.state === 'promoting') {
      const failed = rest.filter((s) => s.state === 'refused' || s.state === 'failed');
      if (failed.length > r.spec.maxFailures) return void this.rollback(r.id, `${failed.length} site(s) failed after the canary (max ${r.spec.maxFailures}): ${failed.slice(0, 3).map((s) => s.site).join(', ')}`);
      let slots = r.spec.batchSize - rest.filter((s) => s.state === 'deploying').length;
      for (const s of rest) {
        if (slots <= 0) break;
        if (s.state === 'pending') { await this.send(r, s, 'model.deploy'); slots--; }
      }
      const after = this.store.sites(r.id).filter((s) => s.stage === 'rest');
      if (after.every((s) => s.state === 'active' || s.state === 'refused' || s.state === 'failed')) this.store.setState(r.id, 'completed', null, failed.length ? `${failed.length} site(s) failed` : null);
    }
  }
}
