import { Type, type Static } from '@sinclair/typebox';
import { sleep } from '../../lib/sleep.ts';
import type { NewItem } from '../../protocol/schemas.ts';
import type { Source, SourceContext, SourceFactory } from '../../lib/contract/source.ts';

export const SyntheticSchema = Type.Object({
  type: Type.Literal('synthetic'),
  id: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' }),
  /** Readings in total (the source stops after the last one). */
  count: Type.Integer({ minimum: 1 }),
  ratePerSec: Type.Number({ exclusiveMinimum: 0, default: 1000 }),
  /** Readings per outbox append (one transaction). */
  batch: Type.Integer({ minimum: 1, maximum: 5000, default: 10 }),
  measurement: Type.String({ default: 'synthetic' }),
  /** Observed time of reading 0; reading i is observed at startTime + i ms. */
  startTime: Type.Integer({ default: 1_700_000_000_000 }),
  /** Every Nth reading is also raised as an alert (0 = never). */
  alertEvery: Type.Integer({ minimum: 0, default: 0 }),
}, { additionalProperties: false });
export type SyntheticConfig = Static<typeof SyntheticSchema>;

/**
 * Deterministic readings for tests and benchmarks: reading i has value i and is
 * observed at startTime + i ms, so a test can check that every reading arrived exactly once.
 * Progress is checkpointed with each append, so kill -9 and restart resumes without gap or repeat.
 */
class SyntheticSource implements Source {
  readonly id: string;
  private readonly abort = new AbortController();
  private produced = 0;
  private loop?: Promise<void>;
  constructor(private readonly cfg: SyntheticConfig) { this.id = cfg.id; }

  async start(ctx: SourceContext): Promise<void> {
    const key = `synthetic:${this.id}`;
    const cp = ctx.checkpoint(key);
    this.produced = cp === undefined ? 0 : Number(cp);
    this.loop = this.run(ctx, key);
  }

  private async run(ctx: SourceContext, key: string): Promise<void> {
    const { count, batch, ratePerSec } = this.cfg;
    const started = Date.now();
    const base = this.produced;
    while (!this.abort.signal.aborted && this.produced < count) {
      const n = Math.min(batch, count - this.produced);
      const items: NewItem[] = [];
      for (let k = 0; k < n; k++) {
        const i = this.produced + k;
        items.push({ kind: 'telemetry', ts: this.cfg.startTime + i, m: this.cfg.measurement, tags: { source: this.id }, fields: { value: i } });
        if (this.cfg.alertEvery && i % this.cfg.alertEvery === 0) {
          items.push({ kind: 'alert', ts: this.cfg.startTime + i, rule: 'synthetic', source: `${this.id}-${i}`, state: 'raise', severity: 'warning', message: `synthetic alert ${i}`, data: { i } });
        }
      }
      ctx.emit(items, { key, value: String(this.produced + n) });
      this.produced += n;
      const due = started + ((this.produced - base) / ratePerSec) * 1000;
      const wait = due - Date.now();
      await sleep(wait, this.abort.signal);
    }
    ctx.log.info({ produced: this.produced }, 'synthetic source finished');
  }

  health(): Record<string, unknown> {
    return { produced: this.produced, count: this.cfg.count };
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }
}

export const syntheticFactory: SourceFactory = {
  type: 'synthetic',
  schema: SyntheticSchema,
  create: (cfg: SyntheticConfig) => new SyntheticSource(cfg),
};
