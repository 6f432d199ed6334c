import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Hj212Client } from '../../firmware-bridge/hj212/simulator.ts';
import { Hj212Source, Hj212SourceConfig, hj212Factory } from './hj212.ts';
import { Outbox } from '../outbox/outbox.ts';
import { checkers, type AlertItem, type NewItem } from '../../protocol/schemas.ts';
import { tempDir } from '../../test/peers/ports.ts';
import { validateConfig } from '../../lib/config.ts';
import { memoryContext } from '../../test/support/source-context.ts';

/**
 * The HJ 212 edge source wired into the env pipeline: alert rules from the source config
 * evaluate on every accepted frame, their items are committed in the same outbox
 * transaction as the hj212 telemetry and the open-alert checkpoint, and only then is the
 * 9014 ack sent.
 */
const T = Date.UTC(2024, 0, 1, 0) - 8 * 3600_000; // 2024-01-01 00:00 Beijing
const H = 3600_000;
const stations = [
  { mn: 'AIR2017', password: '123456', revision: '2017' as const },
  { mn: 'AIR2025', password: '654321', revision: '2025' as const, sm4Key: '0123456789abcdeffedcba9876543210', requireEncryption: true },
];
const alerts = [
  { id: 'pm25-hour', kind: 'limit', match: { pollutant: 'PM2.5' }, limit: 150, clearAt: 115, consecutive: 2, clearConsecutive: 1 },
  { id: 'analyser', kind: 'instrument', match: {}, flags: ['C', 'M', 'D'] },
];
const cleanup: Array<() => unknown> = [];
afterEach(async () => { for (const f of cleanup.splice(0).reverse()) await f(); });

function sourceConfig(pipeline: Record<string, unknown> = { alerts }) {
  // through the factory schema exactly as the edge config loader does (defaults applied)
  return validateConfig(hj212Factory.schema, { type: 'hj212', id: 'hj', host: '127.0.0.1', port: 0, stations, pipeline }, 'test');
}

async function logger(port: number, st: (typeof stations)[number]) {
  const c = new Hj212Client({ port, mn: st.mn, password: st.password, revision: st.revision, sm4Key: 'sm4Key' in st ? st.sm4Key : undefined, ackTimeoutMs: 500, maxAttempts: 1 });
  await c.connect();
  cleanup.push(() => c.close());
  return c;
}
const pm = (v: number, flag = 'N') => [{ code: 'a34004', fields: { Avg: v, Flag: flag } }];
const alertsOf = (items: NewItem[]) => items.filter((i): i is Omit<AlertItem, 'id' | 'seq'> => i.kind === 'alert');

describe('hj212 source → env pipeline', () => {
  it('raises an exceedance at the edge, clears it, and keeps the bridge items; defaults: no env raw/aggregates', async () => {
    const { ctx, items, checkpoints } = memoryContext();
    const src = hj212Factory.create(sourceConfig());
    await src.start(ctx);
    cleanup.push(() => src.stop());
    const c = await logger(src.health!().port as number, stations[0]);
    for (const [i, v] of [120, 160, 180, 190, 100].entries()) expect((await c.sendData('2061', T + i * H, pm(v))).acked).toBe(true);
    const al = alertsOf(items);
    expect(al.map((a) => [a.state, a.ts])).toEqual([['raise', T + 2 * H], ['clear', T + 4 * H]]);
    expect(al[0]).toMatchObject({ rule: 'pm25-hour', source: 'AIR2017/PM2.5', severity: 'critical', data: { type: 'exceedance', value: 180, limit: 150 } });
    expect(items.filter((i) => i.kind === 'telemetry' && i.m === 'hj212')).toHaveLength(5);
    expect(items.filter((i) => i.kind === 'telemetry' && i.m === 'env')).toHaveLength(0);
    for (const it of items) expect(checkers.item.Check({ ...it, id: '0190a5a0-0000-7000-8000-000000000001', seq: 1 })).toBe(true);
    expect(JSON.parse(checkpoints.get('env.alerts:hj')!)).toMatchObject({ raised: [] }); // plus each rule's streaks and samples (rules)
  });

  it('an analyser in calibration (flag C) raises an instrument alert, never an exceedance; 2025 SM4 logger too', async () => {
    const { ctx, items } = memoryContext();
    const src = hj212Factory.create(sourceConfig({ alerts, raw: true }));
    await src.start(ctx);
    cleanup.push(() => src.stop());
    const c = await logger(src.health!().port as number, stations[1]);
    for (let i = 0; i < 4; i++) expect((await c.sendData('2061', T + i * H, pm(400, 'C'))).acked).toBe(true);
    const al = alertsOf(items);
    expect(al.map((a) => [a.rule, a.state, a.source])).toEqual([['analyser', 'raise', 'AIR2025/PM2.5']]);
    expect(al[0].data).toMatchObject({ type: 'instrument', flag: 'C' });
    // the instrument's flag travels unchanged in both measurements
    const env = items.filter((i) => i.kind === 'telemetry' && i.m === 'env') as Array<{ fields: Record<string, unknown> }>;
    expect(env).toHaveLength(4);
    expect(env.every((e) => e.fields.flag === 'C' && e.fields.value === 400)).toBe(true);
  });

  it('commits alert + hj212 items + checkpoint in one outbox transaction before the ack; a failed commit sends no ack and loses no raise', async () => {
    const outbox = new Outbox(path.join(tempDir('hj-outbox-'), 'outbox.db'), { capBytes: 64 * 1024 * 1024 });
    cleanup.push(() => outbox.close());
    let fail = false;
    const { ctx } = memoryContext();
    const realCtx = { ...ctx, emit: (xs: NewItem[], cp?: { key: string; value: string }) => { if (fail) throw new Error('disk full'); return outbox.append(xs, cp); }, checkpoint: (k: string) => outbox.checkpoint(k) };
    const src = hj212Factory.create(sourceConfig());
    await src.start(realCtx);
    cleanup.push(() => src.stop());
    const c = await logger(src.health!().port as number, stations[0]);
    expect((await c.sendData('2061', T, pm(200))).acked).toBe(true);
    // the 2nd exceedance would raise, but the disk fails: no ack, nothing stored, engine rolled back
    fail = true;
    expect((await c.sendData('2061', T + H, pm(210))).acked).toBe(false);
    expect(outbox.take(0, 0, Number.MAX_SAFE_INTEGER, 10)).toHaveLength(0);
    expect(src.health!()).toMatchObject({ rejected: { HJ212_STORE: 1 } });
    // the logger re-sends (RF=1 in 2025, unchanged in 2017): now the raise is produced and stored
    fail = false;
    expect(await c.resendBacklog()).toBe(1);
    const rows = outbox.take(0, 0, Number.MAX_SAFE_INTEGER, 10);
    expect(rows).toHaveLength(1);
    expect(rows[0].channel).toBe('alerts');
    expect(JSON.parse(rows[0].body)).toMatchObject({ kind: 'alert', state: 'raise', rule: 'pm25-hour', ts: T + H, data: { value: 210 } });
    expect(JSON.parse(outbox.checkpoint('env.alerts:hj')!)).toMatchObject({ raised: [{ rule: 'pm25-hour', source: 'AIR2017/PM2.5' }] });
    // hj212 telemetry of both frames, once each
    expect(outbox.take(3, 0, Number.MAX_SAFE_INTEGER, 10).map((r) => JSON.parse(r.body).ts)).toEqual([T, T + H]);
  });
});

describe('hj212 source: gap state with the outbox', () => {
  const gapStations = [{ mn: 'OBS2017', password: '123456', revision: '2017' as const, intervals: { hour: true } }];
  const gapConfig = (backfill: Record<string, unknown>) => validateConfig(Hj212SourceConfig, { type: 'hj212', id: 'hj', host: '127.0.0.1', port: 0, stations: gapStations, backfill: { tickMs: 60_000, ...backfill }, pipeline: { alerts: [] } }, 'test');

  it('observed-time mode: a jump in DataTime reveals the gap, which is requested and filled (replays, no wall clock involved)', async () => {
    const { ctx, items } = memoryContext();
    const src = new Hj212Source(gapConfig({ clock: 'observed', graceMinutes: { hour: 0 } }), { now: () => Date.UTC(2030, 0, 1) });
    await src.start(ctx);
    cleanup.push(() => src.stop());
    const c = await logger(src.health!().port as number, gapStations[0]);
    for (const h of [0, 1]) expect((await c.sendData('2061', T + h * H, pm(50))).acked).toBe(true);
    for (const h of [2, 3]) c.record('2061', T + h * H, pm(60 + h)); // lost on the way
    expect((await c.sendData('2061', T + 4 * H, pm(50))).acked).toBe(true); // observed time is now 05:00: hours 2 and 3 are over
    const [req] = src.tick();
    expect(req).toMatchObject({ cn: '2061', beginTime: '20240101020000', endTime: '20240101030000' });
    await Promise.all([...src.inflight]);
    expect(src.health!().gaps).toEqual({ OBS2017: { hour: { open: 0, requested: 0, filled: 2, abandoned: 0 } } });
    const hj = items.filter((i) => i.kind === 'telemetry' && i.m === 'hj212') as Array<{ ts: number; fields: Record<string, unknown> }>;
    expect(hj.map((i) => [(i.ts - T) / H, i.fields.avg, i.fields.resent ?? false])).toEqual([[0, 50, false], [1, 50, false], [4, 50, false], [2, 62, true], [3, 63, true]]);
  });

  it('a failed outbox commit rolls the gap state back too: the re-sent record is stored, not taken for a duplicate', async () => {
    const outbox = new Outbox(path.join(tempDir('hj-gap-rb-'), 'outbox.db'), { capBytes: 64 * 1024 * 1024 });
    cleanup.push(() => outbox.close());
    let fail = false;
    const { ctx } = memoryContext();
    const realCtx = { ...ctx, emit: (xs: NewItem[], cp?: { key: string; value: string }) => { if (fail) throw new Error('disk full'); return outbox.append(xs, cp); }, checkpoint: (k: string) => outbox.checkpoint(k) };
    const src = new Hj212Source(gapConfig({}), { now: () => T + 2 * H });
    await src.start(realCtx);
    cleanup.push(() => src.stop());
    const c = await logger(src.health!().port as number, gapStations[0]);
    expect((await c.sendData('2061', T, pm(40))).acked).toBe(true);
    fail = true;
    expect((await c.sendData('2061', T + H, pm(41))).acked).toBe(false);
    fail = false;
    expect(await c.resendBacklog()).toBe(1);
    const rows = outbox.take(3, 0, Number.MAX_SAFE_INTEGER, 10).map((r) => JSON.parse(r.body)).filter((i) => i.m === 'hj212');
    expect(rows.map((r) => (r.ts - T) / H)).toEqual([0, 1]);
    expect(src.health!()).toMatchObject({ deduped: 0 });
    const saved = JSON.parse(outbox.checkpoint('env.alerts:hj')!);
    expect(saved).toMatchObject({ raised: [], state: { v: 1, series: { 'OBS2017|hour|*': { recv: [[T, 2]] } } } });
  });
});
