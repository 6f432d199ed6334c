/**
 * The cloud's spool is bounded (ingest.spoolCap): with the series store down it fills up to the
 * cap, then the cloud stops acknowledging new messages instead of deleting anything — the edge
 * keeps them in its outbox and retries. /ready and the metrics say so. When the store is back the
 * spool drains, acknowledgements resume, and every reading is stored exactly once.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Cloud } from '../../cloud/cloud.ts';
import type { Edge } from '../../edge/edge.ts';
import { edgeConfig, startCloud, startEdge } from '../harness.ts';
import { InfluxPeer } from '../peers/influx.ts';
import { MosquittoPeer } from '../peers/mosquitto.ts';
import { waitFor } from '../peers/ports.ts';
import { syntheticInInflux, sumTo } from './influx-check.ts';

const N = 3000;
const CAP_ITEMS = 400;

const metric = (text: string, re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);

describe('a bounded cloud spool', () => {
  const influx = new InfluxPeer();
  const mosquitto = new MosquittoPeer();
  let cloud: Cloud | undefined;
  let edge: Edge | undefined;
  afterAll(async () => {
    await edge?.stop();
    await cloud?.stop();
    await mosquitto.stop();
    await influx.stop();
  });

  it('refuses new messages at the cap while the store is down, loses nothing, and resumes when it is back', async () => {
    await influx.start();
    cloud = await startCloud({ influx: { url: influx.url, database: 'spoolcap' }, ingest: { writeBatch: 200, spoolCap: { items: CAP_ITEMS, bytes: '64MiB', holdMs: 200 } } });
    await cloud.ctx.devices.add('site-cap', 'site-cap-password-1');
    await influx.stop(); // the series store is down
    edge = await startEdge(edgeConfig({
      site: 'site-cap', password: 'site-cap-password-1', url: `mqtt://127.0.0.1:${cloud.mqttPort}`,
      uplink: { batchMaxItems: 50, maxInflight: 4 },
      sources: [{ type: 'synthetic', id: 'gen', count: N, ratePerSec: 3000, batch: 50 }],
    }));
    const c = cloud;
    const e = edge;
    // the spool fills to the cap; then publishes are refused (not acknowledged), the edge keeps them
    await waitFor(async () => metric(await (await fetch(`${c.httpUrl}/metrics`)).text(), /cityedge_ingest_refused_total\{reason="spool_full"\} (\d+)/) >= 2, { timeoutMs: 30_000, what: 'publishes refused at the cap' });
    await waitFor(() => e.outbox.size + c.ctx.ingest.spoolDepth() >= N, { timeoutMs: 30_000, what: 'all readings produced' });
    await new Promise((r) => setTimeout(r, 1000));
    const depth = c.ctx.ingest.spoolDepth();
    expect(depth).toBeGreaterThanOrEqual(CAP_ITEMS);
    expect(depth).toBeLessThan(CAP_ITEMS + 4 * 50); // at most the messages in flight when the cap was reached
    expect(e.outbox.size).toBeGreaterThanOrEqual(N - depth); // nothing deleted: the rest waits at the edge
    const ready = await fetch(`${c.httpUrl}/ready`);
    expect(ready.status).toBe(503);
    const body = await ready.json();
    expect(body.checks).toMatchObject({ store: false, spool: false });
    expect(body.reasons.spool).toMatch(/spool full/);
    const metrics = await (await fetch(`${c.httpUrl}/metrics`)).text();
    expect(metric(metrics, /cityedge_ingest_spool_items (\d+)/)).toBe(depth);
    expect(metric(metrics, /cityedge_ingest_spool_bytes (\d+)/)).toBeGreaterThan(0);
    expect(c.ctx.ingest.deadLetters.countsByCode()).toEqual({}); // refused, not dead-lettered

    // the store is back: the spool drains, acknowledgements resume, everything arrives once
    await influx.start();
    await waitFor(async () => (await syntheticInInflux(influx, 'spoolcap')).count >= N, { timeoutMs: 90_000, what: `all ${N} in InfluxDB` });
    await waitFor(() => e.outbox.size === 0, { timeoutMs: 30_000, what: 'the edge outbox to empty' });
    const final = await syntheticInInflux(influx, 'spoolcap');
    expect(final).toEqual({ count: N, sum: sumTo(N) });
    await waitFor(async () => (await fetch(`${c.httpUrl}/ready`)).status === 200, { what: 'ready again' });
  });

  it('external broker (mosquitto): at the cap ingest does not acknowledge or receipt, the edge keeps what is not spooled, and everything arrives once the store is back', async () => {
    await edge?.stop();
    await cloud?.stop();
    edge = undefined;
    await mosquitto.start();
    cloud = await startCloud({ influx: { url: influx.url, database: 'spoolcap_ext' }, broker: { mode: 'external', url: mosquitto.url, clientId: 'cityedge-ingest-cap' }, ingest: { writeBatch: 200, spoolCap: { items: CAP_ITEMS, holdMs: 200 } } });
    await influx.stop();
    const M = 2000;
    edge = await startEdge(edgeConfig({ site: 'site-ext', url: mosquitto.url, uplink: { batchMaxItems: 50 }, sources: [{ type: 'synthetic', id: 'gen', count: M, ratePerSec: 3000, batch: 50 }] }));
    const c = cloud;
    await waitFor(async () => metric(await (await fetch(`${c.httpUrl}/metrics`)).text(), /cityedge_ingest_refused_total\{reason="spool_full"\} (\d+)/) >= 2, { timeoutMs: 30_000, what: 'deliveries refused at the cap' });
    const depth = c.ctx.ingest.spoolDepth();
    expect(depth).toBeGreaterThanOrEqual(CAP_ITEMS);
    expect(depth).toBeLessThan(M);
    expect((await fetch(`${c.httpUrl}/ready`)).status).toBe(503);
    // mosquitto acknowledged the edge, but the cloud receipted only what it spooled: the edge keeps the
    // rest in its outbox (uplink.confirm: receipt) while ingest's session at mosquitto holds the copies
    await waitFor(() => edge!.uplink.stats().sentItems + edge!.uplink.stats().awaitingReceipt > 0, { what: 'publishing' });
    await new Promise((r) => setTimeout(r, 1000));
    expect(edge!.outbox.size).toBeGreaterThanOrEqual(M - c.ctx.ingest.spoolDepth() - 100);
    await influx.start();
    await waitFor(async () => (await syntheticInInflux(influx, 'spoolcap_ext')).count >= M, { timeoutMs: 90_000, what: `all ${M} in InfluxDB` });
    await new Promise((r) => setTimeout(r, 500));
    expect(await syntheticInInflux(influx, 'spoolcap_ext')).toEqual({ count: M, sum: sumTo(M) });
    expect(c.ctx.ingest.spoolDepth()).toBe(0);
    await waitFor(() => edge!.outbox.size === 0, { timeoutMs: 30_000, what: 'receipted: the edge outbox empties' });
  });
});
