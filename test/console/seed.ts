import fs from 'node:fs';
import sharp from 'sharp';
import type { Cloud } from '../../cloud/cloud.ts';
import { osloFiles } from '../../edge/bikes/replay.ts';
import { ingest, status } from '../support/console.ts';

const H = 3_600_000;
/** The rules of camera gate-1 at cam-a as its edge reports them (CameraSource.health().rules): a counting line and a dwell zone. */
export const GATE_RULES = [
  { id: 'crossing', type: 'line', line: [[0.45, 0.1], [0.45, 0.9]], names: { forward: 'east', backward: 'west' } },
  { id: 'lamp', type: 'dwell', zone: [[0.1, 0.5], [0.3, 0.5], [0.32, 0.92], [0.08, 0.9]] },
] as const;
export const ENV_SITE = 'env-a';
export const STATION = 'AIR0001AOTIZHONGXIN2017';

export async function put(cloud: Cloud, token: string, path: string, body: unknown): Promise<any> {
  const res = await fetch(`${cloud.httpUrl}${path}`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

/**
 * What the console shows, put in through the real ingest (and the API for site metadata): site
 * locations and zones, statuses with outbox/camera/model health, 36 h of hourly HJ 212 PM2.5 with
 * a gap and calibration flags, an air replay station with AQI, a camera event with its snapshot
 * and counts, bike stations. Returns the bike stations seeded.
 */
export async function seed(cloud: Cloud, opsToken: string): Promise<{ stations: string[] }> {
  const now = Date.now();
  const sites: Array<[string, string, number, number, string]> = [
    [ENV_SITE, '奥体中心 环境站', 39.982, 116.397, 'Asia/Shanghai'],
    ['cam-a', '朝阳门 路口摄像机', 39.924, 116.434, 'Asia/Shanghai'],
    ['bikes-oslo', 'Oslo Bysykkel', 59.91, 10.75, 'Europe/Oslo'],
  ];
  for (let i = 0; i < 24; i++) sites.push([`street-${String(i).padStart(2, '0')}`, `路侧站点 ${i + 1}`, 39.85 + (i % 6) * 0.04, 116.28 + Math.floor(i / 6) * 0.07, 'Asia/Shanghai']);
  for (const [site, name, lat, lon, timezone] of sites) {
    if (site !== 'bikes-oslo') await put(cloud, opsToken, `/api/v1/sites/${site}/info`, { name, lat, lon, timezone });
    else await put(cloud, opsToken, `/api/v1/sites/${site}/info`, { name, timezone });
    const cam = site === 'cam-a' ? { 'gate-1': { online: true, framesIn: 1200, framesInferred: 1190, dropped: 3, rules: GATE_RULES }, models: { slot: 'main', active: { name: 'nanodet_m_320', version: '1.0.0' } } } : {};
    status(cloud, site, !site.endsWith('07') && !site.endsWith('13'), { outbox: { rows: site.length * 3, evicted: { snapshot: { rows: site === 'street-03' ? 12 : 0 } }, autonomyHours: 40 + site.length }, sources: cam });
  }
  // a second status of the camera site 10 s later: frame rate from the two
  await new Promise((r) => setTimeout(r, 5));
  const r = cloud.ctx.ingest.accept('ce/v1/cam-a/status', Buffer.from(JSON.stringify({ v: 1, site: 'cam-a', online: true, ts: Date.now() + 10_000, health: { outbox: { rows: 2, autonomyHours: 55 }, sources: { 'gate-1': { online: true, framesIn: 1250, dropped: 4, rules: GATE_RULES }, models: { active: { name: 'nanodet_m_320', version: '1.0.0' } } } } })), 'cam-a');
  if (!r.ok) throw new Error('status');

  // HJ 212 hourly PM2.5 (avg, flag, unit), 36 h to now, 3 hours missing, two hours in calibration
  const hours: Array<Record<string, unknown>> = [];
  for (let h = 35; h >= 0; h--) {
    if (h >= 20 && h <= 22) continue;
    const ts = Math.floor((now - h * H) / H) * H;
    const v = 90 + 70 * Math.sin(h / 5);
    hours.push({ kind: 'telemetry', ts, m: 'hj212', tags: { station: STATION, pollutant: 'PM2.5', code: 'a34004', period: 'hour' }, fields: { avg: Math.round(v * 10) / 10, min: Math.round(v * 8) / 10, max: Math.round(v * 12) / 10, flag: h === 10 || h === 11 ? 'C' : 'N', unit: 'ug/m3', qc: 'ok' } });
  }
  await ingest(cloud, ENV_SITE, 'telemetry', hours);
  // an air replay station (fields pm25…, aqi) on a street site
  const air: Array<Record<string, unknown>> = [];
  for (let h = 47; h >= 0; h--) {
    const pm25 = Math.round(60 + 55 * Math.sin(h / 6));
    air.push({ kind: 'telemetry', ts: Math.floor((now - h * H) / H) * H, m: 'air', tags: { station: 'Aotizhongxin', source: 'aq' }, fields: { pm25, pm10: pm25 * 1.6, no2: 40, so2: 8, co: 900, o3: 60, aqi: Math.round(pm25 * 1.3), aqi_level: pm25 > 75 ? 3 : 2 } });
  }
  await ingest(cloud, 'street-00', 'telemetry', air);

  // camera: counts every minute for the last hour
  const stats: Array<Record<string, unknown>> = [];
  for (let m = 60; m >= 0; m -= 2) stats.push({ kind: 'telemetry', ts: now - m * 60_000, m: 'camera_stats', tags: { camera: 'gate-1' }, fields: { fps_in: 5, fps_out: 4.8, dropped: 0, line_crossing_east: 60 - m + 3, line_crossing_west: Math.round((60 - m) / 2), zone_lamp: m % 7 } });
  await ingest(cloud, 'cam-a', 'telemetry', stats);

  // bike stations: the first six of Oslo's, one empty, one full, one with a dock fault
  const info = JSON.parse(fs.readFileSync(osloFiles().informationFile, 'utf8')) as { data: { stations: Array<{ station_id: string; capacity: number }> } };
  const picked = info.data.stations.slice(0, 6);
  await ingest(cloud, 'bikes-oslo', 'telemetry', picked.map((s, i) => {
    const cap = s.capacity || 12;
    const bikes = i === 0 ? 0 : i === 1 ? cap : Math.min(cap, 2 + i);
    const faults = i === 2 ? 2 : 0;
    return { kind: 'telemetry', ts: now, m: 'bike_station', tags: { station: s.station_id }, fields: { num_bikes_available: bikes, num_bikes_disabled: i === 3 ? 1 : 0, num_docks_available: Math.max(0, cap - bikes - faults), num_docks_disabled: faults, is_installed: true, is_renting: true, is_returning: true, last_reported: now - i * 60_000 } };
  }));
  return { stations: picked.map((s) => s.station_id) };
}

/** A camera event (line crossing) with its evidence snapshot, as the edge sends them. */
export async function cameraEvent(cloud: Cloud): Promise<string> {
  const jpeg = await sharp({ create: { width: 640, height: 360, channels: 3, background: { r: 34, g: 85, b: 136 } } })
    .composite([{ input: Buffer.from('<svg width="640" height="360"><rect x="250" y="120" width="60" height="150" fill="#e3b341"/><line x1="288" y1="80" x2="288" y2="320" stroke="#f85149" stroke-width="4"/><text x="20" y="40" font-size="28" fill="#fff">gate-1</text></svg>'), top: 0, left: 0 }])
    .jpeg().toBuffer();
  const [ev] = await ingest(cloud, 'cam-a', 'events', [{ kind: 'event', type: 'line.cross', source: 'gate-1', phase: 'instant', data: { rule: 'crossing', direction: 'east', class: 'person', trackId: 7 } }]);
  await ingest(cloud, 'cam-a', 'snapshots', [{ kind: 'snapshot', ref: ev.id, role: 'frame', contentType: 'image/jpeg', data: jpeg.toString('base64') }]);
  return ev.id;
}
