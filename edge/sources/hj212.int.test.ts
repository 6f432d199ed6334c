import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Hj212Client, type FactorValues } from '../../firmware-bridge/hj212/simulator.ts';
import { parseDataTime } from '../../firmware-bridge/hj212/codec.ts';
import { Hj212Source, Hj212SourceConfig, hj212Factory } from './hj212.ts';
import { Outbox } from '../outbox/outbox.ts';
import { checkers, type Command, type Item, type NewItem } from '../../protocol/schemas.ts';
import { validateConfig } from '../../lib/config.ts';
import { freePort, tempDir, waitFor } from '../../test/peers/ports.ts';
import { memoryContext } from '../../test/support/source-context.ts';
import { edgeConfig, startEdge } from '../../test/harness.ts';

/**
 * Issue 13, device and edge side, with real data loggers (the simulator: HJ 212-2017, and 2025
 * with SM4) over TCP into a real hj212 edge source:
 *  - converted concentrations (HJ 75-2017): a flue-gas outlet whose measured SO₂ exceeds the
 *    limit but whose converted value does not raises nothing; the reverse raises an alert that
 *    states its exceedance multiple; both values are stored;
 *  - a logger silenced for 2 hours (simulated time: the source's clock is injected) has its gaps
 *    detected, survives a restart of the edge source (outbox checkpoint), requested with CN 2051
 *    and 2061 and filled, marked resent, with no duplicates;
 *  - remote commands through the edge's command mechanism (cmdres in the outbox): a clock-set
 *    (1012) reaches the logger and its 9011/9012 are in the result; read clock and intervals;
 *    coded errors (not connected, refused, timeout).
 */
const H = 3600_000;
const MIN = 60_000;
const T0 = parseDataTime('20260305080000'); // 2026-03-05 08:00 Beijing
const KEY25 = '0123456789abcdeffedcba9876543210';
const cleanup: Array<() => unknown> = [];
afterEach(async () => { for (const f of cleanup.splice(0).reverse()) await f(); });

type Tel = Item & { kind: 'telemetry' };
const hj = (items: Item[]) => items.filter((i): i is Tel => i.kind === 'telemetry' && i.m === 'hj212');
const alerts = (items: Item[]) => items.filter((i) => i.kind === 'alert') as Array<Item & { kind: 'alert' }>;

async function logger(port: number, o: Partial<ConstructorParameters<typeof Hj212Client>[0]> & { mn: string; password: string; revision: '2017' | '2025' }) {
  const c = new Hj212Client({ port, st: '31', ackTimeoutMs: 1000, maxAttempts: 1, ...o });
  await c.connect();
  cleanup.push(() => c.close());
  return c;
}
const so2 = (avg: number, o2: number, extra: Record<string, number> = {}): FactorValues[] => [
  { code: 'a21026', fields: { Avg: avg, ...extra, Flag: 'N' } },
  { code: 'a19001', fields: { Avg: o2, Flag: 'N' } },
];

describe('converted concentrations: limits on the value they are defined for', () => {
  it('2017 and 2025/SM4 outlets: raw over but converted under raises nothing; raw under but converted over raises with its multiple', async () => {
    const { ctx, items } = memoryContext();
    const cfg = validateConfig(hj212Factory.schema, {
      type: 'hj212', id: 'hj', host: '127.0.0.1', port: 0,
      stations: [
        { mn: 'FQ2017', password: 'pw17', revision: '2017', o2Ref: 6, limitsOn: 'converted' },
        { mn: 'FQ2025', password: 'pw25', revision: '2025', sm4Key: KEY25, requireEncryption: true, o2Ref: 6, limitsOn: 'converted' },
        { mn: 'RAW2017', password: 'pw17', revision: '2017', o2Ref: 6 }, // limits on measured values (default)
      ],
      pipeline: { alerts: [{ id: 'so2-limit', kind: 'limit', match: { pollutant: 'SO2' }, limit: 100, clearAt: 100 }] },
    }, 'test');
    const src = hj212Factory.create(cfg);
    await src.start(ctx);
    cleanup.push(() => src.stop());
    const port = src.health!().port as number;
    const l17 = await logger(port, { mn: 'FQ2017', password: 'pw17', revision: '2017' });
    const l25 = await logger(port, { mn: 'FQ2025', password: 'pw25', revision: '2025', sm4Key: KEY25 });
    const raw = await logger(port, { mn: 'RAW2017', password: 'pw17', revision: '2017' });

    // measured 120 > 100, but at O₂ 1 %: 120 × (21−6)/(21−1) = 90 ≤ 100 → nothing
    expect((await l17.sendData('2061', T0, so2(120, 1))).acked).toBe(true);
    expect(alerts(items)).toEqual([]);
    // measured 90 ≤ 100, at O₂ 12 %: 90 × 15/9 = 150 > 100 → raise, multiple (150 − 100)/100 = 0.5
    expect((await l17.sendData('2061', T0 + H, so2(90, 12))).acked).toBe(true);
    // 2025/SM4 logger sending its own converted value (ZsAvg 130) with a measured 80
    expect((await l25.sendData('2061', T0, so2(80, 10, { ZsAvg: 130 }))).acked).toBe(true);
    // same data as the first frame at an outlet whose limits are on measured values: raises on 120
    expect((await raw.sendData('2061', T0, so2(120, 1))).acked).toBe(true);

    const al = alerts(items);
    expect(al.map((a) => [a.source, a.state, a.data.basis, a.data.value, a.data.multiple])).toEqual([
      ['FQ2017/SO2', 'raise', 'converted', 150, 0.5],
      ['FQ2025/SO2', 'raise', 'converted', 130, 0.3],
      ['RAW2017/SO2', 'raise', 'raw', 120, 0.2],
    ]);
    expect(al[0].data).toMatchObject({ type: 'exceedance', limit: 100, pollutant: 'SO2', station: 'FQ2017' });
    expect(al[0].message).toContain('exceedance multiple 0.50');
    expect(al[0].message).toContain('折算浓度 150 mg/m3，限值 100，超标倍数 0.50');
    expect(al[2].message).toContain('实测浓度 120 mg/m3');
    // both raw and converted values stored, with where the converted one came from
    const so2Items = hj(items).filter((i) => i.tags.code === 'a21026');
    expect(so2Items.map((i) => [i.tags.station, i.ts - T0, i.fields.avg, i.fields.zsAvg, i.fields.zsSource, i.fields.o2])).toEqual([
      ['FQ2017', 0, 120, 90, 'computed', 1],
      ['FQ2017', H, 90, 150, 'computed', 12],
      ['FQ2025', 0, 80, 130, 'logger', undefined],
      ['RAW2017', 0, 120, 90, 'computed', 1],
    ]);
    // O₂ itself is never converted
    expect(hj(items).filter((i) => i.tags.code === 'a19001').every((i) => i.fields.zsAvg === undefined)).toBe(true);
    expect(src.health!()).toMatchObject({ conversion: { computed: 3 } });
  });
});

describe('gap detection and backfill (simulated time)', () => {
  it('a logger silenced for 2 hours: gaps detected, kept across a restart, requested with 2051/2061, filled once, marked resent', async () => {
    let now = T0;
    const outbox = new Outbox(path.join(tempDir('hj-gaps-'), 'outbox.db'), { capBytes: 64 * 1024 * 1024 });
    cleanup.push(() => outbox.close());
    const items: Item[] = [];
    const { ctx: base } = memoryContext();
    const ctx = { ...base, emit: (xs: NewItem[], cp?: { key: string; value: string }) => { const st = outbox.append(xs, cp); items.push(...st); return st; }, checkpoint: (k: string) => outbox.checkpoint(k) };
    const port = await freePort();
    const cfg = validateConfig(Hj212SourceConfig, {
      type: 'hj212', id: 'hj', host: '127.0.0.1', port,
      stations: [
        { mn: 'GAP2017', password: 'pw17', revision: '2017', intervals: { minute: 10, hour: true } },
        { mn: 'GAP2025', password: 'pw25', revision: '2025', sm4Key: KEY25, requireEncryption: true, intervals: { hour: true } },
      ],
      backfill: { tickMs: 60_000, requestTimeoutMs: 5000, graceMinutes: { min: 10, hour: 15 } }, // the test ticks by hand on its own clock
      pipeline: { alerts: [] },
    }, 'test');
    const start = async () => {
      const s = new Hj212Source(cfg, { now: () => now });
      await s.start(ctx);
      return s;
    };
    let src = await start();
    let stopped = false;
    cleanup.push(() => (stopped ? undefined : src.stop()));

    const l17 = await logger(port, { mn: 'GAP2017', password: 'pw17', revision: '2017' });
    const l25 = await logger(port, { mn: 'GAP2025', password: 'pw25', revision: '2025', sm4Key: KEY25 });
    const minute = (t: number): FactorValues[] => [{ code: 'a21026', fields: { Avg: 20 + (t / MIN) % 7, Flag: 'N' } }];
    const hour = (t: number): FactorValues[] => [{ code: 'a21026', fields: { Avg: 30 + (t / H) % 5, Min: 10, Max: 50, Flag: 'N' } }, { code: 'a34013', fields: { Avg: 4, Flag: 'N' } }];
    /** The loggers' data of one hour: sent live, or only kept in their memory when silenced. */
    async function hourOf(h: number, live: boolean) {
      for (let m = 0; m < 60; m += 10) {
        const t = T0 + h * H + m * MIN;
        now = t + 10 * MIN + 30_000;
        if (live) expect((await l17.sendData('2051', t, minute(t))).acked).toBe(true); else l17.record('2051', t, minute(t));
      }
      for (const [l, f] of [[l17, hour], [l25, hour]] as const) {
        if (live) expect((await l.sendData('2061', T0 + h * H, f(T0 + h * H))).acked).toBe(true); else l.record('2061', T0 + h * H, f(T0 + h * H));
      }
      src.tick();
    }
    for (let h = 0; h < 4; h++) await hourOf(h, true); // 08:00–11:59 on time
    expect(src.health!().gaps).toEqual({
      GAP2017: { min: { open: 0, requested: 0, filled: 0, abandoned: 0 }, hour: { open: 0, requested: 0, filled: 0, abandoned: 0 } },
      GAP2025: { hour: { open: 0, requested: 0, filled: 0, abandoned: 0 } },
    });
    // silence: the uplinks go down for two hours (12:00–13:59); the loggers keep recording
    l17.close();
    l25.close();
    await waitFor(() => !src.health!().connections || (src.health!().connections as { current: number }).current === 0, { what: 'loggers gone' });
    for (let h = 4; h < 6; h++) await hourOf(h, false);
    now = T0 + 6 * H + 19 * MIN; // 14:19: the 13:50 minute (due 14:10) and the 13:00 hour (due 14:15) are due, 14:00 not yet
    expect(src.tick()).toEqual([]); // nobody to ask
    const gapsOpen = { GAP2017: { min: { open: 12, requested: 0, filled: 0, abandoned: 0 }, hour: { open: 2, requested: 0, filled: 0, abandoned: 0 } }, GAP2025: { hour: { open: 2, requested: 0, filled: 0, abandoned: 0 } } };
    expect(src.health!().gaps).toEqual(gapsOpen);
    const gapItems = () => items.filter((i): i is Tel => i.kind === 'telemetry' && i.m === 'hj212_gaps');
    expect(gapItems().slice(-3).map((i) => [i.tags.station, i.tags.period, i.fields.open])).toEqual([['GAP2017', 'min', 12], ['GAP2017', 'hour', 2], ['GAP2025', 'hour', 2]]);

    // the edge restarts: the open gaps come back from the outbox checkpoint
    await src.stop();
    src = await start();
    expect(src.health!().gaps).toEqual(gapsOpen);

    // the loggers come back; once they have spoken, the source asks them for what is missing
    await l17.connect();
    await l25.connect();
    expect(await l17.heartbeat()).toBe(true);
    expect(await l25.heartbeat()).toBe(true);
    const before = hj(items).length;
    const r1 = src.tick();
    expect(r1.map((r) => [r.mn, r.cn, r.beginTime, r.endTime])).toEqual([
      ['GAP2017', '2051', '20260305120000', '20260305135000'], // one request per station at a time: minute data first
      ['GAP2025', '2061', '20260305120000', '20260305130000'],
    ]);
    await Promise.all([...src.inflight]);
    now += 30_000; // 14:19:30, still before the 14:00 minute is due
    const r2 = src.tick();
    expect(r2.map((r) => [r.mn, r.cn, r.beginTime, r.endTime])).toEqual([['GAP2017', '2061', '20260305120000', '20260305130000']]);
    await Promise.all([...src.inflight]);
    const filled = { GAP2017: { min: { open: 0, requested: 0, filled: 12, abandoned: 0 }, hour: { open: 0, requested: 0, filled: 2, abandoned: 0 } }, GAP2025: { hour: { open: 0, requested: 0, filled: 2, abandoned: 0 } } };
    expect(src.health!().gaps).toEqual(filled);
    const back = hj(items).slice(before);
    expect(back).toHaveLength(12 + 2 * 2 + 2 * 2); // 12 minute records, 2 hours × 2 factors × 2 loggers
    expect(back.every((i) => i.fields.resent === true)).toBe(true);
    // 2025 marks its backfill RF=1 on the wire; 2017 has no RF: marked because it answered the request
    expect(l25.requests).toMatchObject([{ cn: '2061', qnRtn: 1, exeRtn: 1, records: 2, cp: { BeginTime: '20260305120000', EndTime: '20260305130000' } }]);
    expect(l17.requests.map((r) => [r.cn, r.records, r.exeRtn])).toEqual([['2051', 12, 1], ['2061', 2, 1]]);
    expect(gapItems().at(-1)).toMatchObject({ tags: { station: 'GAP2017', period: 'hour' }, fields: { open: 0, requested: 0, filled: 2, abandoned: 0 } });

    // ask again for the whole span, before and after the restart: everything is already stored once
    const again = await src.command({ mn: 'GAP2017', cn: '2061', cp: { BeginTime: '20260305080000', EndTime: '20260305130000' } });
    expect(again).toEqual({ mn: 'GAP2017', cn: '2061', qnRtn: '1', exeRtn: '1', records: 6 });
    const again25 = await src.command({ mn: 'GAP2025', cn: '2061', cp: { BeginTime: '20260305080000', EndTime: '20260305130000' } });
    expect(again25).toMatchObject({ records: 6 });
    const all = hj(items);
    const keys = all.map((i) => `${i.tags.station}|${i.tags.code}|${i.tags.period}|${i.ts}`);
    expect(new Set(keys).size).toBe(keys.length); // no duplicates
    expect(all.filter((i) => i.tags.period === 'min')).toHaveLength(36); // 6 h × 6
    expect(all.filter((i) => i.tags.period === 'hour')).toHaveLength(6 * 2 * 2);
    expect(src.health!()).toMatchObject({ deduped: 4 * 2 * 2 }); // hours 08–11 of both loggers, known only from the checkpoint
    for (const i of items) expect(checkers.item.Check(i)).toBe(true);
    // in the outbox too, once each
    const rows = outbox.take(3, 0, Number.MAX_SAFE_INTEGER, 10_000).map((r) => JSON.parse(r.body) as Tel).filter((i) => i.m === 'hj212');
    expect(rows).toHaveLength(36 + 24);
    await src.stop();
    stopped = true;
  });
});

describe('remote commands to loggers (hj212.request)', () => {
  it('a clock-set command (1012) reaches the logger; 9011/9012 and the answers are in the cmdres; errors are coded', async () => {
    const hjPort = await freePort();
    const mqttPort = await freePort(); // no broker: the cmdres waits in the outbox
    const edge = await startEdge(edgeConfig({
      site: 'env-cmd', url: `mqtt://127.0.0.1:${mqttPort}`, password: 'x',
      sources: [{ type: 'hj212', id: 'loggers', host: '127.0.0.1', port: hjPort, stations: [
        { mn: 'CLK2017', password: 'pw17', revision: '2017' },
        { mn: 'CLK2025', password: 'pw25', revision: '2025', sm4Key: KEY25 },
        { mn: 'NOANSWER', password: 'pw', revision: '2017' },
        { mn: 'REFUSER', password: 'pw', revision: '2017' },
        { mn: 'OFFLINE', password: 'pw', revision: '2017' },
      ] }],
    }));
    cleanup.push(() => edge.stop());
    const l17 = await logger(hjPort, { mn: 'CLK2017', password: 'pw17', revision: '2017' });
    const l25 = await logger(hjPort, { mn: 'CLK2025', password: 'pw25', revision: '2025', sm4Key: KEY25 });
    const mute = await logger(hjPort, { mn: 'NOANSWER', password: 'pw', revision: '2017', answerRequests: false });
    const refuser = await logger(hjPort, { mn: 'REFUSER', password: 'pw', revision: '2017', refuseWith: 2 });
    for (const l of [l17, l25, mute, refuser]) expect(await l.heartbeat()).toBe(true);

    let n = 0;
    const run = async (args: Record<string, unknown>) => {
      const cmd: Command = { v: 1, id: `cmd-${++n}`, name: 'hj212.request', args, issuedAt: Date.now() };
      edge.uplink.emit('command', cmd);
      const row = await waitFor(() => edge.outbox.take(1, 0, Number.MAX_SAFE_INTEGER, 1000).map((r) => JSON.parse(r.body)).find((i) => i.kind === 'cmdres' && i.cmdId === cmd.id), { what: `cmdres of ${cmd.id}` });
      expect(checkers.cmdres.Check(row)).toBe(true);
      return row as { ok: boolean; result: Record<string, unknown> };
    };

    // set the clock: 2026-03-05 10:30:00 Beijing
    const set = await run({ mn: 'CLK2017', cn: '1012', cp: { SystemTime: '20260305103000' } });
    expect(set).toMatchObject({ ok: true, result: { mn: 'CLK2017', cn: '1012', qnRtn: '1', exeRtn: '1' } });
    expect(Math.abs(l17.clock() - parseDataTime('20260305103000'))).toBeLessThan(5000);
    expect(l17.requests[0]).toMatchObject({ cn: '1012', cp: { SystemTime: '20260305103000' }, qnRtn: 1, exeRtn: 1 });
    const read = await run({ mn: 'CLK2017', cn: '1011' });
    expect(read).toMatchObject({ ok: true, result: { qnRtn: '1', exeRtn: '1', answer: { cn: '1011' } } });
    expect(Math.abs(parseDataTime((read.result.answer as { cp: { SystemTime: string } }).cp.SystemTime) - parseDataTime('20260305103000'))).toBeLessThan(5000);
    // intervals on the 2025/SM4 logger
    expect(await run({ mn: 'CLK2025', cn: '1063' })).toMatchObject({ ok: true, result: { answer: { cn: '1063', cp: { MinInterval: '10' } } } });
    expect(await run({ mn: 'CLK2025', cn: '1064', cp: { MinInterval: '5' } })).toMatchObject({ ok: true, result: { exeRtn: '1' } });
    expect(await run({ mn: 'CLK2025', cn: '1061' })).toMatchObject({ ok: true, result: { answer: { cp: { RtdInterval: '30' } } } });
    expect(await run({ mn: 'CLK2025', cn: '1062', cp: { RtdInterval: '60' } })).toMatchObject({ ok: true });
    expect([l25.minInterval, l25.rtdInterval]).toEqual([5, 60]);
    // coded errors
    expect(await run({ mn: 'OFFLINE', cn: '1011' })).toMatchObject({ ok: false, result: { code: 'HJ212_NOT_CONNECTED' } });
    expect(await run({ mn: 'REFUSER', cn: '1011' })).toMatchObject({ ok: false, result: { code: 'HJ212_REFUSED' } });
    expect(await run({ mn: 'NOANSWER', cn: '1011', timeoutMs: 300 })).toMatchObject({ ok: false, result: { code: 'HJ212_TIMEOUT' } });
    expect(await run({ mn: 'CLK2017', cn: '1062', cp: { RtdInterval: '1' } })).toMatchObject({ ok: false, result: { code: 'HJ212_BAD_COMMAND' } });
    expect(await run({ mn: 'NOBODY', cn: '1011' })).toMatchObject({ ok: false, result: { code: 'HJ212_BAD_COMMAND' } });
  });
});
