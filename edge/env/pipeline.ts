import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { NewItem } from '../../protocol/schemas.ts';
import type { SourceContext } from '../../lib/contract/source.ts';
import { validateConfig } from '../../lib/config.ts';
import { DEFAULT_RANGES, RangeChecker, RangesSchema } from './readings/range.ts';
import { type Reading, ReadingSchema } from '../../lib/contract/reading.ts';
import { toTelemetry } from './readings/telemetry.ts';
import { AggregateConfigSchema, Aggregator } from './aggregate/aggregator.ts';
import { AlertEngine, type AlertSnapshot, type Basis } from './alerts/engine.ts';
import { RulesSchema } from './alerts/rules.ts';

/**
 * The env stage every environmental source shares (Modbus, OPC UA, HJ 212):
 * readings → range check → raw telemetry items + closed minute/hour aggregates + alert items.
 * Pure and synchronous; `EnvEmitter` below binds it to a SourceContext (outbox) and a timer.
 */
export const EnvPipelineConfigSchema = Type.Object(
  {
    /** Emit one telemetry item per reading (off for high-rate sources that only need aggregates). */
    raw: Type.Boolean({ default: true }),
    measurement: Type.String({ default: 'env' }),
    /** Plausibility ranges per pollutant; replaces the defaults when given. */
    ranges: Type.Optional(RangesSchema),
    /** `false` turns aggregation off. */
    aggregate: Type.Union([AggregateConfigSchema, Type.Literal(false)], { default: {} }),
    alerts: RulesSchema,
    /**
     * Time for closing windows and missing-data checks: `wall` = the gateway clock (live sources),
     * `observed` = the newest observedAt seen (replays, backfills).
     */
    clock: Type.Union([Type.Literal('wall'), Type.Literal('observed')], { default: 'wall' }),
    /** How often EnvEmitter calls tick(). */
    tickMs: Type.Integer({ minimum: 50, default: 1000 }),
  },
  { additionalProperties: false, default: {} },
);
export type EnvPipelineConfig = Static<typeof EnvPipelineConfigSchema>;

const readingCheck = TypeCompiler.Compile(ReadingSchema);

export function parsePipelineConfig(raw: unknown, source = 'env pipeline'): EnvPipelineConfig {
  return validateConfig(EnvPipelineConfigSchema, raw ?? {}, source, 'ENV_CONFIG_INVALID');
}

export class EnvPipeline {
  readonly ranges: RangeChecker;
  readonly aggregator?: Aggregator;
  readonly alerts: AlertEngine;
  private watermark = -Infinity;
  private counts = { readings: 0, rejected: 0 };
  private readonly now: () => number;

  /**
   * `basis(reading)`: whether the reading's value is a measured (`raw`) or a converted
   * (reference-O₂, HJ 75) concentration — the source knows (HJ 212: the station's `limitsOn`);
   * exceedance alerts state it. Default raw.
   */
  constructor(readonly cfg: EnvPipelineConfig = parsePipelineConfig({}), opts: { now?: () => number; basis?: (r: Reading) => Basis } = {}) {
    this.ranges = new RangeChecker(cfg.ranges ?? DEFAULT_RANGES);
    if (cfg.aggregate !== false) this.aggregator = new Aggregator(cfg.aggregate);
    this.alerts = new AlertEngine(cfg.alerts, opts.basis ? { basis: opts.basis } : {});
    this.now = opts.now ?? Date.now;
  }

  /** Readings in, items out (telemetry first, then aggregates and alerts in observed order). */
  push(readings: Reading[]): NewItem[] {
    const out: NewItem[] = [];
    for (const raw of readings) {
      // NaN/Infinity fail the schema's Number but are kept and marked (qc not_finite), never dropped.
      const shape = typeof raw?.value === 'number' && !Number.isFinite(raw.value) ? { ...raw, value: 0 } : raw;
      if (!readingCheck.Check(shape)) {
        this.counts.rejected++;
        continue;
      }
      this.counts.readings++;
      const r = this.ranges.check(raw);
      if (r.observedAt > this.watermark) this.watermark = r.observedAt;
      if (this.cfg.raw) out.push(toTelemetry(r, { measurement: this.cfg.measurement }));
      if (this.aggregator) out.push(...this.aggregator.add(r));
      out.push(...this.alerts.process(r));
    }
    if (this.cfg.clock === 'observed' && readings.length) out.push(...this.tick());
    return out;
  }

  /** Close due windows and check for missing data at `now` (default: the configured clock). */
  tick(now = this.clockNow()): NewItem[] {
    if (!Number.isFinite(now)) return [];
    return [...(this.aggregator?.advance(now) ?? []), ...this.alerts.tick(now)];
  }

  /** At shutdown: partial windows out. */
  flush(): NewItem[] {
    return this.aggregator?.flush() ?? [];
  }

  clockNow(): number {
    return this.cfg.clock === 'observed' ? this.watermark : this.now();
  }

  stats(): Record<string, unknown> {
    return { ...this.counts, range: this.ranges.stats(), aggregate: this.aggregator?.stats(), alerts: this.alerts.stats() };
  }
}

/**
 * State of the source kept in the emitter's checkpoint beside the open alerts, committed in the
 * same outbox transaction as the items and rolled back with the alert engine when that commit
 * fails (e.g. the HJ 212 gap tracker: which records were stored, which gaps are open).
 */
export interface EmitterState {
  save(): unknown;
  restore(saved: unknown): void;
  /** Changed since the last commit(): the checkpoint must be written. */
  dirty(): boolean;
  begin(): void;
  commit(): void;
  rollback(): void;
}

/**
 * Binds a pipeline to a source's context: emits the items durably, ticks on a timer and keeps
 * the open-alert set in the outbox checkpoint (same transaction as the items), so a restart
 * neither raises an open alert twice nor forgets to clear it. With `state`, the checkpoint value
 * is `{ raised, state }` and is written whenever the alerts or that state changed.
 */
export class EnvEmitter {
  private timer?: NodeJS.Timeout;
  private readonly key: string;
  private readonly state?: EmitterState;
  constructor(private readonly ctx: SourceContext, readonly pipeline: EnvPipeline, sourceId: string, opts: { state?: EmitterState } = {}) {
    this.key = `env.alerts:${sourceId}`;
    this.state = opts.state;
    const saved = ctx.checkpoint(this.key);
    if (saved) {
      try {
        const v = JSON.parse(saved) as AlertSnapshot & { state?: unknown };
        pipeline.alerts.restore(v);
        if (v.state !== undefined) this.state?.restore(v.state);
      } catch (err) {
        ctx.log.warn({ err, key: this.key }, 'ignoring unreadable alert checkpoint');
      }
    }
  }

  start(): void {
    this.timer ??= setInterval(() => {
      try {
        this.commit(() => this.pipeline.tick());
      } catch (err) {
        this.ctx.log.error({ err, key: this.key }, 'env pipeline tick not stored; retried on the next tick');
      }
    }, this.pipeline.cfg.tickMs);
    this.timer.unref?.();
  }

  /**
   * Run readings through the pipeline and commit the resulting items — plus `extra` items of the
   * caller (e.g. the HJ 212 bridge's own per-factor telemetry) — in ONE outbox transaction, together
   * with the open-alert checkpoint. Throws when the commit fails (the caller must then not ack).
   */
  emit(readings: Reading[], extra: NewItem[] = []): void {
    this.commit(() => [...extra, ...this.pipeline.push(readings)]);
  }

  /**
   * Like emit, but the readings and extra items are computed by `fn` inside the transaction, so
   * changes `fn` makes to the emitter's `state` are rolled back with the alert engine if the commit
   * fails. Throws when the commit fails.
   */
  commitWith(fn: () => { readings?: Reading[]; items?: NewItem[] }): void {
    this.commit(() => {
      const r = fn();
      return [...(r.items ?? []), ...(r.readings?.length ? this.pipeline.push(r.readings) : [])];
    });
  }

  /**
   * Items computed by `fn` go to the outbox; if that commit throws, the alert engine (and the
   * state) are rolled back to before `fn` (so a re-sent reading raises again). Closed aggregate
   * windows are not rolled back: their raw readings are re-sent by the device and the cloud can
   * recompute.
   */
  private commit(fn: () => NewItem[]): void {
    const alerts = this.pipeline.alerts;
    alerts.begin();
    this.state?.begin();
    try {
      this.emitItems(fn());
      alerts.commit();
      this.state?.commit();
    } catch (err) {
      alerts.rollback();
      this.state?.rollback();
      throw err;
    }
  }

  stop(flush = true): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (flush) {
      try {
        this.emitItems(this.pipeline.flush());
      } catch (err) {
        this.ctx.log.error({ err, key: this.key }, 'partial aggregate windows not stored at shutdown');
      }
    }
  }

  /**
   * The alert engine's state (open alerts, and each rule's streaks, rolling-average samples and
   * last-seen times) commits with every batch that may have changed it — in the same transaction as
   * the items — so a restart, also after kill -9, resumes each rule where the outbox left off instead
   * of raising or clearing late.
   */
  private emitItems(items: NewItem[]): void {
    const rulesMayChange = items.length > 0 && this.pipeline.cfg.alerts.length > 0;
    const stateChanged = this.state?.dirty() ?? false;
    if (!items.length && !stateChanged) return;
    const value = this.state ? { ...this.pipeline.alerts.snapshot(), state: this.state.save() } : this.pipeline.alerts.snapshot();
    this.ctx.emit(items, rulesMayChange || stateChanged || items.some((i) => i.kind === 'alert') ? { key: this.key, value: JSON.stringify(value) } : undefined);
  }
}
