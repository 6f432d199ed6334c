import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuthThrottle } from '../broker/auth-throttle.ts';
import { roleAtLeast, type Role, type TokenStore } from './tokens.ts';

declare module 'fastify' {
  interface FastifyContextConfig { role?: Role }
  interface FastifyRequest { principal?: { id: number; name: string; role: Role } }
}

/**
 * onRequest hook: routes with `config.role` need a bearer token of at least that role.
 * With a throttle, an address that sent too many wrong tokens gets 429 API_AUTH_THROTTLED (with
 * Retry-After) for a growing back-off, before its token is looked up. A bearer token is the whole
 * credential (there is no username), so the API is throttled per remote address (`req.ip`) only.
 * A request without an Authorization header is a plain 401, not counted as a guess.
 */
export function authHook(tokens: TokenStore, onReject: (code: string) => void, throttle?: AuthThrottle) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const need = req.routeOptions.config?.role;
    if (!need) return;
    const throttled = throttle?.check(undefined, req.ip);
    if (throttled) {
      onReject('API_AUTH_THROTTLED');
      const s = Math.max(1, Math.ceil(throttled.retryAfterMs / 1000));
      return reply.code(429).header('retry-after', String(s)).send({ code: 'API_AUTH_THROTTLED', message: `too many requests with a wrong API token from this address; retry in ${s} s` });
    }
    const header = req.headers.authorization;
    const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
    const principal = m ? tokens.lookup(m[1]) : undefined;
    if (!principal) {
      if (header !== undefined) throttle?.failure(undefined, req.ip);
      onReject('API_UNAUTHORIZED');
      return reply.code(401).send({ code: 'API_UNAUTHORIZED', message: 'send an API token as "Authorization: Bearer <token>" (create one with `cityedge token add`)' });
    }
    if (!roleAtLeast(principal.role, need)) {
      onReject('API_FORBIDDEN');
      return reply.code(403).send({ code: 'API_FORBIDDEN', message: `this needs the ${need} role; your token has ${principal.role}` });
    }
    req.principal = principal;
  };
}
