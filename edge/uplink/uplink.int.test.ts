import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Cloud } from '../../cloud/cloud.ts';
import { createLogger } from '../../lib/log.ts';
import type { NewItem } from '../../protocol/schemas.ts';
import { edgeConfig, startCloud, startEdge } from '../../test/harness.ts';
import { tempDir, waitFor } from '../../test/peers/ports.ts';
import type { Edge } from '../edge.ts';
import { Outbox } from '../outbox/outbox.ts';
import { Uplink, type UplinkOptions } from './uplink.ts';

const T = 1_700_000_000_000;
const STATION = '朝阳区奥体中心监测站';
const ENTERPRISE = '某某化工有限公司';
/** ~300 UTF-16 code units, ~800 UTF-8 bytes. */
const cn = (i: number): NewItem => ({ kind: 'telemetry', ts: T + i, m: 'air', tags: { station: STATION, enterprise: ENTERPRISE }, fields: { value: i, note: `${STATION}${ENTERPRISE}`.repeat(12) } });
const tel = (i: number): NewItem => ({ kind: 'telemetry', ts: T + i, m: 'up', tags: {}, fields: { value: i } });

/** Splits a byte stream into MQTT packets (fixed header: type byte, remaining length varint). */
function packets(onPacket: (p: Buffer) => void): (b: Buffer) => void {
  let buf = Buffer.alloc(0);
  return (b) => {
    buf = Buffer.concat([buf, b]);
    for (;;) {
      let len = 0;
      let mult = 1;
      let i = 1;
      for (; i < buf.length && i <= 4; i++) {
        len += (buf[i] & 0x7f) * mult;
        mult *= 128;
        if (!(buf[i] & 0x80)) break;
      }
      if (i >= buf.length || buf[i] & 0x80) return;
      const total = i + 1 + len;
      if (buf.length < total) return;
      const packet = buf.subarray(0, total);
      buf = buf.subarray(total);
      onPacket(packet);
    }
  };
}

/**
 * A TCP proxy between an MQTT client and a broker that can swallow the PUBACKs of data
 * messages on their way back to the client (a lost acknowledgement on a connection that
 * stays up) or cut the connection.
 */
class MqttProxy {
  /** PUBACKs of data messages (not the status) still to swallow. */
  dropPubacks = 0;
  dropped = 0;
  connections = 0;
  port = 0;
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  constructor(private readonly target: () => number) {}

  /** Listen on `port` (0: any free one). */
  async start(port = 0): Promise<void> {
    this.server = net.createServer((client) => {
      this.connections++;
      const upstream = net.connect(this.target(), '127.0.0.1');
      for (const s of [client, upstream]) { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); }
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      const dataIds = new Set<number>();
      client.on('data', packets((p) => {
        if (p[0] >> 4 === 3 && (p[0] & 0x06)) { // PUBLISH with QoS > 0: note the ids of data messages
          let h = 1;
          while (p[h] & 0x80) h++;
          const topicLen = p.readUInt16BE(h + 1);
          const topic = p.subarray(h + 3, h + 3 + topicLen).toString();
          if (!topic.endsWith('/status')) dataIds.add(p.readUInt16BE(h + 3 + topicLen));
        }
        upstream.write(p);
      }));
      upstream.on('data', packets((p) => {
        if (p[0] >> 4 === 4 && this.dropPubacks > 0 && dataIds.has(p.readUInt16BE(2))) { this.dropPubacks--; this.dropped++; return; }
        client.write(p);
      }));
    });
    await new Promise<void>((r) => this.server!.listen(port, '127.0.0.1', () => r()));
    this.port = (this.server!.address() as net.AddressInfo).port;
  }

  cut(): void {
    for (const s of this.sockets) s.destroy();
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

const log = createLogger({ name: 'uplink-test', level: 'warn' });

describe('uplink against a real broker (in-process aedes behind a proxy)', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => { for (const c of cleanup.splice(0).reverse()) await c(); });

  async function setup(over: Partial<UplinkOptions> = {}) {
    const cloud = await startCloud();
    cleanup.push(() => cloud.stop());
    const password = await cloud.ctx.devices.add('site-u');
    const proxy = new MqttProxy(() => cloud.mqttPort);
    await proxy.start();
    cleanup.push(() => proxy.stop());
    const outbox = new Outbox(path.join(tempDir('uplink-'), 'outbox.db'), { capBytes: 64 * 1024 * 1024 });
    cleanup.push(() => outbox.close());
    const uplink = new Uplink(outbox, {
      site: 'site-u', url: `mqtt://127.0.0.1:${proxy.port}`, password, maxInflight: 1, batchMaxItems: 10, batchMaxBytes: 256 * 1024,
      backlogRate: 10_000, reconnectMinMs: 100, reconnectMaxMs: 500, statusIntervalMs: 60_000, keepaliveSec: 30, ...over,
    } as UplinkOptions, log);
    cleanup.push(() => uplink.stop());
    return { cloud, proxy, outbox, uplink };
  }

  const accepted = async (cloud: Cloud) => (await cloud.ctx.ingest.counts())['items.accepted'] ?? 0;

  it('a publish whose PUBACK never comes frees its in-flight slot and its rows are sent again on the same connection (confirm: puback)', async () => {
    const { cloud, proxy, outbox, uplink } = await setup({ ackTimeoutMs: 1500, confirm: 'puback' });
    proxy.dropPubacks = 1; // the broker has the first message, but its PUBACK is lost
    uplink.start();
    await waitFor(() => uplink.stats().connected, { what: 'connected' });
    for (let k = 0; k < 5; k++) { outbox.append(Array.from({ length: 10 }, (_, j) => tel(k * 10 + j))); uplink.notify(); }
    // with one slot, a slot held by the lost message would stop everything until a reconnect
    await waitFor(() => outbox.size === 0, { timeoutMs: 15_000, what: 'all 50 rows acknowledged' });
    expect(proxy.dropped).toBe(1);
    expect(uplink.stats()).toMatchObject({ failedMessages: 1, resentMessages: 1, inflightMessages: 0 });
    expect(uplink.stats().connects).toBe(1); // no reconnect was needed
    expect(proxy.connections).toBe(1);
    expect(await accepted(cloud)).toBe(50); // the resent copy was a duplicate, admitted once
    expect((await cloud.ctx.ingest.counts())['items.duplicate'] ?? 0).toBe(10);
  });

  it('with receipts (the default), a lost PUBACK does not hold the slot either: the receipt or a resend finishes it', async () => {
    const { cloud, proxy, outbox, uplink } = await setup({ ackTimeoutMs: 1500 });
    proxy.dropPubacks = 1;
    uplink.start();
    await waitFor(() => uplink.stats().connected, { what: 'connected' });
    for (let k = 0; k < 5; k++) { outbox.append(Array.from({ length: 10 }, (_, j) => tel(k * 10 + j))); uplink.notify(); }
    await waitFor(() => outbox.size === 0, { timeoutMs: 15_000, what: 'all 50 rows receipted' });
    expect(proxy.dropped).toBe(1);
    const st = uplink.stats();
    expect(st).toMatchObject({ failedMessages: 1, inflightMessages: 0, connects: 1 });
    expect(await accepted(cloud)).toBe(50);
    // the rows of the message whose PUBACK was lost are deleted by the cloud's receipt, or resent (and admitted once)
    expect((await cloud.ctx.ingest.counts())['items.duplicate'] ?? 0).toBe(st.resentMessages * 10);
  });

  it('when the connection goes away with messages in flight, their rows are sent again and nothing is lost', async () => {
    const { cloud, proxy, outbox, uplink } = await setup({ maxInflight: 4, ackTimeoutMs: 10_000 });
    proxy.dropPubacks = 1_000_000; // nothing is acknowledged: every message stays in flight
    uplink.start();
    await waitFor(() => uplink.stats().connected, { what: 'connected' });
    for (let k = 0; k < 6; k++) { outbox.append(Array.from({ length: 10 }, (_, j) => tel(k * 10 + j))); uplink.notify(); }
    await waitFor(() => uplink.stats().inflightMessages === 4, { what: '4 messages in flight' });
    proxy.dropPubacks = 0;
    proxy.cut();
    await waitFor(() => outbox.size === 0, { timeoutMs: 10_000, what: 'all 60 rows acknowledged after the reconnect' });
    expect(uplink.stats().inflightMessages).toBe(0);
    expect(uplink.stats().connects).toBe(2);
    expect(await accepted(cloud)).toBe(60);
  });
});

describe('several broker addresses (one cluster): failover', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => { for (const c of cleanup.splice(0).reverse()) await c(); });

  it('starts on the second address when the first is down, moves to the other when its broker goes, and delivers every row once', async () => {
    const cloud = await startCloud();
    cleanup.push(() => cloud.stop());
    const password = await cloud.ctx.devices.add('site-f');
    // two addresses of the same broker (two nodes of one cluster in production); the first is dead at start
    const a = new MqttProxy(() => cloud.mqttPort);
    const b = new MqttProxy(() => cloud.mqttPort);
    await a.start(); await b.start();
    const aPort = a.port;
    await a.stop();
    cleanup.push(() => b.stop());
    const outbox = new Outbox(path.join(tempDir('uplink-fo-'), 'outbox.db'), { capBytes: 64 * 1024 * 1024 });
    cleanup.push(() => outbox.close());
    const uplink = new Uplink(outbox, {
      site: 'site-f', url: [`mqtt://127.0.0.1:${aPort}`, `mqtt://site-f:${encodeURIComponent(password)}@127.0.0.1:${b.port}`], password, maxInflight: 2, batchMaxItems: 10, batchMaxBytes: 256 * 1024,
      // a long backoff: failing over within a round must not wait for it
      backlogRate: 10_000, reconnectMinMs: 50, reconnectMaxMs: 60_000, statusIntervalMs: 60_000, keepaliveSec: 30,
    }, log);
    cleanup.push(() => uplink.stop());
    uplink.start();
    await waitFor(() => uplink.stats().connected, { timeoutMs: 5000, what: 'connected through the second address' });
    expect(uplink.stats().broker).toBe(`mqtt://127.0.0.1:${b.port}`); // no credentials in status
    expect(uplink.stats().failovers).toBe(1);
    for (let k = 0; k < 3; k++) { outbox.append(Array.from({ length: 10 }, (_, j) => tel(k * 10 + j))); uplink.notify(); }
    await waitFor(() => outbox.size === 0, { timeoutMs: 8000, what: '30 rows delivered through b' });
    // the first address comes back, then b's node dies: the uplink moves to a
    const a2 = new MqttProxy(() => cloud.mqttPort);
    await a2.start(aPort);
    cleanup.push(() => a2.stop());
    await b.stop();
    for (let k = 3; k < 6; k++) { outbox.append(Array.from({ length: 10 }, (_, j) => tel(k * 10 + j))); uplink.notify(); }
    await waitFor(() => uplink.stats().connected && uplink.stats().broker === `mqtt://127.0.0.1:${aPort}`, { timeoutMs: 5000, what: 'failed over to a' });
    await waitFor(() => outbox.size === 0, { timeoutMs: 8000, what: '60 rows delivered' });
    expect(uplink.stats().failovers).toBe(2);
    expect(uplink.stats().connects).toBe(2);
    expect((await cloud.ctx.ingest.counts())['items.accepted']).toBe(60);
  });
});

describe('batch sizes in real bytes against the cloud ingest limit', () => {
  let edge: Edge | undefined;
  let cloud: Cloud | undefined;
  afterEach(async () => { await edge?.stop(); await cloud?.stop(); edge = undefined; cloud = undefined; });

  it('keeps every MQTT message of Chinese-text telemetry within batchMaxBytes, so nothing is dead-lettered', async () => {
    const limit = 16 * 1024;
    cloud = await startCloud({ ingest: { maxMessageBytes: limit } });
    const password = await cloud.ctx.devices.add('site-b');
    const sizes: number[] = [];
    cloud.broker!.aedes.on('publish', (packet, client) => { if (client && packet.topic.endsWith('/telemetry')) sizes.push(packet.payload.length); });
    // statusIntervalMs long: nothing but these 400 readings goes into the outbox during the test
    edge = await startEdge(edgeConfig({ site: 'site-b', password, url: `mqtt://127.0.0.1:${cloud.mqttPort}`, uplink: { batchMaxBytes: limit, batchMaxItems: 500, statusIntervalMs: 60_000 } }));
    for (let k = 0; k < 8; k++) edge.emit(Array.from({ length: 50 }, (_, j) => cn(k * 50 + j)));
    await waitFor(async () => (await cloud!.ctx.ingest.counts())['items.accepted'] === 400 || cloud!.ctx.ingest.deadLetters.countsByCode().INGEST_TOO_LARGE, { timeoutMs: 15_000, what: '400 accepted (or dead letters)' });
    expect(cloud.ctx.ingest.deadLetters.countsByCode()).toEqual({});
    expect((await cloud.ctx.ingest.counts())['items.accepted']).toBe(400);
    expect(sizes.length).toBeGreaterThan(1);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(limit);
  });

  it('refuses at append, with EDGE_ITEM_TOO_LARGE, an item that alone exceeds one batch; it is counted and never sent', async () => {
    const limit = 16 * 1024;
    cloud = await startCloud({ ingest: { maxMessageBytes: limit } });
    const password = await cloud.ctx.devices.add('site-z');
    edge = await startEdge(edgeConfig({ site: 'site-z', password, url: `mqtt://127.0.0.1:${cloud.mqttPort}`, uplink: { batchMaxBytes: limit, statusIntervalMs: 60_000 } }));
    await waitFor(() => edge!.uplink.stats().connected, { what: 'connected' });
    const big: NewItem = { kind: 'snapshot', ts: T, ref: '01890000-0000-7000-8000-000000000000', role: 'frame', contentType: 'image/jpeg', data: 'A'.repeat(20_000) };
    let err: (Error & { code?: string; details?: { limit: number; bytes: number } }) | undefined;
    try { edge.emit([big]); } catch (e) { err = e as typeof err; }
    expect(err?.code).toBe('EDGE_ITEM_TOO_LARGE');
    expect(err!.details!.limit).toBeLessThanOrEqual(limit);
    expect(err!.message).toContain(String(err!.details!.limit));
    expect(err!.message).toContain(String(err!.details!.bytes));
    expect(edge.outbox.size).toBe(0);
    expect(edge.outbox.stats().tooLarge.snapshot.rows).toBe(1);
    // the rest of the site goes on, and the refusal shows in the site status
    edge.emit([tel(1)]);
    await waitFor(async () => (await cloud!.ctx.ingest.counts())['items.accepted'] >= 1, { what: 'the reading delivered' });
    edge.uplink.publishStatus();
    await waitFor(() => {
      const row = cloud!.ctx.db.prepare("SELECT health FROM site_status WHERE site = 'site-z'").get() as { health: string } | undefined;
      return row && JSON.parse(row.health).outbox.tooLarge.snapshot.rows === 1;
    }, { what: 'status with the too-large count' });
    expect(cloud.ctx.ingest.deadLetters.countsByCode()).toEqual({});
  });
});
