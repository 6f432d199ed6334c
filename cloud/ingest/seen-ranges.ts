import type { CloudDb } from '../db.ts';

interface Ranges { lo: number[]; hi: number[] }
interface Dirty { site: string; stream: string; removed: Set<number>; touched: Set<number> }

/**
 * Which sequence numbers of each (site, stream) the ingest has admitted, kept as
 * sorted disjoint intervals and persisted in `ingest_seen`.
 *
 * Every message id maps 1:1 to (site, stream, seq) — the edge stamps both in the same
 * transaction — so this is dedupe by message id with no expiring window: a message
 * redelivered a month later is still recognised, and memory grows with the number of
 * gaps (evicted rows), not with the number of messages.
 *
 * `admit` changes memory immediately and records the touched intervals; `flush`
 * writes them and must run in the same transaction as the spool insert.
 */
export class SeenRanges {
  private readonly cache = new Map<string, Ranges>();
  private readonly dirty = new Map<string, Dirty>();
  private readonly st;

  constructor(private readonly db: CloudDb) {
    this.st = {
      load: db.prepare('SELECT lo, hi FROM ingest_seen WHERE site = ? AND stream = ? ORDER BY lo'),
      del: db.prepare('DELETE FROM ingest_seen WHERE site = ? AND stream = ? AND lo = ?'),
      put: db.prepare('INSERT INTO ingest_seen (site, stream, lo, hi) VALUES (?, ?, ?, ?) ON CONFLICT(site, stream, lo) DO UPDATE SET hi = excluded.hi'),
    };
  }

  private lastKey = { site: '', stream: '', ranges: undefined as Ranges | undefined, dirty: undefined as Dirty | undefined };

  private ranges(site: string, stream: string): Ranges {
    // Consecutive items of a batch share their stream: skip the key building and map lookup.
    const last = this.lastKey;
    if (last.ranges && last.site === site && last.stream === stream) return last.ranges;
    const key = `${site}\u0000${stream}`;
    let r = this.cache.get(key);
    if (!r) {
      const rows = this.st.load.all(site, stream) as Array<{ lo: number; hi: number }>;
      r = { lo: rows.map((x) => x.lo), hi: rows.map((x) => x.hi) };
      this.cache.set(key, r);
    }
    this.lastKey = { site, stream, ranges: r, dirty: undefined };
    return r;
  }

  /** Record that the interval starting at `touchedLo` changed and the one at `removedLo` is gone. */
  private mark(site: string, stream: string, touchedLo: number, removedLo?: number): void {
    // admit() just looked this stream up: its dirty entry is cached beside it
    const last = this.lastKey;
    let d = last.site === site && last.stream === stream ? last.dirty : undefined;
    if (!d) {
      const key = `${site}\u0000${stream}`;
      d = this.dirty.get(key);
      if (!d) { d = { site, stream, removed: new Set(), touched: new Set() }; this.dirty.set(key, d); }
      if (last.site === site && last.stream === stream) last.dirty = d;
    }
    d.touched.add(touchedLo);
    if (removedLo !== undefined) { d.removed.add(removedLo); d.touched.delete(removedLo); }
  }

  /** True if seq is new (and records it); false for a duplicate. */
  admit(site: string, stream: string, seq: number): boolean {
    const r = this.ranges(site, stream);
    // i = index of the last interval with lo <= seq
    let a = 0;
    let b = r.lo.length - 1;
    let i = -1;
    while (a <= b) {
      const m = (a + b) >> 1;
      if (r.lo[m] <= seq) { i = m; a = m + 1; } else b = m - 1;
    }
    if (i >= 0 && seq <= r.hi[i]) return false;
    const joinLeft = i >= 0 && r.hi[i] === seq - 1;
    const joinRight = i + 1 < r.lo.length && r.lo[i + 1] === seq + 1;
    if (joinLeft && joinRight) {
      r.hi[i] = r.hi[i + 1];
      this.mark(site, stream, r.lo[i], r.lo[i + 1]);
      r.lo.splice(i + 1, 1);
      r.hi.splice(i + 1, 1);
    } else if (joinLeft) {
      r.hi[i] = seq;
      this.mark(site, stream, r.lo[i]);
    } else if (joinRight) {
      this.mark(site, stream, seq, r.lo[i + 1]);
      r.lo[i + 1] = seq;
    } else {
      r.lo.splice(i + 1, 0, seq);
      r.hi.splice(i + 1, 0, seq);
      this.mark(site, stream, seq);
    }
    return true;
  }

  /** Persist touched streams (call inside the ingest transaction). */
  flush(): void {
    for (const d of this.dirty.values()) {
      for (const lo of d.removed) this.st.del.run(d.site, d.stream, lo);
      if (!d.touched.size) continue;
      const r = this.ranges(d.site, d.stream);
      for (let k = 0; k < r.lo.length; k++) if (d.touched.has(r.lo[k])) this.st.put.run(d.site, d.stream, r.lo[k], r.hi[k]);
    }
    this.dirty.clear();
    this.lastKey.dirty = undefined;
  }

  /** Forget in-memory state (after a failed transaction, reload from disk). */
  reset(): void {
    this.cache.clear();
    this.dirty.clear();
    this.lastKey = { site: '', stream: '', ranges: undefined, dirty: undefined };
  }

  intervals(site: string, stream: string): Array<[number, number]> {
    const r = this.ranges(site, stream);
    return r.lo.map((lo, k) => [lo, r.hi[k]]);
  }
}
