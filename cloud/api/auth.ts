import type { FastifyReply, FastifyRequest } from 'fastify';
import { roleAtLeast, type Role, type TokenStore } from './tokens.ts';

declare module 'fastify' {
  interface FastifyContextConfig { role?: Role }
  interface FastifyRequest { principal?: { id: number; name: string; role: Role } }
}

/** onRequest hook: routes with `config.role` need a bearer token of at least that role. */
export function authHook(tokens: TokenStore, onReject: (code: string) => void) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const need = req.routeOptions.config?.role;
    if (!need) return;
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    const principal = m ? tokens.lookup(m[1]) : undefined;
    if (!principal) {
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
