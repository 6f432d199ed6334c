import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { freePort } from '../lib/net.ts';
import type { Cloud } from '../cloud/cloud.ts';
import { validateEdgeConfig } from '../edge/config.ts';
import { Edge } from '../edge/edge.ts';
import { Hj212Client, type FactorValues } from '../firmware-bridge/hj212/simulator.ts';
import { beijingHours } from '../firmware-bridge/hj212/replay.ts';

/**
 * The environmental part of the demo (issue 5): one edge site with an HJ 212 server, two air
 * stations and one enterprise outlet whose data loggers (the simulator, 2017 and 2025/SM4)
 * replay the REAL Beijing Aotizhongxin hourly rows as CN 2061 hourly data, with DataTime = the
 * row's real hour, so real exceedances raise alerts (e.g. PM2.5 > 150 µg/m³ for 3 h from
 * 2013-03-05 15:00). The outlet is a stand-in: the only real data set is ambient, so the outlet
 * logger replays the same station's SO2/NO2 columns (ST=31) and its rule uses an illustrative
 * limit — say so wherever it is shown.
 *
 * Called by demo/demo.ts after the cloud is up (the cloud config needs an `alerts:` block).
 */
export interface EnvDemoOptions { cloud: Cloud; root: string; mqttPort: number; hoursPerSecond: number; site?: string }

const LOGGERS = [
  { name: 'air station Aotizhongxin (HJ 212-2017)', mn: 'AIR0001AOTIZHONGXIN2017', revision: '2017' as const, st: '22', skip: 0, keep: null },
  { name: 'air station Aotizhongxin-B (HJ 212-2025, SM4)', mn: 'AIR0002AOTIZHONGXIN2025', revision: '2025' as const, st: '22', skip: 8760, keep: null, sm4: true },
  { name: 'enterprise outlet FQ01 (stand-in: ambient SO2/NO2 replayed, HJ 212-2025, SM4)', mn: 'ENT0007PLANT7FQ01OUTLET', revision: '2025' as const, st: '31', skip: 0, keep: ['a21026', 'a21004'], sm4: true },
];

export const ENV_DEMO_RULES = [
  { id: 'pm25-1h', kind: 'limit', match: { pollutant: 'PM2.5' }, limit: 150, clearAt: 115, consecutive: 3, clearConsecutive: 2, description: 'PM2.5 > 150 µg/m³ for 3 h (demo alert level)' },
  { id: 'pm25-24h', kind: 'limit', match: { pollutant: 'PM2.5' }, limit: 75, average: { windowMinutes: 1440, minSamples: 18 }, severity: 'warning', description: 'GB 3095-2012 grade II 24-h PM2.5 limit' },
  { id: 'outlet-so2', kind: 'limit', match: { station: 'ENT0007PLANT7FQ01OUTLET', pollutant: 'SO2' }, limit: 100, clearAt: 80, consecutive: 2, description: 'illustrative outlet limit (stand-in data)' },
  { id: 'analyser', kind: 'instrument', match: {}, severity: 'warning' },
];

export async function startEnvDemo(o: EnvDemoOptions): Promise<{ edge: Edge; site: string; lines: string[]; stop: () => Promise<void> }> {
  const site = o.site ?? 'env-beijing';
  const password = await o.cloud.ctx.devices.add(site);
  const hjPort = await freePort();
  const stations = LOGGERS.map((l) => ({ ...l, password: crypto.randomBytes(6).toString('hex'), key: l.sm4 ? crypto.randomBytes(16).toString('hex') : undefined }));
  const stateDir = path.join(o.root, 'edges', site);
  fs.mkdirSync(stateDir, { recursive: true });
  const { config, factories } = await validateEdgeConfig({
    site, stateDir,
    mqtt: { url: `mqtt://127.0.0.1:${o.mqttPort}`, password },
    outbox: { cap: '64MiB' },
    uplink: { statusIntervalMs: 5000 },
    sources: [{
      type: 'hj212', id: 'hj212', host: '127.0.0.1', port: hjPort,
      stations: stations.map((s) => ({ mn: s.mn, password: s.password, revision: s.revision, ...(s.key ? { sm4Key: s.key, requireEncryption: true } : {}) })),
      pipeline: { raw: true, alerts: ENV_DEMO_RULES },
    }],
  }, `demo site ${site}`, o.root);
  const edge = await new Edge(config, factories).start();

  let stopped = false;
  const clients: Hj212Client[] = [];
  const loops = stations.map(async (s) => {
    const c = new Hj212Client({ port: hjPort, mn: s.mn, password: s.password, revision: s.revision, st: s.st, sm4Key: s.key, ackTimeoutMs: 5000 });
    clients.push(c);
    await c.connect();
    const gap = 1000 / o.hoursPerSecond;
    while (!stopped) {
      for await (const row of beijingHours({ skip: s.skip })) {
        if (stopped) break;
        const factors: FactorValues[] = s.keep ? row.factors.filter((f) => s.keep!.includes(f.code)) : row.factors;
        if (factors.length) await c.sendData('2061', row.time, factors).catch(() => undefined);
        await new Promise((r) => setTimeout(r, gap));
      }
    }
  });
  const lines = [
    `  env site       ${site}: HJ 212 server on 127.0.0.1:${hjPort}, ${stations.length} loggers replaying real Beijing hourly data (${o.hoursPerSecond} h/s):`,
    ...stations.map((s) => `                   ${s.mn}  ${s.name}`),
    `  alerts         curl -s -H 'Authorization: Bearer <token>' '${o.cloud.httpUrl}/api/v1/alerts?state=open'`,
    `                 ack (env role): curl -s -X POST -H 'content-type: application/json' -d '{"note":"on it"}' -H 'Authorization: Bearer <token>' ${o.cloud.httpUrl}/api/v1/alerts/<id>/ack`,
  ];
  return {
    edge, site, lines,
    stop: async () => {
      stopped = true;
      for (const c of clients) c.close();
      await Promise.allSettled(loops);
      await edge.stop();
    },
  };
}
