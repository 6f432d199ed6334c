/**
 * The provisioned Grafana dashboards (docker/grafana/dashboards/*.json) are run, not only parsed:
 * every panel query and every template-variable query goes to a real InfluxDB holding data the
 * way the cloud writes it (items through the real ingest into the InfluxDB series store), with
 * Grafana's macros expanded as Grafana does for the "All" selection. Each must answer without an
 * error and with at least one series holding a value.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cloud } from '../cloud/cloud.ts';
import { newMessageId } from '../protocol/ids.ts';
import { startCloud } from '../test/harness.ts';
import { InfluxPeer } from '../test/peers/influx.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const DIR = path.join(here, 'grafana', 'dashboards');
const DB = 'cityedge_grafana';
const dashboards = fs.readdirSync(DIR).filter((f) => f.endsWith('.json')).map((f) => ({ file: f, doc: JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8')) }));

const HOUR = 3600_000;
const now = Date.now();
let seq = 0;
const t = (site: string, m: string, ts: number, tags: Record<string, string>, fields: Record<string, number | string | boolean>) => ({ site, item: { kind: 'telemetry', id: newMessageId(), seq: ++seq, ts, m, tags, fields } });

/** A day of data per measurement the dashboards read, shaped as the edge sources emit it. */
function items() {
  const out: Array<ReturnType<typeof t>> = [];
  for (let h = 24; h >= 1; h--) {
    const ts = now - h * HOUR;
    out.push(t('street-north', 'air', ts, { station: 'Aotizhongxin', source: 'aq' }, { pm25: 40 + h, pm10: 60 + h, so2: 8, no2: 30, co: 700, o3: 50, aqi: 60 + h, aqi_level: 2, aqi_primary: 'PM2.5' }));
    for (const [pollutant, code, avg] of [['SO2', 'a21026', 20], ['NOx', 'a21002', 45], ['PM', 'a34013', 6]] as const) {
      out.push(t('env-beijing', 'hj212', ts, { station: 'ENT0007PLANT7FQ01', pollutant, code, period: 'hour' }, { avg, min: avg - 2, max: avg + 3, zsAvg: avg * 1.2, flag: h === 5 ? 'C' : 'N', unit: 'mg/m3', qc: 'ok' }));
    }
    for (const [station, bikes, docks] of [['st-1', 0, 12], ['st-2', 7, 5], ['st-3', 10, 0]] as const) {
      out.push(t('bikes-oslo', 'bike_station', ts, { station }, { capacity: 12, num_bikes_available: bikes, num_bikes_disabled: 0, num_docks_available: docks, num_docks_disabled: 0, is_installed: true, is_renting: true, is_returning: true, last_reported: ts }));
    }
    out.push(t('cam-plaza', 'camera_stats', ts, { camera: 'plaza-1' }, { fps_in: 5, fps_out: 5, infer_ms: 31.5, dropped: h % 3, dropped_total: 10, online: 1 }));
    out.push(t('cam-plaza', 'model_stats', ts, { model: 'yolox_nano_416', version: '1.0.0', slot: 'main' }, { frames: 100, errors: 0, detections: 40, fps: 5, p50_ms: 30, p95_ms: 42, window_ms: 60_000 }));
    for (const site of ['street-north', 'cam-plaza']) {
      out.push(t(site, 'edge_health', ts, {}, { outbox_rows: 100 - h, outbox_bytes: 20_000, outbox_cap_bytes: 1 << 30, autonomy_hours: 300, evicted_rows: 0, dropped_rows: 0, reconnects: 1, connected: true }));
    }
  }
  return out;
}

/** Grafana's macros for the "All" selection over the last 7 days. */
function expand(q: string): string {
  return q.replaceAll('$timeFilter', 'time > now() - 7d').replaceAll('$__interval', '1h').replace(/\$(site|station|camera)\b/g, '.*');
}

async function influxQuery(influx: InfluxPeer, q: string): Promise<{ error?: string; series: Array<{ values: unknown[][] }> }> {
  const r = await influx.query(q, DB);
  const res = r.results?.[0] ?? {};
  return { error: r.error ?? res.error, series: res.series ?? [] };
}

describe('Grafana dashboards against a real InfluxDB', () => {
  const influx = new InfluxPeer();
  let cloud: Cloud;
  beforeAll(async () => {
    await influx.start();
    cloud = await startCloud({ influx: { url: influx.url, database: DB } });
    const bySite = new Map<string, unknown[]>();
    for (const { site, item } of items()) (bySite.get(site) ?? bySite.set(site, []).get(site)!).push(item);
    for (const [site, list] of bySite) {
      const r = cloud.ctx.ingest.accept(`ce/v1/${site}/telemetry`, Buffer.from(JSON.stringify({ v: 1, site, stream: 'grafanatest01', sentAt: now, items: list })));
      expect(r).toMatchObject({ ok: true, rejected: 0 });
    }
    await cloud.ctx.ingest.flush();
  });
  afterAll(async () => { await cloud?.stop(); await influx.stop(); });

  it('there are the four dashboards, each with its own uid and the provisioned datasource', () => {
    expect(dashboards.map((d) => d.doc.uid).sort()).toEqual(['cityedge-air', 'cityedge-bikes', 'cityedge-edge-health', 'cityedge-emissions']);
    const ds = fs.readFileSync(path.join(here, 'grafana', 'provisioning', 'datasources', 'influxdb.yaml'), 'utf8');
    expect(ds).toMatch(/uid: cityedge/);
    for (const { doc } of dashboards) for (const p of doc.panels) expect(p.datasource.uid, `${doc.uid} panel ${p.title}`).toBe('cityedge');
  });

  for (const { file, doc } of dashboards) {
    it(`${file}: every template variable and every panel query runs and returns data`, async () => {
      for (const v of doc.templating.list) {
        const r = await influxQuery(influx, expand(v.query));
        expect(r.error, `${file} variable ${v.name}: ${v.query}`).toBeUndefined();
        expect(r.series.flatMap((s) => s.values).length, `${file} variable ${v.name} has values`).toBeGreaterThan(0);
      }
      for (const p of doc.panels) {
        for (const target of p.targets) {
          const q = expand(target.query);
          const r = await influxQuery(influx, q);
          expect(r.error, `${file} "${p.title}": ${q}`).toBeUndefined();
          const values = r.series.flatMap((s) => s.values.flatMap((row) => row.slice(1))).filter((x) => x !== null);
          expect(values.length, `${file} "${p.title}" returned no value: ${q}`).toBeGreaterThan(0);
        }
      }
    });
  }

  it('the bike panels count what the data says: one empty station (st-1) and one full (st-3) per hour', async () => {
    const empty = doc('cityedge-bikes').panels.find((p: { id: number }) => p.id === 2).targets;
    const e = await influxQuery(influx, expand(empty[0].query));
    const f = await influxQuery(influx, expand(empty[1].query));
    const counts = (r: typeof e) => r.series.flatMap((s) => s.values.map((row) => row[1])).filter((x) => x !== null && x !== 0);
    expect(new Set(counts(e))).toEqual(new Set([1]));
    expect(new Set(counts(f))).toEqual(new Set([1]));
  });
});

function doc(uid: string) {
  return dashboards.find((d) => d.doc.uid === uid)!.doc;
}
