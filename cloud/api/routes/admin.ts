import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { CloudContext } from '../../context.ts';
import { bearer, errors } from '../schemas.ts';
import { ROLES, type Role } from '../tokens.ts';

const SiteBody = Type.Object({ site: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' }) }, { additionalProperties: false });
const SiteParam = Type.Object({ site: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' }) });
const TokenBody = Type.Object({ name: Type.String({ minLength: 1, maxLength: 128 }), role: Type.Union(ROLES.map((r) => Type.Literal(r))) }, { additionalProperties: false });
const IdParam = Type.Object({ id: Type.Integer({ minimum: 1 }) });
const DeadQuery = Type.Object({ code: Type.Optional(Type.String({ maxLength: 64 })), site: Type.Optional(Type.String({ maxLength: 63 })), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) }, { additionalProperties: false });

/** Devices (ops), API tokens (admin), dead letters (ops). */
export async function adminRoutes(app: FastifyInstance, ctx: CloudContext): Promise<void> {
  app.get('/api/v1/devices', { config: { role: 'ops' }, schema: { tags: ['devices'], summary: 'provisioned sites', security: bearer, response: { 200: Type.Array(Type.Object({ site: Type.String(), created: Type.Integer(), revoked: Type.Union([Type.Integer(), Type.Null()]) })), ...errors } } },
    async () => ctx.devices.list());

  app.post<{ Body: Static<typeof SiteBody> }>('/api/v1/devices', {
    config: { role: 'ops' },
    schema: { tags: ['devices'], summary: 'provision a site; the password is returned once', security: bearer, body: SiteBody, response: { 201: Type.Object({ site: Type.String(), password: Type.String() }), ...errors } },
  }, async (req, reply) => {
    const password = await ctx.devices.add(req.body.site);
    return reply.code(201).send({ site: req.body.site, password });
  });

  app.delete<{ Params: Static<typeof SiteParam> }>('/api/v1/devices/:site', {
    config: { role: 'ops' },
    schema: { tags: ['devices'], summary: 'revoke a site (its connection is cut off)', security: bearer, params: SiteParam, response: { 200: Type.Object({ revoked: Type.Boolean() }), ...errors } },
  }, async (req) => ({ revoked: ctx.devices.revoke(req.params.site) }));

  app.get('/api/v1/tokens', { config: { role: 'admin' }, schema: { tags: ['tokens'], summary: 'API tokens (without secrets)', security: bearer, response: { 200: Type.Array(Type.Object({ id: Type.Integer(), name: Type.String(), role: Type.String(), created: Type.Integer(), revoked: Type.Union([Type.Integer(), Type.Null()]) })), ...errors } } },
    async () => ctx.tokens.list());

  app.post<{ Body: Static<typeof TokenBody> }>('/api/v1/tokens', {
    config: { role: 'admin' },
    schema: { tags: ['tokens'], summary: 'create an API token; the secret is returned once', security: bearer, body: TokenBody, response: { 201: Type.Object({ id: Type.Integer(), token: Type.String() }), ...errors } },
  }, async (req, reply) => reply.code(201).send(ctx.tokens.create(req.body.name, req.body.role as Role)));

  app.delete<{ Params: Static<typeof IdParam> }>('/api/v1/tokens/:id', {
    config: { role: 'admin' },
    schema: { tags: ['tokens'], summary: 'revoke an API token', security: bearer, params: IdParam, response: { 200: Type.Object({ revoked: Type.Boolean() }), ...errors } },
  }, async (req) => ({ revoked: ctx.tokens.revoke(req.params.id) }));

  app.get<{ Querystring: Static<typeof DeadQuery> }>('/api/v1/dead-letters', {
    config: { role: 'ops' },
    schema: { tags: ['ingest'], summary: 'rejected messages and items with the reason', security: bearer, querystring: DeadQuery, response: { 200: Type.Object({ counts: Type.Record(Type.String(), Type.Integer()), items: Type.Array(Type.Any()) }), ...errors } },
  }, async (req) => ({ counts: ctx.ingest.deadLetters.countsByCode(), items: ctx.ingest.deadLetters.list(req.query) }));
}
