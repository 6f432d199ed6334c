import type { AlertItem } from '../../protocol/schemas.ts';
import { CodedError } from '../../lib/errors.ts';
import type { CloudDb } from '../db.ts';
import type { SpooledItem } from '../ingest/ingest.ts';
import { migrate } from '../migrations.ts';
import type { NotifyEvent } from './config.ts';
import { ALERTS_SCHEMA } from './schema.ts';

export const ALERT_STATES = ['open', 'acknowledged', 'resolved'] as const;
export type AlertState = (typeof ALERT_STATES)[number];
export const SEVERITIES = ['info', 'warning', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface AlertView {
  id: number; site: string; rule: string; source: string; state: AlertState;
  severity: Severity; raisedSeverity: Severity; message: string; data: Record<string, unknown>;
  /** Observed times (edge clock) of the first and the latest raise, and of the clear. */
  firstTs: number; lastTs: number; clearedTs?: number;
  /** Cloud times. */
  openedAt: number; updatedAt: number;
  raiseCount: number; escalationLevel: number; escalatedAt?: number;
  ack?: { by: string; at: number; note?: string };
  resolution?: { how: 'data' | 'person'; by: string; at: number; note?: string };
  /** The person the alert is assigned to (alerts v3), and the number of comments in its history. */
  assignee?: string;
  comments?: number;
}
export interface HistoryEntry { at: number; action: string; actor?: string; note?: string; itemId?: string; data?: Record<string, unknown> }
export interface AlertFilter { state?: AlertState; site?: string; rule?: string; source?: string; severity?: Severity; from?: number; to?: number; before?: number; limit?: number; assignee?: string; unresolved?: boolean }
/** One alert of a bulk acknowledge: acknowledged, or refused with its code. */
export interface BulkResult { id: number; ok: boolean; code?: string; message?: string }
/** `stale`: observed before the newest item already applied for its (site, rule, source): history only. */
export interface ApplyResult { opened: number; refreshed: number; cleared: number; ignored: number; duplicates: number; stale: number }

type Row = Record<string, any>;
const rank = (s: string) => Math.max(0, SEVERITIES.indexOf(s as Severity));
export const bumpSeverity = (s: Severity): Severity => SEVERITIES[Math.min(SEVERITIES.length - 1, rank(s) + 1)];

/** The API view of an `alerts` row (also used by the console's live stream). */
export function alertView(r: Row): AlertView {
  return view(r);
}

function view(r: Row): AlertView {
  const v: AlertView = {
    id: r.id, site: r.site, rule: r.rule, source: r.source, state: r.state, severity: r.severity, raisedSeverity: r.raised_severity,
    message: r.message, data: JSON.parse(r.data), firstTs: r.first_ts, lastTs: r.last_ts, openedAt: r.opened_at, updatedAt: r.updated_at,
    raiseCount: r.raise_count, escalationLevel: r.escalation_level,
  };
  if (r.cleared_ts != null) v.clearedTs = r.cleared_ts;
  if (r.escalated_at != null) v.escalatedAt = r.escalated_at;
  if (r.acked_at != null) v.ack = { by: r.acked_by, at: r.acked_at, ...(r.ack_note ? { note: r.ack_note } : {}) };
  if (r.resolved_at != null) v.resolution = { how: r.resolution, by: r.resolved_by, at: r.resolved_at, ...(r.resolve_note ? { note: r.resolve_note } : {}) };
  if (r.assignee != null) v.assignee = r.assignee;
  if (r.comment_count) v.comments = r.comment_count;
  return v;
}

/**
 * The cloud's alert lifecycle in SQLite: one open alert per (site, rule, source) — enforced by a
 * partial unique index — open → acknowledged → resolved (by a `clear` item from the data or by a
 * person), escalation of unacknowledged alerts. Every transition writes a history row and calls
 * `notify` INSIDE the same transaction, so a notification is queued iff the transition committed.
 * Item application is idempotent by item id (ingest may hand a batch to a sink twice after a crash).
 */
export class AlertStore {
  private readonly st;
  constructor(private readonly db: CloudDb, private readonly notify: (alert: AlertView, event: NotifyEvent) => void = () => {}, private readonly now: () => number = Date.now) {
    migrate(db, [ALERTS_SCHEMA]); // a no-op when the cloud applied it at start
    this.st = {
      seen: db.prepare('INSERT OR IGNORE INTO alert_items_seen (id, received) VALUES (?, ?)'),
      open: db.prepare("SELECT * FROM alerts WHERE site = ? AND rule = ? AND source = ? AND state != 'resolved'"),
      latest: db.prepare('SELECT id FROM alerts WHERE site = ? AND rule = ? AND source = ? ORDER BY id DESC LIMIT 1'),
      key: db.prepare('SELECT last_ts, last_seq, last_stream FROM alert_keys WHERE site = ? AND rule = ? AND source = ?'),
      setKey: db.prepare('INSERT INTO alert_keys (site, rule, source, last_ts, last_seq, last_stream) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (site, rule, source) DO UPDATE SET last_ts = excluded.last_ts, last_seq = excluded.last_seq, last_stream = excluded.last_stream'),
      get: db.prepare('SELECT * FROM alerts WHERE id = ?'),
      insert: db.prepare(`INSERT INTO alerts (site, rule, source, state, severity, raised_severity, message, data, first_ts, last_ts, opened_at, updated_at)
        VALUES (?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?)`),
      refresh: db.prepare('UPDATE alerts SET last_ts = max(last_ts, ?), message = ?, data = ?, severity = ?, raise_count = raise_count + 1, updated_at = ? WHERE id = ?'),
      clear: db.prepare("UPDATE alerts SET state = 'resolved', resolution = 'data', resolved_by = ?, resolved_at = ?, cleared_ts = ?, updated_at = ? WHERE id = ?"),
      ack: db.prepare("UPDATE alerts SET state = 'acknowledged', acked_by = ?, acked_at = ?, ack_note = ?, updated_at = ? WHERE id = ? AND state = 'open'"),
      resolve: db.prepare("UPDATE alerts SET state = 'resolved', resolution = 'person', resolved_by = ?, resolved_at = ?, resolve_note = ?, updated_at = ? WHERE id = ? AND state != 'resolved'"),
      escalate: db.prepare('UPDATE alerts SET severity = ?, escalation_level = escalation_level + 1, escalated_at = ?, updated_at = ? WHERE id = ?'),
      due: db.prepare("SELECT * FROM alerts WHERE state = 'open' AND escalation_level < ? AND opened_at + (escalation_level + 1) * ? <= ? ORDER BY id LIMIT 500"),
      history: db.prepare('INSERT INTO alert_history (alert_id, at, action, actor, note, item_id, data) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      historyOf: db.prepare('SELECT at, action, actor, note, item_id, data FROM alert_history WHERE alert_id = ? ORDER BY id'),
      prune: db.prepare('DELETE FROM alert_items_seen WHERE received < ?'),
      counts: db.prepare('SELECT state, severity, count(*) AS n FROM alerts WHERE state != \'resolved\' GROUP BY state, severity'),
      assign: db.prepare('UPDATE alerts SET assignee = ?, updated_at = ? WHERE id = ?'),
      comment: db.prepare('UPDATE alerts SET comment_count = comment_count + 1, updated_at = ? WHERE id = ?'),
    };
  }

  private log(id: number, action: string, actor?: string, note?: string, itemId?: string, data?: Record<string, unknown>): void {
    this.st.history.run(id, this.now(), action, actor ?? null, note ?? null, itemId ?? null, data ? JSON.stringify(data) : null);
  }

  private fire(id: number, event: NotifyEvent): AlertView {
    const v = view(this.st.get.get(id) as Row);
    this.notify(v, event);
    return v;
  }

  /**
   * Apply alert items from ingest in one transaction. State follows OBSERVED order per
   * (site, rule, source) — by the item's observed time, then its sequence number — not arrival
   * order: live data travels before the backlog and two drain batches are in flight at once, so a
   * raise observed earlier can arrive after a clear observed later. An item older than the newest
   * one applied for its key is stale: it is written to the alert's history (`stale-raise`,
   * `stale-clear`) and changes nothing, so it can neither reopen nor hold open nor close an alert.
   */
  applyItems(items: SpooledItem[]): ApplyResult {
    const res: ApplyResult = { opened: 0, refreshed: 0, cleared: 0, ignored: 0, duplicates: 0, stale: 0 };
    this.db.transaction(() => {
      for (const { site, received, item, stream } of items) {
        if (item.kind !== 'alert') continue;
        if (this.st.seen.run(item.id, received).changes === 0) { res.duplicates++; continue; }
        this.applyOne(site, item, res, stream);
      }
    })();
    return res;
  }

  private applyOne(site: string, a: AlertItem, res: ApplyResult, stream?: string): void {
    const now = this.now();
    const open = this.st.open.get(site, a.rule, a.source) as Row | undefined;
    const actor = `edge:${site}`;
    const last = this.st.key.get(site, a.rule, a.source) as { last_ts: number; last_seq: number; last_stream: string | null } | undefined;
    // Within one outbox stream the sequence number is the order the edge's rules produced the items
    // in, whatever its clock did (a clock stepped back must not make every later item stale); across
    // streams (a new outbox file) only the observed time can order them.
    const sameStream = !!last && !!stream && last.last_stream === stream;
    const stale = !!last && (sameStream ? a.seq <= last.last_seq : a.ts < last.last_ts || (a.ts === last.last_ts && a.seq <= last.last_seq));
    if (last && stale) {
      const target = open ?? (this.st.latest.get(site, a.rule, a.source) as Row | undefined);
      if (target) this.log(target.id, `stale-${a.state}`, actor, undefined, a.id, { ts: a.ts, newestTs: last.last_ts, severity: a.severity, message: a.message });
      res.stale++;
      return;
    }
    this.st.setKey.run(site, a.rule, a.source, a.ts, a.seq, stream ?? null);
    if (a.state === 'raise') {
      if (open) {
        // no storm: the open alert is refreshed (latest value/message), never duplicated, no notification
        const sev = rank(a.severity) > rank(open.severity) ? a.severity : open.severity;
        this.st.refresh.run(a.ts, a.message, JSON.stringify(a.data), sev, now, open.id);
        res.refreshed++;
        return;
      }
      const r = this.st.insert.run(site, a.rule, a.source, a.severity, a.severity, a.message, JSON.stringify(a.data), a.ts, a.ts, now, now);
      const id = Number(r.lastInsertRowid);
      this.log(id, 'raise', actor, undefined, a.id, { ts: a.ts, severity: a.severity, message: a.message });
      this.fire(id, 'raised');
      res.opened++;
      return;
    }
    if (!open) { res.ignored++; return; } // cleared after a person resolved it, or a clear without a raise
    this.st.clear.run(actor, now, a.ts, now, open.id);
    this.log(open.id, 'clear', actor, undefined, a.id, { ts: a.ts, message: a.message });
    this.fire(open.id, 'resolved');
    res.cleared++;
  }

  get(id: number): AlertView {
    const r = this.st.get.get(id) as Row | undefined;
    if (!r) throw new CodedError('ALERT_NOT_FOUND', `no alert with id ${id}; list alerts with GET /api/v1/alerts`, { status: 404 });
    return view(r);
  }

  history(id: number): HistoryEntry[] {
    return (this.st.historyOf.all(id) as Row[]).map((h) => ({
      at: h.at, action: h.action, ...(h.actor ? { actor: h.actor } : {}), ...(h.note ? { note: h.note } : {}),
      ...(h.item_id ? { itemId: h.item_id } : {}), ...(h.data ? { data: JSON.parse(h.data) } : {}),
    }));
  }

  private badTransition(a: AlertView, action: string): CodedError {
    const how = a.state === 'resolved' ? `it was resolved ${a.resolution?.how === 'data' ? 'by the data' : `by ${a.resolution?.by}`}` : `it was acknowledged by ${a.ack?.by}`;
    return new CodedError('ALERT_BAD_TRANSITION', `alert ${a.id} is ${a.state}: cannot ${action} (${how})`, { status: 409, state: a.state });
  }

  /** open → acknowledged (who = API token name). */
  acknowledge(id: number, who: string, note?: string): AlertView {
    return this.db.transaction(() => {
      const a = this.get(id);
      if (a.state !== 'open') throw this.badTransition(a, 'acknowledge');
      this.st.ack.run(who, this.now(), note ?? null, this.now(), id);
      this.log(id, 'acknowledge', who, note);
      return this.fire(id, 'acknowledged');
    })();
  }

  /** open|acknowledged → resolved by a person (note required). */
  resolve(id: number, who: string, note: string): AlertView {
    if (!note.trim()) throw new CodedError('ALERT_NOTE_REQUIRED', 'resolving an alert by hand needs a note saying why', { status: 400 });
    return this.db.transaction(() => {
      const a = this.get(id);
      if (a.state === 'resolved') throw this.badTransition(a, 'resolve');
      this.st.resolve.run(who, this.now(), note, this.now(), id);
      this.log(id, 'resolve', who, note);
      return this.fire(id, 'resolved');
    })();
  }

  /**
   * Assign the alert to a person (or unassign with null), in any state; history row `assign`
   * with the previous and the new assignee (alerts v3).
   */
  assign(id: number, who: string, assignee: string | null, note?: string): AlertView {
    return this.db.transaction(() => {
      const a = this.get(id);
      this.st.assign.run(assignee, this.now(), id);
      this.log(id, assignee === null ? 'unassign' : 'assign', who, note, undefined, { from: a.assignee ?? null, to: assignee });
      return this.get(id);
    })();
  }

  /** A comment in the alert's history (any state; note required). */
  comment(id: number, who: string, note: string): AlertView {
    if (!note.trim()) throw new CodedError('ALERT_NOTE_REQUIRED', 'a comment needs text', { status: 400 });
    return this.db.transaction(() => {
      this.get(id);
      this.st.comment.run(this.now(), id);
      this.log(id, 'comment', who, note);
      return this.get(id);
    })();
  }

  /** Acknowledge several alerts; each one that cannot be (not found, not open) is reported, not thrown. */
  acknowledgeMany(ids: number[], who: string, note?: string): BulkResult[] {
    return [...new Set(ids)].map((id) => {
      try {
        this.acknowledge(id, who, note);
        return { id, ok: true };
      } catch (err) {
        const e = err as CodedError;
        return { id, ok: false, code: e.code ?? 'ALERT_INTERNAL', message: e.message };
      }
    });
  }

  /** Escalate open (unacknowledged) alerts due at level n+1: opened ≥ (n+1)·afterMs ago. */
  escalateDue(afterMs: number, maxLevel: number): AlertView[] {
    const now = this.now();
    return this.db.transaction(() => {
      const out: AlertView[] = [];
      for (const r of this.st.due.all(maxLevel, afterMs, now) as Row[]) {
        const sev = bumpSeverity(r.severity);
        this.st.escalate.run(sev, now, now, r.id);
        this.log(r.id, 'escalate', 'cloud', undefined, undefined, { level: r.escalation_level + 1, from: r.severity, to: sev, unacknowledgedMin: Math.round((now - r.opened_at) / 60_000) });
        out.push(this.fire(r.id, 'escalated'));
      }
      return out;
    })();
  }

  /** WHERE clause of a filter, without `before` paging. */
  private where(f: AlertFilter): { conds: string[]; args: unknown[] } {
    const conds: string[] = [];
    const args: unknown[] = [];
    for (const [k, col] of [['state', 'state'], ['site', 'site'], ['rule', 'rule'], ['source', 'source'], ['severity', 'severity'], ['assignee', 'assignee']] as const) {
      if (f[k] !== undefined) { conds.push(`${col} = ?`); args.push(f[k]); }
    }
    if (f.from !== undefined) { conds.push('last_ts >= ?'); args.push(f.from); }
    if (f.to !== undefined) { conds.push('first_ts < ?'); args.push(f.to); }
    if (f.unresolved) conds.push("state != 'resolved'");
    return { conds, args };
  }

  list(f: AlertFilter): AlertView[] {
    const { conds, args } = this.where(f);
    if (f.before !== undefined) { conds.push('id < ?'); args.push(f.before); }
    const sql = `SELECT * FROM alerts ${conds.length ? `WHERE ${conds.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...args, f.limit ?? 100) as Row[]).map(view);
  }

  /** How many alerts match a filter (ignoring `before` and `limit`): the inbox's total. */
  count(f: AlertFilter): number {
    const { conds, args } = this.where(f);
    return (this.db.prepare(`SELECT count(*) AS n FROM alerts ${conds.length ? `WHERE ${conds.join(' AND ')}` : ''}`).get(...args) as { n: number }).n;
  }

  /** Unresolved alerts by state and severity (metrics). */
  openCounts(): Array<{ state: string; severity: string; n: number }> {
    return this.st.counts.all() as Array<{ state: string; severity: string; n: number }>;
  }

  pruneSeen(olderThanMs: number): number {
    return this.st.prune.run(this.now() - olderThanMs).changes;
  }
}
