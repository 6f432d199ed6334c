import { afterAll, describe, expect, it } from 'vitest';
import type { Cloud } from '../../cloud/cloud.ts';
import type { Edge } from '../edge.ts';
import { edgeConfig, startCloud, startEdge } from '../../test/harness.ts';
import { waitFor } from '../../test/peers/ports.ts';

describe('edge health: Prometheus /metrics, /health, and edge_health telemetry', () => {
  let cloud: Cloud;
  let edge: Edge;
  afterAll(async () => { await edge?.stop(); await cloud?.stop(); });

  it('serves outbox, uplink and source figures to a scrape, says healthy only while connected, and ships edge_health points to the cloud', async () => {
    cloud = await startCloud();
    const password = await cloud.ctx.devices.add('site-h');
    const cfg = { ...edgeConfig({ site: 'site-h', password, url: `mqtt://127.0.0.1:${cloud.mqttPort}`, sources: [{ type: 'synthetic', id: 'gen', count: 500, ratePerSec: 1000 }], uplink: { statusIntervalMs: 200 } }), health: { telemetryIntervalMs: 200, listen: { host: '127.0.0.1', port: 0 } } };
    edge = await startEdge(cfg);
    const base = `http://127.0.0.1:${edge.healthPort}`;
    await waitFor(async () => (await fetch(`${base}/health`)).status === 200, { what: 'healthy' });
    const text = await (await fetch(`${base}/metrics`)).text();
    for (const m of ['cityedge_edge_outbox_rows{priority="telemetry"}', 'cityedge_edge_outbox_bytes{what="cap"}', 'cityedge_edge_outbox_oldest_age_seconds', 'cityedge_edge_autonomy_hours', 'cityedge_edge_uplink{what="connected"} 1', 'cityedge_edge_source{source="gen",stat="produced"}']) {
      expect(text, m).toContain(m);
    }
    const health = await (await fetch(`${base}/health`)).json();
    expect(health).toMatchObject({ site: 'site-h', connected: true, sources: { gen: expect.any(Object) } });
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    // edge_health points reach the cloud's series store
    await waitFor(async () => {
      await cloud.ctx.ingest.flush();
      const r = await cloud.ctx.store.query({ measurement: 'edge_health', fields: ['outbox_rows', 'connected'], from: 0, to: Date.now() + 60_000, site: 'site-h' });
      return (r.series[0]?.values.length ?? 0) >= 2;
    }, { what: 'edge_health points', timeoutMs: 10_000 });
    // the cloud goes away: /health says so (503), the metrics say disconnected
    await cloud.stop();
    await waitFor(async () => (await fetch(`${base}/health`)).status === 503, { what: 'unhealthy', timeoutMs: 15_000 });
    expect(await (await fetch(`${base}/metrics`)).text()).toContain('cityedge_edge_uplink{what="connected"} 0');
  });
});
