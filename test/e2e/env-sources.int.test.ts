import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cloud } from '../../cloud/cloud.ts';
import { startCloudWithAlerts } from '../support/alerts.ts';
import type { Edge } from '../../edge/edge.ts';
import { Hj212Client } from '../../firmware-bridge/hj212/simulator.ts';
import { encodeRegisters } from '../../firmware-bridge/modbus/decode.ts';
import { projectPath } from '../../lib/data-dir.ts';
import { edgeConfig, startEdge } from '../harness.ts';
import { InfluxPeer } from '../peers/influx.ts';
import { freePort, tempDir, waitFor, waitForPort } from '../peers/ports.ts';
import { OwnedProcess } from '../peers/process.ts';

/**
 * Issue 5 "must show": Modbus and OPC UA readings reach InfluxDB through the same path as HJ 212
 * (edge source → env pipeline → outbox → MQTT → aedes → ingest → InfluxDB), and a 2025 SM4 logger
 * and a 2017 logger into the same edge both deliver. Every peer is real: pymodbus 3.0 server,
 * node-opcua sim server (child process), HJ 212 loggers over TCP, influxd.
 */
const SITE = 'plant-seven';
const SM4 = '0123456789abcdeffedcba9876543210';
const be = { scale: 1, offset: 0, byteOrder: 'BE' as const, wordOrder: 'BE' as const };
const T = Date.UTC(2024, 5, 1, 0) - 8 * 3600_000; // DataTime 2024-06-01 00:00 Beijing

describe('Modbus + OPC UA + HJ 212 (2017 and 2025/SM4) → one edge → cloud → InfluxDB', () => {
  const influx = new InfluxPeer();
  const procs: OwnedProcess[] = [];
  let cloud: Cloud;
  let edge: Edge;
  beforeAll(async () => {
    await influx.start();
  });
  afterAll(async () => {
    await edge?.stop();
    await cloud?.stop();
    for (const p of procs) await p.stop();
    await influx.stop();
  });

  it('delivers readings of every protocol into InfluxDB, queried back with their flags', async () => {
    // Modbus device: PM2.5 float32 at 0-1, SO2 ×0.1 at 2 with a status register at 3 (1 = calibration)
    const mbPort = await freePort();
    const holding = [...encodeRegisters(41.5, { ...be, type: 'float32' }), 1234, 1];
    const mb = new OwnedProcess('/usr/bin/python3', [projectPath('firmware-bridge', 'modbus', 'simulator.py'), JSON.stringify({ port: mbPort, framer: 'socket', unit: 1, holding, input: [0], tick: null })]);
    procs.push(mb);
    // OPC UA PLC (CEMS): NOx around 250 mg/m3
    const uaPort = await freePort();
    const ua = new OwnedProcess(process.execPath, [projectPath('bin', 'run-ts.mjs'), projectPath('firmware-bridge', 'opcua', 'simulator.ts'), JSON.stringify({ port: uaPort, intervalMs: 200, pkiDir: path.join(tempDir('ua-pki-'), 'server'), items: [{ id: 'FQ01.NOx', base: 250, amplitude: 5 }] })]);
    procs.push(ua);
    await waitFor(() => { if (!mb.alive) throw new Error(mb.log); return mb.log.includes('listening'); }, { what: 'pymodbus' });
    await waitForPort(mbPort);
    await waitFor(() => { if (!ua.alive) throw new Error(ua.log); return ua.log.includes('listening'); }, { what: 'OPC UA sim server', timeoutMs: 60_000 });

    ({ cloud } = await startCloudWithAlerts({ escalation: false, mqtt: { enabled: false } }, { influxUrl: influx.url }));
    const password = await cloud.ctx.devices.add(SITE);
    const hjPort = await freePort();
    edge = await startEdge(edgeConfig({
      site: SITE, password, url: `mqtt://127.0.0.1:${cloud.mqttPort}`,
      sources: [
        {
          type: 'modbus', id: 'roadside', station: 'roadside-3', transport: { kind: 'tcp', host: '127.0.0.1', port: mbPort }, unitId: 1,
          pollIntervalMs: 200, timeoutMs: 1000, backoff: { initialMs: 100, maxMs: 500 },
          registers: [
            { pollutant: 'PM2.5', unit: 'ug/m3', address: 0, type: 'float32' },
            { pollutant: 'SO2', unit: 'ug/m3', address: 2, scale: 0.1, status: { address: 3, map: { '0': 'N', '1': 'C' } } },
          ],
          pipeline: { aggregate: false },
        },
        {
          type: 'opcua', id: 'cems', endpointUrl: `opc.tcp://127.0.0.1:${uaPort}/cityedge/sim`, pkiDir: tempDir('ua-client-pki-'),
          items: [{ nodeId: 'ns=1;s=FQ01.NOx', station: 'plant7', outlet: 'FQ01', pollutant: 'NOx', unit: 'mg/m3' }],
          samplingIntervalMs: 200, publishingIntervalMs: 200, reconnect: { initialDelayMs: 200, maxDelayMs: 1000 },
          pipeline: { aggregate: false },
        },
        {
          type: 'hj212', id: 'loggers', host: '127.0.0.1', port: hjPort,
          stations: [
            { mn: 'LOGGER2017A', password: 'pw2017', revision: '2017' },
            { mn: 'LOGGER2025B', password: 'pw2025', revision: '2025', sm4Key: SM4, requireEncryption: true },
          ],
          pipeline: { raw: true },
        },
      ],
    }));

    const l17 = new Hj212Client({ port: hjPort, mn: 'LOGGER2017A', password: 'pw2017', revision: '2017' });
    const l25 = new Hj212Client({ port: hjPort, mn: 'LOGGER2025B', password: 'pw2025', revision: '2025', sm4Key: SM4 });
    await l17.connect();
    await l25.connect();
    try {
      for (let h = 0; h < 3; h++) {
        expect((await l17.sendData('2061', T + h * 3600_000, [{ code: 'a34004', fields: { Avg: 50 + h, Min: 40, Max: 60, Cou: 12, Flag: 'N' } }])).acked).toBe(true);
        expect((await l25.sendData('2061', T + h * 3600_000, [{ code: 'a21026', fields: { Avg: 10 + h, Flag: h === 2 ? 'M' : 'N' } }])).acked).toBe(true);
      }
    } finally {
      l17.close();
      l25.close();
    }

    const q = async (sql: string) => (await influx.query(sql, 'env_e2e')).results?.[0]?.series ?? [];
    // all four stations in the same measurement, written by the same ingest path
    await waitFor(async () => {
      const s = await q(`SELECT count("value") FROM "env" WHERE site = '${SITE}' GROUP BY station`);
      const n = Object.fromEntries(s.map((x: any) => [x.tags.station, x.values[0][1]]));
      return n['roadside-3'] >= 4 && n.plant7 >= 2 && n.LOGGER2017A === 3 && n.LOGGER2025B === 3 ? n : undefined;
    }, { what: 'env readings of modbus, opcua and both HJ 212 loggers in InfluxDB', timeoutMs: 60_000 });

    const last = async (station: string, pollutant: string) => (await q(`SELECT last("value") AS v, "flag", "unit" FROM "env" WHERE station = '${station}' AND pollutant = '${pollutant}'`))[0]?.values[0];
    expect((await last('roadside-3', 'PM2.5')).slice(1)).toEqual([41.5, 'N', 'ug/m3']);
    expect((await last('roadside-3', 'SO2')).slice(1)).toEqual([123.4, 'C', 'ug/m3']); // the instrument's C survives end to end
    const nox = await last('plant7', 'NOx');
    expect(nox[1]).toBeGreaterThanOrEqual(240);
    expect(nox[1]).toBeLessThanOrEqual(260);
    expect((await q(`SELECT "value", "outlet" FROM "env" WHERE station = 'plant7' LIMIT 1`))[0].values[0][2]).toBe('FQ01');
    // HJ 212: the bridge's per-factor points (min/avg/max/count) and the 2025 logger's flags
    await waitFor(async () => (await q(`SELECT count("avg") FROM "hj212" WHERE site = '${SITE}'`))[0]?.values[0][1] === 6, { what: 'hj212 points of both loggers' });
    const hj = await q(`SELECT "avg", "min", "max", "cou", "flag" FROM "hj212" WHERE station = 'LOGGER2017A' ORDER BY time`);
    expect(hj[0].values.map((v: unknown[]) => v.slice(1))).toEqual([[50, 40, 60, 12, 'N'], [51, 40, 60, 12, 'N'], [52, 40, 60, 12, 'N']]);
    expect(hj[0].values[0][0]).toBe(T);
    const hj25 = await q(`SELECT "avg", "flag" FROM "hj212" WHERE station = 'LOGGER2025B' ORDER BY time`);
    expect(hj25[0].values.map((v: unknown[]) => v.slice(1))).toEqual([[10, 'N'], [11, 'N'], [12, 'M']]);
  });
});
