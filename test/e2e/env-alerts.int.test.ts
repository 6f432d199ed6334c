import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Cloud } from '../../cloud/cloud.ts';
import { openCloudDb } from '../../cloud/db.ts';
import { DeviceRegistry } from '../../cloud/devices/registry.ts';
import { api, startCloudWithAlerts } from '../support/alerts.ts';
import type { Edge } from '../../edge/edge.ts';
import { Hj212Client, type FactorValues } from '../../firmware-bridge/hj212/simulator.ts';
import { beijingHours, type HourRow } from '../../firmware-bridge/hj212/replay.ts';
import { edgeConfig, startEdge } from '../harness.ts';
import { freePort, tempDir, waitFor } from '../peers/ports.ts';

/**
 * Issue 5 "must show": an alert from a replayed exceedance in the real Beijing data, raised at the
 * edge while the uplink is down, delivered after it comes back, acknowledged through the API,
 * resolved when the data clears; an instrument in calibration raises no exceedance.
 *
 * Real peers: an HJ 212-2017 logger (simulator) over TCP → the edge's hj212 server → env pipeline
 * → SQLite outbox → MQTT → the cloud's aedes → ingest → alerts feature → HTTP API.
 * Aotizhongxin PM2.5 (read off the CSV, see edge/env/alerts/beijing-replay.test.ts): > 150 µg/m³
 * for the 3rd hour in a row at 2013-03-05 15:00, ≤ 115 for the 2nd hour in a row at 2013-03-08 18:00.
 */
const bj = (y: number, mo: number, d: number, h: number) => Date.UTC(y, mo - 1, d, h) - 8 * 3600_000;
const SITE = 'env-north';
const START_ROW = 4 * 24; // 2013-03-05 00:00
const RULES = [
  { id: 'pm25-1h', kind: 'limit', match: { pollutant: 'PM2.5' }, limit: 150, clearAt: 115, consecutive: 3, clearConsecutive: 2, description: 'GB 3095 1-h alert level (demo)' },
  { id: 'analyser', kind: 'instrument', match: {}, flags: ['C', 'M', 'D', 'F'], severity: 'warning' },
];

describe('HJ 212 exceedance → edge alert (offline) → cloud lifecycle', () => {
  const stops: Array<() => unknown> = [];
  afterAll(async () => { for (const f of stops.reverse()) await f(); });

  it('raises at the edge while the uplink is down, delivers, is acknowledged by a named person and cleared by the data', async () => {
    const rows: HourRow[] = [];
    for await (const r of beijingHours({ skip: START_ROW, limit: 4 * 24 + 2 })) rows.push(r); // 03-05 00:00 … 03-09 01:00
    expect(rows[0].time).toBe(bj(2013, 3, 5, 0));

    // provision the site in the cloud's database, but do not start the cloud yet: its port is closed
    const cloudDir = tempDir('env-cloud-');
    const db = openCloudDb(path.join(cloudDir, 'cloud.db'));
    const password = await new DeviceRegistry(db).add(SITE);
    db.close();
    const mqttPort = await freePort();
    const hjPort = await freePort();
    const edge: Edge = await startEdge(edgeConfig({
      site: SITE, password, url: `mqtt://127.0.0.1:${mqttPort}`,
      sources: [{
        type: 'hj212', id: 'loggers', host: '127.0.0.1', port: hjPort,
        stations: [
          { mn: 'AOTIZHONGXIN000000000001', password: 'pw-aoti-01', revision: '2017' },
          { mn: 'CALIBRATING000000000002', password: 'pw-calib-02', revision: '2017' },
        ],
        pipeline: { alerts: RULES },
      }],
    }));
    stops.push(() => edge.stop());
    const aoti = new Hj212Client({ port: hjPort, mn: 'AOTIZHONGXIN000000000001', password: 'pw-aoti-01', revision: '2017', ackTimeoutMs: 2000 });
    const calib = new Hj212Client({ port: hjPort, mn: 'CALIBRATING000000000002', password: 'pw-calib-02', revision: '2017', ackTimeoutMs: 2000 });
    await aoti.connect();
    await calib.connect();
    stops.push(() => { aoti.close(); calib.close(); });
    // the second analyser is in calibration: same real values, PM2.5 flagged C
    const inCalibration = (fs: FactorValues[]) => fs.map((f) => (f.code === 'a34004' ? { ...f, fields: { ...f.fields, Flag: 'C' } } : f));
    const send = async (rs: HourRow[]) => {
      for (const r of rs) {
        expect((await aoti.sendData('2061', r.time, r.factors)).acked).toBe(true);
        expect((await calib.sendData('2061', r.time, inCalibration(r.factors))).acked).toBe(true);
      }
    };

    // 1) uplink down: 03-05 00:00 … 03-06 23:00 → the raise waits in the outbox at alert priority
    const firstPart = rows.filter((r) => r.time < bj(2013, 3, 7, 0));
    await send(firstPart);
    expect(edge.uplink.stats().connected).toBe(false);
    const queued = edge.outbox.take(0, 0, Number.MAX_SAFE_INTEGER, 100).map((r) => ({ channel: r.channel, ...JSON.parse(r.body) }));
    const exceed = queued.filter((a) => a.rule === 'pm25-1h');
    expect(exceed).toHaveLength(1);
    expect(exceed[0]).toMatchObject({ channel: 'alerts', kind: 'alert', state: 'raise', source: 'AOTIZHONGXIN000000000001/PM2.5', ts: bj(2013, 3, 5, 15), data: { value: 165, limit: 150 } });
    // calibration: an instrument alert, never an exceedance
    expect(queued.filter((a) => a.source === 'CALIBRATING000000000002/PM2.5').map((a) => [a.rule, a.state])).toEqual([['analyser', 'raise']]);

    // 2) the cloud comes up on that port → delivered
    const { cloud } = await startCloudWithAlerts({ escalation: false, mqtt: { enabled: false } }, { dataDir: cloudDir, mqttPort });
    stops.splice(0, 0, () => cloud.stop()); // stop after the edge
    const viewer = cloud.ctx.tokens.create('control-room', 'viewer').token;
    const env = cloud.ctx.tokens.create('zhang.min', 'env').token;
    const openAlert = await waitFor(async () => (await api(cloud, viewer, 'GET', `/api/v1/alerts?site=${SITE}&rule=pm25-1h`)).body.alerts[0], { what: 'alert in the cloud API', timeoutMs: 20_000 });
    expect(openAlert).toMatchObject({ state: 'open', severity: 'critical', source: 'AOTIZHONGXIN000000000001/PM2.5', firstTs: bj(2013, 3, 5, 15), raiseCount: 1 });
    await waitFor(() => edge.outbox.take(0, 0, Number.MAX_SAFE_INTEGER, 10).length === 0, { what: 'alert rows acknowledged by the broker' });
    const calibAlerts = await waitFor(async () => {
      const xs = (await api(cloud, viewer, 'GET', `/api/v1/alerts?site=${SITE}&source=${encodeURIComponent('CALIBRATING000000000002/PM2.5')}`)).body.alerts;
      return xs.length ? xs : undefined;
    }, { what: 'instrument alert in the cloud' });
    expect(calibAlerts.map((a: { rule: string }) => a.rule)).toEqual(['analyser']);

    // 3) acknowledged through the API by a named person (env role)
    const ack = await api(cloud, env, 'POST', `/api/v1/alerts/${openAlert.id}/ack`, { note: 'enterprise and station notified' });
    expect(ack.body.alert).toMatchObject({ state: 'acknowledged', ack: { by: 'zhang.min' } });

    // 4) later rows clear it (≤ 115 for 2 h at 03-08 18:00)
    await send(rows.filter((r) => r.time >= bj(2013, 3, 7, 0)));
    const resolved = await waitFor(async () => {
      const a = (await api(cloud, viewer, 'GET', `/api/v1/alerts/${openAlert.id}`)).body;
      return a.alert.state === 'resolved' ? a : undefined;
    }, { what: 'alert resolved by the data', timeoutMs: 20_000 });
    expect(resolved.alert).toMatchObject({ resolution: { how: 'data', by: `edge:${SITE}` }, clearedTs: bj(2013, 3, 8, 18), ack: { by: 'zhang.min', note: 'enterprise and station notified' } });
    expect(resolved.history.map((h: { action: string }) => h.action)).toEqual(['raise', 'acknowledge', 'clear']);
    // one alert for the whole episode (no storm), none open for the exceedance rule
    expect((await api(cloud, viewer, 'GET', `/api/v1/alerts?site=${SITE}&rule=pm25-1h`)).body.alerts).toHaveLength(1);
    // the readings themselves reached the series store too (telemetry travels after alerts: wait for it)
    const expected = rows.filter((r) => r.factors.some((f) => f.code === 'a34004')).length;
    const seriesUrl = `/api/v1/series?site=${SITE}&measurement=hj212&fields=avg&from=${bj(2013, 3, 5, 0)}&to=${bj(2013, 3, 9, 2)}&window=30d&agg=count&tag=station=AOTIZHONGXIN000000000001&tag=pollutant=PM2.5`;
    const count = async () => (await api(cloud, viewer, 'GET', seriesUrl)).body.series[0]?.values.reduce((a: number, v: number[]) => a + v[1], 0) ?? 0;
    await waitFor(async () => (await count()) >= expected, { what: 'hj212 PM2.5 points in the series store', timeoutMs: 20_000 });
    expect(await count()).toBe(expected);
    void (cloud as Cloud);
  });
});
