import crypto from 'node:crypto';
import path from 'node:path';
import { freePort } from '../lib/net.ts';
import type { Cloud } from '../cloud/cloud.ts';
import { validateEdgeConfig } from '../edge/config.ts';
import { Edge } from '../edge/edge.ts';
import { osloFiles, replayDay } from '../edge/bikes/replay.ts';

/** The cloud config block the bikes part of the demo needs (GBFS feeds from the Oslo station list). */
export function demoGbfsConfig() {
  return {
    stationInformationFile: osloFiles().informationFile,
    system: { system_id: 'cityedge-demo-bikes', name: 'cityedge demo bikes (Oslo Bysykkel data, 2022-10-24)', timezone: 'Europe/Oslo', feed_contact_email: 'ops@example.org', language: 'en' },
  };
}

/**
 * A bike site: one edge with a DOCK/1 server for Oslo's 260 stations, and simulated dock
 * controllers replaying the real day of 2022-10-24 hour by hour (looping), so the cloud's
 * GBFS station_status follows the real snapshots.
 */
export async function startBikesDemo(o: { cloud: Cloud; root: string; mqttPort: number; hourMs: number }): Promise<{ lines: string[]; stop: () => Promise<void> }> {
  const site = 'bikes-oslo';
  const password = await o.cloud.ctx.devices.add(site);
  const port = await freePort();
  const token = crypto.randomBytes(12).toString('base64url');
  const { config, factories } = await validateEdgeConfig({
    site,
    stateDir: path.join(o.root, 'edges', site),
    mqtt: { url: `mqtt://127.0.0.1:${o.mqttPort}`, password },
    uplink: { statusIntervalMs: 5000 },
    sources: [{ type: 'bike-docks', id: 'docks', host: '127.0.0.1', port, token, cardKey: crypto.randomBytes(24).toString('base64url'), stationsFile: osloFiles().informationFile, silentS: 600 }],
  }, 'demo bikes site', o.root);
  const edge = await new Edge(config, factories).start();
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      await replayDay({ port, token, hourDelayMs: o.hourMs, onHour: () => { if (stopped) throw new Error('stopped'); } }).catch((err) => { if (!stopped) console.error(`[demo] bike replay: ${(err as Error).message}`); });
    }
  })();
  const api = o.cloud.httpUrl;
  return {
    lines: [
      `  bike site      ${site}: 260 Oslo stations as DOCK/1 dock controllers on 127.0.0.1:${port}, replaying the real day 2022-10-24 (${o.hourMs / 1000} s per hour)`,
      `  GBFS           ${api}/gbfs/gbfs.json  (v2.3; v3.0 at ${api}/gbfs/manifest.json)`,
    ],
    stop: async () => {
      stopped = true;
      await Promise.race([loop, new Promise((r) => setTimeout(r, 2000))]);
      await edge.stop();
    },
  };
}
