import path from 'node:path';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import { newMessageId } from '../../protocol/ids.ts';
import { tempDir } from '../../test/peers/ports.ts';
import { openCloudDb } from '../db.ts';
import { Ingest } from './ingest.ts';

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
