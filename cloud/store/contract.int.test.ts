import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InfluxPeer } from '../../test/peers/influx.ts';
import { tempDir } from '../../test/peers/ports.ts';
import { InfluxStore } from './influx-store.ts';
import { SqliteStore } from './sqlite-store.ts';
import type { Point, SeriesStore, StoreRefusedError } from './types.ts';

/**
 * One contract every SeriesStore passes (aedes-persistence's abstract-suite idea):
 * idempotent writes, raw and windowed queries, tag filters, group-by, bad names refused.
 */
const T0 = Date.UTC(2024, 0, 1, 0, 0, 0);
function points(): Point[] {
  const out: Point[] = [];
  for (let i = 0; i < 120; i++) {
    for (const station of ['s1', 's2']) {
      out.push({ measurement: 'air', tags: { site: 'site-a', station }, fields: { pm25: station === 's1' ? i : 1000 + i, flag: 'N' }, time: T0 + i * 30_000 });
    }
  }
  out.push({ measurement: 'air', tags: { site: 'site-b', station: 's9' }, fields: { pm25: 5, flag: 'N' }, time: T0 });
  return out;
}

function contract(name: string, make: () => Promise<SeriesStore>, cleanup: () => Promise<void> = async () => {}) {
  describe(`SeriesStore contract: ${name}`, () => {
    let store: SeriesStore;
    beforeAll(async () => {
      store = await make();
      await store.init();
      await store.write(points());
      await store.write(points()); // a rewrite must not duplicate
    });
    afterAll(async () => { await store.close(); await cleanup(); });

    it('answers ping', async () => {
      expect(await store.ping()).toBe(true);
    });

    it('returns raw points once each, filtered by site and tag', async () => {
      const r = await store.query({ measurement: 'air', fields: ['pm25', 'flag'], from: T0, to: T0 + 3600_000, site: 'site-a', tags: { station: 's1' } });
      expect(r.series).toHaveLength(1);
      expect(r.series[0].values).toHaveLength(120);
      expect(r.series[0].values[7]).toEqual([T0 + 7 * 30_000, 7, 'N']);
    });

    it('aggregates in windows (mean/max/count) and groups by tag', async () => {
      const mean = await store.query({ measurement: 'air', fields: ['pm25'], from: T0, to: T0 + 3600_000, site: 'site-a', tags: { station: 's1' }, windowMs: 600_000, agg: 'mean' });
      expect(mean.series[0].values.map((v) => v[1])).toEqual([9.5, 29.5, 49.5, 69.5, 89.5, 109.5]);
      const max = await store.query({ measurement: 'air', fields: ['pm25'], from: T0, to: T0 + 600_000, site: 'site-a', windowMs: 600_000, agg: 'max', groupBy: ['station'] });
      const byStation = Object.fromEntries(max.series.map((s) => [s.tags.station, s.values[0][1]]));
      expect(byStation).toEqual({ s1: 19, s2: 1019 });
      const count = await store.query({ measurement: 'air', fields: ['pm25'], from: T0, to: T0 + 3600_000, windowMs: 3600_000, agg: 'count' });
      expect(count.series[0].values[0][1]).toBe(241);
    });

    it('respects the time range (start inclusive, end exclusive)', async () => {
      const r = await store.query({ measurement: 'air', fields: ['pm25'], from: T0 + 30_000, to: T0 + 90_000, site: 'site-a', tags: { station: 's1' } });
      expect(r.series[0].values.map((v) => v[1])).toEqual([1, 2]);
    });

    it('stores tag values and strings with line-protocol special characters unchanged', async () => {
      const odd = 'a b,c=d"e\\f ü/ß';
      await store.write([{ measurement: 'odd', tags: { site: 'site-z', station: odd }, fields: { note: `say "hi", x=1 \\ ${odd}`, ok: true, v: -1.5e-7 }, time: T0 }]);
      const r = await store.query({ measurement: 'odd', fields: ['note', 'ok', 'v'], from: T0, to: T0 + 1, site: 'site-z', tags: { station: odd } });
      expect(r.series[0].values[0]).toEqual([T0, `say "hi", x=1 \\ ${odd}`, true, -1.5e-7]);
    });

    it('refuses names that could inject a query', async () => {
      await expect(store.query({ measurement: 'air" WHERE 1=1 --', fields: ['pm25'], from: T0, to: T0 + 1 })).rejects.toMatchObject({ code: 'STORE_BAD_NAME' });
      await expect(store.query({ measurement: 'air', fields: ["pm25'"], from: T0, to: T0 + 1 })).rejects.toMatchObject({ code: 'STORE_BAD_NAME' });
    });

    it('a filter value with quotes is a value, not syntax', async () => {
      const r = await store.query({ measurement: 'air', fields: ['pm25'], from: T0, to: T0 + 3600_000, site: "site-a' OR 'x'='x" });
      expect(r.series).toHaveLength(0);
    });

    // ---- what the store refuses for good (InfluxDB answers 400), the same in every store ----------
    /** A write the store refuses for good: a permanent, coded error; every point it names is one of `bad`. */
    async function refused(points: Point[], bad: number[], reason: RegExp): Promise<void> {
      const err = await store.write(points).then(() => undefined, (e: unknown) => e);
      expect(err, 'the write must be refused').toBeDefined();
      expect(err).toMatchObject({ code: 'STORE_REFUSED', permanent: true });
      const named = (err as StoreRefusedError).refused.map((r) => r.index);
      for (const i of named) expect(bad).toContain(i);
      expect(String((err as Error).message) + (err as StoreRefusedError).refused.map((r) => r.reason).join(' ')).toMatch(reason);
      // written alone, each bad point is refused and named exactly, with the store's reason
      for (const i of bad) {
        const alone = await store.write([points[i]]).then(() => undefined, (e: unknown) => e);
        expect(alone, `point ${i} alone`).toMatchObject({ code: 'STORE_REFUSED', permanent: true });
        expect((alone as StoreRefusedError).refused).toEqual([{ index: 0, reason: expect.stringMatching(reason) }]);
      }
      // and the rest of the batch is written
      await store.write(points.filter((_, i) => !bad.includes(i)));
    }
    const at = (k: number) => T0 + 7200_000 + k * 1000;
    const pt = (m: string, fields: Point['fields'], k: number, tags: Record<string, string> = { station: 's1' }): Point => ({ measurement: m, tags: { site: 'site-r', ...tags }, fields, time: at(k) });

    it('a field keeps the type it was first written with in its measurement (first type seen wins)', async () => {
      await store.write([pt('typed', { pm25: 1.5, ok: true, note: 'a' }, 0)]);
      await refused([pt('typed', { pm25: 2 }, 1), pt('typed', { pm25: 'n/a' }, 2, { station: 's2' }), pt('typed', { pm25: 3 }, 3)], [1], /field type conflict/);
      await refused([pt('typed', { ok: 1 }, 4), pt('typed', { ok: false }, 5)], [0], /field type conflict/);
      await refused([pt('typed', { note: true }, 6), pt('typed', { note: 'b' }, 7)], [0], /field type conflict/);
      // another series of the same measurement: the same rule (InfluxDB: per shard, these are in one)
      await refused([pt('typed', { pm25: 'x' }, 8, { station: 's9' })], [0], /field type conflict/);
      // another measurement may use the name with another type
      await store.write([pt('typed2', { pm25: 'text' }, 0)]);
      const r = await store.query({ measurement: 'typed', fields: ['pm25', 'ok', 'note'], from: at(0), to: at(10), site: 'site-r', groupBy: ['station'] });
      expect(r.series.map((s) => [s.tags.station, s.values])).toEqual([
        ['s1', [[at(0), 1.5, true, 'a'], [at(1), 2, null, null], [at(3), 3, null, null], [at(5), null, false, null], [at(7), null, null, 'b']]],
      ]);
    });

    it('within one batch, a new field takes the type of its first point', async () => {
      await refused([pt('fresh', { v: 1 }, 0), pt('fresh', { v: 'one' }, 1), pt('fresh', { v: 2 }, 2)], [1], /field type conflict/);
      const r = await store.query({ measurement: 'fresh', fields: ['v'], from: at(0), to: at(10), site: 'site-r' });
      expect(r.series[0].values).toEqual([[at(0), 1], [at(2), 2]]);
    });

    it('refuses a field or tag named time, and a tag value ending in a backslash (line protocol cannot carry it)', async () => {
      await refused([pt('names', { v: 1 }, 0), pt('names', { time: 1 }, 1)], [1], /invalid field name/);
      await refused([pt('names', { v: 2 }, 2, { time: 'x' }), pt('names', { v: 3 }, 3)], [0], /invalid tag key/);
      await refused([pt('names', { v: 4 }, 4, { station: 'a\\' }), pt('names', { v: 5 }, 5), pt('names', { v: 6 }, 6, { station: '\\' })], [0, 2], /invalid tag format/);
      // a backslash elsewhere in a tag value is fine
      await store.write([pt('names', { v: 7 }, 7, { station: 'a\\b' })]);
      const r = await store.query({ measurement: 'names', fields: ['v'], from: at(0), to: at(10), site: 'site-r', groupBy: ['station'] });
      expect(r.series.map((s) => [s.tags.station, s.values.map((v) => v[1])])).toEqual([['a\\b', [7]], ['s1', [1, 3, 5]]]);
    });

    it('refuses names outside NAME_RE and numbers it cannot store, on write too', async () => {
      await refused([pt('names2', { v: 1 }, 0), pt('bad name', { v: 1 }, 1)], [1], /not allowed/);
      await refused([pt('names2', { 'v"x': 1 }, 2), pt('names2', { v: 2 }, 3)], [0], /not allowed/);
      await refused([pt('names2', { v: 3 }, 4, { 'st ation': 'x' })], [0], /not allowed/);
      await refused([pt('names2', { v: Number.NaN }, 5), pt('names2', { v: Infinity }, 6), pt('names2', { v: 4 }, 7)], [0, 1], /cannot be stored/);
    });
  });
}

const sqliteDir = tempDir('sqlite-store-');
contract('sqlite (embedded)', async () => new SqliteStore(path.join(sqliteDir, 'series.db')));

const influx = new InfluxPeer();
contract('influxdb 1.x (real influxd)', async () => { await influx.start(); return new InfluxStore(influx.url, 'contract'); }, () => influx.stop());
