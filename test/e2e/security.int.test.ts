import crypto from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cloud } from '../../cloud/cloud.ts';
import type { Edge } from '../../edge/edge.ts';
import { newMessageId } from '../../protocol/ids.ts';
import { edgeConfig, startCloud, startEdge } from '../harness.ts';
import { waitFor } from '../peers/ports.ts';

/** A site's MQTT client id is its site id (the username), as the edge's uplink sends it. */
function connect(port: number, username: string, password: string, extra: IClientOptions = {}): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { username, password, reconnectPeriod: 0, clientId: username, ...extra });
    c.once('connect', () => resolve(c));
    c.once('error', (err) => { c.end(true); reject(err); });
  });
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const command = (name: string) => ({ v: 1, id: crypto.randomUUID(), name, args: {}, issuedAt: Date.now(), expiresAt: Date.now() + 60_000 });
/** Payloads the broker delivers on `topic` (its own subscription, no ACL). */
function watch(cloud: Cloud, topic: string): { got: string[]; stop: () => void } {
  const got: string[] = [];
  const handler = (packet: { payload: Buffer | string }, cb: () => void) => { got.push(packet.payload.toString()); cb(); };
  cloud.broker!.aedes.subscribe(topic, handler, () => undefined);
  return { got, stop: () => cloud.broker!.aedes.unsubscribe(topic, handler, () => undefined) };
}
const metric = async (cloud: Cloud, re: RegExp) => Number(re.exec(await (await fetch(`${cloud.httpUrl}/metrics`)).text())?.[1] ?? 0);
const closed = (c: MqttClient) => new Promise<void>((resolve) => (c.connected ? c.once('close', () => resolve()) : resolve()));
const batch = (site: string, seq: number) => JSON.stringify({ v: 1, site, stream: 'stream-sec1', sentAt: Date.now(), items: [{ id: newMessageId(), seq, ts: Date.now(), kind: 'telemetry', m: 'air', tags: {}, fields: { pm25: 1 } }] });

describe('broker security with real MQTT clients (embedded aedes)', () => {
  let cloud: Cloud;
  const pw: Record<string, string> = {};
  beforeAll(async () => {
    cloud = await startCloud();
    pw.a = await cloud.ctx.devices.add('site-a');
    pw.b = await cloud.ctx.devices.add('site-b');
  });
  afterAll(async () => { await cloud?.stop(); });

  it('refuses a wrong password and an unknown site', async () => {
    await expect(connect(cloud.mqttPort, 'site-a', 'wrong-password-123')).rejects.toThrow(/Bad username or password|Not authorized/i);
    await expect(connect(cloud.mqttPort, 'site-zz', pw.a)).rejects.toThrow(/Bad username or password|Not authorized/i);
  });

  it('lets a site publish under its own prefix only', async () => {
    const a = await connect(cloud.mqttPort, 'site-a', pw.a);
    await a.publishAsync('ce/v1/site-a/telemetry', batch('site-a', 1), { qos: 1 });
    // the QoS 1 PUBACK came after ingest spooled it
    expect((await cloud.ctx.ingest.counts())['items.accepted']).toBe(1);
    // publishing under B's prefix cuts A off and nothing is ingested for B
    const gone = closed(a);
    a.publish('ce/v1/site-b/telemetry', batch('site-b', 1), { qos: 1 });
    await gone;
    const counts = await cloud.ctx.ingest.counts();
    expect(counts['items.accepted']).toBe(1);
    // nor may a site publish commands, even to itself
    const a2 = await connect(cloud.mqttPort, 'site-a', pw.a);
    const gone2 = closed(a2);
    a2.publish('ce/v1/site-a/cmd/ping', '{}', { qos: 1 });
    await gone2;
  });

  it("refuses a subscription to another site's commands", async () => {
    const a = await connect(cloud.mqttPort, 'site-a', pw.a);
    expect((await a.subscribeAsync('ce/v1/site-a/cmd/#', { qos: 1 }))[0].qos).toBe(1);
    for (const filter of ['ce/v1/site-b/cmd/#', 'ce/v1/+/cmd/#', '#', 'ce/v1/site-b/telemetry']) {
      await expect(a.subscribeAsync(filter, { qos: 1 }), filter).rejects.toThrow(/Subscribe error/);
    }
    expect(a.connected).toBe(true); // a refused subscription is a SUBACK failure, not a disconnect
    // and commands for B never reach A
    const got: string[] = [];
    a.on('message', (t) => got.push(t));
    await cloud.ctx.commands.publishCommand('site-b', 'ping', { v: 1 });
    await cloud.ctx.commands.publishCommand('site-a', 'ping', { v: 1 });
    await waitFor(() => got.length >= 1, { what: 'own command' });
    await new Promise((r) => setTimeout(r, 100));
    expect(got).toEqual(['ce/v1/site-a/cmd/ping']);
    a.end(true);
  });

  it('cuts off a revoked device and refuses it afterwards', async () => {
    const b = await connect(cloud.mqttPort, 'site-b', pw.b);
    const gone = closed(b);
    expect(cloud.ctx.devices.revoke('site-b')).toBe(true);
    await gone;
    await expect(connect(cloud.mqttPort, 'site-b', pw.b)).rejects.toThrow(/Bad username or password|Not authorized/i);
  });
});

describe('client ids are bound to the site (embedded aedes)', () => {
  let cloud: Cloud;
  let edge: Edge | undefined;
  const pw: Record<string, string> = {};
  beforeAll(async () => {
    // A refused client id counts as an authentication failure: room for the cases below before a back-off (test/e2e/auth-throttle.int.test.ts).
    cloud = await startCloud({ security: { authFailures: { max: 50 } } });
    pw.a = await cloud.ctx.devices.add('site-a');
    pw.b = await cloud.ctx.devices.add('site-b');
    pw.c = await cloud.ctx.devices.add('site-c');
  });
  afterAll(async () => { await edge?.stop(); await cloud?.stop(); });

  it("refuses site A presenting site B's client id at CONNECT; B's session, subscriptions and last will are untouched", async () => {
    const will = { topic: 'ce/v1/site-b/status', payload: Buffer.from(JSON.stringify({ v: 1, site: 'site-b', online: false, ts: Date.now() })), qos: 1 as const, retain: false };
    const b = await connect(cloud.mqttPort, 'site-b', pw.b, { will });
    expect((await b.subscribeAsync('ce/v1/site-b/cmd/#', { qos: 1 }))[0].qos).toBe(1);
    const toB: string[] = [];
    b.on('message', (t) => toB.push(t));
    let bClosed = false;
    b.on('close', () => { bClosed = true; });
    const status = watch(cloud, 'ce/v1/site-b/status');
    const before = await metric(cloud, /cityedge_broker_auth_total\{result="clientid_mismatch"\} (\d+)/);

    // with a clean session (would wipe B's subscriptions) and a persistent one (would take B's session over)
    for (const clean of [true, false]) {
      const attempt = connect(cloud.mqttPort, 'site-a', pw.a, { clientId: 'site-b', clean });
      await expect(attempt, `clean=${clean}`).rejects.toThrow(/Identifier rejected/i);
    }
    await sleep(300);
    expect(bClosed).toBe(false);
    expect(b.connected).toBe(true);
    expect(status.got).toEqual([]); // B's last will did not fire
    expect(await metric(cloud, /cityedge_broker_auth_total\{result="clientid_mismatch"\} (\d+)/)).toBe(before + 2);

    // B keeps publishing and still receives its own commands (its subscription survived)
    await b.publishAsync('ce/v1/site-b/telemetry', batch('site-b', 1), { qos: 1 });
    await cloud.ctx.commands.publishCommand('site-b', 'ping', command('ping'));
    await waitFor(() => toB.length >= 1, { what: "B's command" });
    expect(toB).toEqual(['ce/v1/site-b/cmd/ping']);
    status.stop();
    b.end(true);
    await closed(b);
  });

  it('refuses every client id that is not exactly the site id, and an empty one', async () => {
    for (const clientId of ['edge-site-c', 'site-c/2', 'site-cc', 'SITE-C', 't-site-c-1', '']) {
      await expect(connect(cloud.mqttPort, 'site-c', pw.c, { clientId }), JSON.stringify(clientId)).rejects.toThrow(/Identifier rejected/i);
    }
    const c = await connect(cloud.mqttPort, 'site-c', pw.c);
    expect(c.connected).toBe(true);
    c.end(true);
  });

  it("a real edge connects with its site id as client id, and site A presenting it cannot knock the edge offline", async () => {
    edge = await startEdge(edgeConfig({ site: 'site-b', password: pw.b, url: `mqtt://127.0.0.1:${cloud.mqttPort}` }));
    await waitFor(() => edge!.uplink.stats().connected, { what: 'edge connected' });
    const ids = Object.values((cloud.broker!.aedes as unknown as { clients: Record<string, { id: string; site?: string }> }).clients).filter((c) => c.site === 'site-b').map((c) => c.id);
    expect(ids).toEqual(['site-b']);
    const connects = edge.uplink.stats().connects;
    const status = watch(cloud, 'ce/v1/site-b/status');
    await expect(connect(cloud.mqttPort, 'site-a', pw.a, { clientId: ids[0] })).rejects.toThrow(/Identifier rejected/i);
    await sleep(300);
    expect(edge.uplink.stats()).toMatchObject({ connected: true, connects });
    expect(status.got.map((p) => JSON.parse(p).online)).not.toContain(false);
    // the edge still gets its commands
    const got: string[] = [];
    edge.uplink.on('command', (cmd: { name: string }) => got.push(cmd.name));
    await cloud.ctx.commands.publishCommand('site-b', 'status', command('status'));
    await waitFor(() => got.length >= 1, { what: "the edge's command" });
    expect(got).toEqual(['status']);
    status.stop();
  });
});

describe('bad input through the real broker', () => {
  let cloud: Cloud;
  let pw: string;
  beforeAll(async () => {
    cloud = await startCloud({ ingest: { maxMessageBytes: 8192 } });
    pw = await cloud.ctx.devices.add('site-x');
  });
  afterAll(async () => { await cloud?.stop(); });

  it('dead-letters each with a reason, counts it, and keeps ingesting', async () => {
    const c = await connect(cloud.mqttPort, 'site-x', pw);
    const future = JSON.stringify({ v: 1, site: 'site-x', stream: 'stream-sec1', sentAt: Date.now(), items: [{ id: newMessageId(), seq: 2, ts: Date.now() + 366 * 86_400_000, kind: 'telemetry', m: 'air', tags: {}, fields: { pm25: 1 } }] });
    const cases: Array<[string, string | Buffer, string]> = [
      ['ce/v1/site-x/telemetry', '{"v":1,', 'INGEST_BAD_JSON'],
      ['ce/v1/site-x/telemetry', JSON.stringify({ v: 1, site: 'site-x', items: 'nope' }), 'INGEST_BAD_SCHEMA'],
      ['ce/v1/site-x/telemetry', Buffer.alloc(20_000, 0x7b), 'INGEST_TOO_LARGE'],
      ['ce/v1/site-x/telemetry', future, 'INGEST_FUTURE_TIMESTAMP'],
      ['ce/v1/site-x/weather', batch('site-x', 3), 'INGEST_UNKNOWN_TOPIC'],
    ];
    for (const [topic, payload] of cases) await c.publishAsync(topic, payload, { qos: 1 });
    await c.publishAsync('ce/v1/site-x/telemetry', batch('site-x', 9), { qos: 1 });
    expect(c.connected).toBe(true);
    const { token } = cloud.ctx.tokens.create('ops', 'ops');
    const res = await fetch(`${cloud.httpUrl}/api/v1/dead-letters`, { headers: { authorization: `Bearer ${token}` } });
    const body = await res.json();
    for (const [, , code] of cases) expect(body.counts[code], code).toBe(1);
    expect(body.items.find((i: { code: string }) => i.code === 'INGEST_TOO_LARGE').reason).toMatch(/exceeds the limit of 8192/);
    const metrics = await (await fetch(`${cloud.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/cityedge_ingest_rejected_total\{code="INGEST_BAD_JSON"\} 1/);
    expect((await cloud.ctx.ingest.counts())['items.accepted']).toBe(1);
    c.end(true);
  });
});
