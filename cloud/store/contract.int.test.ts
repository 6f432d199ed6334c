import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InfluxPeer } from '../../test/peers/influx.ts';
import { tempDir } from '../../test/peers/ports.ts';
import { InfluxStore } from './influx-store.ts';
import { SqliteStore } from './sqlite-store.ts';
import type { Point, SeriesStore } from './types.ts';

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
  });
}

const sqliteDir = tempDir('sqlite-store-');
contract('sqlite (embedded)', async () => new SqliteStore(path.join(sqliteDir, 'series.db')));

const influx = new InfluxPeer();
contract('influxdb 1.x (real influxd)', async () => { await influx.start(); return new InfluxStore(influx.url, 'contract'); }, () => influx.stop());
