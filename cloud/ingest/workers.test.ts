import path from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import { newMessageId } from '../../protocol/ids.ts';
import type { TelemetryItem } from '../../protocol/schemas.ts';
import { tempDir } from '../../test/peers/ports.ts';
import { openCloudDb } from '../db.ts';
import type { Point } from '../store/types.ts';
import { Ingest, type IngestOptions, type SpooledItem } from './ingest.ts';
import { prepareMessage, telemetryLine } from './prepare.ts';
import { influxLine } from '../store/influx-store.ts';

/** `influxLine` of the point seriesSink makes of the item: what telemetryLine must give. */
function referenceLine(item: TelemetryItem, site: string, received: number): string {
  const point: Point = { measurement: item.m, tags: { ...item.tags, site }, fields: { ...item.fields, received_ms: received }, time: item.ts };
  const line = influxLine(point);
  return typeof line === 'string' ? line : '';
}
import { seriesSink } from './sinks.ts';

const quiet = createLogger({ name: 'test', level: 'silent' });
const open: Ingest[] = [];
afterEach(async () => { for (const i of open.splice(0)) await i.stop(); });

function makeIngest(over: Partial<IngestOptions> = {}) {
  const file = path.join(tempDir('ingest-w-'), 'cloud.db');
  const db = openCloudDb(file);
  const ingest = new Ingest(db, { maxMessageBytes: 1 << 20, maxFutureMs: 300_000, writeBatch: 100_000, lingerMs: 0, workers: 2, ...over }, quiet, new Registry());
  open.push(ingest);
  return { db, file, ingest };
}
const item = (seq: number, over: Record<string, unknown> = {}) => ({ id: newMessageId(), seq, ts: Date.now() - 1000, kind: 'telemetry', m: 'air', tags: { station: `s${seq % 3}` }, fields: { pm25: seq, note: 'a "b" c' }, ...over });
const batch = (items: unknown[], site = 'site-a', stream = 'stream-0001') => Buffer.from(JSON.stringify({ v: 1, site, stream, sentAt: Date.now(), items }));
const admit = (ingest: Ingest, topic: string, payload: Buffer, site?: string) => new Promise<Error | undefined>((resolve) => ingest.admit(topic, payload, site, resolve));

/** A sink that records what it gets, in order. */
function recorder(kinds: Array<SpooledItem['item']['kind']> = ['telemetry', 'aggregate', 'event']) {
  const got: SpooledItem[] = [];
  return { got, sink: { name: 'rec', kinds, write: async (items: SpooledItem[]) => { got.push(...items); } } };
}

describe('ingest worker threads', () => {
  it('a prepared line is exactly influxLine of the point seriesSink makes (property)', () => {
    const name = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,8}$/);
    const text = fc.string({ maxLength: 12 }).filter((s) => !/[\r\n]/.test(s) && s.length > 0);
    const value = fc.oneof(fc.double(), fc.integer(), text, fc.boolean());
    fc.assert(fc.property(
      fc.dictionary(fc.oneof(name, fc.constant('site')), text, { maxKeys: 4 }),
      fc.dictionary(fc.oneof(name, fc.constant('received_ms')), value, { minKeys: 1, maxKeys: 5 }),
      fc.constantFrom('air', 'bad name', 'x.y-z'),
      (tags, fields, m) => {
        const it = { id: newMessageId(), seq: 1, ts: 1_700_000_000_123, kind: 'telemetry', m, tags, fields } as unknown as TelemetryItem;
        expect(telemetryLine(it, 'site-a', 1_700_000_000_999)).toBe(referenceLine(it, 'site-a', 1_700_000_000_999));
      },
    ));
  });

  it('leaves everything but clean telemetry batches to the main thread', () => {
    const limits = { maxMessageBytes: 1 << 20, maxFutureMs: 300_000 };
    const now = Date.now();
    expect(prepareMessage('ce/v1/site-a/telemetry', batch([item(1), item(2)]), 'site-a', now, limits)).toMatchObject({ t: 'batch', n: 2, site: 'site-a' });
    expect(prepareMessage('ce/v1/site-a/telemetry', batch([item(1), item(2, { fields: {} })]), 'site-a', now, limits).t).toBe('main');
    expect(prepareMessage('ce/v1/site-a/telemetry', batch([item(1, { ts: now + 3_600_000 })]), 'site-a', now, limits).t).toBe('main');
    expect(prepareMessage('ce/v1/site-a/telemetry', batch([item(1)]), 'site-b', now, limits).t).toBe('main');
    expect(prepareMessage('ce/v1/site-a/telemetry', Buffer.from('{no'), 'site-a', now, limits).t).toBe('main');
    expect(prepareMessage('ce/v1/site-a/events', batch([item(1)]), 'site-a', now, limits).t).toBe('main');
  });

  it('commits in arrival order per site whatever order the workers answer in, events and telemetry mixed', async () => {
    const { ingest } = makeIngest({ workers: 3 });
    const rec = recorder();
    ingest.addSink(rec.sink);
    const sites = ['site-a', 'site-b', 'site-c'];
    const next: Record<string, number> = { 'site-a': 1, 'site-b': 1, 'site-c': 1 };
    const sent: Array<{ site: string; seqs: number[] }> = [];
    const answers: Array<Promise<Error | undefined>> = [];
    for (let k = 0; k < 120; k++) {
      const site = sites[k % 3];
      // varying sizes so the workers finish out of order; every 7th message is an event (main thread at once)
      const n = k % 7 === 6 ? 1 : 1 + ((k * 37) % 60);
      const seqs = Array.from({ length: n }, () => next[site]++);
      const isEvent = k % 7 === 6;
      const items = seqs.map((seq) => (isEvent ? { id: newMessageId(), seq, ts: Date.now() - 1000, kind: 'event', type: 'door.open', source: 'd1', phase: 'instant', data: {} } : item(seq)));
      sent.push({ site, seqs });
      answers.push(admit(ingest, `ce/v1/${site}/${isEvent ? 'events' : 'telemetry'}`, batch(items, site), site));
    }
    expect(await Promise.all(answers)).toEqual(answers.map(() => undefined));
    expect(ingest.groups.prepared).toBeGreaterThan(0);
    ingest.start();
    await ingest.flush();
    for (const site of sites) {
      const expected = sent.filter((s) => s.site === site).flatMap((s) => s.seqs);
      expect(rec.got.filter((s) => s.site === site).map((s) => s.item.seq), site).toEqual(expected);
    }
    // the prepared items look like the items sent (ids, tags, fields), also through JSON
    const first = rec.got.find((s) => s.item.kind === 'telemetry')!;
    expect(JSON.parse(JSON.stringify(first.item))).toMatchObject({ kind: 'telemetry', m: 'air', tags: { station: expect.any(String) }, fields: { pm25: first.item.seq } });
    expect((first.item as TelemetryItem).fields.pm25).toBe(first.item.seq);
  });

  it('exactly once across a worker crash: every publish answered, each seq spooled and written once', async () => {
    const { ingest } = makeIngest({ workers: 2 });
    const rec = recorder();
    ingest.addSink(rec.sink);
    const answers: Array<Promise<Error | undefined>> = [];
    let seq = 1;
    const payloads: Buffer[] = [];
    for (let k = 0; k < 80; k++) {
      const p = batch(Array.from({ length: 50 }, () => item(seq++)));
      payloads.push(p);
      answers.push(admit(ingest, 'ce/v1/site-a/telemetry', p, 'site-a'));
      if (k === 30) await ingest.workerPool!.crash(0);
      if (k === 50) await ingest.workerPool!.crash(1);
      // a resend of an earlier message (as after a lost PUBACK): duplicates, admitted nothing
      if (k % 20 === 19) answers.push(admit(ingest, 'ce/v1/site-a/telemetry', payloads[k - 5], 'site-a'));
    }
    expect(await Promise.all(answers)).toEqual(answers.map(() => undefined));
    expect(ingest.workerPool!.crashes).toBeGreaterThanOrEqual(1);
    expect(ingest.spoolDepth()).toBe(4000);
    const counts = await ingest.counts();
    expect(counts['items.accepted']).toBe(4000);
    expect(counts['items.duplicate']).toBe(4 * 50);
    ingest.start();
    await ingest.flush();
    const seqs = rec.got.map((s) => s.item.seq);
    expect(seqs).toEqual(Array.from({ length: 4000 }, (_, i) => i + 1));
    expect(ingest.spoolDepth()).toBe(0);
  });

  it('group commit: messages ready together share one transaction, and each is answered only after it committed', async () => {
    const { ingest, file } = makeIngest({ workers: 1 });
    const reader = new Database(file, { readonly: true });
    const committedRows = () => (reader.prepare('SELECT count(*) AS n FROM ingest_spool').get() as { n: number }).n;
    const seenAtAnswer: number[] = [];
    const answers: Array<Promise<void>> = [];
    for (let k = 0; k < 40; k++) {
      const payload = batch([item(k + 1)]);
      answers.push(new Promise<void>((resolve) => ingest.admit('ce/v1/site-a/telemetry', payload, 'site-a', (err) => {
        expect(err).toBeUndefined();
        // another connection already sees this message's row: its PUBACK follows the commit
        seenAtAnswer.push(committedRows());
        resolve();
      })));
    }
    await Promise.all(answers);
    reader.close();
    // answered in arrival order, each after its row was visible to another connection
    seenAtAnswer.forEach((n, k) => expect(n).toBeGreaterThanOrEqual(k + 1));
    expect(ingest.groups.messages).toBe(40);
    expect(ingest.groups.commits).toBeLessThan(40);
  });

  it('a message whose spool write fails is refused alone; the rest of its group is stored', async () => {
    const { ingest, db } = makeIngest({ workers: 0 });
    db.exec("CREATE TRIGGER refuse_b BEFORE INSERT ON ingest_spool WHEN NEW.site = 'site-b' BEGIN SELECT RAISE(ABORT, 'disk says no'); END");
    const answers = await Promise.all([
      admit(ingest, 'ce/v1/site-a/telemetry', batch([item(1)]), 'site-a'),
      admit(ingest, 'ce/v1/site-b/telemetry', batch([item(1)], 'site-b'), 'site-b'),
      admit(ingest, 'ce/v1/site-a/telemetry', batch([item(2)]), 'site-a'),
    ]);
    expect(answers[0]).toBeUndefined();
    expect(answers[1]).toMatchObject({ code: 'INGEST_SPOOL_FAILED' });
    expect(answers[2]).toBeUndefined();
    expect(ingest.spoolDepth()).toBe(2);
    // site-b's seq was not admitted: when it comes again (after the fault) it is new
    db.exec('DROP TRIGGER refuse_b');
    expect(await admit(ingest, 'ce/v1/site-b/telemetry', batch([item(1)], 'site-b'), 'site-b')).toBeUndefined();
    expect(ingest.spoolDepth()).toBe(3);
  });

  it('seriesSink sends prepared lines to a store that takes lines, and makes no points when the write succeeds', async () => {
    const { ingest } = makeIngest({ workers: 1 });
    const sent: string[][] = [];
    let pointsMade = 0;
    const store = {
      kind: 'lines', init: async () => {}, query: async () => ({ series: [] }), ping: async () => true, close: async () => {},
      write: async (_p: Point[]) => { throw new Error('not used'); },
      writeLines: async (lines: string[], points: () => Point[]) => { sent.push(lines); if (lines.length > 100) { pointsMade += points().length; } },
    };
    ingest.addSink(seriesSink(store));
    expect(await admit(ingest, 'ce/v1/site-a/telemetry', batch([item(1, { tags: { station: 'a b,c' } })]), 'site-a')).toBeUndefined();
    ingest.start();
    await ingest.flush();
    expect(sent).toHaveLength(1);
    expect(sent[0][0]).toMatch(/^air,site=site-a,station=a\\ b\\,c pm25=1,note="a \\"b\\" c",received_ms=\d+ \d+$/);
    expect(pointsMade).toBe(0);
  });
});
