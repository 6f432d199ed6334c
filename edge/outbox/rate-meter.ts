/**
 * Amount per window measured over a sliding window of fixed buckets
 * (e.g. bytes appended over the last hour in 60 one-minute buckets).
 * When less than a full window has been observed, the rate is extrapolated from
 * the time observed so far (at least one bucket).
 */
export class RateMeter {
  private readonly buckets: Float64Array;
  private readonly bucketMs: number;
  private head = 0;
  private headStart: number;
  private readonly started: number;

  constructor(private readonly windowMs: number, bucketCount: number, private readonly now: () => number = Date.now) {
    this.buckets = new Float64Array(bucketCount);
    this.bucketMs = windowMs / bucketCount;
    this.started = now();
    this.headStart = this.started;
  }

  private roll(): void {
    const t = this.now();
    while (t - this.headStart >= this.bucketMs) {
      this.head = (this.head + 1) % this.buckets.length;
      this.buckets[this.head] = 0;
      this.headStart += this.bucketMs;
      if (t - this.headStart > this.windowMs) {
        this.buckets.fill(0);
        this.headStart = t;
      }
    }
  }

  add(amount: number): void {
    this.roll();
    this.buckets[this.head] += amount;
  }

  /** Amount per `windowMs`. */
  perWindow(): number {
    this.roll();
    let sum = 0;
    for (const b of this.buckets) sum += b;
    const observed = Math.min(this.windowMs, Math.max(this.bucketMs, this.now() - this.started));
    return (sum * this.windowMs) / observed;
  }
}
