/**
 * Which InfluxDB write failures are permanent (StoreRefusedError: ingest dead-letters the refused
 * points) and which are transient (retried): against a real influxd 1.x for what it really answers,
 * and a stub HTTP server for the answers influxd gives only when it is unwell (5xx).
 */
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import { newMessageId } from '../../protocol/ids.ts';
import { tempDir } from '../../test/peers/ports.ts';
import { openCloudDb } from '../db.ts';
import { Ingest } from '../ingest/ingest.ts';
import { seriesSink } from '../ingest/sinks.ts';
import { InfluxPeer } from '../../test/peers/influx.ts';
import { freePort } from '../../test/peers/ports.ts';
import { InfluxStore } from './influx-store.ts';
import type { Point } from './types.ts';

const T0 = Date.UTC(2024, 2, 1);
const pt = (fields: Point['fields'], k = 0, tags: Record<string, string> = { station: 's1' }): Point => ({ measurement: 'air', tags: { site: 'x', ...tags }, fields, time: T0 + k });
const failure = (p: Promise<unknown>) => p.then(() => { throw new Error('the write succeeded'); }, (e: unknown) => e as Error & { permanent?: boolean; code?: string; refused?: unknown[]; suspects?: number[] });

describe('InfluxStore write failures: permanent or transient', () => {
  const influx = new InfluxPeer();
  let stub: http.Server;
  let stubPort = 0;
  let answer: { status: number; body: string } = { status: 500, body: '' };
  beforeAll(async () => {
    await influx.start();
    stub = http.createServer((req, res) => { req.resume(); req.on('end', () => { res.writeHead(answer.status, { 'content-type': 'application/json' }); res.end(answer.body); }); });
    await new Promise<void>((r) => stub.listen(0, '127.0.0.1', () => r()));
    stubPort = (stub.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((r) => stub.close(() => r()));
    await influx.stop();
  });

  it('400 from influxd for points it refuses: permanent, the points named in its words', async () => {
    const store = new InfluxStore(influx.url, 'errors');
    await store.init();
    await store.write([pt({ pm25: 1 })]);
    // a type conflict in a mixed batch: influxd writes the others and names one reason and a count
    const mixed = await failure(store.write([pt({ pm25: 2 }, 1), pt({ pm25: 'x' }, 2, { station: 's2' }), pt({ pm25: 3 }, 3)]));
    expect(mixed).toMatchObject({ code: 'STORE_REFUSED', permanent: true, refused: [], suspects: [1] });
    expect(mixed.message).toMatch(/InfluxDB refused the write \(400\): partial write: field type conflict: input field "pm25" on measurement "air" is type string, already exists as type float dropped=1/);
    const r = await store.query({ measurement: 'air', fields: ['pm25'], from: T0, to: T0 + 10, groupBy: ['station'] });
    expect(r.series.map((s) => s.values)).toEqual([[[T0, 1], [T0 + 1, 2], [T0 + 3, 3]]]);
    // lines it cannot parse are quoted in its answer: exact
    const parse = await failure(store.write([pt({ pm25: 4 }, 4, { station: 'a\\' }), pt({ pm25: 5 }, 5)]));
    expect(parse).toMatchObject({ permanent: true, refused: [{ index: 0, reason: expect.stringMatching(/^unable to parse 'air,site=x,station=a\\ pm25=4 \d+': invalid tag format$/) }] });
  });

  it('404 (database not found), a 400 that is not about points, 5xx and connection refused: transient', async () => {
    const noDb = await failure(new InfluxStore(influx.url, 'never_created').write([pt({ pm25: 1 })]));
    expect(noDb.message).toMatch(/404/);
    expect(noDb.permanent).toBeUndefined();
    for (const a of [{ status: 400, body: '{"error":"database name required"}' }, { status: 401, body: '{"error":"authorization failed"}' }, { status: 500, body: '{"error":"timeout"}' }, { status: 503, body: '' }]) {
      answer = a;
      const err = await failure(new InfluxStore(`http://127.0.0.1:${stubPort}`, 'x').write([pt({ pm25: 1 })]));
      expect(err.permanent, `${a.status} ${a.body}`).toBeUndefined();
    }
    // 413: the batch is too large for influxd's max-body-size: permanent for this batch, named nothing (split it)
    answer = { status: 413, body: '{"error":"Request Entity Too Large"}' };
    expect(await failure(new InfluxStore(`http://127.0.0.1:${stubPort}`, 'x').write([pt({ pm25: 1 })]))).toMatchObject({ permanent: true, refused: [] });
    const closed = await failure(new InfluxStore(`http://127.0.0.1:${await freePort()}`, 'x').write([pt({ pm25: 1 })]));
    expect(closed.permanent).toBeUndefined();
    expect(closed.message + String((closed as { code?: string }).code)).toMatch(/ECONNREFUSED|No host available/);
  });

  it('through ingest, one refused point in a write batch of 2,000 costs 3 writes (type conflict) or 2 (a line influxd cannot parse)', async () => {
    const store = new InfluxStore(influx.url, 'isolate');
    await store.init();
    const db = openCloudDb(path.join(tempDir('ingest-'), 'cloud.db'));
    const ingest = new Ingest(db, { maxMessageBytes: 4 << 20, maxFutureMs: 300_000, writeBatch: 2000, lingerMs: 0 }, createLogger({ name: 'test', level: 'silent' }), new Registry());
    const sink = seriesSink(store);
    let writes = 0;
    ingest.addSink({ ...sink, write: async (items) => { writes++; await sink.write(items); } });
    const T = Date.now() - 3600_000;
    const msg = (seq0: number, bad: Record<string, unknown>) => Buffer.from(JSON.stringify({ v: 1, site: 'site-a', stream: 'stream-0001', sentAt: Date.now(), items: Array.from({ length: 2000 }, (_, i) => ({
      id: newMessageId(), seq: seq0 + i, ts: T + seq0 + i, kind: 'telemetry', m: 'air', tags: { station: `s${i % 7}` }, fields: { pm25: i }, ...(i === 1234 ? bad : {}),
    })) }));
    ingest.accept('ce/v1/site-a/telemetry', msg(1, {}));
    await ingest.flush();
    for (const [k, bad, cost, reason] of [[1, { fields: { pm25: 'n/a' } }, 3, /field type conflict/], [2, { tags: { station: 'x\\' } }, 2, /unable to parse '.*': invalid tag format/]] as const) {
      writes = 0;
      ingest.accept('ce/v1/site-a/telemetry', msg(1 + k * 2000, bad));
      await ingest.flush();
      expect(writes).toBe(cost);
      expect(ingest.spoolDepth()).toBe(0);
      expect(ingest.deadLetters.list({ code: 'INGEST_STORE_REFUSED' })[0].reason).toMatch(reason);
    }
    expect(ingest.deadLetters.list({ code: 'INGEST_STORE_REFUSED' })).toHaveLength(2);
    const n = await store.query({ measurement: 'air', fields: ['pm25'], from: T, to: T + 7000, windowMs: 86_400_000, agg: 'count' });
    expect(n.series[0].values.reduce((a, v) => a + Number(v[1]), 0)).toBe(6000 - 2);
  });
});
