import { Type, type Static } from '@sinclair/typebox';
import type { NewItem } from '../../../protocol/schemas.ts';
import { type Flag, type Reading, effectiveFlag, isValid, readingKey } from '../../../lib/contract/reading.ts';

/**
 * Minute and hour averages per station+pollutant, by observed time, as HJ 212 minute (CN 2051)
 * and hourly (CN 2061) data carry them: Min, Avg, Max — plus the count of valid values and the
 * count of values left out per flag (HJ 212 hourly data only averages valid data).
 *
 * Windows are [start, start+period) aligned to the epoch in UTC (hours in UTC+8 align the same,
 * as the offset is whole hours). A window closes, and its aggregate is emitted, when either
 *  - a reading of the same key arrives with observedAt ≥ end + graceMs, or
 *  - `advance(now)` is called with now ≥ end + graceMs (the pipeline does this on a timer, so a
 *    station that stops sending still gets its windows closed).
 * Late data policy: a reading for a window that has already closed is not added to any aggregate
 * (the aggregate already went out, and HJ 212 hourly data is not revised); it is counted in
 * stats().late. Its raw telemetry item still goes upstream, so the cloud can recompute.
 */
export const AggregateConfigSchema = Type.Object(
  {
    /** Window lengths in seconds; default one minute and one hour. */
    periodsSec: Type.Array(Type.Integer({ minimum: 1, maximum: 86_400 }), { default: [60, 3600], maxItems: 4 }),
    /** How long after a window's end readings are still accepted into it. */
    graceMs: Type.Integer({ minimum: 0, default: 5_000 }),
    /** Measurement name of the aggregate items. */
    measurement: Type.String({ default: 'env_agg' }),
  },
  { additionalProperties: false, default: {} },
);
export type AggregateConfig = Static<typeof AggregateConfigSchema>;

interface Window {
  start: number;
  end: number;
  station: string;
  outlet?: string;
  pollutant: string;
  unit: string;
  count: number;
  sum: number;
  min: number;
  max: number;
  excluded: Partial<Record<Flag, number>>;
}

export function periodName(sec: number): string {
  if (sec % 3600 === 0) return `${sec / 3600}h`;
  if (sec % 60 === 0) return `${sec / 60}m`;
  return `${sec}s`;
}

export class Aggregator {
  /** Open windows per key+period (usually one; two while the previous one is within its grace). */
  private readonly open = new Map<string, Window[]>();
  /** Per key+period: end of the last closed window (anything before it is late). */
  private readonly closedUntil = new Map<string, number>();
  private counts = { added: 0, late: 0, emitted: 0 };

  constructor(private readonly cfg: AggregateConfig = { periodsSec: [60, 3600], graceMs: 5_000, measurement: 'env_agg' }) {}

  /** Adds a reading; returns the aggregates of windows this reading's observed time closed. */
  add(r: Reading): NewItem[] {
    const out: NewItem[] = [];
    const key = readingKey(r);
    let late = false;
    for (const sec of this.cfg.periodsSec) {
      const period = sec * 1000;
      const wk = `${key}|${sec}`;
      const start = Math.floor(r.observedAt / period) * period;
      const list = this.open.get(wk) ?? [];
      // The reading's time is this key's watermark: windows ended more than grace before it close.
      for (const w of [...list]) if (r.observedAt >= w.end + this.cfg.graceMs) out.push(this.close(wk, w));
      if (start < (this.closedUntil.get(wk) ?? -Infinity)) {
        late = true;
        continue;
      }
      let w = list.find((x) => x.start === start);
      if (!w) {
        w = { start, end: start + period, station: r.station, outlet: r.outlet, pollutant: r.pollutant, unit: r.unit, count: 0, sum: 0, min: Infinity, max: -Infinity, excluded: {} };
        list.push(w);
        list.sort((a, b) => a.start - b.start);
        this.open.set(wk, list);
      }
      if (isValid(r)) {
        w.count++;
        w.sum += r.value;
        if (r.value < w.min) w.min = r.value;
        if (r.value > w.max) w.max = r.value;
      } else {
        const f = effectiveFlag(r);
        w.excluded[f] = (w.excluded[f] ?? 0) + 1;
      }
    }
    if (late) this.counts.late++;
    else this.counts.added++;
    return out;
  }

  /** Closes every window whose end + grace ≤ now (wall clock or replay watermark). */
  advance(now: number): NewItem[] {
    const out: NewItem[] = [];
    for (const [wk, list] of [...this.open]) {
      for (const w of [...list]) if (now >= w.end + this.cfg.graceMs) out.push(this.close(wk, w));
    }
    return out;
  }

  /** Closes everything (shutdown). Partial windows carry `partial: true`. */
  flush(): NewItem[] {
    const out: NewItem[] = [];
    for (const [wk, list] of [...this.open]) for (const w of [...list]) out.push(this.close(wk, w, true));
    return out;
  }

  stats(): Record<string, number> {
    let open = 0;
    for (const list of this.open.values()) open += list.length;
    return { ...this.counts, open };
  }

  private close(wk: string, w: Window, partial = false): NewItem {
    const list = (this.open.get(wk) ?? []).filter((x) => x !== w);
    if (list.length) this.open.set(wk, list);
    else this.open.delete(wk);
    this.closedUntil.set(wk, Math.max(w.end, this.closedUntil.get(wk) ?? -Infinity));
    this.counts.emitted++;
    const sec = (w.end - w.start) / 1000;
    const fields: Record<string, number | string | boolean> = { count: w.count, unit: w.unit };
    let excluded = 0;
    for (const [f, n] of Object.entries(w.excluded)) {
      fields[`excluded_${f}`] = n;
      excluded += n;
    }
    fields.excluded = excluded;
    if (w.count > 0) {
      fields.min = w.min;
      fields.avg = Math.round((w.sum / w.count) * 1e6) / 1e6;
      fields.max = w.max;
      fields.flag = 'N';
    } else {
      // No valid value: the aggregate carries the most frequent excluding flag (HJ 212 keeps the flag with the data).
      fields.flag = Object.entries(w.excluded).sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'B';
    }
    if (partial) fields.partial = true;
    const tags: Record<string, string> = { station: w.station, pollutant: w.pollutant, period: periodName(sec) };
    if (w.outlet) tags.outlet = w.outlet;
    return { kind: 'aggregate', ts: w.start, m: this.cfg.measurement, tags, fields };
  }
}
