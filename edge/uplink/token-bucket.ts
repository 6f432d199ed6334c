/** Token bucket: `rate` tokens per second, at most `burst` banked. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(private readonly rate: number, private readonly burst: number, private readonly now: () => number = Date.now) {
    this.tokens = burst;
    this.last = now();
  }
  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
  }
  available(): number {
    this.refill();
    return Math.floor(this.tokens);
  }
  take(n: number): void {
    this.refill();
    this.tokens -= n;
  }
  msUntil(n: number): number {
    this.refill();
    return this.tokens >= n ? 0 : Math.ceil(((n - this.tokens) / this.rate) * 1000);
  }
  reset(): void {
    this.tokens = this.burst;
    this.last = this.now();
  }
}
