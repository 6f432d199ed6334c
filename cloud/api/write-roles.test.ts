import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cloud } from '../cloud.ts';
import { PASSWORD, startConsoleCloud } from '../../test/support/console.ts';
import { ROLES, type Role } from './tokens.ts';
import type { RouteRole } from './server.ts';

/**
 * Table-driven: EVERY write endpoint the cloud registers (core API, console, alerts, models,
 * GBFS — whatever a feature adds, read from the routes as registered) refuses each role below the
 * one it needs, with an API token and with a console session, and refuses a session request
 * without a valid CSRF token. The only write without a role is signing in.
 */
const WRITE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const PUBLIC_WRITES = ['POST /api/v1/session'];
const fill = (url: string) => url.replace(':id', '999999').replace(':site', 'site-a').replace(':name', 'nobody').replace(':version', '1.0.0').replace(':action', 'pause').replace(':sha', 'a'.repeat(64)).replace('*', 'x');

let cloud: Cloud;
let tokens: Record<Role, string>;
const cookies = {} as Record<Role, { cookie: string; csrf: string }>;
let writes: RouteRole[];

beforeAll(async () => {
  ({ cloud, tokens } = await startConsoleCloud());
  writes = cloud.api.routeRoles.filter((r) => WRITE.has(r.method));
  for (const role of ROLES) {
    const res = await cloud.api.inject({ method: 'POST', url: '/api/v1/session', payload: { name: `${role}-1`, password: PASSWORD } });
    expect(res.statusCode).toBe(200);
    cookies[role] = { cookie: String(res.headers['set-cookie']).split(';')[0], csrf: res.json().csrf };
  }
}, 60_000);
afterAll(async () => { await cloud?.stop(); });

const call = (r: RouteRole, headers: Record<string, string>) => cloud.api.inject({ method: r.method as 'POST', url: fill(r.url), headers: { 'content-type': 'application/json', ...headers }, payload: '{}' });

describe('every write endpoint refuses the roles below its own, and sessions without CSRF', () => {
  it('finds the write endpoints of every part of the API', () => {
    const urls = writes.map((r) => `${r.method} ${r.url}`);
    for (const u of ['POST /api/v1/alerts/:id/ack', 'POST /api/v1/alerts/:id/assign', 'POST /api/v1/alerts/:id/comments', 'POST /api/v1/alerts/ack', 'POST /api/v1/rollouts', 'POST /api/v1/rollouts/:id/:action',
      'POST /api/v1/users', 'DELETE /api/v1/users/:name', 'POST /api/v1/devices', 'POST /api/v1/tokens', 'PUT /api/v1/sites/:site/info', 'DELETE /api/v1/session']) expect(urls).toContain(u);
    expect(writes.length).toBeGreaterThan(15);
    expect(writes.filter((r) => !r.role).map((r) => `${r.method} ${r.url}`)).toEqual(PUBLIC_WRITES);
  });

  it('with an API token of each lower role: 403 API_FORBIDDEN; with the needed role the request gets past authorisation', async () => {
    const rows: string[] = [];
    for (const r of writes.filter((w) => w.role)) {
      const need = ROLES.indexOf(r.role!);
      for (const role of ROLES.slice(0, need)) {
        const res = await call(r, { authorization: `Bearer ${tokens[role]}` });
        rows.push(`${r.method} ${r.url} as ${role}: ${res.statusCode} ${res.json().code}`);
        expect(res.statusCode, `${r.method} ${r.url} as ${role}`).toBe(403);
        expect(res.json().code).toBe('API_FORBIDDEN');
      }
      const ok = await call(r, { authorization: `Bearer ${tokens[r.role!]}` });
      expect([401, 403, 429], `${r.method} ${r.url} as ${r.role}: ${ok.body}`).not.toContain(ok.statusCode);
    }
    expect(rows.length).toBeGreaterThan(20);
  });

  it('with a session of each lower role (and a valid CSRF token): 403 API_FORBIDDEN', async () => {
    for (const r of writes.filter((w) => w.role && w.url !== '/api/v1/session')) {
      for (const role of ROLES.slice(0, ROLES.indexOf(r.role!))) {
        const res = await call(r, { cookie: cookies[role].cookie, 'x-csrf-token': cookies[role].csrf });
        expect(res.statusCode, `${r.method} ${r.url} as ${role}`).toBe(403);
        expect(res.json().code).toBe('API_FORBIDDEN');
      }
    }
  });

  it('with an admin session but no CSRF token, a wrong one, another session\'s, or a cross-site Origin: 403 API_CSRF', async () => {
    const admin = cookies.admin;
    for (const r of writes.filter((w) => w.role)) {
      for (const [what, h] of [
        ['no token', { cookie: admin.cookie }],
        ['wrong token', { cookie: admin.cookie, 'x-csrf-token': 'x'.repeat(32) }],
        ['another session\'s token', { cookie: admin.cookie, 'x-csrf-token': cookies.env.csrf }],
        ['cross-site origin', { cookie: admin.cookie, 'x-csrf-token': admin.csrf, origin: 'https://evil.example' }],
      ] as const) {
        const res = await call(r, h);
        expect(res.statusCode, `${r.method} ${r.url}: ${what}`).toBe(403);
        expect(res.json().code).toBe('API_CSRF');
      }
      // the same request with the session's token gets past authorisation (not signing out: the loop goes on)
      if (r.url === '/api/v1/session') continue;
      const ok = await call(r, { cookie: admin.cookie, 'x-csrf-token': admin.csrf, origin: 'http://localhost:80' });
      expect([401, 403, 429], `${r.method} ${r.url}: ${ok.body}`).not.toContain(ok.statusCode);
    }
  });
});
