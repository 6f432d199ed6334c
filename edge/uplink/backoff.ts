/**
 * Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff
 * And Jitter"): delay = random(0, min(max, min * 2^attempt)), never below `min`/2,
 * so a city's gateways coming back after a broker restart do not reconnect in lockstep.
 */
export class Backoff {
  private attempt = 0;
  constructor(private readonly minMs: number, private readonly maxMs: number, private readonly random: () => number = Math.random) {}
  next(): number {
    const ceiling = Math.min(this.maxMs, this.minMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    return Math.round(this.minMs / 2 + this.random() * Math.max(0, ceiling - this.minMs / 2));
  }
  reset(): void {
    this.attempt = 0;
  }
}
