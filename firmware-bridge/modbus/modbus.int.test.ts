import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, waitFor, waitForPort } from '../../test/peers/ports.ts';
import { OwnedProcess } from '../../test/peers/process.ts';
import { memoryContext } from '../../test/support/source-context.ts';
import { rootLogger } from '../../lib/log.ts';
import { encodeRegisters } from './decode.ts';
import { parseModbusConfig } from '../../edge/sources/modbus.ts';
import { ModbusPoller } from './poller.ts';
import { ModbusSource, modbusFactory } from '../../edge/sources/modbus.ts';

const SERVER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'simulator.py');
const be = { scale: 1, offset: 0, byteOrder: 'BE' as const, wordOrder: 'BE' as const };

// Device image (protocol addresses): 0-1 PM2.5 float32 ABCD, 2-3 NOx float32 CDAB, 4 SO2 ×0.1,
// 5 SO2 analyser status (1 = calibration), 100-101 CO uint32; input register 0: O3 int16.
const holding = new Array(102).fill(0);
holding.splice(0, 2, ...encodeRegisters(35.5, { ...be, type: 'float32' }));
holding.splice(2, 2, ...encodeRegisters(87.25, { ...be, type: 'float32', wordOrder: 'LE' }));
holding[4] = 1234;
holding[5] = 1;
holding.splice(100, 2, ...encodeRegisters(70_000, { ...be, type: 'uint32' }));
const input = [215];

const procs: OwnedProcess[] = [];
async function startServer(port: number, framer: 'socket' | 'rtu' | 'serial'): Promise<OwnedProcess> {
  const p = new OwnedProcess('/usr/bin/python3', [SERVER, JSON.stringify({ port, framer, unit: 3, holding, input, tick: null })]);
  procs.push(p);
  await waitFor(() => { if (!p.alive) throw new Error(p.log); return p.log.includes('listening'); }, { what: 'pymodbus start' });
  if (framer !== 'serial') await waitForPort(port);
  return p;
}
afterAll(async () => { for (const p of procs) await p.stop(); });

const registers = [
  { pollutant: 'PM2.5', unit: 'ug/m3', address: 0, type: 'float32' },
  { pollutant: 'NOx', unit: 'mg/m3', address: 2, type: 'float32', wordOrder: 'LE' },
  { pollutant: 'SO2', unit: 'mg/m3', address: 4, scale: 0.1, status: { address: 5, map: { '0': 'N', '1': 'C', '2': 'M', '3': 'D' } } },
  { pollutant: 'CO', unit: 'mg/m3', address: 100, type: 'uint32', scale: 0.001 },
  { pollutant: 'O3', unit: 'ug/m3', address: 0, function: 'input', type: 'int16' },
];
const cfgFor = (transport: object, extra: object = {}) => parseModbusConfig({
  type: 'modbus', id: 'stack1', station: 'plant7', unitId: 3, transport, pollIntervalMs: 100, timeoutMs: 400, backoff: { initialMs: 100, maxMs: 400 }, registers,
  pipeline: { aggregate: false, alerts: [{ id: 'so2-inst', kind: 'instrument', match: { pollutant: 'SO2' } }, { id: 'nox', kind: 'limit', match: { pollutant: 'NOx' }, limit: 80 }] },
  ...extra,
});
const values = (rs: { pollutant: string; value: number; flag: string }[]) => Object.fromEntries(rs.map((r) => [r.pollutant, [Math.round(r.value * 1000) / 1000, r.flag]]));
const EXPECTED = { 'PM2.5': [35.5, 'N'], NOx: [87.25, 'N'], SO2: [123.4, 'C'], CO: [70, 'N'], O3: [215, 'N'] };

describe('Modbus against pymodbus 3.0 (real server)', () => {
  it('TCP: reads the register map with the right addresses, types, byte/word orders and status flags', async () => {
    const port = await freePort();
    await startServer(port, 'socket');
    const poller = new ModbusPoller(cfgFor({ kind: 'tcp', host: '127.0.0.1', port }), rootLogger);
    await poller.connect();
    expect(poller.requestsPerPoll).toBe(3);
    const { readings, errors } = await poller.poll(() => 1_700_000_000_000);
    expect(errors).toEqual([]);
    expect(values(readings)).toEqual(EXPECTED);
    expect(readings.find((r) => r.pollutant === 'SO2')).toMatchObject({ station: 'plant7', status: 'status=1', source: 'modbus:stack1', observedAt: 1_700_000_000_000 });
    await poller.close();
  });

  it('RTU framing (CRC, no MBAP) over a TCP serial gateway reads the same values', async () => {
    const port = await freePort();
    await startServer(port, 'rtu');
    const poller = new ModbusPoller(cfgFor({ kind: 'rtu-over-tcp', host: '127.0.0.1', port }), rootLogger);
    await poller.connect();
    expect(values((await poller.poll()).readings)).toEqual(EXPECTED);
    await poller.close();
  });

  it('RTU on a serial line (pseudo-terminal pair relayed like socat) reads the same values', async () => {
    const server = await startServer(0, 'serial');
    const ttyPath = /serial (\S+)/.exec(server.log)![1];
    const poller = new ModbusPoller(cfgFor({ kind: 'rtu', path: ttyPath, baudRate: 9600 }), rootLogger);
    await poller.connect();
    expect(values((await poller.poll()).readings)).toEqual(EXPECTED);
    await poller.close();
    await server.stop();
  });

  it('an exception for one block (illegal address) is coded; the other registers still arrive', async () => {
    const port = await freePort();
    await startServer(port, 'socket');
    const cfg = cfgFor({ kind: 'tcp', host: '127.0.0.1', port }, { registers: [...registers, { pollutant: 'HCl', unit: 'mg/m3', address: 500 }] });
    const poller = new ModbusPoller(cfg, rootLogger);
    await poller.connect();
    const { readings, errors } = await poller.poll();
    expect(errors.map((e) => [e.code, e.details?.exceptionCode])).toEqual([['MODBUS_EXCEPTION', 2]]);
    expect(values(readings)).toEqual(EXPECTED);
    await poller.close();
  });

  it('a device that never answers gives MODBUS_TIMEOUT; connection refused gives MODBUS_CONNECT', async () => {
    const silent = net.createServer((s) => s.on('data', () => undefined));
    const port = await new Promise<number>((res) => silent.listen(0, '127.0.0.1', () => res((silent.address() as net.AddressInfo).port)));
    const poller = new ModbusPoller(cfgFor({ kind: 'tcp', host: '127.0.0.1', port }), rootLogger);
    await poller.connect();
    const t0 = Date.now();
    await expect(poller.poll()).rejects.toMatchObject({ code: 'MODBUS_TIMEOUT' });
    expect(Date.now() - t0).toBeLessThan(2000);
    await poller.close();
    silent.close();
    const closed = await freePort();
    await expect(new ModbusPoller(cfgFor({ kind: 'tcp', host: '127.0.0.1', port: closed }), rootLogger).connect()).rejects.toMatchObject({ code: 'MODBUS_CONNECT' });
  });

  it('source: polls into the env pipeline, survives a server restart by reconnecting with backoff', async () => {
    const port = await freePort();
    const server = await startServer(port, 'socket');
    const { ctx, items } = memoryContext();
    const src = modbusFactory.create({ ...cfgFor({ kind: 'tcp', host: '127.0.0.1', port }) }) as ModbusSource;
    expect(modbusFactory.type).toBe('modbus');
    await src.start(ctx);
    await waitFor(() => items.filter((i) => i.kind === 'telemetry').length >= 10, { what: 'telemetry', timeoutMs: 10_000 });
    const alerts = () => items.filter((i) => i.kind === 'alert') as any[];
    // NOx 87.25 > 80 → one exceedance raise; SO2 analyser in calibration → one instrument raise, no exceedance.
    expect(alerts().map((a) => `${a.rule}:${a.state}`).sort()).toEqual(['nox:raise', 'so2-inst:raise']);
    const tel = items.find((i) => i.kind === 'telemetry' && i.tags.pollutant === 'SO2') as any;
    expect(tel.fields).toMatchObject({ flag: 'C', status: 'status=1', unit: 'mg/m3' });

    await server.stop();
    await waitFor(() => (src.health() as any).errors.MODBUS_CONNECT >= 2, { what: 'connect errors while down', timeoutMs: 10_000 });
    expect((src.health() as any).connected).toBe(false);
    const before = items.length;
    await startServer(port, 'socket');
    await waitFor(() => items.length > before + 5, { what: 'readings after restart', timeoutMs: 10_000 });
    const h = src.health() as any;
    expect(h.connected).toBe(true);
    expect(h.reconnects).toBeGreaterThanOrEqual(2);
    expect(h.nextBackoffMs).toBe(100);
    await src.stop();
    // Still one raise per situation after the outage.
    expect(alerts()).toHaveLength(2);
  });
});
