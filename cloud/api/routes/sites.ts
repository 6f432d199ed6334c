import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import crypto from 'node:crypto';
import { CodedError } from '../../../lib/errors.ts';
import type { CloudContext } from '../../context.ts';
import { bearer, errors } from '../schemas.ts';
import { parseTime } from './series.ts';

const SiteParam = Type.Object({ site: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' }) });
const EventsQuery = Type.Object({
  site: Type.Optional(Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' })),
  kind: Type.Optional(Type.Union([Type.Literal('event'), Type.Literal('alert'), Type.Literal('cmdres'), Type.Literal('snapshot')])),
  type: Type.Optional(Type.String({ maxLength: 128 })),
  from: Type.Optional(Type.String()),
  to: Type.Optional(Type.String()),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
}, { additionalProperties: false });
const CommandBody = Type.Object({ name: Type.String({ pattern: '^[a-z][a-z0-9.-]{0,63}$' }), args: Type.Optional(Type.Record(Type.String(), Type.Unknown())), ttlSec: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })) }, { additionalProperties: false });

/** Site status (from the retained status topic), events, and commands down to a site. */
export async function siteRoutes(app: FastifyInstance, ctx: CloudContext): Promise<void> {
  app.get('/api/v1/sites', {
    config: { role: 'viewer' },
    schema: { tags: ['sites'], summary: 'every site with its last status', security: bearer, response: { 200: Type.Array(Type.Object({ site: Type.String(), online: Type.Boolean(), ts: Type.Integer(), received: Type.Integer(), health: Type.Any() })), ...errors } },
  }, async () => {
    const rows = ctx.db.prepare('SELECT site, online, ts, received, health FROM site_status ORDER BY site').all() as Array<{ site: string; online: number; ts: number; received: number; health: string | null }>;
    return rows.map((r) => ({ ...r, online: !!r.online, health: r.health ? JSON.parse(r.health) : null }));
  });

  app.get<{ Querystring: Static<typeof EventsQuery> }>('/api/v1/events', {
    config: { role: 'viewer' },
    schema: { tags: ['sites'], summary: 'events, alerts and command results as received', security: bearer, querystring: EventsQuery, response: { 200: Type.Array(Type.Any()), ...errors } },
  }, async (req) => {
    const q = req.query;
    const conds: string[] = [];
    const args: unknown[] = [];
    if (q.site) { conds.push('site = ?'); args.push(q.site); }
    if (q.kind) { conds.push('kind = ?'); args.push(q.kind); }
    if (q.type) { conds.push('type = ?'); args.push(q.type); }
    if (q.from) { conds.push('ts >= ?'); args.push(parseTime(q.from)); }
    if (q.to) { conds.push('ts < ?'); args.push(parseTime(q.to)); }
    const rows = ctx.db.prepare(`SELECT site, received, body FROM events ${conds.length ? 'WHERE ' + conds.join(' AND ') : ''} ORDER BY ts DESC LIMIT ?`).all(...args, q.limit ?? 100) as Array<{ site: string; received: number; body: string }>;
    return rows.map((r) => ({ site: r.site, received: r.received, ...JSON.parse(r.body) }));
  });

  app.post<{ Params: Static<typeof SiteParam>; Body: Static<typeof CommandBody> }>('/api/v1/sites/:site/commands', {
    config: { role: 'ops' },
    schema: { tags: ['sites'], summary: 'send a command to a site (QoS 1; the result arrives as a cmdres event)', security: bearer, params: SiteParam, body: CommandBody, response: { 202: Type.Object({ id: Type.String() }), ...errors } },
  }, async (req, reply) => {
    if (!ctx.devices.isActive(req.params.site)) throw new CodedError('API_UNKNOWN_SITE', `site ${req.params.site} is not provisioned`, { status: 404 });
    const now = Date.now();
    const cmd = { v: 1, id: crypto.randomUUID(), name: req.body.name, args: req.body.args ?? {}, issuedAt: now, expiresAt: now + (req.body.ttlSec ?? 3600) * 1000 };
    await ctx.commands.publishCommand(req.params.site, cmd.name, cmd);
    return reply.code(202).send({ id: cmd.id });
  });
}
