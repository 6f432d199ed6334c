import Fastify, { type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import { Counter } from 'prom-client';
import { CodedError } from '../../lib/errors.ts';
import type { CloudContext } from '../context.ts';
import { AuthThrottle, DEFAULT_AUTH_FAILURES, type AuthFailuresConfig } from '../broker/auth-throttle.ts';
import { authHook } from './auth.ts';
import type { Role } from './tokens.ts';
import { ErrorReply } from './schemas.ts';
import { healthRoutes } from './routes/health.ts';
import { seriesRoutes } from './routes/series.ts';
import { siteRoutes } from './routes/sites.ts';
import { adminRoutes } from './routes/admin.ts';
import { sessionRoutes } from './routes/session.ts';
import { userRoutes } from './routes/users.ts';
import { parseConsoleConfig, SessionStore } from './sessions.ts';
import { UserStore } from './users.ts';
import { LiveFeed, streamRoute } from '../console/live.ts';
import { consoleApiRoutes } from '../console/routes.ts';
import { consoleStatic } from '../console/static.ts';

export type RoutePlugin = (app: FastifyInstance, ctx: CloudContext) => Promise<void> | void;

/** Every route with the role it needs (none = public), as registered: what the role tests walk. */
export interface RouteRole { method: string; url: string; role?: Role }
declare module 'fastify' {
  interface FastifyInstance { routeRoles: RouteRole[] }
}

/**
 * The cloud HTTP API (fastify). OpenAPI is generated from the route schemas and served at
 * /openapi.json. Every error reply is `{ code, message }` with a stable code.
 * Later features pass their own route plugins in `extra`.
 */
export async function buildApi(ctx: CloudContext, extra: RoutePlugin[] = [], opts: { authFailures?: AuthFailuresConfig; console?: unknown } = {}): Promise<FastifyInstance> {
  const consoleCfg = parseConsoleConfig(opts.console);
  const users = new UserStore(ctx.db);
  const sessions = new SessionStore(ctx.db, consoleCfg.session);
  const feed = new LiveFeed(ctx.db, consoleCfg.streamPollMs, ctx.log);
  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024, ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array' } } });
  const rejected = new Counter({ name: 'cityedge_api_rejected_total', help: 'API requests rejected, by code', labelNames: ['code'], registers: [ctx.metrics] });
  await app.register(swagger, {
    openapi: {
      info: { title: 'cityedge cloud API', version: '1' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  app.addSchema(ErrorReply);
  const routeRoles: RouteRole[] = [];
  app.decorate('routeRoles', routeRoles);
  app.addHook('onRoute', (r) => {
    for (const method of ([] as string[]).concat(r.method)) routeRoles.push({ method, url: r.url, role: (r.config as { role?: Role } | undefined)?.role });
  });
  const throttle = new AuthThrottle(opts.authFailures ?? DEFAULT_AUTH_FAILURES, 'api', ctx.metrics, ctx.log);
  app.addHook('onRequest', authHook(ctx.tokens, (code) => rejected.inc({ code }), throttle, sessions));
  app.addHook('onClose', async () => feed.stop());
  app.setErrorHandler((err, _req, reply) => {
    const e = err as Error & { code?: string; validation?: unknown; statusCode?: number };
    if (e.validation) {
      rejected.inc({ code: 'API_BAD_REQUEST' });
      return reply.code(400).send({ code: 'API_BAD_REQUEST', message: e.message });
    }
    if (err instanceof CodedError) {
      rejected.inc({ code: err.code });
      const status = (err.details?.status as number | undefined) ?? 400;
      return reply.code(status).send({ code: err.code, message: err.message });
    }
    if (e.statusCode && e.statusCode < 500) {
      rejected.inc({ code: e.code ?? 'API_BAD_REQUEST' });
      return reply.code(e.statusCode).send({ code: e.code ?? 'API_BAD_REQUEST', message: e.message });
    }
    ctx.log.error({ err: e.message }, 'API error');
    return reply.code(500).send({ code: 'API_INTERNAL', message: 'internal error; see the cloud log' });
  });
  app.setNotFoundHandler((req, reply) => {
    rejected.inc({ code: 'API_NOT_FOUND' });
    reply.code(404).send({ code: 'API_NOT_FOUND', message: `no route ${req.method} ${req.url}; see /openapi.json` });
  });
  const consolePlugins: RoutePlugin[] = [sessionRoutes({ users, sessions, throttle, config: consoleCfg }), userRoutes(users), streamRoute(feed), consoleApiRoutes(consoleCfg.timezone), consoleStatic(consoleCfg.assetsDir)];
  for (const plugin of [healthRoutes, seriesRoutes, siteRoutes, adminRoutes, ...consolePlugins, ...extra]) await plugin(app, ctx);
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  await app.ready();
  return app;
}
