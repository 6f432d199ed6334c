import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cloud } from '../../cloud/cloud.ts';
import { projectPath } from '../../lib/data-dir.ts';
import { newMessageId } from '../../protocol/ids.ts';
import { startCloud } from '../harness.ts';
import { MosquittoPeer } from '../peers/mosquitto.ts';
import { tempDir, waitFor } from '../peers/ports.ts';

const connect = (url: string, username: string, password: string, extra: IClientOptions = {}) => new Promise<MqttClient>((resolve, reject) => {
  const c = mqtt.connect(url, { username, password, reconnectPeriod: 0, clientId: `t-${username}-${Math.random()}`, ...extra });
  c.once('connect', () => resolve(c));
  c.once('error', (err) => { c.end(true); reject(err); });
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/**
 * The shipped docker/mosquitto/mosquitto.conf minus what the test peer sets itself (listener,
 * files, persistence, queue sizes, logging): its security lines, e.g. use_username_as_clientid.
 */
function shippedConfLines(): string[] {
  const own = /^(listener|password_file|acl_file|persistence|persistence_location|max_queued_messages|max_inflight_messages|log_type|log_dest|allow_anonymous)\b/;
  return fs.readFileSync(projectPath('docker', 'mosquitto', 'mosquitto.conf'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#') && !own.test(l));
}
type IngestClient = { client: MqttClient };
/** Counts the (re)connects and drops of a cloud's ingest connection to the external broker. */
function watchIngest(cloud: Cloud): { connects: number; closes: number } {
  const n = { connects: 0, closes: 0 };
  const client = (cloud.external as unknown as IngestClient).client;
  client.on('connect', () => n.connects++);
  client.on('close', () => n.closes++);
  return n;
}
const batch = (site: string, seq: number) => JSON.stringify({ v: 1, site, stream: 'stream-acl1', sentAt: Date.now(), items: [{ id: newMessageId(), seq, ts: Date.now(), kind: 'telemetry', m: 'air', tags: {}, fields: { pm25: seq } }] });

describe('mosquitto with the shipped password file and ACL (docker/mosquitto/acl)', () => {
  let mosq: MosquittoPeer;
  let cloud: Cloud;
  const pw = { a: 'site-a-password-123', b: 'site-b-password-123', ingest: 'ingest-password-123', ingest1: 'ingest-1-password-123', ingest2: 'ingest-2-password-123' };
  const cloudDir = tempDir('cloud-');
  const ingestConfig = { mode: 'external', username: 'cityedge-ingest', password: pw.ingest, clientId: 'cityedge-ingest-acl' };
  const cleanup: Array<() => unknown> = [];
  beforeAll(async () => {
    mosq = new MosquittoPeer();
    const passwd = path.join(mosq.dir, 'passwd');
    execFileSync('mosquitto_passwd', ['-c', '-b', passwd, 'site-a', pw.a]);
    execFileSync('mosquitto_passwd', ['-b', passwd, 'site-b', pw.b]);
    execFileSync('mosquitto_passwd', ['-b', passwd, 'cityedge-ingest', pw.ingest]);
    execFileSync('mosquitto_passwd', ['-b', passwd, 'cityedge-ingest-1', pw.ingest1]);
    execFileSync('mosquitto_passwd', ['-b', passwd, 'cityedge-ingest-2', pw.ingest2]);
    execFileSync('chmod', ['0644', passwd]);
    mosq.extraConfig.push('allow_anonymous false', `password_file ${passwd}`, `acl_file ${projectPath('docker', 'mosquitto', 'acl')}`, ...shippedConfLines());
    await mosq.start();
    cloud = await startCloud({ broker: { ...ingestConfig, url: mosq.url } }, cloudDir);
  });
  afterAll(async () => { for (const f of cleanup.splice(0).reverse()) await f(); await cloud?.stop(); await mosq?.stop(); });

  it('refuses a wrong password, keeps sites to their own prefixes, and still delivers what is allowed', async () => {
    await expect(connect(mosq.url, 'site-a', 'wrong-password-000')).rejects.toThrow(/Not authorized|Bad username or password/i);
    const a = await connect(mosq.url, 'site-a', pw.a);
    await a.publishAsync('ce/v1/site-b/telemetry', batch('site-b', 1), { qos: 1 }); // mosquitto acks and drops it
    await a.publishAsync('ce/v1/site-a/telemetry', batch('site-a', 1), { qos: 1 });
    await waitFor(async () => (await cloud.ctx.ingest.counts())['items.accepted'] === 1, { what: "site-a's reading" });
    await new Promise((r) => setTimeout(r, 300));
    const counts = await cloud.ctx.ingest.counts();
    expect(counts['items.accepted']).toBe(1);
    expect(cloud.ctx.ingest.deadLetters.countsByCode()).toEqual({});
    // commands: own yes, another site's no
    const own = await a.subscribeAsync('ce/v1/site-a/cmd/#', { qos: 1 });
    expect(own[0].qos).toBe(1);
    const got: string[] = [];
    a.on('message', (t) => { if (!t.endsWith('/cmd/_receipt')) got.push(t); }); // receipts for A's reading are not the point here
    await a.subscribeAsync('ce/v1/site-b/cmd/#', { qos: 1 }).catch(() => undefined);
    await cloud.ctx.commands.publishCommand('site-b', 'ping', { v: 1 });
    await cloud.ctx.commands.publishCommand('site-a', 'ping', { v: 1 });
    await waitFor(() => got.length >= 1, { what: 'own command' });
    await new Promise((r) => setTimeout(r, 200));
    expect(got).toEqual(['ce/v1/site-a/cmd/ping']);
    a.end(true);
  });

  it('the ingest user may publish alert notifications on ce/v1/_cloud/alerts (what the alerts feature sends through it); a site may not', async () => {
    const watcher = await connect(mosq.url, 'cityedge-ingest-1', pw.ingest1);
    cleanup.push(() => watcher.end(true));
    const got: Array<{ topic: string; from: string }> = [];
    watcher.on('message', (topic, payload) => got.push({ topic, from: JSON.parse(payload.toString()).from }));
    await watcher.subscribeAsync('ce/v1/_cloud/alerts', { qos: 1 });
    // another ingest node's user (the cloud above holds cityedge-ingest: one connection per username)
    const ingest = await connect(mosq.url, 'cityedge-ingest-2', pw.ingest2);
    await ingest.publishAsync('ce/v1/_cloud/alerts', JSON.stringify({ from: 'ingest' }), { qos: 1 });
    const a = await connect(mosq.url, 'site-a', pw.a);
    await a.publishAsync('ce/v1/_cloud/alerts', JSON.stringify({ from: 'site-a' }), { qos: 1 }); // acked and dropped
    await waitFor(() => got.length >= 1, { what: 'the notification' });
    await sleep(300);
    expect(got).toEqual([{ topic: 'ce/v1/_cloud/alerts', from: 'ingest' }]);
    ingest.end(true);
    a.end(true);
  });

  it("site A presenting site B's client id cannot disconnect B: B stays connected, its will does not fire, it keeps publishing and receiving its commands", async () => {
    const statuses: Array<{ site: string; online: boolean }> = [];
    cloud.ctx.ingest.on('status', (st: { site: string; online: boolean }) => statuses.push(st));
    const will = { topic: 'ce/v1/site-b/status', payload: Buffer.from(JSON.stringify({ v: 1, site: 'site-b', online: false, ts: Date.now() })), qos: 1 as const, retain: true };
    const b = await connect(mosq.url, 'site-b', pw.b, { clientId: 'site-b', will });
    cleanup.push(() => b.end(true));
    let bClosed = 0;
    b.on('close', () => bClosed++);
    expect((await b.subscribeAsync('ce/v1/site-b/cmd/#', { qos: 1 }))[0].qos).toBe(1);
    const toB: string[] = [];
    // B's own telemetry below is confirmed on ce/v1/site-b/cmd/_receipt (receipts batch on a timer, so
    // it may land before or after the ping); this test is about the command, so receipts are kept apart
    const receiptsToB: string[] = [];
    b.on('message', (t) => (t.endsWith('/cmd/_receipt') ? receiptsToB : toB).push(t));

    // mosquitto accepts A (its credentials are right) but under A's own client id
    for (const clean of [true, false]) {
      const a = await connect(mosq.url, 'site-a', pw.a, { clientId: 'site-b', clean });
      await a.publishAsync('ce/v1/site-a/telemetry', batch('site-a', clean ? 20 : 21), { qos: 1 });
      a.end(true);
    }
    await sleep(500);
    expect(bClosed).toBe(0);
    expect(b.connected).toBe(true);
    expect(statuses.filter((st) => st.site === 'site-b')).toEqual([]); // B's last will never fired

    const before = (await cloud.ctx.ingest.counts())['items.accepted'];
    await b.publishAsync('ce/v1/site-b/telemetry', batch('site-b', 30), { qos: 1 });
    await waitFor(async () => (await cloud.ctx.ingest.counts())['items.accepted'] === before + 1, { what: "B's reading after the attempt" });
    await cloud.ctx.commands.publishCommand('site-b', 'ping', { v: 1, id: crypto.randomUUID(), name: 'ping', args: {}, issuedAt: Date.now(), expiresAt: Date.now() + 60_000 });
    await waitFor(() => toB.length >= 1, { what: "B's command" });
    expect(toB).toEqual(['ce/v1/site-b/cmd/ping']);
    await waitFor(() => receiptsToB.length >= 1, { what: "the receipt for B's reading" });
    expect(bClosed).toBe(0);
  });

  it('several ingest nodes, each with its own username, share the load without knocking each other off', async () => {
    // Both leave broker.clientId at its default: on mosquitto the client id is the username.
    const nodes: Cloud[] = [];
    for (const [username, password] of [['cityedge-ingest-1', pw.ingest1], ['cityedge-ingest-2', pw.ingest2]]) {
      const node = await startCloud({ broker: { mode: 'external', url: mosq.url, username, password, shareGroup: 'ingest' } });
      cleanup.push(() => node.stop());
      nodes.push(node);
    }
    const conns = nodes.map(watchIngest);
    const a = await connect(mosq.url, 'site-a', pw.a, { clientId: 'site-a' });
    cleanup.push(() => a.end(true));
    for (let seq = 100; seq < 120; seq++) await a.publishAsync('ce/v1/site-a/telemetry', batch('site-a', seq), { qos: 1 });
    const accepted = async () => (await Promise.all(nodes.map(async (n) => (await n.ctx.ingest.counts())['items.accepted'] ?? 0)));
    await waitFor(async () => (await accepted()).reduce((x, y) => x + y, 0) === 20, { what: '20 readings across the two nodes' });
    await sleep(1500); // longer than the ingest client's reconnect period: a kicked node would have reconnected by now
    expect(conns).toEqual([{ connects: 0, closes: 0 }, { connects: 0, closes: 0 }]);
    for (const n of await accepted()) expect(n).toBeGreaterThan(0); // the shared subscription split the messages
  });

  it("the ingest subscriber's persistent session survives a cloud restart: what arrived meanwhile is delivered", async () => {
    await cloud.stop();
    const a = await connect(mosq.url, 'site-a', pw.a, { clientId: 'site-a' });
    for (let seq = 200; seq < 205; seq++) await a.publishAsync('ce/v1/site-a/telemetry', batch('site-a', seq), { qos: 1 });
    a.end(true);
    cloud = await startCloud({ broker: { ...ingestConfig, url: mosq.url } }, cloudDir);
    // (the counters are per process: the restarted cloud starts from 0)
    await waitFor(async () => (await cloud.ctx.ingest.counts())['items.accepted'] === 5, { what: 'the 5 readings queued in the persistent session' });
  });
});
