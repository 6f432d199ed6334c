import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CodedError } from '../../lib/errors.ts';
import { checkers } from '../../protocol/schemas.ts';
import { decodeFrame, encodeFrame } from './codec.ts';
import { classifyFrame } from './classify.ts';
import { frameValues } from './values.ts';
import { convertValues } from './convert.ts';
import { fromHj212 } from './to-readings.ts';
import { GapTracker } from './gaps.ts';
import { parseRequestArgs } from './commands.ts';
import { Hj212Server } from './server.ts';
import { Hj212Client } from './simulator.ts';
import { valuesToItems } from '../../edge/sources/hj212.ts';

/**
 * Fuzz of the request/answer paths of issue 13: classification, values of named and converted
 * fields, conversion, the gap tracker, the hj212.request argument checks, and real request
 * round trips between Hj212Server and the simulator. Nothing may crash; every refusal is coded.
 */
const key = Buffer.alloc(16, 0x30);
const stamp = { id: '0190a5a0-0000-7000-8000-000000000001', seq: 1 };

function coded(err: unknown, prefix = 'HJ212_'): void {
  if (!(err instanceof CodedError) || !err.code.startsWith(prefix)) throw err;
}

/** The whole decode path: frame → class → values → converted → readings and items (valid protocol items). */
function pipeline(input: Buffer | string): void {
  try {
    const f = decodeFrame(input, { keyFor: () => key });
    const c = classifyFrame(f);
    expect(['data', 'request', 'answer', 'notification', 'heartbeat', 'other']).toContain(c.kind);
    const vs = frameValues(f);
    if (c.kind !== 'data') expect(vs).toEqual([]);
    const { values } = convertValues(vs, { o2Ref: 6 });
    fromHj212(values, { basis: () => 'converted' });
    for (const it of valuesToItems(values)) {
      const ok = checkers.item.Check({ ...it, ...stamp });
      // station/pollutant come from the frame: an empty or line-broken MN is the only way to break an item
      if (!ok) expect(f.mn === undefined || f.mn === '' || /[\r\n]/.test(f.mn) || Object.keys(f.factors).some((k) => /[\r\n]/.test(k))).toBe(true);
    }
  } catch (err) {
    coded(err);
  }
}

const time14 = fc.oneof(fc.integer({ min: 2000, max: 2099 }).map((y) => `${y}0305101500`), fc.constantFrom('2026030510', '20260305101500123', 'x', ''));
const cpItem = fc.oneof(
  fc.tuple(fc.constantFrom('BeginTime', 'EndTime', 'SystemTime', 'DataTime'), time14),
  fc.tuple(fc.constantFrom('QnRtn', 'ExeRtn', 'RtdInterval', 'MinInterval'), fc.oneof(fc.nat({ max: 200 }).map(String), fc.constantFrom('-1', 'x', '1.5', ''))),
  fc.tuple(fc.constantFrom('a21026-Rtd', 'a21026-ZsAvg', 'a19001-Avg', 'e10101-Ia', 'e10101-Ua', 'e10101-Pt', 'e10101-Flag', 'a21026-Flag', 'x-SampleTime', 'w01018-EFlag'), fc.oneof(fc.double({ min: -1e6, max: 1e6, noNaN: true }).map((d) => String(Math.round(d * 100) / 100)), fc.constantFrom('N', 'C', '', 'abc', '1e999', '22'))),
  fc.tuple(fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,10}$/), fc.stringMatching(/^[A-Za-z0-9.]{0,8}$/)),
);
const cnArb = fc.oneof(fc.constantFrom('1000', '1011', '1012', '1013', '1061', '1062', '1063', '1064', '1072', '2011', '2012', '2031', '2051', '2061', '2081', '3011', '3020', '9011', '9012', '9013', '9014', '9015'), fc.integer({ min: 0, max: 9999 }).map((n) => String(n).padStart(4, '0')));
const requestFrame = fc.record({
  cn: cnArb,
  items: fc.array(cpItem, { maxLength: 6 }),
  flag: fc.constantFrom(4, 5, 8, 9),
  sep: fc.constantFrom(';', ','),
  encrypt: fc.boolean(),
}).map(({ cn, items, flag, sep, encrypt }) => {
  const cp = items.map(([k, v]) => `${k}=${v}`).join(sep);
  return encodeFrame({ qn: '20260305101500000', st: '31', cn, pw: '123456', mn: 'FQ01', flag, cp }, encrypt && flag >= 8 ? { sm4Key: key } : {});
});

describe('request/answer paths fuzz (fast-check)', () => {
  it('generated requests, answers and data frames with named/converted fields: decode → classify → values → items never crash', () => {
    fc.assert(fc.property(requestFrame, (f) => pipeline(f)), { numRuns: 3000 });
  });

  it('mutated request/answer frames never crash: coded errors only', () => {
    const mutated = fc.tuple(requestFrame, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'del', 'ins')), { minLength: 1, maxLength: 5 })).map(([seed, muts]) => {
      const b = [...Buffer.from(seed)];
      for (const [pos, byte, op] of muts) {
        const i = pos % (b.length + 1);
        if (op === 'set' && i < b.length) b[i] = byte;
        else if (op === 'del') b.splice(i, 1);
        else b.splice(i, 0, byte);
      }
      return Buffer.from(b);
    });
    fc.assert(fc.property(mutated, (b) => pipeline(b)), { numRuns: 2000 });
  });

  it('hj212.request arguments: any input is accepted as a request or refused with HJ212_BAD_COMMAND', () => {
    const structured = fc.record({
      mn: fc.oneof(fc.constant('FQ01'), fc.string({ maxLength: 70 }), fc.integer()),
      cn: fc.oneof(fc.constantFrom('1011', '1012', '1061', '1062', '1063', '1064', '2051', '2061', '2031', '2011', '9011'), fc.string({ maxLength: 5 })),
      cp: fc.option(fc.dictionary(fc.constantFrom('SystemTime', 'RtdInterval', 'MinInterval', 'BeginTime', 'EndTime', 'X', '1bad', 'a;b'), fc.oneof(time14, fc.nat({ max: 4000 }), fc.string({ maxLength: 10 }), fc.constant(null))), { nil: undefined }),
      timeoutMs: fc.option(fc.oneof(fc.integer({ min: -10, max: 700_000 }), fc.double()), { nil: undefined }),
    }, { requiredKeys: ['mn', 'cn'] });
    fc.assert(fc.property(fc.oneof(structured, fc.anything()), (args) => {
      try {
        const a = parseRequestArgs(args, { now: Date.UTC(2026, 2, 5) });
        const f = decodeFrame(encodeFrame({ qn: '20260305101500000', st: '31', cn: a.cn, pw: 'p', mn: a.mn, flag: 5, cp: Object.entries(a.cp).map(([k, v]) => `${k}=${v}`).join(';') }));
        expect(classifyFrame(f).kind).toBe('request');
        expect(f.mn).toBe(a.mn);
      } catch (err) {
        coded(err, 'HJ212_BAD_COMMAND');
      }
    }), { numRuns: 2000 });
  });

  it('the gap tracker under random operations: no crash, counts never negative, save/restore round-trips', () => {
    const T0 = Date.UTC(2026, 2, 4, 16);
    const op = fc.oneof(
      fc.record({ t: fc.constant('recv' as const), mn: fc.constantFrom('A', 'B'), period: fc.constantFrom('min', 'hour', 'day', 'rt'), at: fc.integer({ min: -50, max: 400 }), codes: fc.subarray(['a21026', 'a19001', 'a00000', 'zz'], { minLength: 1 }) }),
      fc.record({ t: fc.constant('tick' as const), dt: fc.integer({ min: 0, max: 7200 }) }),
      fc.record({ t: fc.constant('finish' as const), ok: fc.boolean() }),
      fc.record({ t: fc.constantFrom('begin' as const, 'commit' as const, 'rollback' as const) }),
    );
    fc.assert(fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const mk = () => new GapTracker([{ mn: 'A', intervals: { minute: 10, hour: true, day: true }, groups: { gas: ['a21026', 'a19001'], flow: ['a00000'] } }, { mn: 'B', intervals: { hour: true } }], { lookbackMs: 12 * 3600_000, maxRecordsPerRequest: 5, retryBaseMs: 1000 });
      const g = mk();
      let now = T0;
      const out: number[] = [];
      for (const o of ops) {
        if (o.t === 'recv') g.receive(o.mn, o.period, T0 + o.at * 600_000, o.codes);
        else if (o.t === 'tick') { now += o.dt * 1000; g.scan(now, now); for (const r of g.plan(now, () => true)) out.push(r.id); }
        else if (o.t === 'finish') { const id = out.shift(); if (id !== undefined) g.finish(id, now, o.ok); }
        else g[o.t]();
        for (const mn of ['A', 'B']) for (const p of ['min', 'hour', 'day'] as const) {
          const c = g.counts(mn, p);
          expect(Math.min(c.open, c.requested, c.filled, c.abandoned)).toBeGreaterThanOrEqual(0);
        }
      }
      const saved = JSON.parse(JSON.stringify(g.save()));
      const g2 = mk();
      g2.restore(saved);
      expect(JSON.parse(JSON.stringify(g2.save()))).toEqual(saved);
    }), { numRuns: 300 });
  });
});

describe('request round trips server → simulator (real TCP) fuzz', () => {
  let server: Hj212Server;
  const loggers: Hj212Client[] = [];
  beforeAll(async () => {
    server = new Hj212Server({ host: '127.0.0.1', port: 0, stations: [{ mn: 'L17', password: 'p17', revision: '2017' }, { mn: 'L25', password: 'p25', revision: '2025', sm4Key: key.toString('hex') }] });
    const port = await server.listen();
    for (const [mn, password, revision, sm4Key] of [['L17', 'p17', '2017'], ['L25', 'p25', '2025', key.toString('hex')]] as const) {
      const c = new Hj212Client({ port, mn, password, revision, ...(sm4Key ? { sm4Key } : {}), ackTimeoutMs: 500 });
      await c.connect();
      await c.heartbeat(); // the server learns the MN's connection
      c.record('2061', Date.UTC(2026, 2, 5, 1), [{ code: 'a21026', fields: { Avg: 1, Flag: 'N' } }]);
      loggers.push(c);
    }
  });
  afterAll(async () => { for (const c of loggers) c.close(); await server.close(); });

  it('random requests either complete or fail with a coded error; the server stays up', async () => {
    await fc.assert(fc.asyncProperty(
      fc.constantFrom('L17', 'L25'),
      fc.constantFrom('1011', '1012', '1061', '1062', '1063', '1064', '2051', '2061', '2031', '3011', '1072'),
      fc.dictionary(fc.constantFrom('SystemTime', 'RtdInterval', 'MinInterval', 'BeginTime', 'EndTime'), fc.oneof(time14, fc.nat({ max: 4000 }).map(String))),
      async (mn, cn, cp) => {
        try {
          const r = await server.request(mn, cn, cp, { timeoutMs: 250 });
          expect(r.exeRtn).toBeDefined();
        } catch (err) {
          coded(err);
        }
      },
    ), { numRuns: 30 });
    expect(server.connected('L17') && server.connected('L25')).toBe(true);
  });
});
