/**
 * A schema-valid item the series store refuses for good (InfluxDB answers 400: here a field whose
 * type differs from the earlier points of its measurement) must not clog ingest for the city: it is
 * dead-lettered with the store's own reason (INGEST_STORE_REFUSED), the items that shared its write
 * batch are written, the spool empties and /ready is ready again — on a real influxd and on the
 * embedded SQLite store alike.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import type { Cloud } from '../../cloud/cloud.ts';
import { newMessageId } from '../../protocol/ids.ts';
import { startCloud } from '../harness.ts';
import { InfluxPeer } from '../peers/influx.ts';
import { waitFor } from '../peers/ports.ts';

const T = Date.now() - 2 * 3600_000;
const LATER = 10_000;

function connect(port: number, site: string): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { username: site, password: `${site}-password-1`, clientId: site, reconnectPeriod: 0 });
    c.once('connect', () => resolve(c));
    c.once('error', (err) => { c.end(true); reject(err); });
  });
}
const reading = (seq: number, pm25: number | string, station: string, ts: number) => ({ id: newMessageId(), seq, ts, kind: 'telemetry', m: 'air', tags: { station }, fields: { pm25 } });
const payload = (site: string, items: unknown[]) => JSON.stringify({ v: 1, site, stream: `stream-${site}`, sentAt: Date.now(), items });

async function scenario(cloud: Cloud): Promise<void> {
  const sites = ['site-a', 'site-b', 'site-c', 'site-d', 'site-e'];
  for (const s of sites) await cloud.ctx.devices.add(s, `${s}-password-1`);
  const clients = await Promise.all(sites.map((s) => connect(cloud.mqttPort, s)));
  try {
    const [a, ...others] = clients;
    // "air"."pm25" is a float
    await a.publishAsync('ce/v1/site-a/telemetry', payload('site-a', [reading(1, 10, 's1', T)]), { qos: 1 });
    await waitFor(() => cloud.ctx.ingest.spoolDepth() === 0, { what: 'first reading written' });
    // the site's firmware now sends a string there: schema-valid, refused by the store
    const bad = reading(3, 'n/a', 's1', T + 2);
    await a.publishAsync('ce/v1/site-a/telemetry', payload('site-a', [reading(2, 11, 's1', T + 1), bad, reading(4, 12, 's1', T + 3)]), { qos: 1 });
    // 10,000 later readings from four other sites, 100 per message
    await Promise.all(others.map(async (c, k) => {
      const site = sites[k + 1];
      for (let m = 0; m < LATER / others.length / 100; m++) {
        const items = Array.from({ length: 100 }, (_, i) => reading(m * 100 + i + 1, m * 100 + i, `st-${i % 10}`, T + 10 + m * 100 + i));
        await c.publishAsync(`ce/v1/${site}/telemetry`, payload(site, items), { qos: 1 });
      }
    }));
    await waitFor(() => cloud.ctx.ingest.spoolDepth() === 0, { timeoutMs: 60_000, what: 'the spool to empty' });
    const dls = cloud.ctx.ingest.deadLetters.list({ code: 'INGEST_STORE_REFUSED' });
    expect(dls).toHaveLength(1);
    expect(dls[0]).toMatchObject({ topic: 'ce/v1/site-a/telemetry', site: 'site-a' });
    expect(dls[0].reason).toMatch(/field type conflict: input field "pm25" on measurement "air" is type string, already exists as type float/);
    expect(JSON.parse(dls[0].payload!)).toEqual(bad);
    const counted = await cloud.ctx.store.query({ measurement: 'air', fields: ['pm25'], from: T, to: T + 86_400_000, windowMs: 86_400_000, agg: 'count' });
    expect(counted.series[0].values[0][1]).toBe(3 + LATER);
    await waitFor(async () => (await fetch(`${cloud.httpUrl}/ready`)).status === 200, { what: '/ready ready again' });
    const ready = await (await fetch(`${cloud.httpUrl}/ready`)).json();
    expect(ready).toMatchObject({ ready: true, spool: 0 });
    const metrics = await (await fetch(`${cloud.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/cityedge_ingest_rejected_total\{code="INGEST_STORE_REFUSED"\} 1/);
  } finally {
    for (const c of clients) await c.endAsync();
  }
}

describe('an item the series store refuses for good', () => {
  const influx = new InfluxPeer();
  const clouds: Cloud[] = [];
  afterAll(async () => {
    for (const c of clouds) await c.stop();
    await influx.stop();
  });

  it('InfluxDB: dead-lettered with InfluxDB\'s reason while 10,000 later readings from other sites are written; the spool empties, /ready is ready', async () => {
    await influx.start();
    const cloud = await startCloud({ influx: { url: influx.url, database: 'refusal' }, ingest: { writeBatch: 500, lingerMs: 5 } });
    clouds.push(cloud);
    await scenario(cloud);
  });

  it('embedded SQLite store: the same item gets the same dead-letter code and reason', async () => {
    const cloud = await startCloud({ ingest: { writeBatch: 500, lingerMs: 5 } });
    clouds.push(cloud);
    await scenario(cloud);
  });
});
