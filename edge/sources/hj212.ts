import { Type, type Static } from '@sinclair/typebox';
import { CodedError, errMessage } from '../../lib/errors.ts';
import type { Command, NewItem } from '../../protocol/schemas.ts';
import type { Reading } from '../../lib/contract/reading.ts';
import type { Source, SourceContext, SourceFactory } from '../../lib/contract/source.ts';
import { validateConfig } from '../../lib/config.ts';
import { EnvEmitter, EnvPipeline, EnvPipelineConfigSchema } from '../env/pipeline.ts';
import { AggregateConfigSchema } from '../env/aggregate/aggregator.ts';
import { fromHj212 } from '../../firmware-bridge/hj212/to-readings.ts';
import { Hj212Server, HJ212_REQUEST_ERRORS, type AcceptedFrame } from '../../firmware-bridge/hj212/server.ts';
import type { FactorValue } from '../../firmware-bridge/hj212/values.ts';
import { convertValues, DEFAULT_CONVERT_CODES, DEFAULT_O2_CODE, type ZsMissing } from '../../firmware-bridge/hj212/convert.ts';
import { GapTracker, type GapPeriod, type PlannedRequest } from '../../firmware-bridge/hj212/gaps.ts';
import { parseRequestArgs } from '../../firmware-bridge/hj212/commands.ts';
import { factorInfo } from '../../firmware-bridge/hj212/factors.ts';

/**
 * Edge source `type: hj212`: runs the HJ 212 TCP server and emits one telemetry item
 * per factor per accepted data frame (the contract with the cloud, firmware-bridge/hj212/README.md):
 *   m: 'hj212', ts: DataTime,
 *   tags: { station: MN, pollutant: canonical name or raw code, code: factor code, period: rt|min|hour|day },
 *   fields: { rtd|avg|min|max|cou: number (those present), flag: 'N'|'C'|… (as sent),
 *             unit?: string, qc: 'ok'|'out_of_range'|'not_numeric', resent?: true,
 *             zsRtd|zsAvg|zsMin|zsMax?: number (converted concentration), o2?: number (the O₂
 *             a computed one used), zsSource?: 'logger'|'computed', <Name>: number for every
 *             other named numeric field (Ia, Ua, Pt, …) }
 * One item per factor (not per statistic) keeps the hourly min/avg/max/count of a
 * pollutant in one InfluxDB point.
 *
 * Per station: converted concentrations (`o2Ref`, `o2Code`, `convert`, `limitsOn`), gap
 * detection and backfill (`intervals`, source-level `backfill`; gap state as `m: 'hj212_gaps'`
 * items and in health()), and the edge command `hj212.request` (remote commands to a logger). The item is committed to the outbox (ctx.emit is
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
    /** Reference O₂ content (%) of the outlet's emission standard: converted concentrations are computed (HJ 75-2017). */
    o2Ref: Type.Optional(Type.Number({ minimum: 0, exclusiveMaximum: 21 })),
    /** Factor code of the measured O₂ (default a19001). */
    o2Code: Type.Optional(Type.String({ minLength: 1, maxLength: 16 })),
    /** Which concentration the alert limits apply to (default raw); `converted` needs o2Ref. */
    limitsOn: Type.Optional(Type.Union([Type.Literal('raw'), Type.Literal('converted')])),
    /** Flue-gas concentration codes to convert (default SO2, NOx, PM: a21026, a21002, a34013 and 2005 codes 02, 03, 01). */
    convert: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 16 }), { maxItems: 64 })),
    /** Data the logger is expected to send: minute data every `minute` minutes, hourly, daily (gap detection). */
    intervals: Type.Optional(Type.Object({
      minute: Type.Optional(Type.Integer({ minimum: 1, maximum: 60 })),
      hour: Type.Optional(Type.Boolean()),
      day: Type.Optional(Type.Boolean()),
    }, { additionalProperties: false })),
    /** Factor groups tracked separately for gaps (name → codes, disjoint); default one group of every factor. */
    groups: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,32}$' }), Type.Array(Type.String({ minLength: 1, maxLength: 16 }), { minItems: 1 }))),
  },
  { additionalProperties: false },
);

/** Gap detection and backfill (firmware-bridge/hj212/gaps.ts). */
export const BackfillSchema = Type.Object(
  {
    /** Request missing records from the loggers (off: gaps are still detected and reported). */
    enabled: Type.Boolean({ default: true }),
    /** Time gaps are detected on: `wall` (the gateway clock) or `observed` (the newest DataTime + period received). Pacing always uses the wall clock. */
    clock: Type.Union([Type.Literal('wall'), Type.Literal('observed')], { default: 'wall' }),
    /** After a period is over, how long before its record counts as missing. */
    graceMinutes: Type.Object({
      min: Type.Number({ minimum: 0, default: 5 }),
      hour: Type.Number({ minimum: 0, default: 15 }),
      day: Type.Number({ minimum: 0, default: 120 }),
    }, { additionalProperties: false, default: {} }),
    maxRequestsPerMinute: Type.Integer({ minimum: 1, maximum: 600, default: 6 }),
    maxAttempts: Type.Integer({ minimum: 1, maximum: 100, default: 3 }),
    retryBaseMs: Type.Integer({ minimum: 10, default: 60_000 }),
    retryMaxMs: Type.Integer({ minimum: 10, default: 1_800_000 }),
    /** How long to wait for the logger's execution result (9012) of a history request. */
    requestTimeoutMs: Type.Integer({ minimum: 100, default: 120_000 }),
    /** Gaps older than this are not requested any more (abandoned); older records are not tracked. */
    lookbackHours: Type.Number({ exclusiveMinimum: 0, maximum: 24 * 60, default: 72 }),
    /** Consecutive missing records asked for in one request, at most. */
    maxRecordsPerRequest: Type.Integer({ minimum: 1, maximum: 1440, default: 60 }),
    /** How often gaps are checked and requests planned. */
    tickMs: Type.Integer({ minimum: 50, default: 5000 }),
    /** hj212_gaps telemetry: when it changes and at least this often. */
    telemetryEveryMs: Type.Integer({ minimum: 1000, default: 60_000 }),
  },
  { additionalProperties: false, default: {} },
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
    backfill: BackfillSchema,
    /** Register the edge command `hj212.request` (remote commands to the loggers). */
    commands: Type.Boolean({ default: true }),
  },
  { additionalProperties: false },
);
export type Hj212SourceConfig = Static<typeof Hj212SourceConfig>;
type StationCfg = Hj212SourceConfig['stations'][number];

const STAT_FIELD: Record<string, string> = { rtd: 'rtd', avg: 'avg', min: 'min', max: 'max', cou: 'cou' };
const ZS_FIELD: Record<string, string> = { rtd: 'zsRtd', avg: 'zsAvg', min: 'zsMin', max: 'zsMax' };
const FIELD_LIMIT = 64;

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
    const named: Array<[string, number]> = [];
    let qc: FactorValue['qc'] = 'ok';
    let flag: string | undefined;
    for (const r of g) {
      if (flag === undefined && r.flag !== undefined) flag = r.flag;
      if (r.basis === 'converted') {
        if (r.value !== null && ZS_FIELD[r.statistic]) {
          fields[ZS_FIELD[r.statistic]] = r.value;
          if (r.zsSource) fields.zsSource = r.zsSource;
          if (r.o2 !== undefined && r.zsSource === 'computed') fields.o2 = r.o2;
        }
        continue;
      }
      if (r.value !== null) {
        if (r.statistic === 'named') { if (r.field) named.push([r.field, r.value]); }
        else fields[STAT_FIELD[r.statistic]] = r.value;
      }
      if (r.qc !== 'ok') qc = r.qc;
    }
    if (flag !== undefined) fields.flag = flag;
    const unit = g.find((r) => r.unit && r.basis === undefined)?.unit ?? g.find((r) => r.unit)?.unit;
    if (unit) fields.unit = unit;
    fields.qc = qc;
    if (g.some((r) => r.resent)) fields.resent = true;
    // named fields (Ia, Ua, Pt, …) fill the rest of the protocol's 64 fields of an item
    for (const [k, v] of named) if (k in fields || Object.keys(fields).length < FIELD_LIMIT) fields[k] = v;
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

/** Gap counts as the contract's telemetry item (m: hj212_gaps). */
export function gapItem(ts: number, mn: string, period: GapPeriod, c: { open: number; requested: number; filled: number; abandoned: number }): NewItem {
  return { kind: 'telemetry', ts, m: 'hj212_gaps', tags: { station: mn.slice(0, 256) || 'unknown', period }, fields: { open: c.open, requested: c.requested, filled: c.filled, abandoned: c.abandoned } };
}

const MIN_DIVISORS = [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60];
const PERIOD_MS: Record<string, number> = { rt: 0, hour: 3600_000, day: 86_400_000 };

/** Checks a schema cannot express (run by create(), i.e. by validateEdgeConfig before any I/O). */
function checkConfig(cfg: Hj212SourceConfig): void {
  const fail = (msg: string) => { throw new CodedError('HJ212_CONFIG', `hj212 source ${cfg.id}: ${msg}`); };
  const seen = new Set<string>();
  for (const st of cfg.stations) {
    if (seen.has(st.mn)) fail(`station MN ${st.mn} is listed twice`);
    seen.add(st.mn);
    if (st.limitsOn === 'converted' && st.o2Ref === undefined) fail(`station ${st.mn}: limitsOn converted needs o2Ref (the reference O₂ of its emission standard)`);
    if (st.intervals?.minute !== undefined && !MIN_DIVISORS.includes(st.intervals.minute)) fail(`station ${st.mn}: intervals.minute must divide 60 (one of ${MIN_DIVISORS.join(' ')})`);
    const inGroup = new Map<string, string>();
    for (const [g, codes] of Object.entries(st.groups ?? {})) {
      for (const c of codes) {
        if (inGroup.has(c)) fail(`station ${st.mn}: factor ${c} is in groups ${inGroup.get(c)} and ${g}; groups must be disjoint`);
        inGroup.set(c, g);
      }
    }
  }
  const b = cfg.backfill;
  if (b && b.retryMaxMs < b.retryBaseMs) fail('backfill.retryMaxMs must be ≥ backfill.retryBaseMs');
}

export interface Hj212SourceOptions {
  /** The wall clock (tests: simulated time). Default Date.now. */
  now?: () => number;
}

/** hj212.request is registered once per site and dispatched to the source that has the MN. */
const commandTargets = new Map<string, Set<Hj212Source>>();

export class Hj212Source implements Source {
  readonly id: string;
  private server?: Hj212Server;
  private emitter?: EnvEmitter;
  private tracker?: GapTracker;
  private timer?: NodeJS.Timeout;
  private site?: string;
  private log?: SourceContext['log'];
  private stopped = false;
  private observedNow = -Infinity;
  private readonly pipelineCfg;
  private readonly stations = new Map<string, StationCfg & { convertSet: Set<string>; convertPollutants: Set<string> }>();
  private readonly now: () => number;
  private readonly counters = { deduped: 0, backfilled: 0, converted: 0, unconverted: {} as Partial<Record<ZsMissing, number>>, backfillRequests: { sent: 0, executed: 0, failed: 0 } };

  constructor(private readonly cfg: Hj212SourceConfig, opts: Hj212SourceOptions = {}) {
    this.id = cfg.id;
    // validated again here so a config built in code (tests, demo) gets the defaults too
    this.cfg = validateConfig(Hj212SourceConfig, cfg, `hj212 source ${cfg.id}`, 'HJ212_CONFIG');
    this.pipelineCfg = validateConfig(Hj212PipelineSchema, this.cfg.pipeline ?? {}, `hj212 source ${cfg.id} /pipeline`, 'ENV_CONFIG_INVALID');
    checkConfig(this.cfg);
    this.now = opts.now ?? Date.now;
    for (const st of this.cfg.stations) {
      const codes = st.convert ?? DEFAULT_CONVERT_CODES;
      this.stations.set(st.mn, { ...st, convertSet: new Set(codes), convertPollutants: new Set(codes.map((c) => factorInfo(c)?.pollutant ?? c)) });
    }
  }

  /** Which value the limits of this station's factor apply to. */
  private basisOf(mn: string, code: string): 'raw' | 'converted' {
    const st = this.stations.get(mn);
    return st?.limitsOn === 'converted' && st.convertSet.has(code) ? 'converted' : 'raw';
  }

  private readingBasis(r: Reading): 'raw' | 'converted' {
    const st = this.stations.get(r.station);
    return st?.limitsOn === 'converted' && st.convertPollutants.has(r.pollutant) ? 'converted' : 'raw';
  }

  async start(ctx: SourceContext): Promise<void> {
    const log = ctx.log;
    this.log = log;
    this.site = ctx.site;
    this.stopped = false;
    const b = this.cfg.backfill;
    const tracker = new GapTracker(this.cfg.stations, {
      graceMs: { min: b.graceMinutes.min * 60_000, hour: b.graceMinutes.hour * 60_000, day: b.graceMinutes.day * 60_000 },
      maxRequestsPerMinute: b.maxRequestsPerMinute, maxAttempts: b.maxAttempts, retryBaseMs: b.retryBaseMs, retryMaxMs: b.retryMaxMs,
      lookbackMs: b.lookbackHours * 3600_000, maxRecordsPerRequest: b.maxRecordsPerRequest, offsetMinutes: this.cfg.offsetMinutes,
    });
    this.tracker = tracker;
    const emitter = new EnvEmitter(ctx, new EnvPipeline(this.pipelineCfg, { basis: (r) => this.readingBasis(r) }), this.id, tracker.active ? { state: tracker } : {});
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
      // Synchronous outbox commit (hj212 items + env items + alert/gap checkpoint in one
      // transaction); a throw here suppresses the 9014 ack so the logger re-sends.
      onFrame: (ev: AcceptedFrame) => this.onFrame(ev),
    });
    const port = await this.server.listen();
    if (this.cfg.commands && ctx.registerCommand) {
      let set = commandTargets.get(ctx.site);
      if (!set) commandTargets.set(ctx.site, (set = new Set()));
      set.add(this);
      const targets = set;
      ctx.registerCommand('hj212.request', (cmd: Command) => {
        const mn = (cmd.args as { mn?: unknown }).mn;
        const src = [...targets].find((s) => typeof mn === 'string' && s.stations.has(mn)) ?? this;
        return src.command(cmd.args);
      });
    }
    if (tracker.active) {
      this.timer = setInterval(() => this.tick(), b.tickMs);
      this.timer.unref?.();
    }
    log.info({ port, stations: this.cfg.stations.length, gapTracking: tracker.active }, 'hj212 server listening');
  }

  private onFrame(ev: AcceptedFrame): void {
    if (!ev.values.length) return;
    const emitter = this.emitter!;
    const tracker = this.tracker!;
    const mn = ev.frame.mn!;
    const st = this.stations.get(mn);
    const { period, observedAt } = ev.values[0];
    const end = observedAt + (period === 'min' ? (st?.intervals?.minute ?? 1) * 60_000 : PERIOD_MS[period] ?? 0);
    emitter.commitWith(() => {
      let values = ev.values;
      let resent = ev.frame.resent || !!ev.answers;
      if (tracker.tracks(mn, period)) {
        const wasGap = tracker.isGap(mn, period, observedAt);
        const codes = [...new Set(values.map((v) => v.code))];
        const { keep, backfill } = tracker.receive(mn, period, observedAt, codes);
        values = values.filter((v) => keep.has(v.code));
        this.counters.deduped += codes.length - keep.size; // factor records already stored
        if (backfill || wasGap) { resent = true; this.counters.backfilled++; }
      }
      if (resent) values = values.map((v) => (v.resent ? v : { ...v, resent: true }));
      if (st?.o2Ref !== undefined && values.length) {
        const c = convertValues(values, { o2Ref: st.o2Ref, o2Code: st.o2Code ?? DEFAULT_O2_CODE, convert: [...st.convertSet] });
        values = c.values;
        this.counters.converted += values.filter((v) => v.zsSource === 'computed').length;
        for (const [k, n] of Object.entries(c.missing)) this.counters.unconverted[k as ZsMissing] = (this.counters.unconverted[k as ZsMissing] ?? 0) + n;
      }
      const readings = fromHj212(values, { basis: (s, code) => this.basisOf(s, code) });
      const items = this.cfg.telemetry !== false ? valuesToItems(values) : [];
      if (tracker.active) items.push(...this.gapItems());
      return { readings, items };
    });
    if (end > this.observedNow) this.observedNow = end;
  }

  private gapItems(): NewItem[] {
    const now = this.now();
    return this.tracker!.dueCounts(now, this.cfg.backfill.telemetryEveryMs).map((d) => gapItem(now, d.mn, d.period, d.counts));
  }

  /** Detect gaps, report them, send the requests that are due. Runs on a timer; tests call it directly. */
  tick(): PlannedRequest[] {
    const tracker = this.tracker;
    const emitter = this.emitter;
    const server = this.server;
    if (!tracker?.active || !emitter || !server || this.stopped) return [];
    const now = this.now();
    const detectNow = this.cfg.backfill.clock === 'observed' ? this.observedNow : now;
    let reqs: PlannedRequest[] = [];
    try {
      emitter.commitWith(() => {
        tracker.scan(detectNow, now);
        reqs = this.cfg.backfill.enabled ? tracker.plan(now, (mn) => server.connected(mn)) : [];
        return { items: this.gapItems() };
      });
    } catch (err) {
      this.log?.error({ err: errMessage(err) }, 'hj212 gap state not stored; retried on the next tick');
      return [];
    }
    for (const r of reqs) void this.backfill(r);
    return reqs;
  }

  /** Promises of the backfill requests in flight (tests wait for them). */
  readonly inflight = new Set<Promise<void>>();

  private backfill(req: PlannedRequest): Promise<void> {
    const p = (async () => {
      let ok = false;
      this.counters.backfillRequests.sent++;
      try {
        const r = await this.server!.request(req.mn, req.cn, { BeginTime: req.beginTime, EndTime: req.endTime }, { timeoutMs: this.cfg.backfill.requestTimeoutMs });
        ok = r.exeRtn === 1;
        if (ok) this.counters.backfillRequests.executed++; else this.counters.backfillRequests.failed++;
        this.log?.debug({ mn: req.mn, cn: req.cn, begin: req.beginTime, end: req.endTime, records: r.records, exeRtn: r.exeRtn }, 'hj212 backfill request answered');
      } catch (err) {
        this.counters.backfillRequests.failed++;
        this.log?.warn({ mn: req.mn, cn: req.cn, begin: req.beginTime, end: req.endTime, code: (err as CodedError).code, err: errMessage(err) }, 'hj212 backfill request failed; retried with back-off');
      }
      if (this.stopped) return; // the checkpoint keeps its gaps as open
      try {
        this.emitter!.commitWith(() => { this.tracker!.finish(req.id, this.now(), ok); return { items: this.gapItems() }; });
      } catch (err) {
        this.log?.error({ err: errMessage(err) }, 'hj212 gap state not stored after a backfill request');
      }
    })();
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
    return p;
  }

  /** The edge command `hj212.request` (see firmware-bridge/hj212/commands.ts). */
  async command(args: unknown): Promise<Record<string, unknown>> {
    const a = parseRequestArgs(args, { now: this.now(), offsetMinutes: this.cfg.offsetMinutes });
    if (!this.stations.has(a.mn)) throw new CodedError('HJ212_BAD_COMMAND', `hj212.request: no station with MN ${a.mn} is configured on this site`);
    if (!this.server || this.stopped) throw new CodedError(HJ212_REQUEST_ERRORS.NOT_CONNECTED, `hj212 source ${this.id} is not running`);
    const r = await this.server.request(a.mn, a.cn, a.cp, { timeoutMs: a.timeoutMs ?? 30_000 });
    return {
      mn: r.mn, cn: r.cn,
      ...(r.qnRtn !== undefined ? { qnRtn: String(r.qnRtn) } : {}),
      ...(r.exeRtn !== undefined ? { exeRtn: String(r.exeRtn) } : {}),
      ...(r.answer ? { answer: r.answer } : {}),
      ...(/^2\d{3}$/.test(a.cn) ? { records: r.records } : {}),
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.site) commandTargets.get(this.site)?.delete(this);
    await this.server?.close();
    this.server = undefined;
    await Promise.allSettled([...this.inflight]);
    this.emitter?.stop();
    this.emitter = undefined;
  }

  health(): Record<string, unknown> {
    return {
      port: this.server?.port, ...(this.server?.stats() ?? {}), pipeline: this.emitter?.pipeline.stats(),
      ...(this.tracker?.active ? { gaps: this.tracker.allCounts(), backfill: { ...this.tracker.requestStats(), ...this.counters.backfillRequests } } : {}),
      deduped: this.counters.deduped, backfilled: this.counters.backfilled,
      conversion: { computed: this.counters.converted, unconverted: { ...this.counters.unconverted } },
    };
  }
}

export const hj212Factory: SourceFactory = {
  type: 'hj212',
  schema: Hj212SourceConfig,
  create: (config: Hj212SourceConfig) => new Hj212Source(config),
};
