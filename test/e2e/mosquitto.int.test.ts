import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cloud } from '../../cloud/cloud.ts';
import type { Edge } from '../../edge/edge.ts';
import { edgeConfig, startCloud, startEdge } from '../harness.ts';
import { InfluxPeer } from '../peers/influx.ts';
import { MosquittoPeer } from '../peers/mosquitto.ts';
import { waitFor } from '../peers/ports.ts';
import { syntheticInInflux, sumTo } from './influx-check.ts';

const N = 3000;

describe('the same path with mosquitto as the broker', () => {
  const influx = new InfluxPeer();
  const mosquitto = new MosquittoPeer();
  let cloud: Cloud;
  let edge: Edge;
  beforeAll(async () => {
    await influx.start();
    await mosquitto.start();
    cloud = await startCloud({ influx: { url: influx.url, database: 'mosq' }, broker: { mode: 'external', url: mosquitto.url, clientId: 'cityedge-ingest-test' } });
  });
  afterAll(async () => {
    await edge?.stop();
    await cloud?.stop();
    await mosquitto.stop();
    await influx.stop();
  });

  it(`delivers ${N} readings exactly once, also across a mosquitto restart`, async () => {
    edge = await startEdge(edgeConfig({ site: 'site-m', url: mosquitto.url, sources: [{ type: 'synthetic', id: 'gen', count: N, ratePerSec: 1000, batch: 10 }] }));
    await waitFor(async () => (await syntheticInInflux(influx, 'mosq')).count > 800, { what: 'first data' });
    await mosquitto.stop();
    await new Promise((r) => setTimeout(r, 1000));
    await mosquitto.start();
    await waitFor(async () => (await syntheticInInflux(influx, 'mosq')).count >= N, { timeoutMs: 20_000, what: `all ${N}` }).catch(async (e) => { console.log('DEBUG', await syntheticInInflux(influx, 'mosq'), await cloud.ctx.ingest.counts(), edge.outbox.size, edge.uplink.stats(), cloud.ctx.ingest.spoolDepth()); throw e; });
    const { count, sum } = await syntheticInInflux(influx, 'mosq');
    expect(count).toBe(N);
    expect(sum).toBe(sumTo(N));
    expect((await cloud.ctx.ingest.counts())['items.accepted']).toBe(N);
  });
});
