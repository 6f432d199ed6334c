import path from 'node:path';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import { newMessageId } from '../../protocol/ids.ts';
import { tempDir } from '../../test/peers/ports.ts';
import { openCloudDb } from '../db.ts';
import { SqliteStore } from '../store/sqlite-store.ts';
import { Ingest } from './ingest.ts';
import { eventsSink, seriesSink } from './sinks.ts';

function makeIngest(maxMessageBytes = 64 * 1024) {
  const db = openCloudDb(path.join(tempDir('ingest-'), 'cloud.db'));
  const ingest = new Ingest(db, { maxMessageBytes, maxFutureMs: 300_000, writeBatch: 1000, lingerMs: 0 }, createLogger('test'), new Registry());
  return { db, ingest };
}
const item = (seq: number, over: Record<string, unknown> = {}) => ({ id: newMessageId(), seq, ts: Date.now() - 1000, kind: 'telemetry', m: 'air', tags: { station: 's1' }, fields: { pm25: seq }, ...over });
const batch = (items: unknown[], site = 'site-a') => Buffer.from(JSON.stringify({ v: 1, site, stream: 'stream-0001', sentAt: Date.now(), items }));

describe('Ingest.accept', () => {
  it('spools valid items once; a redelivery is a duplicate', () => {
    const { ingest } = makeIngest();
    const msg = batch([item(1), item(2)]);
    expect(ingest.accept('ce/v1/site-a/telemetry', msg)).toMatchObject({ ok: true, accepted: 2, duplicates: 0 });
    expect(ingest.accept('ce/v1/site-a/telemetry', msg)).toMatchObject({ ok: true, accepted: 0, duplicates: 2 });
    expect(ingest.spoolDepth()).toBe(2);
  });

  it('dead-letters each kind of bad input with a coded reason, counts it, and keeps going', async () => {
    const { ingest } = makeIngest(4096);
    const cases: Array<[string, Buffer, string]> = [
      ['ce/v1/site-a/telemetry', Buffer.from('{not json'), 'INGEST_BAD_JSON'],
      ['ce/v1/site-a/telemetry', Buffer.from(JSON.stringify({ v: 1, site: 'site-a', items: [] })), 'INGEST_BAD_SCHEMA'],
      ['ce/v1/site-a/telemetry', Buffer.alloc(5000, 0x20), 'INGEST_TOO_LARGE'],
      ['ce/v1/site-a/telemetry', batch([item(5, { ts: Date.now() + 365 * 86_400_000 })]), 'INGEST_FUTURE_TIMESTAMP'],
      ['ce/v1/site-a/bogus', batch([item(6)]), 'INGEST_UNKNOWN_TOPIC'],
      ['ce/v1/site-a/telemetry', batch([item(7, { fields: {} })]), 'INGEST_PROTO_ITEM_SCHEMA'],
      ['ce/v1/site-a/alerts', batch([item(8)]), 'INGEST_PROTO_WRONG_CHANNEL'],
      ['ce/v1/site-a/telemetry', batch([item(9)], 'site-b'), 'INGEST_SITE_MISMATCH'],
    ];
    for (const [topic, payload] of cases) expect(() => ingest.accept(topic, payload)).not.toThrow();
    const counts = ingest.deadLetters.countsByCode();
    for (const [, , code] of cases) expect(counts[code], code).toBe(1);
    const dl = ingest.deadLetters.list({ code: 'INGEST_FUTURE_TIMESTAMP' })[0];
    expect(dl.reason).toMatch(/device clock/);
    expect(dl.site).toBe('site-a');
    const metrics = await ingest.counts();
    expect(metrics['rejected.INGEST_BAD_JSON']).toBe(1);
    // still admits good data afterwards, and one bad item does not sink its batch
    expect(ingest.accept('ce/v1/site-a/telemetry', batch([item(10), item(11, { fields: {} }), item(12)]))).toMatchObject({ ok: true, accepted: 2, rejected: 1 });
  });

  it('never throws and always answers for arbitrary topics and payloads (fuzz)', () => {
    const { ingest } = makeIngest();
    const topicArb = fc.oneof(fc.string(), fc.constantFrom('ce/v1/site-a/telemetry', 'ce/v1/site-a/events', 'ce/v1/site-a/status', 'ce/v1/x/cmd/y'));
    const payloadArb = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
      fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
      fc.record({ v: fc.constant(1), site: fc.constant('site-a'), stream: fc.constant('stream-0001'), sentAt: fc.integer(), items: fc.array(fc.jsonValue(), { maxLength: 3 }) }).map((v) => Buffer.from(JSON.stringify(v))),
    );
    fc.assert(fc.property(topicArb, payloadArb, (topic, payload) => {
      const r = ingest.accept(topic, payload);
      expect(typeof r.ok).toBe('boolean');
      if (!r.ok) expect(r.code).toMatch(/^INGEST_/);
    }), { numRuns: 400 });
  });

  it('drains the spool to sinks and keeps items while a sink fails', async () => {
    const { ingest } = makeIngest();
    let fail = true;
    const got: number[] = [];
    ingest.addSink({ name: 'flaky', kinds: ['telemetry'], write: async (items) => { if (fail) throw new Error('down'); got.push(...items.map((i) => i.item.seq)); } });
    ingest.start();
    ingest.accept('ce/v1/site-a/telemetry', batch([item(1), item(2), item(3)]));
    await new Promise((r) => setTimeout(r, 150));
    expect(ingest.spoolDepth()).toBe(3);
    expect(ingest.healthy).toBe(false);
    fail = false;
    await new Promise<void>((resolve) => ingest.once('drained', resolve));
    expect(got.sort()).toEqual([1, 2, 3]);
    expect(ingest.spoolDepth()).toBe(0);
    await ingest.stop();
  });
});

describe('Ingest drain order', () => {
  const alert = (seq: number, state: 'raise' | 'clear') => ({ id: newMessageId(), seq, ts: Date.now() - 1000, kind: 'alert', rule: 'pm25-1h', source: 's1/PM2.5', state, severity: 'critical', message: state, data: {} });

  it('each sink gets the batches in spool order, even when an earlier batch is slower in another sink', async () => {
    const db = openCloudDb(path.join(tempDir('ingest-'), 'cloud.db'));
    // two spool rows per batch: batch 1 = telemetry + raise, batch 2 = telemetry + clear
    const ingest = new Ingest(db, { maxMessageBytes: 65536, maxFutureMs: 300_000, writeBatch: 2, lingerMs: 0 }, createLogger({ name: 'test', level: 'silent' }), new Registry());
    let calls = 0;
    // like InfluxDB under load: the first write takes longer than the second
    ingest.addSink({ name: 'series', kinds: ['telemetry'], write: async () => { const n = calls++; await new Promise((r) => setTimeout(r, n === 0 ? 150 : 0)); } });
    const seen: string[] = [];
    ingest.addSink({ name: 'alerts', kinds: ['alert'], write: async (items) => { for (const i of items) seen.push((i.item as { state: string }).state); } });
    const tel = (seq: number) => Buffer.from(JSON.stringify({ v: 1, site: 'site-a', stream: 'stream-0001', sentAt: Date.now(), items: [item(seq)] }));
    const alr = (seq: number, state: 'raise' | 'clear') => Buffer.from(JSON.stringify({ v: 1, site: 'site-a', stream: 'stream-0002', sentAt: Date.now(), items: [alert(seq, state)] }));
    ingest.accept('ce/v1/site-a/telemetry', tel(1));
    ingest.accept('ce/v1/site-a/alerts', alr(1, 'raise'));
    ingest.accept('ce/v1/site-a/telemetry', tel(2));
    ingest.accept('ce/v1/site-a/alerts', alr(2, 'clear'));
    await ingest.flush();
    expect(calls).toBe(2);
    expect(seen).toEqual(['raise', 'clear']);
    expect(ingest.spoolDepth()).toBe(0);
  });

  it('a sink whose write of a batch failed does not get the next batch before that one is retried', async () => {
    const db = openCloudDb(path.join(tempDir('ingest-'), 'cloud.db'));
    const ingest = new Ingest(db, { maxMessageBytes: 65536, maxFutureMs: 300_000, writeBatch: 1, lingerMs: 0 }, createLogger({ name: 'test', level: 'silent' }), new Registry());
    const seen: string[] = [];
    let fail = true;
    ingest.addSink({ name: 'alerts', kinds: ['alert'], write: async (items) => {
      const states = items.map((i) => (i.item as { state: string }).state);
      await new Promise((r) => setTimeout(r, 10));
      if (fail && states.includes('raise')) { fail = false; throw new Error('busy'); }
      seen.push(...states);
    } });
    const alr = (seq: number, state: 'raise' | 'clear') => Buffer.from(JSON.stringify({ v: 1, site: 'site-a', stream: 'stream-0002', sentAt: Date.now(), items: [alert(seq, state)] }));
    ingest.accept('ce/v1/site-a/alerts', alr(1, 'raise'));
    ingest.accept('ce/v1/site-a/alerts', alr(2, 'clear'));
    ingest.start();
    await new Promise<void>((resolve) => ingest.once('drained', resolve));
    await ingest.stop();
    expect(seen).toEqual(['raise', 'clear']);
  });
});

describe('Ingest: items a sink refuses for good', () => {
  const quiet = createLogger({ name: 'test', level: 'silent' });
  const topic = 'ce/v1/site-a/telemetry';

  it('dead-letters exactly the items the series store refuses (INGEST_STORE_REFUSED, the store\'s reason, the item as it came), writes the rest and keeps draining', async () => {
    const dir = tempDir('ingest-');
    const db = openCloudDb(path.join(dir, 'cloud.db'));
    const ingest = new Ingest(db, { maxMessageBytes: 1 << 20, maxFutureMs: 300_000, writeBatch: 50, lingerMs: 0 }, quiet, new Registry());
    const store = new SqliteStore(path.join(dir, 'series.db'));
    await store.init();
    ingest.addSink(seriesSink(store));
    ingest.addSink(eventsSink(db));
    ingest.start();
    const T = Date.now() - 3600_000;
    const reading = (seq: number, pm25: number | string, site = 'site-a', station = 's1') => ({ id: newMessageId(), seq, ts: T + seq * 1000, kind: 'telemetry', m: 'air', tags: { station }, fields: { pm25 } });
    ingest.accept(topic, batch([reading(1, 10)]));
    await ingest.flush();
    // a schema-valid item the store refuses (pm25 is a float in "air"), in a batch with good ones
    const bad = reading(3, 'n/a');
    ingest.accept(topic, batch([reading(2, 11), bad, reading(4, 12)]));
    // later readings from other sites, some sharing its write batches
    for (let s = 0; s < 4; s++) {
      const site = `site-${'bcde'[s]}`;
      for (let k = 0; k < 10; k++) ingest.accept(`ce/v1/${site}/telemetry`, batch(Array.from({ length: 10 }, (_, i) => reading(k * 10 + i + 1, 100 + i, site, `st-${k}`)), site));
    }
    await ingest.flush();
    expect(ingest.spoolDepth()).toBe(0);
    expect(ingest.healthy).toBe(true);
    const dls = ingest.deadLetters.list({ code: 'INGEST_STORE_REFUSED' });
    expect(dls).toHaveLength(1);
    expect(dls[0]).toMatchObject({ topic, site: 'site-a' });
    expect(dls[0].reason).toMatch(/field type conflict: input field "pm25" on measurement "air" is type string, already exists as type float/);
    expect(JSON.parse(dls[0].payload!)).toEqual(bad);
    expect((await ingest.counts())['rejected.INGEST_STORE_REFUSED']).toBe(1);
    const r = await store.query({ measurement: 'air', fields: ['pm25'], from: T, to: T + 3600_000, windowMs: 3600_000, agg: 'count' });
    // the readings span ~100 s from T; an hour window aligned to the clock may cut them in two: add the windows
    expect(r.series[0].values.reduce((n, v) => n + Number(v[1] ?? 0), 0)).toBe(3 + 400);
    await ingest.stop();
    await store.close();
  });

  it('isolates refused items by splitting the batch when the sink cannot say which, keeping spool order for an ordered sink; a transient error is still retried', async () => {
    const db = openCloudDb(path.join(tempDir('ingest-'), 'cloud.db'));
    const ingest = new Ingest(db, { maxMessageBytes: 1 << 20, maxFutureMs: 300_000, writeBatch: 64, lingerMs: 0 }, quiet, new Registry());
    const poison = new Set([5, 17, 18, 40]);
    const written: number[] = [];
    let transient = 1;
    let calls = 0;
    ingest.addSink({
      name: 'ordered', kinds: ['telemetry'],
      write: async (items) => {
        calls++;
        if (transient > 0) { transient--; throw new Error('connection refused'); }
        if (items.some((i) => poison.has(i.item.seq))) throw Object.assign(new Error('refused for good'), { permanent: true });
        written.push(...items.map((i) => i.item.seq));
      },
    });
    for (let m = 0; m < 6; m++) ingest.accept(topic, batch(Array.from({ length: 10 }, (_, i) => item(m * 10 + i + 1))));
    ingest.start();
    await new Promise<void>((resolve) => ingest.once('drained', resolve));
    await ingest.stop();
    expect(written).toEqual(Array.from({ length: 60 }, (_, i) => i + 1).filter((s) => !poison.has(s)));
    const dls = ingest.deadLetters.list({ code: 'INGEST_STORE_REFUSED' });
    expect(dls.map((d) => JSON.parse(d.payload!).seq).sort((a, b) => a - b)).toEqual([5, 17, 18, 40]);
    expect(dls.every((d) => d.reason === 'refused for good')).toBe(true);
    expect(ingest.spoolDepth()).toBe(0);
    expect(calls).toBeLessThan(40);
  });

  it('a parsed-items cache entry of a rolled-back spool transaction is never served for a later row', async () => {
    const db = openCloudDb(path.join(tempDir('ingest-'), 'cloud.db'));
    const ingest = new Ingest(db, { maxMessageBytes: 4 << 20, maxFutureMs: 300_000, writeBatch: 50_000, lingerMs: 0 }, quiet, new Registry());
    const got = new Set<string>();
    ingest.addSink({ name: 'rec', anyOrder: true, kinds: ['telemetry'], write: async (items) => { for (const i of items) got.add(i.item.id); } });
    const admitted = new Set<string>();
    const send = (stream: string, items: Array<ReturnType<typeof item>>) => {
      ingest.accept(topic, Buffer.from(JSON.stringify({ v: 1, site: 'site-a', stream, sentAt: Date.now(), items })));
      for (const i of items) admitted.add(i.id);
    };
    // 99 rows of 2,000 items: the in-memory cache of parsed items is nearly full
    for (let m = 0; m < 99; m++) send('stream-0001', Array.from({ length: 2000 }, (_, i) => item(m * 2000 + i + 1)));
    // the next spool transaction fails after its row went in (the dedupe table refuses): rolled back, not acknowledged
    db.exec("CREATE TRIGGER fail_seen BEFORE INSERT ON ingest_seen BEGIN SELECT RAISE(ABORT, 'injected: disk full'); END");
    const lost = item(1);
    expect(() => ingest.accept(topic, Buffer.from(JSON.stringify({ v: 1, site: 'site-a', stream: 'stream-lost', sentAt: Date.now(), items: [lost] })))).toThrow(/could not store message durably/);
    db.exec('DROP TRIGGER fail_seen');
    // the next row gets the rolled-back row's rowid, and no longer fits in the cache
    send('stream-0002', Array.from({ length: 2000 }, (_, i) => item(i + 1)));
    await ingest.flush();
    expect(ingest.spoolDepth()).toBe(0);
    expect(got.has(lost.id)).toBe(false); // never acknowledged: the edge sends it again
    expect(got.size).toBe(admitted.size);
    for (const id of admitted) if (!got.has(id)) throw new Error(`admitted item ${id} never reached the sink`);
  });
});

describe('Ingest: a bounded spool and a chosen durability', () => {
  const quiet = createLogger({ name: 'test', level: 'silent' });
  const topic = 'ce/v1/site-a/telemetry';
  const base = { maxMessageBytes: 1 << 20, maxFutureMs: 300_000, writeBatch: 1000, lingerMs: 0 };

  it('at the cap (items or bytes) it refuses new messages (INGEST_SPOOL_FULL) without deleting any, takes status, and takes them again once the spool drained', async () => {
    const db = openCloudDb(path.join(tempDir('ingest-'), 'cloud.db'));
    const registry = new Registry();
    const ingest = new Ingest(db, { ...base, spoolCap: { items: 25, bytes: 0, holdMs: 0 } }, quiet, registry);
    let down = true;
    const got: number[] = [];
    ingest.addSink({ name: 'store', anyOrder: true, kinds: ['telemetry'], write: async (items) => { if (down) throw new Error('connection refused'); got.push(...items.map((i) => i.item.seq)); } });
    ingest.start();
    const msg = (k: number) => batch(Array.from({ length: 10 }, (_, i) => item(k * 10 + i + 1)));
    for (let k = 0; k < 3; k++) expect(ingest.accept(topic, msg(k))).toMatchObject({ ok: true, accepted: 10 });
    expect(() => ingest.accept(topic, msg(3))).toThrow(expect.objectContaining({ code: 'INGEST_SPOOL_FULL' }));
    expect(ingest.spoolDepth()).toBe(30);
    expect(ingest.spoolFull()).toBe(true);
    // a status message does not grow the spool: still taken
    expect(ingest.accept('ce/v1/site-a/status', Buffer.from(JSON.stringify({ v: 1, site: 'site-a', online: true, ts: Date.now() })))).toMatchObject({ ok: true });
    // nothing of the refused message was admitted: sent again later, it is new
    const text = await registry.metrics();
    expect(text).toMatch(/cityedge_ingest_refused_total\{reason="spool_full"\} 1/);
    expect(text).toMatch(/cityedge_ingest_spool_items 30/);
    expect(text).toMatch(/cityedge_ingest_spool_bytes [1-9]\d*/);
    down = false;
    await new Promise<void>((resolve) => ingest.once('drained', resolve));
    expect(ingest.spoolFull()).toBe(false);
    expect(ingest.accept(topic, msg(3))).toMatchObject({ ok: true, accepted: 10 });
    await ingest.flush();
    expect(got.sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    await ingest.stop();

    // the byte cap: the bytes of the spooled payloads
    const db2 = openCloudDb(path.join(tempDir('ingest-'), 'cloud.db'));
    const [m0, m1] = [msg(0), msg(1)];
    const ingest2 = new Ingest(db2, { ...base, spoolCap: { items: 0, bytes: m0.length + 1, holdMs: 0 } }, quiet, new Registry());
    ingest2.accept(topic, m0);
    ingest2.accept(topic, m1); // below the cap when it came: taken (the cap may be passed by one message)
    expect(ingest2.spoolBytes()).toBe(m0.length + m1.length);
    expect(() => ingest2.accept(topic, msg(2))).toThrow(expect.objectContaining({ code: 'INGEST_SPOOL_FULL' }));
    // a restart counts what is spooled
    const again = new Ingest(db2, { ...base, spoolCap: { items: 0, bytes: '1KiB', holdMs: 0 } }, quiet, new Registry());
    expect(again.spoolBytes()).toBe(m0.length + m1.length);
    expect(again.spoolFull()).toBe(true);
  });

  it('admit() holds a publish that finds the spool full for up to holdMs, takes it when room appears, refuses it otherwise', async () => {
    const db = openCloudDb(path.join(tempDir('ingest-'), 'cloud.db'));
    const ingest = new Ingest(db, { ...base, spoolCap: { items: 10, bytes: 0, holdMs: 300 } }, quiet, new Registry());
    let down = true;
    ingest.addSink({ name: 'store', anyOrder: true, kinds: ['telemetry'], write: async () => { if (down) throw new Error('down'); } });
    const admit = (b: Buffer) => new Promise<Error | undefined>((resolve) => ingest.admit(topic, b, 'site-a', resolve));
    expect(await admit(batch(Array.from({ length: 10 }, (_, i) => item(i + 1))))).toBeUndefined();
    const t = Date.now();
    expect(await admit(batch([item(11)]))).toMatchObject({ code: 'INGEST_SPOOL_FULL' });
    expect(Date.now() - t).toBeGreaterThanOrEqual(250);
    ingest.start();
    const held = admit(batch([item(12)]));
    setTimeout(() => { down = false; }, 50);
    expect(await held).toBeUndefined();
    await ingest.stop();
  });

  it('durability process: WAL + synchronous=NORMAL; power: synchronous=FULL (a PUBACK never precedes stable storage)', () => {
    const db = openCloudDb(path.join(tempDir('ingest-'), 'cloud.db'));
    new Ingest(db, { ...base, durability: 'process' }, quiet, new Registry());
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(1);
    new Ingest(db, { ...base, durability: 'power' }, quiet, new Registry());
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
  });
});
