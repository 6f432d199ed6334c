import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { CodedError } from '../../lib/errors.ts';
import { parseTime } from '../api/routes/series.ts';
import { bearer, errors } from '../api/schemas.ts';
import { ALERT_STATES, SEVERITIES, type AlertStore } from './store.ts';

const lit = <T extends string>(xs: readonly T[]) => Type.Union(xs.map((x) => Type.Literal(x)));
const Severity = lit(SEVERITIES);
const Who = Type.Object({ by: Type.String(), at: Type.Integer(), note: Type.Optional(Type.String()) });

export const AlertSchema = Type.Object({
  id: Type.Integer(),
  site: Type.String(),
  rule: Type.String(),
  source: Type.String(),
  state: lit(ALERT_STATES),
  severity: Severity,
  raisedSeverity: Severity,
  message: Type.String(),
  data: Type.Record(Type.String(), Type.Unknown()),
  firstTs: Type.Integer({ description: 'observed time of the raise (edge clock), epoch ms' }),
  lastTs: Type.Integer({ description: 'observed time of the latest raise' }),
  clearedTs: Type.Optional(Type.Integer({ description: 'observed time of the clear from the data' })),
  openedAt: Type.Integer({ description: 'cloud time the alert opened' }),
  updatedAt: Type.Integer(),
  raiseCount: Type.Integer({ description: 'raises folded into this alert (1 = no repeats)' }),
  escalationLevel: Type.Integer(),
  escalatedAt: Type.Optional(Type.Integer()),
  ack: Type.Optional(Who),
  resolution: Type.Optional(Type.Object({ how: lit(['data', 'person'] as const), by: Type.String(), at: Type.Integer(), note: Type.Optional(Type.String()) })),
  assignee: Type.Optional(Type.String({ description: 'the person the alert is assigned to' })),
  comments: Type.Optional(Type.Integer({ description: 'comments in the history' })),
}, { $id: 'Alert' });

const History = Type.Array(Type.Object({
  at: Type.Integer(), action: Type.String(), actor: Type.Optional(Type.String()), note: Type.Optional(Type.String()),
  itemId: Type.Optional(Type.String()), data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
}));

const ListQuery = Type.Object({
  state: Type.Optional(lit(ALERT_STATES)),
  site: Type.Optional(Type.String({ maxLength: 63 })),
  rule: Type.Optional(Type.String({ maxLength: 128 })),
  source: Type.Optional(Type.String({ maxLength: 128 })),
  severity: Type.Optional(Severity),
  from: Type.Optional(Type.String({ description: 'alerts still raised at/after this observed time (ISO 8601, epoch ms or -1h)' })),
  to: Type.Optional(Type.String({ description: 'alerts first raised before this observed time' })),
  before: Type.Optional(Type.Integer({ minimum: 1, description: 'paging: ids below this' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  assignee: Type.Optional(Type.String({ maxLength: 128 })),
  unresolved: Type.Optional(Type.Boolean({ description: 'only open and acknowledged alerts' })),
  total: Type.Optional(Type.Boolean({ description: 'also count every alert matching the filter (`total` in the reply)' })),
}, { additionalProperties: false });
const IdParam = Type.Object({ id: Type.Integer({ minimum: 1 }) });
const AckBody = Type.Object({ note: Type.Optional(Type.String({ maxLength: 2000 })) }, { additionalProperties: false });
const ResolveBody = Type.Object({ note: Type.String({ minLength: 1, maxLength: 2000 }) }, { additionalProperties: false });
const AssignBody = Type.Object({ assignee: Type.Union([Type.String({ minLength: 1, maxLength: 128 }), Type.Null()]), note: Type.Optional(Type.String({ maxLength: 2000 })) }, { additionalProperties: false });
const CommentBody = Type.Object({ note: Type.String({ minLength: 1, maxLength: 4000 }) }, { additionalProperties: false });
const BulkAckBody = Type.Object({ ids: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, maxItems: 1000 }), note: Type.Optional(Type.String({ maxLength: 2000 })) }, { additionalProperties: false });

function who(req: FastifyRequest): string {
  if (!req.principal) throw new CodedError('API_UNAUTHORIZED', 'no API principal', { status: 401 });
  return req.principal.name;
}

/** /api/v1/alerts: list/filter (viewer), detail with history (viewer), acknowledge and resolve (env). */
export function alertRoutes(store: () => AlertStore) {
  return async (app: FastifyInstance): Promise<void> => {
    app.addSchema(AlertSchema);
    const one = Type.Ref(AlertSchema);
    app.get<{ Querystring: Static<typeof ListQuery> }>('/api/v1/alerts', {
      config: { role: 'viewer' },
      schema: { tags: ['alerts'], summary: 'alerts, newest first, filtered by state, site, rule, source, severity and observed time', security: bearer, querystring: ListQuery, response: { 200: Type.Object({ alerts: Type.Array(one), next: Type.Optional(Type.Integer()), total: Type.Optional(Type.Integer()) }), ...errors } },
    }, async (req) => {
      const { total, ...q } = req.query;
      const limit = q.limit ?? 100;
      const filter = { ...q, from: q.from ? parseTime(q.from) : undefined, to: q.to ? parseTime(q.to) : undefined, limit };
      const alerts = store().list(filter);
      return { alerts, ...(alerts.length === limit ? { next: alerts[alerts.length - 1].id } : {}), ...(total ? { total: store().count(filter) } : {}) };
    });

    app.get<{ Params: Static<typeof IdParam> }>('/api/v1/alerts/:id', {
      config: { role: 'viewer' },
      schema: { tags: ['alerts'], summary: 'one alert with its history (raise, acknowledge, escalate, clear/resolve)', security: bearer, params: IdParam, response: { 200: Type.Object({ alert: one, history: History }), ...errors } },
    }, async (req) => ({ alert: store().get(req.params.id), history: store().history(req.params.id) }));

    app.post<{ Params: Static<typeof IdParam>; Body: Static<typeof AckBody> }>('/api/v1/alerts/:id/ack', {
      config: { role: 'env' },
      schema: { tags: ['alerts'], summary: 'acknowledge an open alert (who = the API token name)', security: bearer, params: IdParam, body: AckBody, response: { 200: Type.Object({ alert: one }), ...errors } },
    }, async (req) => ({ alert: store().acknowledge(req.params.id, who(req), req.body?.note) }));

    app.post<{ Params: Static<typeof IdParam>; Body: Static<typeof ResolveBody> }>('/api/v1/alerts/:id/resolve', {
      config: { role: 'env' },
      schema: { tags: ['alerts'], summary: 'resolve an open or acknowledged alert by hand, with a note', security: bearer, params: IdParam, body: ResolveBody, response: { 200: Type.Object({ alert: one }), ...errors } },
    }, async (req) => ({ alert: store().resolve(req.params.id, who(req), req.body.note) }));

    app.post<{ Params: Static<typeof IdParam>; Body: Static<typeof AssignBody> }>('/api/v1/alerts/:id/assign', {
      config: { role: 'env' },
      schema: { tags: ['alerts'], summary: 'assign an alert to a person (assignee null: unassign); any state', security: bearer, params: IdParam, body: AssignBody, response: { 200: Type.Object({ alert: one }), ...errors } },
    }, async (req) => ({ alert: store().assign(req.params.id, who(req), req.body.assignee, req.body.note) }));

    app.post<{ Params: Static<typeof IdParam>; Body: Static<typeof CommentBody> }>('/api/v1/alerts/:id/comments', {
      config: { role: 'env' },
      schema: { tags: ['alerts'], summary: 'comment on an alert (kept in its history)', security: bearer, params: IdParam, body: CommentBody, response: { 200: Type.Object({ alert: one }), ...errors } },
    }, async (req) => ({ alert: store().comment(req.params.id, who(req), req.body.note) }));

    app.post<{ Body: Static<typeof BulkAckBody> }>('/api/v1/alerts/ack', {
      config: { role: 'env' },
      schema: {
        tags: ['alerts'], summary: 'acknowledge several open alerts; each that cannot be is reported with its code', security: bearer, body: BulkAckBody,
        response: { 200: Type.Object({ results: Type.Array(Type.Object({ id: Type.Integer(), ok: Type.Boolean(), code: Type.Optional(Type.String()), message: Type.Optional(Type.String()) })) }), ...errors },
      },
    }, async (req) => ({ results: store().acknowledgeMany(req.body.ids, who(req), req.body.note) }));
  };
}
