import { component } from '../../lib/log.ts';
import { Type, type Static } from '@sinclair/typebox';
import type { NewItem } from '../../protocol/schemas.ts';
import type { Source, SourceContext, SourceFactory } from '../../lib/contract/source.ts';
import { validateConfig } from '../../lib/config.ts';
import { EnvEmitter, EnvPipeline, EnvPipelineConfigSchema } from '../env/pipeline.ts';
import { AggregateConfigSchema } from '../env/aggregate/aggregator.ts';
import { fromHj212 } from '../../firmware-bridge/hj212/to-readings.ts';
import { Hj212Server, type AcceptedFrame } from '../../firmware-bridge/hj212/server.ts';
import type { FactorValue } from '../../firmware-bridge/hj212/values.ts';

/**
 * Edge source `type: hj212`: runs the HJ 212 TCP server and emits one telemetry item
 * per factor per accepted data frame:
 *   m: 'hj212', ts: DataTime,
 *   tags: { station: MN, pollutant: canonical name or raw code, code: factor code, period: rt|min|hour|day },
 *   fields: { rtd|avg|min|max|cou: number (those present), flag: 'N'|'C'|… (as sent),
 *             unit?: string, qc: 'ok'|'out_of_range'|'not_numeric', resent?: true }
 * One item per factor (not per statistic) keeps the hourly min/avg/max/count of a
 * pollutant in one InfluxDB point. The item is committed to the outbox (ctx.emit is
 * a synchronous SQLite commit) *before* the 9014 ack goes out, so an acked frame is
 * never lost; if the commit throws, no ack is sent and the logger re-sends.
 *
 * The readings also run through the env pipeline (edge/env: range QC, minute/hour aggregates,
 * alert rules from `pipeline.alerts`), whose items (m: env telemetry, m: env_agg aggregates,
 * alert raise/clear) are committed in the SAME outbox transaction as the hj212 items and the
 * open-alert checkpoint — so an exceedance alert exists at the edge, offline, before the
 * logger gets its ack, and travels at alert priority.
 */
/**
 * The env pipeline block of an HJ 212 source: the same schema as every env source
 * (edge/env/README.md) but with `raw` and `aggregate` OFF by default — the bridge's own
 * `hj212` items already carry every value (and HJ 212 minute/hourly/daily frames are
 * aggregates already). Turn them on to also get `env` telemetry / edge aggregates of
 * real-time (CN 2011) data. Alert rules (`alerts`) are what matters here.
 */
export const Hj212PipelineSchema = Type.Object(
  {
    ...EnvPipelineConfigSchema.properties,
    raw: Type.Boolean({ default: false }),
    aggregate: Type.Union([AggregateConfigSchema, Type.Literal(false)], { default: false }),
  },
  { additionalProperties: false, default: {} },
);

const Station = Type.Object(
  {
    mn: Type.String({ minLength: 1, maxLength: 64 }),
    password: Type.String({ minLength: 1, maxLength: 64 }),
    revision: Type.Optional(Type.Union([Type.Literal('2005'), Type.Literal('2017'), Type.Literal('2025')])),
    sm4Key: Type.Optional(Type.String({ minLength: 16, maxLength: 32 })),
    requireEncryption: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const Hj212SourceConfig = Type.Object(
  {
    type: Type.Literal('hj212'),
    id: Type.String({ minLength: 1, maxLength: 64 }),
    host: Type.String({ default: '0.0.0.0' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 9212 }),
    stations: Type.Array(Station, { minItems: 1 }),
    idleTimeoutMs: Type.Integer({ minimum: 100, default: 300_000 }),
    frameTimeoutMs: Type.Integer({ minimum: 100, default: 30_000 }),
    maxFrameBytes: Type.Integer({ minimum: 128, maximum: 1_048_576, default: 8192 }),
    maxConnections: Type.Integer({ minimum: 1, default: 4096 }),
    offsetMinutes: Type.Integer({ minimum: -720, maximum: 840, default: 480 }),
    /** Emit the bridge's own per-factor items (m: hj212, with min/avg/max/cou in one point). */
    telemetry: Type.Boolean({ default: true }),
    /** Env pipeline (edge/env README): range checks, aggregates, alert rules. */
    pipeline: Hj212PipelineSchema,
  },
  { additionalProperties: false },
);
export type Hj212SourceConfig = Static<typeof Hj212SourceConfig>;

export function valuesToItems(readings: FactorValue[]): NewItem[] {
  const groups = new Map<string, FactorValue[]>();
  for (const r of readings) {
    const k = `${r.station}|${r.code}|${r.period}|${r.observedAt}`;
    const g = groups.get(k);
    if (g) g.push(r); else groups.set(k, [r]);
  }
  const items: NewItem[] = [];
  for (const g of groups.values()) {
    const r0 = g[0];
    const fields: Record<string, string | number | boolean> = {};
    let qc: FactorValue['qc'] = 'ok';
    for (const r of g) {
      if (r.value !== null) fields[r.statistic] = r.value;
      if (r.qc !== 'ok') qc = r.qc;
    }
    if (r0.flag !== undefined) fields.flag = r0.flag;
    const unit = g.find((r) => r.unit)?.unit;
    if (unit) fields.unit = unit;
    fields.qc = qc;
    if (r0.resent) fields.resent = true;
    items.push({
      kind: 'telemetry',
      ts: r0.observedAt,
      m: 'hj212',
      tags: { station: r0.station.slice(0, 256) || 'unknown', pollutant: r0.pollutant.slice(0, 256), code: r0.code.slice(0, 256) || 'unknown', period: r0.period },
      fields,
    });
  }
  return items;
}

class Hj212Source implements Source {
  readonly id: string;
  private server?: Hj212Server;
  private emitter?: EnvEmitter;
  private readonly pipelineCfg;
  constructor(private readonly cfg: Hj212SourceConfig) {
    this.id = cfg.id;
    // validated again here so a config built in code (tests, demo) gets the defaults too
    this.pipelineCfg = validateConfig(Hj212PipelineSchema, cfg.pipeline ?? {}, `hj212 source ${cfg.id} /pipeline`, 'ENV_CONFIG_INVALID');
  }

  async start(ctx: SourceContext): Promise<void> {
    const log = ctx.log;
    const emitter = new EnvEmitter(ctx, new EnvPipeline(this.pipelineCfg), this.id);
    this.emitter = emitter;
    emitter.start();
    this.server = new Hj212Server({
      host: this.cfg.host,
      port: this.cfg.port,
      stations: this.cfg.stations,
      idleTimeoutMs: this.cfg.idleTimeoutMs,
      frameTimeoutMs: this.cfg.frameTimeoutMs,
      maxFrameBytes: this.cfg.maxFrameBytes,
      maxConnections: this.cfg.maxConnections,
      offsetMinutes: this.cfg.offsetMinutes,
      log,
      // Synchronous outbox commit (hj212 items + env items + alert checkpoint in one
      // transaction); a throw here suppresses the 9014 ack so the logger re-sends.
      onFrame: (ev: AcceptedFrame) => {
        if (!ev.values.length) return;
        emitter.emit(fromHj212(ev.values), this.cfg.telemetry !== false ? valuesToItems(ev.values) : []);
      },
    });
    const port = await this.server.listen();
    log.info({ port, stations: this.cfg.stations.length }, 'hj212 server listening');
  }

  async stop(): Promise<void> {
    await this.server?.close();
    this.server = undefined;
    this.emitter?.stop();
    this.emitter = undefined;
  }

  health(): Record<string, unknown> {
    return { port: this.server?.port, ...(this.server?.stats() ?? {}), pipeline: this.emitter?.pipeline.stats() };
  }
}

export const hj212Factory: SourceFactory = {
  type: 'hj212',
  schema: Hj212SourceConfig,
  create: (config: Hj212SourceConfig) => new Hj212Source(config),
};
