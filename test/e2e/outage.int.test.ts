import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import type { Edge } from '../../edge/edge.ts';
import { projectPath } from '../../lib/data-dir.ts';
import { edgeConfig, spawnCloud, startEdge } from '../harness.ts';
import { InfluxPeer } from '../peers/influx.ts';
import { waitFor, waitForPort } from '../peers/ports.ts';
import type { OwnedProcess } from '../peers/process.ts';
import { syntheticInInflux, sumTo } from './influx-check.ts';

const N = 5000;

describe('outages: broker (cloud process) and InfluxDB stopped and restarted', () => {
  const influx = new InfluxPeer();
  let cloudProc: OwnedProcess | undefined;
  let edge: Edge | undefined;
  afterAll(async () => {
    await edge?.stop();
    await cloudProc?.stop();
    await influx.stop();
  });

  it('loses nothing', async () => {
    await influx.start();
    const cloud = await spawnCloud({ influx: { url: influx.url, database: 'outage' } });
    const dataDir = `${cloud.file.replace(/cloud\.yaml$/, '')}data`;
    const password = execFileSync(process.execPath, [projectPath('bin', 'cityedge.mjs'), 'device', 'add', 'site-o', '--data-dir', dataDir, '--json'], { encoding: 'utf8' });
    cloudProc = cloud.proc;
    await waitForPort(cloud.httpPort);
    edge = await startEdge(edgeConfig({
      site: 'site-o', password: JSON.parse(password).password, url: `mqtt://127.0.0.1:${cloud.mqttPort}`,
      sources: [{ type: 'synthetic', id: 'gen', count: N, ratePerSec: 500, batch: 5 }],
    }));
    const count = async () => (await syntheticInInflux(influx, 'outage')).count;

    // 1. the broker goes away (the cloud process is killed) while the edge keeps producing
    await waitFor(async () => (await count()) > 500, { what: 'first data' });
    await cloudProc.kill9();
    const queuedBefore = edge.outbox.size;
    await new Promise((r) => setTimeout(r, 2000));
    expect(edge.outbox.size).toBeGreaterThan(queuedBefore); // the edge buffers
    cloudProc = cloud.respawn();
    await waitFor(() => edge!.uplink.stats().connected, { timeoutMs: 30_000, what: 'edge reconnected' });

    // 2. InfluxDB goes away; the cloud keeps acknowledging into its durable spool
    const beforeInfluxStop = await count();
    await influx.stop();
    await new Promise((r) => setTimeout(r, 2000));
    const ready = await fetch(`http://127.0.0.1:${cloud.httpPort}/ready`);
    expect(ready.status).toBe(503);
    expect((await ready.json()).checks.store).toBe(false);
    await influx.start();
    expect(await count()).toBeGreaterThanOrEqual(beforeInfluxStop);

    await waitFor(async () => (await count()) >= N, { timeoutMs: 90_000, what: `all ${N}` });
    const final = await syntheticInInflux(influx, 'outage');
    expect(final.count).toBe(N);
    expect(final.sum).toBe(sumTo(N));
    await waitFor(async () => (await fetch(`http://127.0.0.1:${cloud.httpPort}/ready`)).status === 200, { what: 'ready again' });
  });
});
