import type { Logger } from '../../lib/log.ts';
import { errMessage } from '../../lib/errors.ts';
import type { Receipt } from '../../protocol/schemas.ts';

/** What sends one receipt to a site (the broker's command publish, QoS 1). */
export type ReceiptSender = (site: string, receipt: Receipt) => Promise<void>;

export interface ReceiptOptions {
  /** Wait this long to coalesce the receipts of several messages into one (ms). */
  lingerMs: number;
  /** Ranges per receipt message at most (a larger set is split). */
  maxRanges: number;
  now?: () => number;
}

/** Insert seq into sorted, disjoint, inclusive ranges, merging neighbours. */
export function addToRanges(ranges: Array<[number, number]>, from: number, to: number): void {
  // find the first range that ends at or after from - 1
  let lo = 0;
  let hi = ranges.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ranges[mid][1] < from - 1) lo = mid + 1; else hi = mid;
  }
  let i = lo;
  let a = from;
  let b = to;
  let j = i;
  while (j < ranges.length && ranges[j][0] <= b + 1) {
    a = Math.min(a, ranges[j][0]);
    b = Math.max(b, ranges[j][1]);
    j++;
  }
  ranges.splice(i, j - i, [a, b]);
}

/** Sorted seqs → inclusive ranges. */
export function toRanges(seqs: readonly number[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const s of seqs) addToRanges(out, s, s);
  return out;
}

/**
 * End-to-end receipts: ingest notes the (site, stream, seq) of every item whose outcome is durable
 * in the spool (admitted, a known duplicate, or dead-lettered for good); after `lingerMs` the
 * noted ranges go to each site as one receipt on its command topic. A receipt that cannot be sent
 * (site offline, broker down) is simply dropped: the edge sends those rows again after its receipt
 * timeout, dedupe admits nothing twice, and the duplicates are receipted then. So nothing here needs
 * to be durable.
 */
export class ReceiptBook {
  private pending = new Map<string, Map<string, Array<[number, number]>>>();
  private timer?: NodeJS.Timeout;
  private sending = Promise.resolve();
  readonly counts = { receipts: 0, ranges: 0, seqs: 0, failed: 0 };
  private readonly now: () => number;

  constructor(private readonly send: ReceiptSender, private readonly opts: ReceiptOptions, private readonly log?: Logger) {
    this.now = opts.now ?? Date.now;
  }

  /** Note seqs of one stream of a site as safely spooled. */
  note(site: string, stream: string, seqs: Iterable<number>): void {
    let bySite = this.pending.get(site);
    if (!bySite) this.pending.set(site, (bySite = new Map()));
    let ranges = bySite.get(stream);
    if (!ranges) bySite.set(stream, (ranges = []));
    let n = 0;
    for (const s of seqs) { addToRanges(ranges, s, s); n++; }
    this.counts.seqs += n;
    this.timer ??= setTimeout(() => { this.timer = undefined; void this.flush(); }, this.opts.lingerMs);
    this.timer.unref?.();
  }

  /** Send what is pending now (also called at shutdown). */
  flush(): Promise<void> {
    if (this.timer) { clearTimeout(this.timer); this.timer = undefined; }
    const batch = this.pending;
    this.pending = new Map();
    const at = this.now();
    this.sending = this.sending.then(async () => {
      for (const [site, streams] of batch) {
        for (const [stream, ranges] of streams) {
          for (let i = 0; i < ranges.length; i += this.opts.maxRanges) {
            const part = ranges.slice(i, i + this.opts.maxRanges);
            try {
              await this.send(site, { v: 1, stream, ranges: part, at });
              this.counts.receipts++;
              this.counts.ranges += part.length;
            } catch (err) {
              this.counts.failed++;
              this.log?.debug({ site, stream, err: errMessage(err) }, 'receipt not sent; the edge will send those rows again');
            }
          }
        }
      }
    });
    return this.sending;
  }

  get pendingSites(): number { return this.pending.size; }
}
