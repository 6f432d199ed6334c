import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuthThrottle } from '../broker/auth-throttle.ts';
import { roleAtLeast, type Role, type TokenStore } from './tokens.ts';
import { CSRF_HEADER, readCookie, SESSION_COOKIE, SessionStore } from './sessions.ts';

declare module 'fastify' {
  interface FastifyContextConfig { role?: Role }
  interface FastifyRequest {
    /** Who is asking: an API token (`via: 'token'`) or a person signed in to the console (`via: 'session'`). */
    principal?: { id: number; name: string; role: Role; via?: 'token' | 'session' };
    /** The console session of the request, when it came with one. */
    session?: { cookie: string; csrf: string; expires: number; idleExpires: number };
  }
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * onRequest hook: routes with `config.role` need a bearer token or a console session of at least
 * that role.
 * - `Authorization: Bearer <token>` (machines): as before; no CSRF token (a browser never adds
 *   this header by itself, so a cross-site page cannot forge it).
 * - The `ce_session` cookie (people, cloud/api/sessions.ts): every request other than GET/HEAD/
 *   OPTIONS must carry the session's CSRF token in `X-CSRF-Token` (synchronizer token), and an
 *   `Origin` header, when sent, must be this host — else 403 API_CSRF.
 * With a throttle, an address that sent too many wrong tokens gets 429 API_AUTH_THROTTLED (with
 * Retry-After) for a growing back-off, before its token is looked up. A bearer token is the whole
 * credential (there is no username), so the API is throttled per remote address (`req.ip`) only.
 * A request without an Authorization header is a plain 401, not counted as a guess.
 */
export function authHook(tokens: TokenStore, onReject: (code: string) => void, throttle?: AuthThrottle, sessions?: SessionStore) {
  const forbidden = (reply: FastifyReply, need: Role, have: Role, what: string) => {
    onReject('API_FORBIDDEN');
    return reply.code(403).send({ code: 'API_FORBIDDEN', message: `this needs the ${need} role; your ${what} has ${have}` });
  };
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const need = req.routeOptions.config?.role;
    if (!need) return;
    const header = req.headers.authorization;
    const cookie = header === undefined && sessions ? readCookie(req.headers.cookie, SESSION_COOKIE) : undefined;
    if (cookie !== undefined && sessions) {
      const s = sessions.lookup(cookie);
      if (!s) {
        onReject('API_SESSION_EXPIRED');
        return reply.code(401).send({ code: 'API_SESSION_EXPIRED', message: 'your session has ended (signed out, expired or unknown); sign in again' });
      }
      if (!SAFE.has(req.method)) {
        const origin = req.headers.origin;
        const sameOrigin = origin === undefined ? true : sameHost(origin, req.headers.host);
        const token = req.headers[CSRF_HEADER];
        if (!sameOrigin || !SessionStore.csrfMatches(s.csrf, typeof token === 'string' ? token : undefined)) {
          onReject('API_CSRF');
          return reply.code(403).send({ code: 'API_CSRF', message: `a write with a session needs the session's CSRF token in ${CSRF_HEADER} (from GET /api/v1/session) and a same-origin request` });
        }
      }
      if (!roleAtLeast(s.role, need)) return forbidden(reply, need, s.role, 'account');
      req.principal = { id: s.id, name: s.name, role: s.role, via: 'session' };
      req.session = { cookie, csrf: s.csrf, expires: s.expires, idleExpires: s.idleExpires };
      return;
    }
    const throttled = throttle?.check(undefined, req.ip);
    if (throttled) {
      onReject('API_AUTH_THROTTLED');
      const s = Math.max(1, Math.ceil(throttled.retryAfterMs / 1000));
      return reply.code(429).header('retry-after', String(s)).send({ code: 'API_AUTH_THROTTLED', message: `too many requests with a wrong API token from this address; retry in ${s} s` });
    }
    const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
    const principal = m ? tokens.lookup(m[1]) : undefined;
    if (!principal) {
      if (header !== undefined) throttle?.failure(undefined, req.ip);
      onReject('API_UNAUTHORIZED');
      return reply.code(401).send({ code: 'API_UNAUTHORIZED', message: 'send an API token as "Authorization: Bearer <token>" (create one with `cityedge token add`), or sign in to the console' });
    }
    if (!roleAtLeast(principal.role, need)) return forbidden(reply, need, principal.role, 'token');
    req.principal = { ...principal, via: 'token' };
  };
}

/** Whether an Origin header names this host (default ports normalised); `null` and garbage do not. */
function sameHost(origin: string, host: string | undefined): boolean {
  try {
    const o = new URL(origin);
    return !!host && (o.protocol === 'http:' || o.protocol === 'https:') && new URL(`${o.protocol}//${host}`).host === o.host;
  } catch {
    return false;
  }
}
