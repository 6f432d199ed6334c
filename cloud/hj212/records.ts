import { CodedError } from '../../lib/errors.ts';
import type { CommandResultItem, TelemetryItem } from '../../protocol/schemas.ts';
import type { CloudDb } from '../db.ts';
import type { SpooledItem } from '../ingest/ingest.ts';
import { PERIODS, type Period } from './config.ts';
import { effectiveFlag, flagSummary, isValidFlag, type Correction } from './flags.ts';

export const HJ212_MEASUREMENT = 'hj212';

/** One factor of a record: the fields of the newest item (highest id) for that factor code. */
export interface FactorEntry { id: string; site: string; pollutant: string; fields: Record<string, number | string | boolean> }
export interface RecordRow { mn: string; period: Period; ts: number; site: string; factors: Record<string, FactorEntry>; firstReceived: number }
export interface AuditRow { id: number; code: string; oldFlag: string; newFlag: string; reason: string; by: string; at: number }
export interface ApplyResult { records: number; created: number; changed: number; ignored: number; answers: number }

const isPeriod = (s: string | undefined): s is Period => (PERIODS as readonly string[]).includes(s ?? '');
/** Fields the series sink adds to the items it shares with other sinks; not part of the record. */
const NOT_RECORD_FIELDS = new Set(['received_ms']);

/** Stable JSON of a record's factors (codes sorted), so equal content compares equal. */
const factorsJson = (f: Record<string, FactorEntry>): string => JSON.stringify(Object.fromEntries(Object.keys(f).sort().map((k) => [k, f[k]])));
const origValid = (f: Record<string, FactorEntry>): boolean => Object.values(f).every((e) => isValidFlag(e.fields.flag as string | undefined));

/**
 * The records of the hj212 feature: one row per (MN, period, DataTime), the unit that rates count
 * and upstreams forward. Applying items is idempotent and independent of batching: per factor code
 * the item with the highest id (UUIDv7, time-ordered) wins, the record's site is that of its newest
 * item, its first received time the minimum. A record seen for the first time is queued for every
 * upstream that forwards it; a record whose content changes after it was forwarded is queued again
 * (marked re-sent). `cmdres` items answer the remote commands of commands.ts.
 */
export class RecordStore {
  private readonly st;
  constructor(private readonly db: CloudDb, private readonly forwardTo: (mn: string, period: Period) => readonly string[] = () => [], private readonly now: () => number = Date.now) {
    this.st = {
      get: db.prepare('SELECT mn, period, ts, site, factors, first_received FROM hj212_records WHERE mn = ? AND period = ? AND ts = ?'),
      upsert: db.prepare(`INSERT INTO hj212_records (mn, period, ts, site, factors, orig_valid, first_received) VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (mn, period, ts) DO UPDATE SET site = excluded.site, factors = excluded.factors, orig_valid = excluded.orig_valid, first_received = excluded.first_received`),
      enqueue: db.prepare('INSERT OR IGNORE INTO hj212_outbox (upstream, mn, period, ts, enqueued) VALUES (?, ?, ?, ?, ?)'),
      requeue: db.prepare("UPDATE hj212_outbox SET state = 'pending', resent = 1 WHERE mn = ? AND period = ? AND ts = ? AND state != 'pending'"),
      answer: db.prepare("UPDATE hj212_commands SET state = ?, ok = ?, result = ?, answered_at = ? WHERE id = ? AND (answered_at IS NULL OR answered_at <= ?)"),
      corrections: db.prepare('SELECT code, flag, reason, by, at FROM hj212_flag_corrections WHERE mn = ? AND period = ? AND ts = ? ORDER BY code'),
      latest: db.prepare('SELECT site, ts FROM hj212_records WHERE mn = ? AND period = ? ORDER BY ts DESC LIMIT 1'),
    };
  }

  applyItems(items: readonly SpooledItem[]): ApplyResult {
    const r: ApplyResult = { records: 0, created: 0, changed: 0, ignored: 0, answers: 0 };
    const byKey = new Map<string, { mn: string; period: Period; ts: number; items: SpooledItem[] }>();
    const answers: SpooledItem[] = [];
    for (const s of items) {
      if (s.item.kind === 'cmdres') { answers.push(s); continue; }
      const t = s.item as TelemetryItem;
      if (t.kind !== 'telemetry' || t.m !== HJ212_MEASUREMENT) { r.ignored++; continue; }
      const { station, period, code } = t.tags;
      if (!station || !code || !isPeriod(period)) { r.ignored++; continue; }
      const key = `${station}\u0000${period}\u0000${t.ts}`;
      let g = byKey.get(key);
      if (!g) byKey.set(key, (g = { mn: station, period, ts: t.ts, items: [] }));
      g.items.push(s);
    }
    if (!byKey.size && !answers.length) return r;
    this.db.transaction(() => {
      for (const g of byKey.values()) {
        const old = this.get(g.mn, g.period, g.ts);
        const factors: Record<string, FactorEntry> = old ? { ...old.factors } : {};
        let firstReceived = old?.firstReceived ?? Infinity;
        for (const { site, received, item } of g.items) {
          const t = item as TelemetryItem;
          firstReceived = Math.min(firstReceived, received);
          const cur = factors[t.tags.code];
          if (cur && cur.id >= t.id) continue;
          const fields: FactorEntry['fields'] = {};
          for (const [k, v] of Object.entries(t.fields)) if (!NOT_RECORD_FIELDS.has(k)) fields[k] = v;
          factors[t.tags.code] = { id: t.id, site, pollutant: t.tags.pollutant ?? t.tags.code, fields };
        }
        const json = factorsJson(factors);
        const site = Object.values(factors).reduce((a, b) => (b.id > a.id ? b : a)).site;
        r.records++;
        if (old && factorsJson(old.factors) === json && old.site === site && old.firstReceived === firstReceived) continue;
        this.st.upsert.run(g.mn, g.period, g.ts, site, json, origValid(factors) ? 1 : 0, firstReceived);
        if (!old) {
          r.created++;
          for (const up of this.forwardTo(g.mn, g.period)) this.st.enqueue.run(up, g.mn, g.period, g.ts, this.now());
        } else if (factorsJson(old.factors) !== json) {
          r.changed++;
          this.st.requeue.run(g.mn, g.period, g.ts);
        }
      }
      for (const { item } of answers) {
        const c = item as CommandResultItem;
        const n = this.st.answer.run(c.ok ? 'answered' : 'failed', c.ok ? 1 : 0, JSON.stringify(c.result), c.ts, c.cmdId, c.ts).changes;
        r.answers += n;
      }
    })();
    return r;
  }

  get(mn: string, period: string, ts: number): RecordRow | undefined {
    const row = this.st.get.get(mn, period, ts) as { mn: string; period: Period; ts: number; site: string; factors: string; first_received: number } | undefined;
    return row && { mn: row.mn, period: row.period, ts: row.ts, site: row.site, factors: JSON.parse(row.factors), firstReceived: row.first_received };
  }

  corrections(mn: string, period: string, ts: number): Correction[] {
    return this.st.corrections.all(mn, period, ts) as Correction[];
  }

  /** Corrections of every record of these MNs and period in [from, to), by `mn|ts`. */
  correctionsIn(mns: readonly string[], period: string, from: number, to: number): Map<string, Correction[]> {
    const out = new Map<string, Correction[]>();
    if (!mns.length) return out;
    const rows = this.db.prepare(`SELECT mn, ts, code, flag, reason, by, at FROM hj212_flag_corrections WHERE period = ? AND ts >= ? AND ts < ? AND mn IN (${mns.map(() => '?').join(',')})`).all(period, from, to, ...mns) as Array<Correction & { mn: string; ts: number }>;
    for (const r of rows) {
      const k = `${r.mn}|${r.ts}`;
      const list = out.get(k) ?? [];
      list.push({ code: r.code, flag: r.flag, reason: r.reason, by: r.by, at: r.at });
      out.set(k, list);
    }
    return out;
  }

  /** Every factor's original and effective flag. */
  flags(rec: RecordRow, corrections = this.corrections(rec.mn, rec.period, rec.ts)): Record<string, { original: string; flag: string }> {
    const out: Record<string, { original: string; flag: string }> = {};
    for (const [code, e] of Object.entries(rec.factors)) {
      const original = (e.fields.flag as string | undefined) ?? 'N';
      out[code] = { original, flag: effectiveFlag(code, original, corrections) };
    }
    return out;
  }

  /**
   * Set a record's flag (every factor, or one `code`) with a reason. The original stays; the change
   * is audited (who, when, old, new, reason). A whole-record flag replaces the record's per-factor
   * corrections. Returns the audit row. Throws HJ212_RECORD_NOT_FOUND, HJ212_UNKNOWN_FACTOR.
   */
  setFlag(o: { mn: string; period: string; ts: number; code?: string; flag: string; reason: string; by: string }): AuditRow {
    return this.db.transaction(() => {
      const rec = this.get(o.mn, o.period, o.ts);
      if (!rec) throw new CodedError('HJ212_RECORD_NOT_FOUND', `no ${o.period} record of MN ${o.mn} at ${new Date(o.ts).toISOString()}`, { status: 404 });
      if (o.code !== undefined && !rec.factors[o.code]) throw new CodedError('HJ212_UNKNOWN_FACTOR', `the record has no factor ${o.code} (it has ${Object.keys(rec.factors).join(', ')})`, { status: 404 });
      const before = this.flags(rec);
      const oldFlag = o.code !== undefined ? before[o.code].flag : flagSummary(Object.fromEntries(Object.entries(before).map(([c, f]) => [c, f.flag])));
      const at = this.now();
      if (o.code === undefined) this.db.prepare('DELETE FROM hj212_flag_corrections WHERE mn = ? AND period = ? AND ts = ?').run(o.mn, o.period, o.ts);
      this.db.prepare('INSERT OR REPLACE INTO hj212_flag_corrections (mn, period, ts, code, flag, reason, by, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(o.mn, o.period, o.ts, o.code ?? '', o.flag, o.reason, o.by, at);
      const id = Number(this.db.prepare('INSERT INTO hj212_flag_audit (mn, period, ts, code, old_flag, new_flag, reason, by, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)').run(o.mn, o.period, o.ts, o.code ?? '', oldFlag, o.flag, o.reason, o.by, at).lastInsertRowid);
      // forwarded data carries the effective flag: send the record again, marked re-sent
      this.st.requeue.run(o.mn, o.period, o.ts);
      return { id, code: o.code ?? '', oldFlag, newFlag: o.flag, reason: o.reason, by: o.by, at };
    }).immediate();
  }

  history(mn: string, period: string, ts: number): AuditRow[] {
    return (this.db.prepare('SELECT id, code, old_flag, new_flag, reason, by, at FROM hj212_flag_audit WHERE mn = ? AND period = ? AND ts = ? ORDER BY id').all(mn, period, ts) as Array<{ id: number; code: string; old_flag: string; new_flag: string; reason: string; by: string; at: number }>)
      .map((r) => ({ id: r.id, code: r.code, oldFlag: r.old_flag, newFlag: r.new_flag, reason: r.reason, by: r.by, at: r.at }));
  }

  /** The site of the newest record of an MN (any period). */
  siteOf(mn: string): string | undefined {
    let best: { site: string; ts: number } | undefined;
    for (const p of PERIODS) {
      const r = this.st.latest.get(mn, p) as { site: string; ts: number } | undefined;
      if (r && (!best || r.ts > best.ts)) best = r;
    }
    return best?.site;
  }

  /** Drop records (and their outbox rows) older than the retention; corrections and audit stay. */
  prune(rtBefore: number, before: number): number {
    return this.db.transaction(() => {
      let n = 0;
      for (const [cond, arg] of [["period = 'rt' AND ts < ?", rtBefore], ["period != 'rt' AND ts < ?", before]] as const) {
        n += this.db.prepare(`DELETE FROM hj212_records WHERE ${cond}`).run(arg).changes;
        this.db.prepare(`DELETE FROM hj212_outbox WHERE ${cond} AND state != 'pending'`).run(arg);
      }
      return n;
    })();
  }
}
