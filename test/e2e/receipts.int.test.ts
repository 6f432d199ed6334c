/**
 * End-to-end receipts, the cloud side: what a site publishes comes back to it as a receipt on its
 * own command topic (ce/v1/<site>/cmd/_receipt) once it is safely spooled — admitted, a known
 * duplicate, or dead-lettered — coalesced per stream, never to another site.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cloud } from '../../cloud/cloud.ts';
import { newMessageId } from '../../protocol/ids.ts';
import { checkers, type Receipt } from '../../protocol/schemas.ts';
import { startCloud } from '../harness.ts';
import { waitFor } from '../peers/ports.ts';

function connect(port: number, site: string, password: string): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { username: site, password, clientId: site, reconnectPeriod: 0 });
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}
const item = (seq: number, extra: Record<string, unknown> = {}) => ({ id: newMessageId(), seq, ts: Date.now(), kind: 'telemetry', m: 'air', tags: { station: '朝阳区奥体中心' }, fields: { pm25: seq }, ...extra });
const batch = (site: string, stream: string, items: unknown[]) => JSON.stringify({ v: 1, site, stream, sentAt: Date.now(), items });
const covered = (rs: Receipt[], stream: string) => rs.filter((r) => r.stream === stream).flatMap((r) => r.ranges.flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, i) => a + i))).sort((x, y) => x - y);

describe('receipts from the cloud (embedded broker)', () => {
  let cloud: Cloud;
  const clients: MqttClient[] = [];
  const got: Record<string, Receipt[]> = { 'site-a': [], 'site-b': [] };
  beforeAll(async () => {
    cloud = await startCloud();
    for (const site of ['site-a', 'site-b']) {
      const c = await connect(cloud.mqttPort, site, await cloud.ctx.devices.add(site));
      clients.push(c);
      await c.subscribeAsync(`ce/v1/${site}/cmd/#`, { qos: 1 });
      c.on('message', (topic, payload) => { if (topic.endsWith('/cmd/_receipt')) got[site].push(JSON.parse(payload.toString())); });
    }
  });
  afterAll(async () => { for (const c of clients) c.end(true); await cloud?.stop(); });

  it('receipts admitted, duplicate and dead-lettered items of a message, coalesced, to the publishing site only', async () => {
    const [a] = clients;
    await a.publishAsync('ce/v1/site-a/telemetry', batch('site-a', 'stream-rcpt01', [item(1), item(2), item(3)]), { qos: 1 });
    await a.publishAsync('ce/v1/site-a/telemetry', batch('site-a', 'stream-rcpt01', [item(3), item(4)]), { qos: 1 }); // 3 again: a duplicate
    await a.publishAsync('ce/v1/site-a/telemetry', batch('site-a', 'stream-rcpt01', [item(5, { ts: Date.now() + 24 * 3600_000 })]), { qos: 1 }); // dead-lettered
    await waitFor(() => covered(got['site-a'], 'stream-rcpt01').length >= 5, { what: 'receipts for seqs 1–5' });
    expect(new Set(covered(got['site-a'], 'stream-rcpt01'))).toEqual(new Set([1, 2, 3, 4, 5]));
    for (const r of got['site-a']) expect(checkers.receipt.Check(r)).toBe(true);
    expect(got['site-b']).toEqual([]);
    expect(cloud.ctx.ingest.deadLetters.countsByCode()).toMatchObject({ INGEST_FUTURE_TIMESTAMP: 1 });
  });

  it('coalesces many messages into few receipts (one range for a contiguous run)', async () => {
    const b = clients[1];
    const before = got['site-b'].length;
    await Promise.all(Array.from({ length: 40 }, (_, i) => b.publishAsync('ce/v1/site-b/telemetry', batch('site-b', 'stream-rcpt02', [item(2 * i + 1), item(2 * i + 2)]), { qos: 1 })));
    await waitFor(() => covered(got['site-b'], 'stream-rcpt02').length >= 80, { what: '80 seqs receipted' });
    const receipts = got['site-b'].slice(before);
    expect(new Set(covered(receipts, 'stream-rcpt02'))).toEqual(new Set(Array.from({ length: 80 }, (_, i) => i + 1)));
    expect(receipts.length).toBeLessThan(40);
  });
});
