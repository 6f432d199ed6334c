import { formatDataTime } from './codec.ts';
import { historyCn } from './classify.ts';

/**
 * Gap detection and backfill planning for HJ 212 period data (pure logic: no I/O, no clock of its
 * own — every call takes the time).
 *
 * Per station (MN), data period (`min` every `intervals.minute` minutes, `hour`, `day`, as
 * configured per station) and factor group (default one group holding every factor), the tracker
 * keeps the DataTimes received. Once a record's period is due — slot start + period + grace has
 * passed — a slot without a record is a **gap** (state `open`). Gaps are requested from the logger
 * (CN 2051/2061/2031 with `BeginTime`/`EndTime` of a run of consecutive missing slots, at most
 * `maxRecordsPerRequest`), one outstanding request per station, at most `maxRequestsPerMinute`
 * (token bucket) over all stations; while a request is out its gaps are `requested`. A record that
 * arrives for a gap fills it (`filled`, and the record is backfill: marked resent). A request that
 * ends with gaps still missing (refused, timed out, "no data") returns them to `open` with an
 * exponential back-off (`retryBaseMs` × 2^(attempt−1), at most `retryMaxMs`); after `maxAttempts`
 * attempts a gap is `abandoned`. Gaps older than `lookbackMs` (relative to the detection time) that
 * were never filled are abandoned too; older slots are not tracked at all.
 *
 * Slots are aligned to the logger's local time (`offsetMinutes`, Beijing time by default): minute
 * slots every `minute` minutes from local midnight, hours, local days. A record whose DataTime is
 * inside a slot covers it.
 *
 * Dedupe: each (station, period, DataTime) remembers the factor codes already stored; a code
 * received again for the same DataTime is dropped (`receive` returns the codes to keep), so a
 * backfilled record is stored once. After a restart the DataTimes are known but not their codes:
 * any code of that group for a known DataTime is then dropped.
 *
 * Counts per station and period (summed over groups): `open` and `requested` are the gaps in that
 * state now; `filled` and `abandoned` are totals since tracking began (a late record for a gap that
 * was abandoned moves it from abandoned to filled). Time for detection (`detectNow`) and for pacing
 * (`now`: rate limit, back-off) are separate so a replay can detect on observed time while pacing on
 * the wall clock. The tracker journals its changes (`begin`/`commit`/`rollback`) so a failed outbox
 * commit leaves it as before; `save()`/`restore()` give the state kept in the source's checkpoint
 * (an outstanding request is restored as `open`, its attempt counted).
 */
export type GapPeriod = 'min' | 'hour' | 'day';
export const GAP_PERIODS: readonly GapPeriod[] = ['min', 'hour', 'day'];

export interface GapStationConfig {
  mn: string;
  intervals?: { minute?: number; hour?: boolean; day?: boolean };
  /** Factor groups tracked separately, name → codes (disjoint); default one group of every code. */
  groups?: Record<string, readonly string[]>;
}

export interface BackfillOptions {
  /** Grace after a period is over before its record counts as missing, per period (ms). */
  graceMs: Record<GapPeriod, number>;
  maxRequestsPerMinute: number;
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  lookbackMs: number;
  maxRecordsPerRequest: number;
  /** DataTime offset from UTC, minutes (480 = Beijing). */
  offsetMinutes: number;
}

export const DEFAULT_BACKFILL: BackfillOptions = {
  graceMs: { min: 5 * 60_000, hour: 15 * 60_000, day: 2 * 3600_000 },
  maxRequestsPerMinute: 6,
  maxAttempts: 3,
  retryBaseMs: 60_000,
  retryMaxMs: 30 * 60_000,
  lookbackMs: 72 * 3600_000,
  maxRecordsPerRequest: 60,
  offsetMinutes: 480,
};

export interface GapCounts { open: number; requested: number; filled: number; abandoned: number }

export interface PlannedRequest {
  id: number;
  mn: string;
  period: GapPeriod;
  cn: string;
  /** First and last missing slot (epoch ms) and the CP window as sent. */
  begin: number;
  end: number;
  beginTime: string;
  endTime: string;
  slots: number;
}

interface Gap { state: 'open' | 'requested' | 'abandoned'; attempts: number; nextAt: number; req?: number }

interface Series {
  mn: string;
  period: GapPeriod;
  group: string;
  step: number;
  first?: number;
  scanned?: number;
  /** DataTime → codes stored (null: known from the checkpoint, codes unknown). */
  recv: Map<number, Set<string> | null>;
  covered: Set<number>;
  gaps: Map<number, Gap>;
  filled: number;
  abandoned: number;
  /** Horizon of the last expiry/prune pass (not persisted). */
  pruned?: number;
}

interface Globals { tokens: number; refillAt: number; nextReq: number; busy: Map<string, number>; reqs: Map<number, { mn: string; period: GapPeriod }>; emitted: Map<string, { sig: string; at: number }>; requests: RequestStats }
export interface RequestStats { sent: number; completed: number; failed: number }

const PERIOD_MS = { hour: 3600_000, day: 86_400_000 } as const;

export class GapTracker {
  private readonly series = new Map<string, Series>();
  /** station → period → its series (one per group). */
  private readonly byStation = new Map<string, Map<GapPeriod, Series[]>>();
  /** station → code → group name (codes in no group are untracked when groups are configured). */
  private readonly groupOf = new Map<string, Map<string, string> | null>();
  private g: Globals;
  private journal?: { series: Map<string, Series | undefined>; globals: Globals; dirty: boolean };
  private isDirty = false;
  private rr = 0;
  readonly opts: BackfillOptions;

  constructor(stations: readonly GapStationConfig[], opts: Partial<BackfillOptions> = {}) {
    this.opts = { ...DEFAULT_BACKFILL, ...opts, graceMs: { ...DEFAULT_BACKFILL.graceMs, ...(opts.graceMs ?? {}) } };
    this.g = { tokens: this.opts.maxRequestsPerMinute, refillAt: Number.NaN, nextReq: 1, busy: new Map(), reqs: new Map(), emitted: new Map(), requests: { sent: 0, completed: 0, failed: 0 } };
    for (const st of stations) {
      const iv = st.intervals ?? {};
      const periods: Array<[GapPeriod, number]> = [];
      if (iv.minute) periods.push(['min', iv.minute * 60_000]);
      if (iv.hour) periods.push(['hour', PERIOD_MS.hour]);
      if (iv.day) periods.push(['day', PERIOD_MS.day]);
      if (!periods.length) continue;
      const groups = st.groups && Object.keys(st.groups).length ? st.groups : undefined;
      const names = groups ? Object.keys(groups) : ['*'];
      if (groups) {
        const m = new Map<string, string>();
        for (const [name, codes] of Object.entries(groups)) for (const c of codes) m.set(c, name);
        this.groupOf.set(st.mn, m);
      } else this.groupOf.set(st.mn, null);
      const per = new Map<GapPeriod, Series[]>();
      for (const [period, step] of periods) {
        const list: Series[] = [];
        for (const group of names) {
          const s: Series = { mn: st.mn, period, group, step, recv: new Map(), covered: new Set(), gaps: new Map(), filled: 0, abandoned: 0 };
          this.series.set(keyOf(st.mn, period, group), s);
          list.push(s);
        }
        per.set(period, list);
      }
      this.byStation.set(st.mn, per);
    }
  }

  /** Whether any station has a period tracked. */
  get active(): boolean {
    return this.series.size > 0;
  }

  tracks(mn: string, period: string): boolean {
    return !!this.byStation.get(mn)?.has(period as GapPeriod);
  }

  slotOf(t: number, step: number): number {
    const off = this.opts.offsetMinutes * 60_000;
    return Math.floor((t + off) / step) * step - off;
  }

  /**
   * A data record of `mn`/`period` with DataTime `t` carrying factor `codes` arrived (before it is
   * stored). Returns the codes to store (the others were stored already) and whether it fills a
   * gap (backfill: mark it resent).
   */
  receive(mn: string, period: string, t: number, codes: readonly string[]): { keep: Set<string>; backfill: boolean } {
    const list = this.byStation.get(mn)?.get(period as GapPeriod);
    const keep = new Set(codes);
    if (!list) return { keep, backfill: false };
    const gmap = this.groupOf.get(mn) ?? null;
    let backfill = false;
    for (const s of list) {
      const mine = codes.filter((c) => (gmap ? gmap.get(c) === s.group : true));
      if (!mine.length) continue;
      const known = s.recv.get(t);
      const fresh = known === null ? [] : mine.filter((c) => !known?.has(c));
      for (const c of mine) if (!fresh.includes(c)) keep.delete(c);
      if (!fresh.length) continue;
      this.touch(s);
      const set = known ?? new Set<string>();
      for (const c of fresh) set.add(c);
      s.recv.set(t, set);
      const slot = this.slotOf(t, s.step);
      s.covered.add(slot);
      if (s.first === undefined || slot < s.first) s.first = slot;
      const gap = s.gaps.get(slot);
      if (gap) {
        if (gap.state === 'abandoned') s.abandoned--;
        s.filled++;
        s.gaps.delete(slot);
        backfill = true;
      }
    }
    return { keep, backfill };
  }

  /** Whether a record of mn/period at t falls in a slot that is a gap now (open, requested or abandoned). */
  isGap(mn: string, period: string, t: number): boolean {
    for (const s of this.byStation.get(mn)?.get(period as GapPeriod) ?? []) if (s.gaps.has(this.slotOf(t, s.step))) return true;
    return false;
  }

  /** Detect the gaps that are due at `detectNow`; abandon those beyond the look-back; forget old DataTimes. */
  scan(detectNow: number, now: number): void {
    if (!Number.isFinite(detectNow)) return;
    for (const s of this.series.values()) {
      if (s.first === undefined) continue;
      const grace = this.opts.graceMs[s.period];
      const due = this.slotOf(detectNow - s.step - grace, s.step);
      const horizon = this.slotOf(detectNow - this.opts.lookbackMs, s.step);
      let from = Math.max(s.first, s.scanned === undefined ? s.first : s.scanned + s.step, horizon);
      if (from <= due) {
        this.touch(s);
        for (; from <= due; from += s.step) {
          if (!s.covered.has(from) && !s.gaps.has(from)) s.gaps.set(from, { state: 'open', attempts: 0, nextAt: now });
        }
        s.scanned = due;
      }
      if (s.pruned === horizon) continue;
      s.pruned = horizon;
      for (const [slot, gap] of s.gaps) {
        if (slot >= horizon) continue;
        if (gap.state === 'open') { this.touch(s); gap.state = 'abandoned'; s.abandoned++; }
        if (gap.state === 'abandoned' && slot < horizon - this.opts.lookbackMs) { this.touch(s); s.gaps.delete(slot); }
      }
      for (const t of s.recv.keys()) if (t < horizon - s.step) { this.touch(s); s.recv.delete(t); }
      for (const c of s.covered) if (c < horizon - s.step) { this.touch(s); s.covered.delete(c); }
    }
  }

  /**
   * The requests to send at `now`: per station with no request of ours outstanding and
   * `canSend(mn)` (its logger connected), the earliest run of consecutive open gaps whose retry time
   * has come, within the rate limit. Marks those gaps requested (attempt counted).
   */
  plan(now: number, canSend: (mn: string) => boolean): PlannedRequest[] {
    const g = this.g;
    const cap = this.opts.maxRequestsPerMinute;
    const before = { tokens: g.tokens, refillAt: g.refillAt };
    if (Number.isNaN(g.refillAt)) g.refillAt = now;
    g.tokens = Math.min(cap, g.tokens + ((now - g.refillAt) * cap) / 60_000);
    g.refillAt = now;
    if (g.tokens !== before.tokens || g.refillAt !== before.refillAt) this.markGlobal();
    const out: PlannedRequest[] = [];
    const stations = [...this.byStation.keys()];
    for (let i = 0; i < stations.length && g.tokens >= 1; i++) {
      const mn = stations[(this.rr + i) % stations.length];
      if (g.busy.has(mn) || !canSend(mn)) continue;
      // earliest due open gap over this station's periods and groups
      let best: { period: GapPeriod; slot: number; step: number } | undefined;
      for (const [period, list] of this.byStation.get(mn)!) {
        for (const s of list) {
          for (const [slot, gap] of s.gaps) {
            if (gap.state === 'open' && gap.nextAt <= now && (!best || slot < best.slot)) best = { period, slot, step: s.step };
          }
        }
      }
      if (!best) continue;
      const list = this.byStation.get(mn)!.get(best.period)!;
      const dueOpen = (slot: number) => list.some((s) => { const gp = s.gaps.get(slot); return gp?.state === 'open' && gp.nextAt <= now; });
      let end = best.slot;
      let n = 1;
      while (n < this.opts.maxRecordsPerRequest && dueOpen(end + best.step)) { end += best.step; n++; }
      this.markGlobal();
      const id = g.nextReq++;
      for (const s of list) {
        for (let slot = best.slot; slot <= end; slot += s.step) {
          const gp = s.gaps.get(slot);
          if (gp?.state === 'open' && gp.nextAt <= now) { this.touch(s); gp.state = 'requested'; gp.attempts++; gp.req = id; }
        }
      }
      g.tokens -= 1;
      g.busy.set(mn, id);
      g.reqs.set(id, { mn, period: best.period });
      g.requests.sent++;
      const off = this.opts.offsetMinutes;
      out.push({ id, mn, period: best.period, cn: historyCn(best.period), begin: best.slot, end, beginTime: formatDataTime(best.slot, off), endTime: formatDataTime(end, off), slots: n });
    }
    if (stations.length) this.rr = (this.rr + 1) % stations.length;
    return out;
  }

  /** A planned request ended (`ok`: the logger executed it). Gaps still missing go back to open with back-off, or are abandoned. */
  finish(id: number, now: number, ok: boolean): void {
    const g = this.g;
    const req = g.reqs.get(id);
    if (!req) return;
    this.markGlobal();
    g.reqs.delete(id);
    if (g.busy.get(req.mn) === id) g.busy.delete(req.mn);
    if (ok) g.requests.completed++; else g.requests.failed++;
    for (const s of this.byStation.get(req.mn)?.get(req.period) ?? []) {
      for (const gap of s.gaps.values()) {
        if (gap.state !== 'requested' || gap.req !== id) continue;
        this.touch(s);
        delete gap.req;
        if (gap.attempts >= this.opts.maxAttempts) { gap.state = 'abandoned'; s.abandoned++; }
        else { gap.state = 'open'; gap.nextAt = now + Math.min(this.opts.retryMaxMs, this.opts.retryBaseMs * 2 ** (gap.attempts - 1)); }
      }
    }
  }

  /** Outstanding request of a station (planned, not finished). */
  outstanding(mn: string): number | undefined {
    return this.g.busy.get(mn);
  }

  counts(mn: string, period: GapPeriod): GapCounts {
    const c: GapCounts = { open: 0, requested: 0, filled: 0, abandoned: 0 };
    for (const s of this.byStation.get(mn)?.get(period) ?? []) {
      for (const gap of s.gaps.values()) { if (gap.state === 'open') c.open++; else if (gap.state === 'requested') c.requested++; }
      c.filled += s.filled;
      c.abandoned += s.abandoned;
    }
    return c;
  }

  /** Counts of every tracked station and period: { mn: { min: {...}, hour: {...} } }. */
  allCounts(): Record<string, Partial<Record<GapPeriod, GapCounts>>> {
    const out: Record<string, Partial<Record<GapPeriod, GapCounts>>> = {};
    for (const [mn, per] of this.byStation) {
      out[mn] = {};
      for (const p of per.keys()) out[mn][p] = this.counts(mn, p);
    }
    return out;
  }

  requestStats(): RequestStats & { tokens: number; outstanding: number } {
    return { ...this.g.requests, tokens: Math.floor(this.g.tokens * 100) / 100, outstanding: this.g.busy.size };
  }

  /**
   * Counts to report now: those that changed since last reported, and all of them every
   * `everyMs` (telemetry `hj212_gaps` "when it changes and every minute").
   */
  dueCounts(now: number, everyMs = 60_000): Array<{ mn: string; period: GapPeriod; counts: GapCounts }> {
    const out: Array<{ mn: string; period: GapPeriod; counts: GapCounts }> = [];
    for (const [mn, per] of this.byStation) {
      for (const period of per.keys()) {
        const counts = this.counts(mn, period);
        const sig = `${counts.open},${counts.requested},${counts.filled},${counts.abandoned}`;
        const k = `${mn}|${period}`;
        const last = this.g.emitted.get(k);
        if (!last || last.sig !== sig || now - last.at >= everyMs) {
          this.markGlobal();
          this.g.emitted.set(k, { sig, at: now });
          out.push({ mn, period, counts });
        }
      }
    }
    return out;
  }

  // ── journal (rollback after a failed outbox commit) ──

  begin(): void {
    this.journal = { series: new Map(), globals: cloneGlobals(this.g), dirty: this.isDirty };
  }

  commit(): void {
    this.journal = undefined;
    this.isDirty = false;
  }

  rollback(): void {
    const j = this.journal;
    if (!j) return;
    for (const [k, s] of j.series) if (s) this.replace(k, s);
    this.g = j.globals;
    this.isDirty = j.dirty;
    this.journal = undefined;
  }

  /** Changed since the last commit (the checkpoint must be written). */
  dirty(): boolean {
    return this.isDirty;
  }

  private touch(s: Series): void {
    this.isDirty = true;
    const k = keyOf(s.mn, s.period, s.group);
    if (this.journal && !this.journal.series.has(k)) this.journal.series.set(k, structuredClone(s));
  }

  private markGlobal(): void {
    this.isDirty = true;
  }

  private replace(k: string, s: Series): void {
    this.series.set(k, s);
    const list = this.byStation.get(s.mn)?.get(s.period);
    if (list) { const i = list.findIndex((x) => x.group === s.group); if (i >= 0) list[i] = s; }
  }

  // ── persistence ──

  save(): SavedGaps {
    const series: SavedGaps['series'] = {};
    for (const [k, s] of this.series) {
      if (s.first === undefined && !s.filled && !s.abandoned) continue;
      const times = [...s.recv.keys()].sort((a, b) => a - b);
      const recv: Array<[number, number]> = [];
      for (const t of times) {
        const last = recv[recv.length - 1];
        if (last && t === last[0] + last[1] * s.step) last[1]++;
        else recv.push([t, 1]);
      }
      const gaps: Array<[number, 'o' | 'a', number, number]> = [];
      for (const [slot, gp] of [...s.gaps].sort((a, b) => a[0] - b[0])) gaps.push([slot, gp.state === 'abandoned' ? 'a' : 'o', gp.attempts, gp.nextAt]);
      series[k] = { step: s.step, ...(s.first !== undefined ? { first: s.first } : {}), ...(s.scanned !== undefined ? { scanned: s.scanned } : {}), recv, gaps, filled: s.filled, abandoned: s.abandoned };
    }
    return { v: 1, series, requests: { ...this.g.requests } };
  }

  restore(saved: unknown): void {
    const v = saved as SavedGaps | undefined;
    if (!v || v.v !== 1 || typeof v.series !== 'object') return;
    for (const [k, p] of Object.entries(v.series)) {
      const s = this.series.get(k);
      if (!s || !p) continue;
      s.filled = Number(p.filled) || 0;
      s.abandoned = Number(p.abandoned) || 0;
      if (p.step !== s.step) continue; // interval changed: start tracking afresh, keep the totals
      if (typeof p.first === 'number') s.first = p.first;
      if (typeof p.scanned === 'number') s.scanned = p.scanned;
      for (const [t, n] of p.recv ?? []) for (let i = 0; i < n; i++) { s.recv.set(t + i * s.step, null); s.covered.add(this.slotOf(t + i * s.step, s.step)); }
      for (const [slot, st, attempts, nextAt] of p.gaps ?? []) s.gaps.set(slot, { state: st === 'a' ? 'abandoned' : 'open', attempts, nextAt });
    }
    if (v.requests) this.g.requests = { sent: v.requests.sent || 0, completed: v.requests.completed || 0, failed: v.requests.failed || 0 };
  }
}

export interface SavedGaps {
  v: 1;
  series: Record<string, { step: number; first?: number; scanned?: number; recv: Array<[number, number]>; gaps: Array<[number, 'o' | 'a', number, number]>; filled: number; abandoned: number }>;
  requests?: RequestStats;
}

function keyOf(mn: string, period: GapPeriod, group: string): string {
  return `${mn}|${period}|${group}`;
}

function cloneGlobals(g: Globals): Globals {
  return { tokens: g.tokens, refillAt: g.refillAt, nextReq: g.nextReq, busy: new Map(g.busy), reqs: new Map(g.reqs), emitted: new Map(g.emitted), requests: { ...g.requests } };
}
