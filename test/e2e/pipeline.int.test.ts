import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cloud } from '../../cloud/cloud.ts';
import type { Edge } from '../../edge/edge.ts';
import { startCloud, edgeConfig, startEdge } from '../harness.ts';
import { InfluxPeer } from '../peers/influx.ts';
import { waitFor } from '../peers/ports.ts';
import { syntheticInInflux, sumTo, valueAt } from './influx-check.ts';

const N = 10_000;
const T0 = 1_700_000_000_000;

describe('edge → aedes → ingest → InfluxDB', () => {
  const influx = new InfluxPeer();
  let cloud: Cloud;
  let edge: Edge;
  beforeAll(async () => {
    await influx.start();
    cloud = await startCloud({ influx: { url: influx.url, database: 'e2e' } });
  });
  afterAll(async () => {
    await edge?.stop();
    await cloud?.stop();
    await influx.stop();
  });

  it(`delivers ${N} readings exactly once`, async () => {
    const password = await cloud.ctx.devices.add('site-a');
    edge = await startEdge(edgeConfig({
      site: 'site-a', password, url: `mqtt://127.0.0.1:${cloud.mqttPort}`,
      sources: [{ type: 'synthetic', id: 'gen', count: N, ratePerSec: 20_000, batch: 100, startTime: T0 }],
    }));
    await waitFor(async () => (await syntheticInInflux(influx, 'e2e')).count >= N, { timeoutMs: 60_000, what: `${N} points in InfluxDB` });
    await waitFor(() => edge.outbox.size === 0, { what: 'outbox empty' });
    const { count, sum } = await syntheticInInflux(influx, 'e2e');
    expect(count).toBe(N);
    expect(sum).toBe(sumTo(N));
    // ingest admitted each reading once (InfluxDB would silently absorb a rewrite, so check ingest too)
    const counts = await cloud.ctx.ingest.counts();
    expect(counts['items.accepted']).toBe(N);
    // spot checks: value, site tag, received time kept beside the observed time
    for (const i of [0, 1, 4321, N - 1]) {
      const rows = await valueAt(influx, 'e2e', T0 + i);
      expect(rows).toHaveLength(1);
      expect(rows![0][1]).toBe(i);
      expect(rows![0][2]).toBe('site-a');
      expect(rows![0][3]).toBeGreaterThan(T0);
    }
    // the series endpoint serves the same data from InfluxDB
    const { token } = cloud.ctx.tokens.create('t', 'viewer');
    const res = await fetch(`${cloud.httpUrl}/api/v1/series?site=site-a&measurement=synthetic&fields=value&from=${T0}&to=${T0 + N}&window=1s&agg=count`, { headers: { authorization: `Bearer ${token}` } });
    const body = await res.json();
    expect(body.store).toBe('influxdb');
    expect(body.series[0].values.reduce((a: number, v: number[]) => a + v[1], 0)).toBe(N);
    // the site's retained status reached the cloud
    await waitFor(() => cloud.ctx.db.prepare("SELECT online FROM site_status WHERE site = 'site-a'").get() as { online: number } | undefined, { what: 'site status' });
  });
});

describe('commands down, results up', () => {
  let cloud: Cloud;
  let edge: Edge;
  afterAll(async () => { await edge?.stop(); await cloud?.stop(); });

  it('a command sent through the API is answered by the site as a cmdres event', async () => {
    cloud = await startCloud();
    const password = await cloud.ctx.devices.add('site-c');
    edge = await startEdge(edgeConfig({ site: 'site-c', password, url: `mqtt://127.0.0.1:${cloud.mqttPort}` }));
    await waitFor(() => edge.uplink.stats().connected, { what: 'connected' });
    await new Promise((r) => setTimeout(r, 200)); // the command subscription is in place
    const { token } = cloud.ctx.tokens.create('ops', 'ops');
    const auth = { authorization: `Bearer ${token}` };
    const sent = await cloud.api.inject({ method: 'POST', url: '/api/v1/sites/site-c/commands', headers: auth, payload: { name: 'ping' } });
    const unknown = await cloud.api.inject({ method: 'POST', url: '/api/v1/sites/site-c/commands', headers: auth, payload: { name: 'reboot' } });
    const results = await waitFor(async () => {
      const r = (await cloud.api.inject({ method: 'GET', url: '/api/v1/events?kind=cmdres&site=site-c', headers: auth })).json();
      return r.length === 2 ? r : undefined;
    }, { what: 'two cmdres' });
    const byId = Object.fromEntries(results.map((r: { cmdId: string }) => [r.cmdId, r]));
    expect(byId[sent.json().id]).toMatchObject({ ok: true, result: { pong: expect.any(Number) } });
    expect(byId[unknown.json().id]).toMatchObject({ ok: false, result: { code: 'EDGE_UNKNOWN_COMMAND' } });
  });
});
