import fs from 'node:fs';
import path from 'node:path';
import { Cloud } from '../cloud/cloud.ts';
import { demoGbfsConfig, startBikesDemo } from './bikes.ts';
import { demoKeys, startCameraDemo } from './camera.ts';
import { CloudConfigSchema } from '../cloud/config.ts';
import { validateConfig } from '../lib/config.ts';
import { allCloudFeatures } from '../cloud/features.ts';
import { validateEdgeConfig } from '../edge/config.ts';
import { Edge } from '../edge/edge.ts';
import { dataDir } from '../lib/data-dir.ts';
import { freePort } from '../lib/net.ts';
import { UserStore } from '../cloud/api/users.ts';

export interface DemoOptions { dataDir: string; httpPort: number; mqttPort: number; rowsPerSecond: number; influxUrl?: string }

/** Street sites of the demo: real Beijing hourly air quality, each site replaying a different year. */
const SITES = [
  { site: 'street-north', startRow: 0 },
  { site: 'street-east', startRow: 8760 },
  { site: 'street-south', startRow: 17520 },
];

/**
 * The demo city: one cloud, three street sites with air-quality replays.
 * Later features add their parts (cameras, bike docks, HJ 212 loggers, models) here.
 */
export async function runDemo(opts: DemoOptions): Promise<{ cloud: Cloud; edges: Edge[]; stop: () => Promise<void> }> {
  const root = path.resolve(opts.dataDir);
  fs.rmSync(root, { recursive: true, force: true });
  const data = dataDir();
  const keys = demoKeys(root);
  const httpPort = await freePort(opts.httpPort);
  const mqttPort = await freePort(opts.mqttPort);
  const cloudConfig = validateConfig(CloudConfigSchema, {
    dataDir: path.join(root, 'cloud'),
    broker: { port: mqttPort, host: '127.0.0.1', revocationPollMs: 1000 },
    http: { port: httpPort, host: '127.0.0.1' },
    influx: { url: opts.influxUrl ?? '' },
    alerts: {},
    gbfs: demoGbfsConfig(),
    models: { trustedKeys: [keys.pub], rollout: { observeMs: 8000 } },
  }, 'demo cloud');
  const cloud = new Cloud(cloudConfig, await allCloudFeatures(cloudConfig));
  await cloud.start();
  const { token } = cloud.ctx.tokens.create('demo-admin', 'admin');
  // one console account per role (printed below); passwords are demo-only
  const users = new UserStore(cloud.ctx.db);
  const accounts = [['viewer', 'demo-viewer'], ['env', 'demo-env'], ['ops', 'demo-ops'], ['admin', 'demo-admin']] as const;
  for (const [role, name] of accounts) await users.add(name, role, `${name}-password`);
  const edges: Edge[] = [];
  for (const s of SITES) {
    const password = await cloud.ctx.devices.add(s.site);
    const { config, factories } = await validateEdgeConfig({
      site: s.site,
      stateDir: path.join(root, 'edges', s.site),
      mqtt: { url: `mqtt://127.0.0.1:${mqttPort}`, password },
      outbox: { cap: '64MiB' },
      uplink: { statusIntervalMs: 5000 },
      sources: [{ type: 'air-replay', id: 'aq', rowsPerSecond: opts.rowsPerSecond, time: 'now', startRow: s.startRow, loop: true, file: path.join(data, 'air_quality', 'PRSA_Data_Aotizhongxin_20130301-20170228.csv') }],
    }, `demo site ${s.site}`, root);
    edges.push(await new Edge(config, factories).start());
  }
  const env = await (await import('./env.ts')).startEnvDemo({ cloud, root, mqttPort, hoursPerSecond: opts.rowsPerSecond });
  const bikes = await startBikesDemo({ cloud, root, mqttPort, hourMs: 5000 });
  const camera = await startCameraDemo({ cloud, root, mqttPort, keys, upgradeAfterMs: 20_000 });
  const api = cloud.httpUrl;
  // where the sites are and which zone their times are shown in (the console's map and clocks)
  const where: Array<[string, number, number, string, string]> = [
    ['street-north', 40.005, 116.407, 'Asia/Shanghai', '北四环 路侧站点'], ['street-east', 39.925, 116.485, 'Asia/Shanghai', '东三环 路侧站点'],
    ['street-south', 39.862, 116.41, 'Asia/Shanghai', '南三环 路侧站点'], [env.site, 39.982, 116.397, 'Asia/Shanghai', '奥体中心 环境监测站'],
    ['cam-plaza', 39.908, 116.397, 'Asia/Shanghai', '广场 摄像机'], ['bikes-oslo', 59.913, 10.752, 'Europe/Oslo', 'Oslo Bysykkel (demo data)'],
  ];
  for (const [site, lat, lon, timezone, name] of where) {
    await fetch(`${api}/api/v1/sites/${site}/info`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ lat, lon, timezone, name }) });
  }
  console.log(`
cityedge demo running
  console        ${api}/   sign in as (user / password):
${accounts.map(([role, name]) => `                   ${name.padEnd(12)} / ${name}-password   (${role})`).join('\n')}
  cloud API      ${api}   (OpenAPI: ${api}/openapi.json, metrics: ${api}/metrics)
  MQTT broker    mqtt://127.0.0.1:${mqttPort}  (embedded aedes, per-site credentials and ACL)
  series store   ${cloud.ctx.store.kind}${cloud.ctx.store.kind === 'sqlite' ? ` (${path.join(root, 'cloud', 'series.db')}; set INFLUX_URL to use InfluxDB)` : ''}
  street sites   ${SITES.map((s) => s.site).join(', ')} replaying real Beijing hourly air quality (${opts.rowsPerSecond} hours of data per second each)
  admin token    ${token}

${env.lines.join('\n')}
${bikes.lines.join('\n')}
${camera.lines.join('\n')}

Try:
  curl -s -H 'Authorization: Bearer ${token}' '${api}/api/v1/sites'
  curl -s -H 'Authorization: Bearer ${token}' '${api}/api/v1/series?site=street-north&measurement=air&fields=pm25,pm10&from=-10m&window=10s&agg=mean'
  curl -s -H 'Authorization: Bearer ${token}' '${api}/api/v1/alerts?state=open'
Ctrl-C stops everything cleanly.
`);
  const ticker = setInterval(async () => {
    const counts = await cloud.ctx.ingest.counts();
    const outbox = edges.map((e) => `${e.config.site}:${e.outbox.size}`).join(' ');
    console.log(`[demo] items accepted ${counts['items.accepted'] ?? 0}, spool ${cloud.ctx.ingest.spoolDepth()}, outbox rows ${outbox}`);
  }, 5000);
  ticker.unref();
  return {
    cloud,
    edges,
    stop: async () => {
      clearInterval(ticker);
      await camera.stop();
      await bikes.stop();
      await env.stop();
      for (const e of edges) await e.stop();
      await cloud.ctx.ingest.flush();
      await cloud.stop();
    },
  };
}
