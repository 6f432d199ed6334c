/**
 * kill -9 of mosquitto under load, with its default persistence settings (the in-memory store is
 * written to disk only every autosave_interval, 1,800 s): what the broker had PUBACKed but not yet
 * handed to the cloud's ingest dies with it. With end-to-end receipts (uplink.confirm: receipt, the
 * default) the edge deletes a row only when the cloud says it is spooled, so it sends those rows
 * again and nothing is lost; the cloud's dedupe admits each once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cloud } from '../../cloud/cloud.ts';
import type { Edge } from '../../edge/edge.ts';
import { edgeConfig, startCloud, startEdge } from '../harness.ts';
import { InfluxPeer } from '../peers/influx.ts';
import { MosquittoPeer } from '../peers/mosquitto.ts';
import { tempDir, waitFor } from '../peers/ports.ts';
import { syntheticInInflux, sumTo } from './influx-check.ts';

const N = 4000;
const confirm = (process.env.CITYEDGE_TEST_CONFIRM ?? 'receipt') as 'receipt' | 'puback';

describe(`kill -9 of mosquitto (default persistence) under load, uplink.confirm: ${confirm}`, () => {
  const influx = new InfluxPeer();
  const mosquitto = new MosquittoPeer(); // persistence on, autosave_interval left at its default
  const cloudDir = tempDir('cloud-mk9-');
  const cloudConfig = () => ({ influx: { url: influx.url, database: 'mosqk9' }, broker: { mode: 'external', url: mosquitto.url, clientId: 'cityedge-ingest-k9' } });
  let cloud: Cloud | undefined;
  let edge: Edge | undefined;
  beforeAll(async () => {
    await influx.start();
    await mosquitto.start();
    cloud = await startCloud(cloudConfig(), cloudDir);
  });
  afterAll(async () => {
    await edge?.stop();
    await cloud?.stop();
    await mosquitto.stop();
    await influx.stop();
  });

  it('loses nothing and duplicates nothing', async () => {
    edge = await startEdge(edgeConfig({
      site: 'site-mk9', url: mosquitto.url,
      sources: [{ type: 'synthetic', id: 'gen', count: N, ratePerSec: 800, batch: 10 }],
      uplink: { confirm, receiptTimeoutMs: 3000 },
    }));
    await waitFor(async () => (await syntheticInInflux(influx, 'mosqk9')).count > 600, { what: 'first data', timeoutMs: 30_000 });
    // The cloud goes away for a moment (its persistent session stays): mosquitto PUBACKs the edge and
    // queues for the ingest session in memory. Then mosquitto dies with that queue.
    await cloud!.stop();
    cloud = undefined;
    await new Promise((r) => setTimeout(r, 1500));
    await mosquitto.proc!.kill9();
    await mosquitto.start(); // same port and persistence file, as a supervisor would restart it
    cloud = await startCloud(cloudConfig(), cloudDir);
    // a second kill while data flows
    await new Promise((r) => setTimeout(r, 1000));
    await mosquitto.proc!.kill9();
    await mosquitto.start();
    await waitFor(async () => (await syntheticInInflux(influx, 'mosqk9')).count >= N, { timeoutMs: 60_000, what: `all ${N} readings` })
      .catch(async (e) => { console.error('at timeout:', await syntheticInInflux(influx, 'mosqk9'), edge!.outbox.size, edge!.uplink.stats()); throw e; });
    await waitFor(() => edge!.outbox.size === 0, { timeoutMs: 30_000, what: 'outbox empty' });
    const { count, sum } = await syntheticInInflux(influx, 'mosqk9');
    expect(count).toBe(N);
    expect(sum).toBe(sumTo(N));
    if (confirm === 'receipt') expect(edge.uplink.stats().receiptedRows).toBeGreaterThan(0);
  });
});
