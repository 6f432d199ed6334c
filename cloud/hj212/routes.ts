import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { CodedError } from '../../lib/errors.ts';
import { parseDataTime } from '../../lib/hj212/codec.ts';
import { roleAtLeast } from '../api/tokens.ts';
import { parseTime } from '../api/routes/series.ts';
import { bearer, errors } from '../api/schemas.ts';
import { ACTIONS, ROLE_OF_ACTION, type CommandStore } from './commands.ts';
import { PERIODS, type Hj212Config, type Registry } from './config.ts';
import { DATA_FLAG_CODES, isDataFlag } from './flags.ts';
import type { RecordStore } from './records.ts';
import { dayStart, monthStart, nextWindow, parseLocalDate, windowLabel, type RateCalculator } from './rates.ts';
import { buildReport, reportCsv } from './reports.ts';
import type { SeriesStore } from '../store/types.ts';
import type { UpstreamLink } from './upstream.ts';

const lit = <T extends string>(xs: readonly T[]) => Type.Union(xs.map((x) => Type.Literal(x)));
const Mn = Type.String({ pattern: '^[A-Za-z0-9]{1,24}$' });
const RecordParams = Type.Object({ mn: Mn, period: Type.String({ maxLength: 8 }), ts: Type.String({ maxLength: 32, description: 'epoch ms, ISO 8601, or DataTime YYYYMMDDhhmmss (local time)' }) });
const FlagBody = Type.Object({
  flag: Type.String({ maxLength: 4, description: `one of ${DATA_FLAG_CODES.join(' ')}` }),
  reason: Type.Optional(Type.String({ maxLength: 1000 })),
  code: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9]{1,16}$', description: 'one factor; without it every factor of the record' })),
}, { additionalProperties: false });
const RatesQuery = Type.Object({
  period: Type.Optional(lit(['day', 'month'] as const)),
  from: Type.Optional(Type.String({ description: 'YYYY-MM-DD, YYYY-MM (local time), ISO 8601 or epoch ms; default the start of this month' })),
  to: Type.Optional(Type.String({ description: 'exclusive; default now' })),
  enterprise: Type.Optional(Type.String({ maxLength: 64 })),
  outlet: Type.Optional(Type.String({ maxLength: 64 })),
}, { additionalProperties: false });
const ReportParams = Type.Object({ kind: lit(['daily', 'monthly'] as const) });
const ReportQuery = Type.Object({
  date: Type.Optional(Type.String({ description: 'daily: YYYY-MM-DD (local time), default yesterday' })),
  month: Type.Optional(Type.String({ description: 'monthly: YYYY-MM, default last month' })),
  enterprise: Type.Optional(Type.String({ maxLength: 64 })),
  outlet: Type.Optional(Type.String({ maxLength: 64 })),
  format: Type.Optional(lit(['csv', 'json'] as const)),
  lang: Type.Optional(lit(['zh-CN', 'en'] as const)),
}, { additionalProperties: false });
const CommandBody = Type.Object({
  action: lit(ACTIONS),
  time: Type.Optional(Type.String({ description: 'clock.set: ISO 8601 (default the cloud clock)' })),
  polId: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9]{1,16}$', description: 'clock.*: one instrument (PolId)' })),
  kind: Type.Optional(lit(['rtd', 'min'] as const)),
  value: Type.Optional(Type.Integer({ minimum: 1 })),
  timeoutMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 600_000 })),
}, { additionalProperties: false });
const Rates = { expected: Type.Integer(), received: Type.Integer(), valid: Type.Integer(), transmissionRate: Type.Union([Type.Number(), Type.Null()]), validityRate: Type.Union([Type.Number(), Type.Null()]), effectiveRate: Type.Union([Type.Number(), Type.Null()]) };
const RateRow = Type.Object({
  window: Type.String(), start: Type.Integer(), end: Type.Integer(), label: Type.String(), enterprise: Type.String(), enterpriseName: Type.String(),
  outlet: Type.Optional(Type.String()), outletName: Type.Optional(Type.String()), mn: Type.Optional(Type.String()), dataPeriod: Type.String(),
  ...Rates, belowThreshold: Type.Boolean(), byPeriod: Type.Record(Type.String(), Type.Object(Rates)),
}, { $id: 'Hj212Rate' });
const Audit = Type.Object({ id: Type.Integer(), code: Type.String({ description: "'' = every factor" }), oldFlag: Type.String(), newFlag: Type.String(), reason: Type.String(), by: Type.String(), at: Type.Integer() });
const Command = Type.Object({
  id: Type.String(), mn: Type.String(), site: Type.String(), action: Type.String(), cn: Type.String(), cp: Type.Record(Type.String(), Type.String()), by: Type.String(), at: Type.Integer(),
  state: Type.String({ description: 'sent | answered | failed | not_sent' }), ok: Type.Optional(Type.Boolean()), result: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  answeredAt: Type.Optional(Type.Integer()), qnRtn: Type.Optional(Type.Integer({ description: 'CN 9011 QnRtn' })), exeRtn: Type.Optional(Type.Integer({ description: 'CN 9012 ExeRtn' })),
}, { $id: 'Hj212Command' });

export interface Hj212RouteDeps {
  config: Hj212Config; registry: Registry; records: RecordStore; rates: RateCalculator; commands: CommandStore; store: SeriesStore;
  upstreams: readonly UpstreamLink[]; now: () => number; onCorrection?: () => void;
}

function who(req: FastifyRequest): string {
  if (!req.principal) throw new CodedError('API_UNAUTHORIZED', 'no API principal', { status: 401 });
  return req.principal.name;
}

/** /api/v1/hj212: rates (viewer), reports (viewer), flag corrections (env), remote commands (env reads, ops sets), upstream status. */
export function hj212Routes(deps: () => Hj212RouteDeps) {
  return async (app: FastifyInstance): Promise<void> => {
    app.addSchema(RateRow);
    app.addSchema(Command);
    const off = () => deps().config.offsetMinutes;
    const when = (s: string, what: string): number => {
      const local = parseLocalDate(s, off());
      if (local !== undefined) return local;
      if (/^\d{14}$/.test(s)) return parseDataTime(s, off());
      try { return parseTime(s, deps().now()); } catch { throw new CodedError('HJ212_BAD_TIME', `${what} ${JSON.stringify(s)} must be YYYY-MM-DD, YYYY-MM, DataTime YYYYMMDDhhmmss, ISO 8601 or epoch ms`); }
    };
    const recordKey = (p: Static<typeof RecordParams>) => {
      if (!(PERIODS as readonly string[]).includes(p.period)) throw new CodedError('HJ212_BAD_PERIOD', `period must be one of ${PERIODS.join(', ')}`);
      return { mn: p.mn, period: p.period, ts: when(p.ts, 'ts') };
    };

    app.get<{ Querystring: Static<typeof RatesQuery> }>('/api/v1/hj212/rates', {
      config: { role: 'viewer' },
      schema: { tags: ['hj212'], summary: 'transmission, validity and effective rate (数据传输有效率) per enterprise and outlet, per day or month', security: bearer, querystring: RatesQuery, response: { 200: Type.Object({ threshold: Type.Number(), ratePeriod: Type.String(), rows: Type.Array(Type.Ref(RateRow)) }), ...errors } },
    }, async (req) => {
      const d = deps();
      const q = req.query;
      const window = q.period ?? 'day';
      const from = q.from ? when(q.from, 'from') : monthStart(d.now(), off());
      const to = q.to ? when(q.to, 'to') : d.now() + 1;
      if (to <= from) throw new CodedError('API_BAD_RANGE', '`to` must be after `from`');
      if ((to - from) / 86_400_000 > 400) throw new CodedError('HJ212_RANGE_TOO_LONG', 'at most 400 days per request');
      if (q.enterprise && !d.registry.enterprise(q.enterprise)) throw new CodedError('HJ212_UNKNOWN_ENTERPRISE', `no enterprise ${q.enterprise} in the hj212 registry`, { status: 404 });
      return { threshold: d.config.rateThreshold, ratePeriod: d.config.ratePeriod, rows: d.rates.compute({ window, from, to, enterprise: q.enterprise, outlet: q.outlet }) };
    });

    app.get<{ Params: Static<typeof ReportParams>; Querystring: Static<typeof ReportQuery> }>('/api/v1/hj212/reports/:kind', {
      config: { role: 'viewer' },
      schema: { tags: ['hj212'], summary: 'daily or monthly report (日报/月报) per enterprise and outlet, as CSV (UTF-8 with BOM) or JSON, Chinese or English column names', security: bearer, params: ReportParams, querystring: ReportQuery, response: { 200: Type.Any(), ...errors } },
    }, async (req, reply) => {
      const d = deps();
      const q = req.query;
      const kind = req.params.kind;
      const o = off();
      let from: number;
      if (kind === 'daily') {
        const f = q.date ? parseLocalDate(q.date, o) : dayStart(d.now(), o) - 86_400_000;
        if (f === undefined || !/^\d{4}-\d{2}-\d{2}$/.test(q.date ?? '0000-00-00')) throw new CodedError('HJ212_BAD_TIME', 'date must be YYYY-MM-DD');
        from = f;
      } else {
        const f = q.month ? parseLocalDate(q.month, o) : monthStart(monthStart(d.now(), o) - 1, o);
        if (f === undefined || !/^\d{4}-\d{2}$/.test(q.month ?? '0000-00')) throw new CodedError('HJ212_BAD_TIME', 'month must be YYYY-MM');
        from = f;
      }
      if (q.enterprise && !d.registry.enterprise(q.enterprise)) throw new CodedError('HJ212_UNKNOWN_ENTERPRISE', `no enterprise ${q.enterprise} in the hj212 registry`, { status: 404 });
      const window = kind === 'daily' ? 'day' : 'month';
      const to = nextWindow(from, window, o);
      const label = windowLabel(from, window, o);
      const report = await buildReport(d, { kind, from, to, label, enterprise: q.enterprise, outlet: q.outlet });
      if ((q.format ?? 'json') === 'json') return { ...report, lang: q.lang ?? 'zh-CN' };
      const name = `hj212-${kind}-${label}${q.enterprise ? `-${q.enterprise}` : ''}.csv`;
      return reply.header('content-type', 'text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${name}"`).send(reportCsv(report, q.lang ?? 'zh-CN'));
    });

    app.get<{ Params: Static<typeof RecordParams> }>('/api/v1/hj212/records/:mn/:period/:ts', {
      config: { role: 'viewer' },
      schema: { tags: ['hj212'], summary: 'one record (MN, period, DataTime) with every factor, its original and effective flag', security: bearer, params: RecordParams, response: { 200: Type.Any(), ...errors } },
    }, async (req) => {
      const d = deps();
      const k = recordKey(req.params);
      const rec = d.records.get(k.mn, k.period, k.ts);
      if (!rec) throw new CodedError('HJ212_RECORD_NOT_FOUND', `no ${k.period} record of MN ${k.mn} at ${new Date(k.ts).toISOString()}`, { status: 404 });
      return { record: rec, flags: d.records.flags(rec), corrections: d.records.corrections(k.mn, k.period, k.ts) };
    });

    app.post<{ Params: Static<typeof RecordParams>; Body: Static<typeof FlagBody> }>('/api/v1/hj212/records/:mn/:period/:ts/flag', {
      config: { role: 'env' },
      schema: { tags: ['hj212'], summary: 'manual flag correction (人工标记修正) with a reason; the original stays, the change is audited', security: bearer, params: RecordParams, body: FlagBody, response: { 200: Type.Object({ change: Audit, flags: Type.Record(Type.String(), Type.Object({ original: Type.String(), flag: Type.String() })) }), ...errors } },
    }, async (req) => {
      const d = deps();
      const k = recordKey(req.params);
      const b = req.body;
      if (!isDataFlag(b.flag)) throw new CodedError('HJ212_BAD_FLAG', `flag must be one of ${DATA_FLAG_CODES.join(', ')} (HJ 212 data flags), got ${JSON.stringify(b.flag)}`);
      const reason = (b.reason ?? '').trim();
      if (!reason) throw new CodedError('HJ212_REASON_REQUIRED', 'a flag correction needs a reason (须填写原因)');
      const days = d.config.correctionDeadlineDays;
      if (days > 0 && d.now() > k.ts + days * 86_400_000) throw new CodedError('HJ212_CORRECTION_TOO_LATE', `records may be corrected within ${days} days of their time; this one is from ${new Date(k.ts).toISOString()}`, { status: 409 });
      const change = d.records.setFlag({ ...k, ...(b.code ? { code: b.code } : {}), flag: b.flag, reason, by: who(req) });
      d.onCorrection?.();
      return { change, flags: d.records.flags(d.records.get(k.mn, k.period, k.ts)!) };
    });

    app.get<{ Params: Static<typeof RecordParams> }>('/api/v1/hj212/records/:mn/:period/:ts/history', {
      config: { role: 'viewer' },
      schema: { tags: ['hj212'], summary: 'every flag change of a record: who, when, old, new, reason', security: bearer, params: RecordParams, response: { 200: Type.Object({ history: Type.Array(Audit) }), ...errors } },
    }, async (req) => {
      const k = recordKey(req.params);
      return { history: deps().records.history(k.mn, k.period, k.ts) };
    });

    app.post<{ Params: { mn: string }; Body: Static<typeof CommandBody> }>('/api/v1/hj212/stations/:mn/commands', {
      config: { role: 'env' },
      schema: { tags: ['hj212'], summary: 'remote command to a data logger (反控: read/set clock CN 1011/1012, intervals CN 1061–1064); *.read needs env, *.set ops', security: bearer, params: Type.Object({ mn: Mn }), body: CommandBody, response: { 202: Type.Ref(Command), ...errors } },
    }, async (req, reply) => {
      const need = ROLE_OF_ACTION[req.body.action];
      if (!roleAtLeast(req.principal!.role, need)) throw new CodedError('API_FORBIDDEN', `${req.body.action} needs the ${need} role; your token has ${req.principal!.role}`, { status: 403 });
      const row = await deps().commands.send(req.params.mn, req.body, who(req));
      return reply.code(202).send(row);
    });

    app.get<{ Params: { mn: string }; Querystring: { limit?: number } }>('/api/v1/hj212/stations/:mn/commands', {
      config: { role: 'viewer' },
      schema: { tags: ['hj212'], summary: 'remote commands to a logger, newest first, each with its answer (9011 QnRtn / 9012 ExeRtn) or error', security: bearer, params: Type.Object({ mn: Mn }), querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) }, { additionalProperties: false }), response: { 200: Type.Object({ commands: Type.Array(Type.Ref(Command)) }), ...errors } },
    }, async (req) => ({ commands: deps().commands.list(req.params.mn, req.query.limit ?? 100) }));

    app.get('/api/v1/hj212/upstreams', {
      config: { role: 'viewer' },
      schema: { tags: ['hj212'], summary: 'upstream platforms: connected, records pending and acknowledged, history requests answered', security: bearer, response: { 200: Type.Object({ upstreams: Type.Array(Type.Any()) }), ...errors } },
    }, async () => ({ upstreams: deps().upstreams.map((u) => ({ ...u.status(), host: u.cfg.host, port: u.cfg.port, revision: u.cfg.revision })) }));
  };
}
