import { afterAll, describe, expect, it } from 'vitest';
import type { Cloud } from '../../cloud/cloud.ts';
import { demoGbfsConfig } from '../../demo/bikes.ts';
import { gbfsValidator } from '../../cloud/gbfs/validate.ts';
import { osloFiles, replayDay } from '../../edge/bikes/replay.ts';
import type { Edge } from '../../edge/edge.ts';
import { edgeConfig, startCloud, startEdge } from '../harness.ts';
import { freePort, waitFor } from '../peers/ports.ts';

type Feed = { data: { stations: Array<{ station_id: string; num_bikes_available: number; num_docks_available: number }> } };

describe('the Oslo day through dock controllers → edge → MQTT → ingest → GBFS', () => {
  let cloud: Cloud;
  let edge: Edge;
  afterAll(async () => { await edge?.stop(); await cloud?.stop(); });

  it("the cloud's station_status equals every hourly snapshot, and validates against GBFS 2.3", async () => {
    cloud = await startCloud({ gbfs: demoGbfsConfig() });
    const password = await cloud.ctx.devices.add('bikes-oslo');
    const port = await freePort();
    edge = await startEdge(edgeConfig({
      site: 'bikes-oslo', password, url: `mqtt://127.0.0.1:${cloud.mqttPort}`,
      sources: [{ type: 'bike-docks', id: 'docks', host: '127.0.0.1', port, token: 'oslo-replay-token', cardKey: 'a-card-key-for-the-test-0123', stationsFile: osloFiles().informationFile, flushMs: 100 }],
    }));
    const validate = gbfsValidator('2.3');
    let hoursChecked = 0;
    const res = await replayDay({
      port, token: 'oslo-replay-token', seed: 5,
      onHour: async (hour, snap) => {
        const want = new Map(snap.data.stations.map((s) => [s.station_id, `${s.num_bikes_available}/${s.num_docks_available}`]));
        let last: string[] = [];
        await waitFor(async () => {
          const feed = (await (await fetch(`${cloud.httpUrl}/gbfs/en/station_status.json`)).json()) as Feed;
          const got = new Map(feed.data.stations.map((s) => [s.station_id, `${s.num_bikes_available}/${s.num_docks_available}`]));
          last = [...want].filter(([id, v]) => got.get(id) !== v).map(([id, v]) => `${id}: want ${v} got ${got.get(id)}`);
          if (last.length) return false;
          expect(validate('station_status', feed)).toEqual([]);
          return true;
        }, { timeoutMs: 15_000, intervalMs: 50, what: `hour ${hour}: ${last.slice(0, 3).join('; ')}` });
        hoursChecked++;
      },
    });
    expect(res).toMatchObject({ stations: 260, hours: 24 });
    expect(hoursChecked).toBe(24);
    // rentals and returns went up as events with pseudonymous cards only
    const rentals = cloud.ctx.db.prepare("SELECT body FROM events WHERE site = 'bikes-oslo' AND type = 'bike.rental' LIMIT 50").all() as Array<{ body: string }>;
    expect(rentals.length).toBeGreaterThan(0);
    for (const r of rentals) expect(JSON.parse(r.body).data.card).toMatch(/^p_[A-Za-z0-9_-]{22}$/);
  });
});
