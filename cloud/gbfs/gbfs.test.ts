import fs from 'node:fs';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataFile } from '../../lib/data-dir.ts';
import { gbfsRoutes } from './routes.ts';
import { GbfsStationStore, type BikeTelemetryLike } from './store.ts';
import { gbfsValidator } from './validate.ts';
import type { SystemConfig } from './feeds.ts';
import { createGbfs } from './config.ts';
import { isCoded } from '../../lib/errors.ts';

const SYSTEM: SystemConfig = { system_id: 'oslobysykkel', name: 'Oslo Bysykkel', language: 'en', timezone: 'Europe/Oslo', feed_contact_email: 'gbfs@example.org', operator: 'UIP', url: 'https://oslobysykkel.no' };
const osloStatus = JSON.parse(fs.readFileSync(dataFile('bikes', 'oslo_station_status_2022-10-23.json'), 'utf8')) as { data: { stations: { station_id: string; num_bikes_available: number; num_docks_available: number; last_reported: number }[] } };

function itemFor(s: { station_id: string; num_bikes_available: number; num_docks_available: number; last_reported: number }, ts = s.last_reported * 1000): BikeTelemetryLike {
  return { kind: 'telemetry', m: 'bike_station', ts, tags: { station: s.station_id }, fields: { num_bikes_available: s.num_bikes_available, num_bikes_disabled: 0, num_docks_available: s.num_docks_available, num_docks_disabled: 1, capacity: 30, is_installed: true, is_renting: true, is_returning: true, last_reported: s.last_reported * 1000 } };
}

describe('GBFS store', () => {
  it('applies bike_station telemetry, ignores stale, unknown and invalid items', () => {
    const store = GbfsStationStore.fromFile(dataFile('bikes', 'oslo_station_information_2022-10-23.json'));
    expect(store.info).toHaveLength(260);
    const s = osloStatus.data.stations[0];
    expect(store.applyItem('site-a', itemFor(s))).toBe(true);
    expect(store.get(s.station_id)).toMatchObject({ num_bikes_available: s.num_bikes_available, site: 'site-a' });
    expect(store.applyItem('site-a', itemFor({ ...s, num_bikes_available: 99 }, s.last_reported * 1000 - 1))).toBe(false); // older
    expect(store.get(s.station_id)!.num_bikes_available).toBe(s.num_bikes_available);
    expect(store.applyItem('site-a', itemFor({ ...s, station_id: 'nope' }))).toBe(false);
    expect(store.applyItem('site-a', { ...itemFor(s), fields: { num_bikes_available: -1 } })).toBe(false);
    expect(store.applyItem('site-a', { ...itemFor(s), m: 'air' })).toBe(false);
    expect(store.stats()).toMatchObject({ applied: 1, stale: 1, unknownStation: 1, invalid: 1, ignored: 1, reporting: 1 });
  });
});

describe('GBFS feeds over HTTP', () => {
  const app = Fastify();
  const store = GbfsStationStore.fromFile(dataFile('bikes', 'oslo_station_information_2022-10-23.json'));
  const v2 = gbfsValidator('2.3');
  const v3 = gbfsValidator('3.0');
  beforeAll(async () => {
    for (const s of osloStatus.data.stations) store.applyItem('site-a', itemFor(s));
    await app.register(gbfsRoutes, { state: store, system: SYSTEM, baseUrl: 'https://bikes.example.org', ttl: { status: 15 } });
    await app.ready();
  });
  afterAll(() => app.close());

  const get = async (url: string) => {
    const r = await app.inject({ method: 'GET', url });
    expect(r.statusCode, url).toBe(200);
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    return { body: r.json(), headers: r.headers };
  };

  it('v2.3: every feed validates against the official schema and gbfs.json lists the feed URLs', async () => {
    const gbfs = (await get('/gbfs/gbfs.json')).body;
    expect(v2('gbfs', gbfs)).toEqual([]);
    const feeds = gbfs.data.en.feeds as { name: string; url: string }[];
    expect(feeds.map((f) => f.name).sort()).toEqual(['gbfs_versions', 'station_information', 'station_status', 'system_information']);
    for (const f of feeds) {
      const path = new URL(f.url).pathname;
      expect(f.url.startsWith('https://bikes.example.org/gbfs/')).toBe(true);
      const { body } = await get(path);
      expect(v2(f.name, body), f.name).toEqual([]);
    }
    const { body: status, headers } = await get('/gbfs/en/station_status.json');
    expect(status.ttl).toBe(15);
    expect(headers['cache-control']).toBe('public, max-age=15');
    expect(status.data.stations).toHaveLength(260);
    // last_updated = newest report, in POSIX seconds
    expect(status.last_updated).toBe(Math.max(...osloStatus.data.stations.map((s) => s.last_reported)));
    const first = osloStatus.data.stations[0];
    expect(status.data.stations.find((s: { station_id: string }) => s.station_id === first.station_id)).toMatchObject({ num_bikes_available: first.num_bikes_available, num_docks_available: first.num_docks_available, is_renting: true });
  });

  it('v3.0: manifest, gbfs.json and feeds validate; shapes differ from v2.3', async () => {
    const manifest = (await get('/gbfs/manifest.json')).body;
    expect(v3('manifest', manifest)).toEqual([]);
    expect(manifest.data.datasets[0].versions.map((v: { version: string }) => v.version)).toEqual(['2.3', '3.0']);
    const gbfs = (await get('/gbfs/v3/gbfs.json')).body;
    expect(v3('gbfs', gbfs)).toEqual([]);
    for (const f of gbfs.data.feeds as { name: string; url: string }[]) {
      const { body } = await get(new URL(f.url).pathname);
      expect(v3(f.name, body), f.name).toEqual([]);
    }
    const status = (await get('/gbfs/v3/station_status.json')).body;
    expect(typeof status.last_updated).toBe('string');
    expect(status.data.stations[0]).toHaveProperty('num_vehicles_available');
    const info = (await get('/gbfs/v3/station_information.json')).body;
    expect(info.data.stations[0].name).toEqual([{ text: 'Sogn Studentby', language: 'en' }]);
  });

  it('the validator really rejects: the raw Oslo GBFS 2.2 status (integer flags) fails the 2.3 schema', () => {
    const raw = JSON.parse(fs.readFileSync(dataFile('bikes', 'oslo_station_status_2022-10-23.json'), 'utf8'));
    raw.version = '2.3';
    const errors = v2('station_status', raw);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]).toMatch(/is_installed|boolean/);
  });
});

describe('GBFS config', () => {
  it('createGbfs builds the store and plugin options from a config block; bad blocks get a coded error', async () => {
    const g = createGbfs({ stationInformationFile: 'oslo_station_information_2022-10-23.json', system: { system_id: 'oslo', name: 'Oslo Bysykkel', timezone: 'Europe/Oslo', feed_contact_email: 'gbfs@example.org' }, ttl: { status: 5 } }, dataFile('bikes'));
    expect(g.store.info).toHaveLength(260);
    expect(g.routes).toMatchObject({ path: '/gbfs', ttl: { status: 5, information: 3600 }, versions: ['2.3', '3.0'], system: { language: 'en' } });
    const app = Fastify();
    await app.register(gbfsRoutes, g.routes);
    const r = await app.inject({ url: '/gbfs/en/system_information.json' });
    expect(gbfsValidator('2.3')('system_information', r.json())).toEqual([]);
    await app.close();
    try {
      createGbfs({ stationInformationFile: 'x.json', system: { system_id: 'a', name: 'b', timezone: 'Europe/Oslo', feed_contact_email: 'not-an-email' } });
      expect.unreachable();
    } catch (err) {
      expect(isCoded(err, 'GBFS_CONFIG_INVALID')).toBe(true);
    }
  });
});
