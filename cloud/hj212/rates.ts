/**
 * 数据传输有效率 (transmission effective rate) per outlet and enterprise, per day and month:
 *
 *   transmission rate 传输率  = received ÷ expected           (capped at 1)
 *   validity rate     有效率  = valid ÷ received
 *   effective rate 数据传输有效率 = transmission rate × validity rate  (= valid ÷ expected)
 *
 * counted on records — (MN, period, DataTime), each once however often it was re-sent — of one
 * data period (`ratePeriod`, hourly by default; the other configured periods are listed beside it).
 * Expected records come from the outlet's intervals: minute data every `intervals.minute`
 * minutes, 24 hourly, 1 daily record per day; a slot is expected once it has ended (slot start +
 * length ≤ now) and not before the outlet's `since` day. Valid records are those whose every
 * factor has a valid flag (flags.ts) after manual corrections. Days and months are in Beijing time
 * (`offsetMinutes`). An outlet whose effective rate is below `rateThreshold` (90 %) is flagged.
 */
import type { CloudDb } from '../db.ts';
import type { Point } from '../store/types.ts';
import type { EnterpriseConfig, Hj212Config, OutletConfig, Period, Registry } from './config.ts';
import { effectiveFlag, isValidFlag } from './flags.ts';
import type { RecordStore } from './records.ts';

export type RateWindow = 'day' | 'month';
export type DataPeriod = Exclude<Period, 'rt'>;
const DAY = 86_400_000;

export interface Counts { expected: number; received: number; valid: number }
export interface Rates extends Counts { transmissionRate: number | null; validityRate: number | null; effectiveRate: number | null }
export interface RateRow extends Rates {
  window: RateWindow;
  /** Window start (epoch ms) and its label in local time: 2024-02-01 or 2024-02. */
  start: number;
  end: number;
  label: string;
  enterprise: string;
  enterpriseName: string;
  /** Absent on the enterprise's own row (sum over its outlets). */
  outlet?: string;
  outletName?: string;
  mn?: string;
  dataPeriod: DataPeriod;
  belowThreshold: boolean;
  /** Every configured data period of the outlet, the headline one included. */
  byPeriod: Partial<Record<DataPeriod, Rates>>;
}

export function rates(c: Counts): Rates {
  const transmissionRate = c.expected > 0 ? Math.min(1, c.received / c.expected) : null;
  const validityRate = c.received > 0 ? c.valid / c.received : null;
  const effectiveRate = transmissionRate === null ? null : transmissionRate * (validityRate ?? 0);
  return { ...c, transmissionRate, validityRate, effectiveRate };
}

// ---- local-time windows --------------------------------------------------------------------
export const dayStart = (ms: number, off: number): number => Math.floor((ms + off * 60_000) / DAY) * DAY - off * 60_000;
export function monthStart(ms: number, off: number): number {
  const d = new Date(ms + off * 60_000);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) - off * 60_000;
}
export function nextWindow(start: number, w: RateWindow, off: number): number {
  if (w === 'day') return start + DAY;
  const d = new Date(start + off * 60_000);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) - off * 60_000;
}
export function windowLabel(start: number, w: RateWindow, off: number): string {
  const iso = new Date(start + off * 60_000).toISOString();
  return w === 'day' ? iso.slice(0, 10) : iso.slice(0, 7);
}
/** '2024-02-01' / '2024-02' in local time → epoch ms of its start. */
export function parseLocalDate(s: string, off: number): number | undefined {
  const m = /^(\d{4})-(\d{2})(?:-(\d{2}))?$/.exec(s);
  if (!m) return undefined;
  const t = Date.UTC(Number(m[1]), Number(m[2]) - 1, m[3] ? Number(m[3]) : 1);
  return Number.isNaN(t) ? undefined : t - off * 60_000;
}

/** Slot length of a data period for an outlet, or undefined when the outlet sends no such data. */
export function slotMs(o: OutletConfig, p: DataPeriod): number | undefined {
  if (p === 'min') return o.intervals.minute > 0 ? o.intervals.minute * 60_000 : undefined;
  if (p === 'hour') return o.intervals.hourly ? 3_600_000 : undefined;
  return o.intervals.daily ? DAY : undefined;
}

/** Expected records of [start, end) for one outlet and data period, as of `now`. */
export function expectedRecords(o: OutletConfig, p: DataPeriod, start: number, end: number, now: number, off: number): number {
  const len = slotMs(o, p);
  if (!len) return 0;
  const since = o.since ? parseLocalDate(o.since, off)! : -Infinity;
  const from = Math.max(start, since);
  const until = Math.min(end, now);
  if (until <= from) return 0;
  // windows start at local midnight and slot lengths divide a day, so slots align with `from`
  return Math.floor((until - from) / len);
}

export class RateCalculator {
  constructor(private readonly db: CloudDb, private readonly records: RecordStore, private readonly registry: Registry, private readonly cfg: Pick<Hj212Config, 'offsetMinutes' | 'ratePeriod' | 'rateThreshold'>, private readonly now: () => number = Date.now) {}

  /** Received and valid records of one MN and period in [from, to). */
  counts(o: OutletConfig, p: DataPeriod, from: number, to: number): { received: number; valid: number } {
    const since = o.since ? parseLocalDate(o.since, this.cfg.offsetMinutes)! : -Infinity;
    const lo = Math.max(from, since);
    if (to <= lo) return { received: 0, valid: 0 };
    const row = this.db.prepare('SELECT count(*) AS n, coalesce(sum(orig_valid), 0) AS v FROM hj212_records WHERE mn = ? AND period = ? AND ts >= ? AND ts < ?').get(o.mn, p, lo, to) as { n: number; v: number };
    let valid = row.v;
    // records with corrections: re-judge them with their effective flags
    const corr = this.records.correctionsIn([o.mn], p, lo, to);
    for (const [k, list] of corr) {
      const ts = Number(k.slice(k.indexOf('|') + 1));
      const rec = this.records.get(o.mn, p, ts);
      if (!rec) continue;
      const before = Object.values(rec.factors).every((e) => isValidFlag(e.fields.flag as string | undefined));
      const after = Object.entries(rec.factors).every(([code, e]) => isValidFlag(effectiveFlag(code, e.fields.flag as string | undefined, list)));
      valid += (after ? 1 : 0) - (before ? 1 : 0);
    }
    return { received: row.n, valid };
  }

  /** Rate rows of every window starting in [from, to), for the selected enterprises/outlets. */
  compute(q: { window: RateWindow; from: number; to: number; enterprise?: string; outlet?: string }): RateRow[] {
    const off = this.cfg.offsetMinutes;
    const now = this.now();
    const out: RateRow[] = [];
    const first = q.window === 'day' ? dayStart(q.from, off) : monthStart(q.from, off);
    const enterprises = this.registry.enterprises.filter((e) => !q.enterprise || e.id === q.enterprise);
    for (let start = first; start < q.to; start = nextWindow(start, q.window, off)) {
      const end = nextWindow(start, q.window, off);
      const label = windowLabel(start, q.window, off);
      for (const e of enterprises) {
        const outlets = e.outlets.filter((o) => !q.outlet || o.id === q.outlet);
        if (!outlets.length) continue;
        const sums: Partial<Record<DataPeriod, Counts>> = {};
        const rows: RateRow[] = [];
        for (const o of outlets) {
          const byPeriod: Partial<Record<DataPeriod, Rates>> = {};
          for (const p of ['min', 'hour', 'day'] as const) {
            if (!slotMs(o, p)) continue;
            const c = { expected: expectedRecords(o, p, start, end, now, off), ...this.counts(o, p, start, end) };
            byPeriod[p] = rates(c);
            const s = (sums[p] ??= { expected: 0, received: 0, valid: 0 });
            s.expected += c.expected; s.received += c.received; s.valid += c.valid;
          }
          rows.push(this.row(q.window, start, end, label, e, byPeriod, o));
        }
        const entRates = Object.fromEntries(Object.entries(sums).map(([p, c]) => [p, rates(c)])) as Partial<Record<DataPeriod, Rates>>;
        out.push(this.row(q.window, start, end, label, e, entRates), ...rows);
      }
    }
    return out;
  }

  private row(window: RateWindow, start: number, end: number, label: string, e: EnterpriseConfig, byPeriod: Partial<Record<DataPeriod, Rates>>, o?: OutletConfig): RateRow {
    const p: DataPeriod = (byPeriod[this.cfg.ratePeriod] ? this.cfg.ratePeriod : (Object.keys(byPeriod)[0] as DataPeriod | undefined)) ?? this.cfg.ratePeriod;
    const head = byPeriod[p] ?? rates({ expected: 0, received: 0, valid: 0 });
    return {
      window, start, end, label, enterprise: e.id, enterpriseName: e.name,
      ...(o ? { outlet: o.id, outletName: o.name, mn: o.mn } : {}),
      dataPeriod: p, ...head,
      belowThreshold: head.effectiveRate !== null && head.effectiveRate < this.cfg.rateThreshold,
      byPeriod,
    };
  }
}

/** Rate rows as `hj212_rates` points (one per row and data period; time = window start). */
export function ratePoints(rows: readonly RateRow[], threshold: number): Point[] {
  const points: Point[] = [];
  for (const r of rows) {
    for (const [p, v] of Object.entries(r.byPeriod) as Array<[DataPeriod, Rates]>) {
      if (v.transmissionRate === null) continue; // nothing expected yet: no point rather than NaN
      points.push({
        measurement: 'hj212_rates',
        tags: { enterprise: r.enterprise, outlet: r.outlet ?? '_enterprise', ...(r.mn ? { station: r.mn } : {}), window: r.window, dataPeriod: p },
        fields: { expected: v.expected, received: v.received, valid: v.valid, transmissionRate: v.transmissionRate, validityRate: v.validityRate ?? 0, effectiveRate: v.effectiveRate ?? 0, belowThreshold: (v.effectiveRate ?? 0) < threshold },
        time: r.start,
      });
    }
  }
  return points;
}
