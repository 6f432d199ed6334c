import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cloud } from '../cloud.ts';
import { startCloud } from '../../test/harness.ts';

describe('HTTP API', () => {
  let cloud: Cloud;
  const tok: Record<string, string> = {};
  const get = (url: string, token?: string) => cloud.api.inject({ method: 'GET', url, headers: token ? { authorization: `Bearer ${token}` } : {} });
  beforeAll(async () => {
    cloud = await startCloud();
    for (const role of ['viewer', 'env', 'ops', 'admin'] as const) tok[role] = cloud.ctx.tokens.create(`t-${role}`, role).token;
    const T = Date.UTC(2024, 0, 1);
    await cloud.ctx.store.write(Array.from({ length: 60 }, (_, i) => ({ measurement: 'air', tags: { site: 'site-a', station: 's1' }, fields: { pm25: i }, time: T + i * 60_000 })));
  });
  afterAll(async () => { await cloud?.stop(); });

  it('serves health, readiness and an OpenAPI document generated from the route schemas', async () => {
    expect((await get('/health')).json()).toEqual({ status: 'ok' });
    const ready = await get('/ready');
    expect(ready.statusCode).toBe(200);
    expect(ready.json().checks).toMatchObject({ store: true, ingest: true });
    const doc = (await get('/openapi.json')).json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/v1/series', '/api/v1/sites', '/api/v1/devices', '/api/v1/tokens', '/api/v1/dead-letters', '/api/v1/events']));
    expect(doc.paths['/api/v1/series'].get.parameters.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['measurement', 'fields', 'from', 'window', 'agg']));
  });

  it('requires a token, and a role high enough', async () => {
    const none = await get('/api/v1/sites');
    expect(none.statusCode).toBe(401);
    expect(none.json().code).toBe('API_UNAUTHORIZED');
    expect((await get('/api/v1/sites', 'ce_not-a-token')).statusCode).toBe(401);
    expect((await get('/api/v1/sites', tok.viewer)).statusCode).toBe(200);
    const forbidden = await get('/api/v1/devices', tok.env);
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json().code).toBe('API_FORBIDDEN');
    expect((await get('/api/v1/devices', tok.ops)).statusCode).toBe(200);
    expect((await get('/api/v1/tokens', tok.ops)).statusCode).toBe(403);
    const tokens = (await get('/api/v1/tokens', tok.admin)).json();
    expect(tokens.length).toBe(4);
    expect(JSON.stringify(tokens)).not.toContain(tok.admin); // secrets are never served back
  });

  it('queries series raw and in windows', async () => {
    const from = new Date(Date.UTC(2024, 0, 1)).toISOString();
    const raw = (await get(`/api/v1/series?site=site-a&measurement=air&fields=pm25&from=${from}&to=${Date.UTC(2024, 0, 1) + 600_000}`, tok.viewer)).json();
    expect(raw.store).toBe('sqlite');
    expect(raw.series[0].values).toHaveLength(10);
    const agg = (await get(`/api/v1/series?site=site-a&measurement=air&fields=pm25&from=${from}&to=${Date.UTC(2024, 0, 1) + 3_600_000}&window=30m&agg=max`, tok.viewer)).json();
    expect(agg.series[0].values.map((v: number[]) => v[1])).toEqual([29, 59]);
  });

  it('rejects bad requests with codes, and counts them', async () => {
    const cases: Array<[string, string]> = [
      ['/api/v1/series?measurement=air&fields=pm25', 'API_BAD_REQUEST'],
      ['/api/v1/series?measurement=air;drop&fields=pm25&from=-1h', 'API_BAD_REQUEST'],
      ['/api/v1/series?measurement=air&fields=pm25&from=yesterday', 'API_BAD_TIME'],
      ['/api/v1/series?measurement=air&fields=pm25&from=-1h&to=-2h', 'API_BAD_RANGE'],
      ['/api/v1/series?measurement=air&fields=pm25&from=-30d&window=1ms', 'API_TOO_MANY_WINDOWS'],
      ['/api/v1/nowhere', 'API_NOT_FOUND'],
    ];
    for (const [url, code] of cases) {
      const r = await get(url, tok.viewer);
      expect(r.statusCode, url).toBeGreaterThanOrEqual(400);
      expect(r.json().code, url).toBe(code);
    }
    const metrics = (await get('/metrics')).body;
    expect(metrics).toMatch(/cityedge_api_rejected_total\{code="API_BAD_REQUEST"\} 2/);
  });

  it('provisions and revokes devices, and sends commands only to provisioned sites', async () => {
    const add = await cloud.api.inject({ method: 'POST', url: '/api/v1/devices', headers: { authorization: `Bearer ${tok.ops}` }, payload: { site: 'site-new' } });
    expect(add.statusCode).toBe(201);
    expect(add.json().password.length).toBeGreaterThanOrEqual(20);
    const again = await cloud.api.inject({ method: 'POST', url: '/api/v1/devices', headers: { authorization: `Bearer ${tok.ops}` }, payload: { site: 'site-new' } });
    expect(again.statusCode).toBe(409);
    expect(again.json().code).toBe('DEVICE_EXISTS');
    const bad = await cloud.api.inject({ method: 'POST', url: '/api/v1/devices', headers: { authorization: `Bearer ${tok.ops}` }, payload: { site: 'Bad Site!' } });
    expect(bad.json().code).toBe('API_BAD_REQUEST');
    const cmd = await cloud.api.inject({ method: 'POST', url: '/api/v1/sites/site-new/commands', headers: { authorization: `Bearer ${tok.ops}` }, payload: { name: 'ping' } });
    expect(cmd.statusCode).toBe(202);
    const del = await cloud.api.inject({ method: 'DELETE', url: '/api/v1/devices/site-new', headers: { authorization: `Bearer ${tok.ops}` } });
    expect(del.json()).toEqual({ revoked: true });
    const cmd2 = await cloud.api.inject({ method: 'POST', url: '/api/v1/sites/site-new/commands', headers: { authorization: `Bearer ${tok.ops}` }, payload: { name: 'ping' } });
    expect(cmd2.json().code).toBe('API_UNKNOWN_SITE');
  });
});
