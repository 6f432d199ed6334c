/**
 * Fuzzing the upstream request path (fast-check): whatever a platform sends — random bytes, frames
 * with random header fields and CP items (valid CRC, so the classifier's own checks run), SM4-
 * encrypted or not, cut at random points — the parser answers with a classification and never
 * throws; a live link fed such a stream keeps running and still answers a good history request.
 */
import net from 'node:net';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import { buildCp, decodeFrame, encodeFrame } from '../../lib/hj212/codec.ts';
import { buildFlag } from '../../lib/hj212/codes.ts';
import { Deframer } from '../../lib/hj212/deframer.ts';
import { parseSm4Key } from '../../lib/hj212/sm4.ts';
import { tempDir, waitFor } from '../../test/peers/ports.ts';
import { openCloudDb } from '../db.ts';
import { SqliteStore } from '../store/sqlite-store.ts';
import { parseHj212Config } from './config.ts';
import { classifyUpstreamFrame, type ClassifyOptions } from './frames.ts';
import { RecordStore } from './records.ts';
import { HJ212_SCHEMA } from './schema.ts';
import { UpstreamLink } from './upstream.ts';

const KEY_HEX = '0123456789abcdeffedcba9876543210';
const KEY = parseSm4Key(KEY_HEX);
const MN = 'UP0000000000000000000001';
const opts: ClassifyOptions = { password: 'pw123456', knowsMn: (mn) => mn === MN, offsetMinutes: 480, maxHistoryDays: 31, key: KEY };
const KINDS = new Set(['ack', 'history', 'realtime', 'refuse', 'ignore']);

const digits = (n: number) => fc.stringMatching(new RegExp(`^[0-9]{${n}}$`));
const dataTime = fc.integer({ min: Date.UTC(2023, 0, 1), max: Date.UTC(2025, 0, 1) }).map((t) => new Date(t).toISOString().replace(/[-T:]/g, '').slice(0, 14));
const cpText = fc.oneof(
  fc.tuple(dataTime, dataTime).map(([b, e]) => `BeginTime=${b};EndTime=${e}`),
  fc.tuple(dataTime, fc.integer({ min: 0, max: 40 * 86_400_000 })).map(([b, d]) => `BeginTime=${b};EndTime=${new Date(Date.UTC(+b.slice(0, 4), +b.slice(4, 6) - 1, +b.slice(6, 8), +b.slice(8, 10)) + d).toISOString().replace(/[-T:]/g, '').slice(0, 14)}`),
  fc.record({ b: fc.oneof(digits(14), fc.string({ maxLength: 16 })), e: fc.oneof(digits(14), fc.string({ maxLength: 16 })) }).map(({ b, e }) => `BeginTime=${b};EndTime=${e}`),
  fc.array(fc.tuple(fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,10}$/), fc.stringMatching(/^[^;,&=\r\n]{0,12}$/)), { maxLength: 6 }).map((kv) => buildCp(Object.fromEntries(kv))),
  fc.string({ maxLength: 64 }).map((s) => s.replace(/[\r\n&]/g, '')),
);
const frameArb = fc.record({
  cn: fc.oneof(fc.constantFrom('2051', '2061', '2031', '2011', '9014', '9015', '9011', '1012', '3020'), digits(4)),
  qn: fc.option(digits(17), { nil: undefined }),
  pw: fc.oneof(fc.constant('pw123456'), fc.stringMatching(/^[A-Za-z0-9]{0,10}$/)),
  mn: fc.oneof(fc.constant(MN), fc.stringMatching(/^[A-Za-z0-9]{0,24}$/)),
  rev: fc.constantFrom('2017', '2025') as fc.Arbitrary<'2017' | '2025'>,
  ack: fc.boolean(),
  encrypt: fc.boolean(),
  cp: cpText,
}).map((f) => encodeFrame({ ...(f.qn ? { qn: f.qn } : {}), st: '31', cn: f.cn, pw: f.pw, ...(f.mn ? { mn: f.mn } : {}), flag: buildFlag(f.rev, { needsAck: f.ack }), cp: f.cp }, f.encrypt && f.rev === '2025' ? { sm4Key: KEY } : {}));

function checkOne(input: Buffer | string): void {
  const m = classifyUpstreamFrame(input, opts);
  expect(KINDS.has(m.kind)).toBe(true);
  if (m.kind === 'history') {
    expect(m.end).toBeGreaterThanOrEqual(m.begin);
    expect(m.end - m.begin).toBeLessThanOrEqual(31 * 86_400_000);
    expect(m.mn).toBe(MN);
  }
  if (m.kind === 'refuse') expect([2, 3, 4, 8]).toContain(m.qnRtn);
}

describe('upstream request parsing, fuzzed', () => {
  it('random bytes never throw', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => { checkOne(Buffer.from(b)); }), { numRuns: 2000 });
  });

  it('well-formed frames with random fields are classified, never thrown on', () => {
    const seen = new Map<string, number>();
    fc.assert(fc.property(frameArb, (text) => {
      checkOne(text);
      const m = classifyUpstreamFrame(text, opts);
      const k = m.kind === 'refuse' ? `refuse:${m.qnRtn}` : m.kind;
      seen.set(k, (seen.get(k) ?? 0) + 1);
    }), { numRuns: 2000 });
    // not vacuous: the frames reach every branch past decoding
    for (const k of ['history', 'realtime', 'ack', 'ignore', 'refuse:2', 'refuse:3', 'refuse:4', 'refuse:8']) expect(seen.get(k), k).toBeGreaterThan(0);
  });

  it('frames mutated at random (a byte flipped, cut, garbage glued on) through the deframer', () => {
    fc.assert(fc.property(fc.array(frameArb, { minLength: 1, maxLength: 5 }), fc.uint8Array({ maxLength: 40 }), fc.nat(), fc.nat(255), fc.array(fc.nat(), { maxLength: 6 }), (frames, garbage, at, byte, cuts) => {
      const bytes = Buffer.concat([Buffer.from(garbage), ...frames.map((f) => Buffer.from(f))]);
      if (bytes.length) bytes[at % bytes.length] = byte;
      const d = new Deframer();
      let last = 0;
      for (const c of [...cuts.map((c) => c % (bytes.length + 1)).sort((a, b) => a - b), bytes.length]) {
        for (const part of d.push(bytes.subarray(last, Math.max(last, c)))) if (Buffer.isBuffer(part)) checkOne(part);
        last = Math.max(last, c);
      }
    }), { numRuns: 500 });
  });
});

describe('a live upstream link fed fuzzed requests', () => {
  const closers: Array<() => unknown> = [];
  afterAll(async () => { for (const c of closers.reverse()) await c(); });

  it('keeps running and still answers a good history request with 9011 and 9012', async () => {
    const dir = tempDir('hj212-fuzz-');
    const db = openCloudDb(path.join(dir, 'cloud.db'), [HJ212_SCHEMA]);
    const store = new SqliteStore(path.join(dir, 'series.db'));
    await store.init();
    closers.push(() => db.close(), () => store.close());
    const replies: string[] = [];
    let peer: net.Socket | undefined;
    const server = net.createServer((s) => { peer = s; const d = new Deframer(); s.on('data', (c) => { for (const p of d.push(c)) if (Buffer.isBuffer(p)) replies.push(p.toString()); }); s.on('error', () => {}); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    closers.push(() => new Promise<void>((r) => { peer?.destroy(); server.close(() => r()); }));
    const port = (server.address() as net.AddressInfo).port;
    const { config, registry } = parseHj212Config({
      enterprises: [{ id: 'e', name: '企业', outlets: [{ id: 'o', name: '排放口', mn: MN, kind: 'gas' }] }],
      upstreams: [{ id: 'p', host: '127.0.0.1', port, revision: '2025', sm4Key: KEY_HEX, password: 'pw123456', heartbeatMs: 0, reconnectMinMs: 20 }],
    });
    const records = new RecordStore(db);
    const link = new UpstreamLink(config.upstreams[0], { db, records, store, registry, offsetMinutes: 480, log: createLogger({ name: 't', level: 'silent' }) });
    link.start();
    closers.push(() => link.stop());
    await waitFor(() => peer, { what: 'the link to connect' });
    const sample = fc.sample(fc.oneof(frameArb, fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1') + '\r\n')), { numRuns: 300, seed: 212 });
    for (const f of sample) peer!.write(Buffer.from(f, 'latin1'));
    const qn = '20240301120000999';
    peer!.write(encodeFrame({ qn, st: '31', cn: '2061', pw: 'pw123456', mn: MN, flag: buildFlag('2025', { needsAck: true }), cp: 'BeginTime=20240301000000;EndTime=20240301235959' }, { sm4Key: KEY }));
    await waitFor(() => replies.some((r) => r.includes(`QN=${qn};`) && r.includes('CN=9012')), { what: 'the 9012 of the good request', timeoutMs: 10_000 });
    const ours = replies.filter((r) => r.includes(`QN=${qn};`)).map((r) => decodeFrame(r));
    expect(ours.map((f) => [f.cn, f.cp.QnRtn ?? f.cp.ExeRtn])).toEqual([['9011', '1'], ['9012', '100']]); // no data stored: ExeRtn 100
    expect(link.status().connected).toBe(true);
  });
});
