import fs from 'node:fs';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { dataFile } from '../../lib/data-dir.ts';
import { DockServer } from '../../firmware-bridge/dock/server.ts';
import { gbfsRoutes } from '../../cloud/gbfs/routes.ts';
import { GbfsStationStore } from '../../cloud/gbfs/store.ts';
import { gbfsValidator } from '../../cloud/gbfs/validate.ts';
import { BikeSite } from './site.ts';
import { replayDay } from './replay.ts';
import { stationsFromGbfs, makeAuthorizer } from '../sources/bike-docks.ts';

const INFO = dataFile('bikes', 'oslo_station_information_2022-10-23.json');
const cleanup: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => { for (const f of cleanup.splice(0).reverse()) await f(); });

/** controllers → DOCK/1 server → edge station state → items → cloud store → GBFS HTTP (in-process, no MQTT). */
async function chain() {
  const stations = stationsFromGbfs(INFO);
  const site = new BikeSite({ cardKey: 'replay-card-key-0123456789', stations, maxClockSkewMs: Infinity });
  const server = new DockServer({ ...site.handler, authorize: makeAuthorizer({ token: 'replay-token', allowUnknownStations: false }, new Set(stations.map((s) => s.id))) });
  const port = await server.listen();
  cleanup.push(() => server.close());
  const store = GbfsStationStore.fromFile(INFO);
  const app = Fastify();
  await app.register(gbfsRoutes, { state: store, system: { system_id: 'oslobysykkel', name: 'Oslo Bysykkel', language: 'en', timezone: 'Europe/Oslo', feed_contact_email: 'gbfs@example.org' }, baseUrl: 'http://localhost' });
  cleanup.push(() => app.close());
  const pump = () => {
    site.tick();
    for (const item of site.drain()) if (item.kind === 'telemetry' && item.m === 'bike_station') store.applyItem('oslo-1', item);
  };
  return { site, server, store, app, port, pump };
}

async function runDay(opts: { lossRate?: number; dupRate?: number }) {
  const { site, server, app, port, pump } = await chain();
  const validate = gbfsValidator('2.3');
  const mismatches: string[] = [];
  let checked = 0;
  const res = await replayDay({
    port, token: 'replay-token', churn: 1, seed: 11, ...opts,
    onHour: async (hour, snap) => {
      pump();
      const r = await app.inject({ method: 'GET', url: '/gbfs/en/station_status.json' });
      const feed = r.json() as { last_updated: number; data: { stations: { station_id: string; num_bikes_available: number; num_docks_available: number; last_reported: number }[] } };
      expect(validate('station_status', feed)).toEqual([]);
      const byId = new Map(feed.data.stations.map((s) => [s.station_id, s]));
      expect(byId.size).toBe(snap.data.stations.length);
      for (const s of snap.data.stations) {
        const got = byId.get(s.station_id);
        checked++;
        if (!got || got.num_bikes_available !== s.num_bikes_available || got.num_docks_available !== s.num_docks_available) {
          mismatches.push(`h${hour} ${s.station_id}: want ${s.num_bikes_available}/${s.num_docks_available} got ${got?.num_bikes_available}/${got?.num_docks_available}`);
        }
      }
      // every station's last report is the hour's full status (controller clock, 2022)
      expect(feed.data.stations.every((s) => s.last_reported === snap.last_updated)).toBe(true);
    },
  });
  return { res, mismatches, checked, site, server };
}

describe('Oslo day replay through DOCK/1 controllers', () => {
  it('after every hour, GBFS station_status equals the snapshot for all 260 stations', async () => {
    const { res, mismatches, checked, site, server } = await runDay({});
    expect(res).toMatchObject({ stations: 260, hours: 24, dropped: 0 });
    expect(checked).toBe(260 * 24);
    expect(mismatches).toEqual([]);
    expect(res.events).toBeGreaterThan(5000);
    expect(site.stats()).toMatchObject({ inconsistencies: 0 });
    // The events alone were exact: the only docks any STATUS corrected are the initial seeding ones
    // (controllers start as all-empty after HELLO; the first STATUS sets bikes and disabled docks).
    const initial = JSON.parse(fs.readFileSync(dataFile('bikes', 'oslo_station_status_2022-10-23.json'), 'utf8')) as { data: { stations: { station_id: string; num_docks_available: number }[] } };
    const cap = new Map(stationsFromGbfs(INFO).map((s) => [s.id, s.docks]));
    const seeded = initial.data.stations.reduce((a, s) => a + cap.get(s.station_id)! - s.num_docks_available, 0);
    expect(site.counters.corrections).toBe(seeded);
    expect(server.stats()).toMatchObject({ badLines: 0, gaps: 0 });
  });

  it('with 3 % of event lines lost and 3 % duplicated, the hourly full status still makes every hour exact', async () => {
    const { res, mismatches, site, server } = await runDay({ lossRate: 0.03, dupRate: 0.03 });
    expect(res.dropped).toBeGreaterThan(100);
    expect(res.duplicated).toBeGreaterThan(100);
    expect(server.stats().duplicates).toBe(res.duplicated);
    expect(site.counters.corrections).toBeGreaterThan(0); // losses really did leave wrong docks before each STATUS
    expect(mismatches).toEqual([]);
  });
});
