import { execFileSync } from 'node:child_process';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cloud } from '../../cloud/cloud.ts';
import { projectPath } from '../../lib/data-dir.ts';
import { newMessageId } from '../../protocol/ids.ts';
import { startCloud } from '../harness.ts';
import { MosquittoPeer } from '../peers/mosquitto.ts';
import { waitFor } from '../peers/ports.ts';

const connect = (url: string, username: string, password: string) => new Promise<MqttClient>((resolve, reject) => {
  const c = mqtt.connect(url, { username, password, reconnectPeriod: 0, clientId: `t-${username}-${Math.random()}` });
  c.once('connect', () => resolve(c));
  c.once('error', (err) => { c.end(true); reject(err); });
});
const batch = (site: string, seq: number) => JSON.stringify({ v: 1, site, stream: 'stream-acl1', sentAt: Date.now(), items: [{ id: newMessageId(), seq, ts: Date.now(), kind: 'telemetry', m: 'air', tags: {}, fields: { pm25: seq } }] });

describe('mosquitto with the shipped password file and ACL (docker/mosquitto/acl)', () => {
  let mosq: MosquittoPeer;
  let cloud: Cloud;
  const pw = { a: 'site-a-password-123', b: 'site-b-password-123', ingest: 'ingest-password-123' };
  beforeAll(async () => {
    mosq = new MosquittoPeer();
    const passwd = path.join(mosq.dir, 'passwd');
    execFileSync('mosquitto_passwd', ['-c', '-b', passwd, 'site-a', pw.a]);
    execFileSync('mosquitto_passwd', ['-b', passwd, 'site-b', pw.b]);
    execFileSync('mosquitto_passwd', ['-b', passwd, 'cityedge-ingest', pw.ingest]);
    execFileSync('chmod', ['0644', passwd]);
    mosq.extraConfig.push('allow_anonymous false', `password_file ${passwd}`, `acl_file ${projectPath('docker', 'mosquitto', 'acl')}`);
    await mosq.start();
    cloud = await startCloud({ broker: { mode: 'external', url: mosq.url, username: 'cityedge-ingest', password: pw.ingest, clientId: 'cityedge-ingest-acl' } });
  });
  afterAll(async () => { await cloud?.stop(); await mosq?.stop(); });

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
    a.on('message', (t) => got.push(t));
    await a.subscribeAsync('ce/v1/site-b/cmd/#', { qos: 1 }).catch(() => undefined);
    await cloud.ctx.commands.publishCommand('site-b', 'ping', { v: 1 });
    await cloud.ctx.commands.publishCommand('site-a', 'ping', { v: 1 });
    await waitFor(() => got.length >= 1, { what: 'own command' });
    await new Promise((r) => setTimeout(r, 200));
    expect(got).toEqual(['ce/v1/site-a/cmd/ping']);
    a.end(true);
  });
});
