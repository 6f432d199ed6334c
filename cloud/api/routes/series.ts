import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { CodedError } from '../../../lib/errors.ts';
import type { CloudContext } from '../../context.ts';
import { AGGREGATIONS, type Aggregation } from '../../store/types.ts';
import { bearer, errors } from '../schemas.ts';

const Query = Type.Object({
  measurement: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_.\\-]{0,63}$' }),
  fields: Type.String({ description: 'comma-separated field names', pattern: '^[A-Za-z_][A-Za-z0-9_.,\\-]{0,1000}$' }),
  site: Type.Optional(Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' })),
  from: Type.String({ description: 'start (inclusive): ISO 8601 time, epoch ms, or relative like -1h, -30m, -7d' }),
  to: Type.Optional(Type.String({ description: 'end (exclusive), same forms; default now' })),
  window: Type.Optional(Type.String({ pattern: '^[0-9]+(ms|s|m|h|d)$', description: 'aggregation window, e.g. 1m, 1h' })),
  agg: Type.Optional(Type.Union(AGGREGATIONS.map((a) => Type.Literal(a)))),
  groupBy: Type.Optional(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_,]{0,200}$' })),
  tag: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}=.{1,256}$' }), { description: 'tag filters key=value, repeatable' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
}, { additionalProperties: false });

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(s: string): number {
  const m = /^([0-9]+)(ms|s|m|h|d)$/.exec(s);
  if (!m) throw new CodedError('API_BAD_DURATION', `duration ${JSON.stringify(s)} must look like 30s, 5m, 1h, 7d`);
  return Number(m[1]) * UNITS[m[2]];
}

export function parseTime(s: string, now = Date.now()): number {
  if (/^-[0-9]+(ms|s|m|h|d)$/.test(s)) return now - parseDuration(s.slice(1));
  if (/^[0-9]{10,16}$/.test(s)) return Number(s);
  const t = Date.parse(s);
  if (Number.isNaN(t)) throw new CodedError('API_BAD_TIME', `time ${JSON.stringify(s)} must be ISO 8601, epoch ms, or relative like -1h`);
  return t;
}

/** GET /api/v1/series — one query shape for whichever series store is configured. */
export async function seriesRoutes(app: FastifyInstance, ctx: CloudContext): Promise<void> {
  app.get<{ Querystring: Static<typeof Query> }>('/api/v1/series', {
    config: { role: 'viewer' },
    schema: {
      tags: ['series'], summary: 'query a time series (raw or aggregated in windows)', security: bearer, querystring: Query,
      response: { 200: Type.Object({ store: Type.String(), series: Type.Array(Type.Object({ tags: Type.Record(Type.String(), Type.String()), columns: Type.Array(Type.String()), values: Type.Array(Type.Array(Type.Any())) })) }), ...errors },
    },
  }, async (req) => {
    const q = req.query;
    const from = parseTime(q.from);
    const to = q.to ? parseTime(q.to) : Date.now();
    if (to <= from) throw new CodedError('API_BAD_RANGE', '`to` must be after `from`');
    const windowMs = q.window ? parseDuration(q.window) : undefined;
    if (windowMs !== undefined && (to - from) / windowMs > 100_000) throw new CodedError('API_TOO_MANY_WINDOWS', 'the range holds more than 100,000 windows; use a larger window');
    const tags: Record<string, string> = {};
    for (const t of q.tag ?? []) { const i = t.indexOf('='); tags[t.slice(0, i)] = t.slice(i + 1); }
    const fields = q.fields.split(',').filter(Boolean);
    const result = await ctx.store.query({ measurement: q.measurement, fields, from, to, site: q.site, tags, windowMs, agg: q.agg as Aggregation | undefined, groupBy: q.groupBy?.split(',').filter(Boolean), limit: q.limit ?? 10_000 });
    return { store: ctx.store.kind, ...result };
  });
}
