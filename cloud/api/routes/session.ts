import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuthThrottle } from '../../broker/auth-throttle.ts';
import { bearer, errors } from '../schemas.ts';
import { SESSION_COOKIE, type ConsoleConfig, type SessionStore } from '../sessions.ts';
import { ROLES } from '../tokens.ts';
import type { UserStore } from '../users.ts';

const Login = Type.Object({ name: Type.String({ minLength: 1, maxLength: 64 }), password: Type.String({ minLength: 1, maxLength: 1024 }) }, { additionalProperties: false });
const Me = Type.Object({
  name: Type.String(),
  role: Type.Union(ROLES.map((r) => Type.Literal(r))),
  via: Type.Union([Type.Literal('token'), Type.Literal('session')]),
  csrf: Type.Optional(Type.String({ description: 'send as X-CSRF-Token with every write made with this session' })),
  expires: Type.Optional(Type.Integer({ description: 'absolute end of the session (epoch ms)' })),
  idleExpires: Type.Optional(Type.Integer({ description: 'the session ends at this time unless used before' })),
});

export interface SessionDeps { users: UserStore; sessions: SessionStore; throttle: AuthThrottle; config: ConsoleConfig }

function cookieFor(req: FastifyRequest, cfg: ConsoleConfig, value: string, maxAge: number): string {
  const secure = cfg.secureCookie === 'always' || (cfg.secureCookie === 'auto' && req.protocol === 'https');
  return `${SESSION_COOKIE}=${encodeURIComponent(value)}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${secure ? '; Secure' : ''}`;
}

/**
 * Console sign-in: POST /api/v1/session (name + password → httpOnly SameSite=Strict cookie and a
 * CSRF token), GET /api/v1/session (who am I, the CSRF token), DELETE /api/v1/session (sign out).
 * Wrong passwords back off per user name and per address through the same AuthThrottle as API
 * tokens and MQTT (security.authFailures): 429 API_AUTH_THROTTLED with Retry-After.
 */
export function sessionRoutes(d: SessionDeps) {
  return async (app: FastifyInstance): Promise<void> => {
    app.post<{ Body: Static<typeof Login> }>('/api/v1/session', {
      schema: { tags: ['console'], summary: 'sign in to the console (sets the session cookie)', body: Login, response: { 200: Me, 429: errors[401], ...errors } },
    }, async (req, reply) => {
      const { name, password } = req.body;
      const throttled = d.throttle.check(name, req.ip);
      if (throttled) {
        const s = Math.max(1, Math.ceil(throttled.retryAfterMs / 1000));
        return reply.code(429).header('retry-after', String(s)).send({ code: 'API_AUTH_THROTTLED', message: `too many failed sign-ins; retry in ${s} s` });
      }
      const user = await d.users.verify(name, password);
      if (!user) {
        d.throttle.failure(name, req.ip);
        return reply.code(401).send({ code: 'API_BAD_CREDENTIALS', message: 'wrong user name or password' });
      }
      d.throttle.success(name);
      const s = d.sessions.create(user.id, req.ip);
      const p = d.sessions.lookup(s.id)!;
      reply.header('set-cookie', cookieFor(req, d.config, s.id, d.sessions.maxAgeSec)).header('cache-control', 'no-store');
      return { name: user.name, role: user.role, via: 'session' as const, csrf: s.csrf, expires: p.expires, idleExpires: p.idleExpires };
    });

    app.get('/api/v1/session', {
      config: { role: 'viewer' },
      schema: { tags: ['console'], summary: 'who is signed in (or whose token this is), with the CSRF token of the session', security: bearer, response: { 200: Me, ...errors } },
    }, async (req, reply) => {
      reply.header('cache-control', 'no-store');
      const p = req.principal!;
      return { name: p.name, role: p.role, via: p.via ?? 'token', ...(req.session ? { csrf: req.session.csrf, expires: req.session.expires, idleExpires: req.session.idleExpires } : {}) };
    });

    app.delete('/api/v1/session', {
      config: { role: 'viewer' },
      schema: { tags: ['console'], summary: 'sign out (ends the session, clears the cookie)', security: bearer, response: { 200: Type.Object({ signedOut: Type.Boolean() }), ...errors } },
    }, async (req, reply: FastifyReply) => {
      const signedOut = req.session ? d.sessions.destroy(req.session.cookie) : false;
      reply.header('set-cookie', cookieFor(req, d.config, '', 0));
      return { signedOut };
    });
  };
}
