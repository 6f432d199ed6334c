import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cloud } from '../../cloud/cloud.ts';
import { edgeConfig, spawnEdge, startCloud } from '../harness.ts';
import { InfluxPeer } from '../peers/influx.ts';
import { tempDir, waitFor } from '../peers/ports.ts';
import type { OwnedProcess } from '../peers/process.ts';
import { syntheticInInflux, sumTo } from './influx-check.ts';

const N = 6000;

describe('edge process kill -9 while producing', () => {
  const influx = new InfluxPeer();
  let cloud: Cloud;
  let proc: OwnedProcess | undefined;
  beforeAll(async () => {
    await influx.start();
    cloud = await startCloud({ influx: { url: influx.url, database: 'kill9' } });
  });
  afterAll(async () => {
    await proc?.stop();
    await cloud?.stop();
    await influx.stop();
  });

  it('loses nothing and duplicates nothing across 5 kill -9 and restarts', async () => {
    const password = await cloud.ctx.devices.add('site-k');
    const cfg = edgeConfig({
      site: 'site-k', password, url: `mqtt://127.0.0.1:${cloud.mqttPort}`, stateDir: tempDir('edge-k-'),
      sources: [{ type: 'synthetic', id: 'gen', count: N, ratePerSec: 600, batch: 5, alertEvery: 500 }],
    });
    const edge = spawnEdge(cfg);
    proc = edge.proc;
    const kills: number[] = [];
    for (let k = 0; k < 5; k++) {
      // a random moment while the edge is producing and sending
      await waitFor(async () => (await syntheticInInflux(influx, 'kill9')).count > (k + 1) * 400, { timeoutMs: 60_000, what: `progress before kill ${k + 1}` });
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 400)));
      kills.push((await syntheticInInflux(influx, 'kill9')).count);
      await proc.kill9();
      proc = edge.respawn();
    }
    expect(kills).toHaveLength(5);
    await waitFor(async () => (await syntheticInInflux(influx, 'kill9')).count >= N, { timeoutMs: 120_000, what: `all ${N} readings` });
    await new Promise((r) => setTimeout(r, 500));
    const { count, sum } = await syntheticInInflux(influx, 'kill9');
    expect(count).toBe(N);
    expect(sum).toBe(sumTo(N));
    const counts = await cloud.ctx.ingest.counts();
    expect(counts['items.accepted']).toBe(N + N / 500); // readings + the alerts riding along
    const alerts = cloud.ctx.db.prepare("SELECT count(*) AS n FROM events WHERE site = 'site-k' AND kind = 'alert'").get() as { n: number };
    await waitFor(() => (cloud.ctx.db.prepare("SELECT count(*) AS n FROM events WHERE site = 'site-k' AND kind = 'alert'").get() as { n: number }).n === N / 500, { what: 'alerts' });
    expect(alerts.n).toBeLessThanOrEqual(N / 500);
  });
});
