import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cloud } from '../../cloud/cloud.ts';
import { newMessageId } from '../../protocol/ids.ts';
import { startCloud } from '../harness.ts';
import { waitFor } from '../peers/ports.ts';

function connect(port: number, username: string, password: string): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { username, password, reconnectPeriod: 0, clientId: `t-${username}-${Math.random()}` });
    c.once('connect', () => resolve(c));
    c.once('error', (err) => { c.end(true); reject(err); });
  });
}
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
