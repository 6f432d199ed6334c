/**
 * Forwarding upstream against real peers: a real InfluxDB, a real cloud (embedded broker, ingest,
 * InfluxDB series store), and two upstream HJ 212 platforms, each a second server process
 * (upstream-simulator.ts): a provincial one on HJ 212-2025 with SM4, a national one on 2017 with an
 * MN mapping. The provincial platform is stopped for a while — the cloud is even restarted
 * meanwhile — and then receives every record, in order, marked RF=1; a withheld ack makes the
 * cloud retry; the platform's history requests (CN 2061) are answered from InfluxDB (9011, data,
 * 9012), wrong password / unknown MN refused with their QnRtn; the rate job writes hj212_rates
 * into InfluxDB.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../lib/config.ts';
import { formatDataTime } from '../../lib/hj212/codec.ts';
import { projectPath } from '../../lib/data-dir.ts';
import { newMessageId } from '../../protocol/ids.ts';
import { InfluxPeer } from '../../test/peers/influx.ts';
import { tempDir, waitFor } from '../../test/peers/ports.ts';
import { Cloud } from '../cloud.ts';
import { CloudConfigSchema } from '../config.ts';
import { hj212Feature, type Hj212Feature } from './feature.ts';
import { dayStart } from './rates.ts';

const MN = 'CE0000000000000000000212';
const NATION_MN = 'NA0000000000000000000212';
const KEY = '0123456789abcdeffedcba9876543210';
const DAY = dayStart(Date.now(), 480) - 86_400_000; // yesterday, Beijing time
const hourTs = (h: number) => DAY + h * 3600_000;
const so2 = (h: number) => 20 + h / 2;

/** An upstream-simulator.ts process driven over stdin/stdout JSON lines. */
class Platform {
  readonly events: any[] = [];
  port = 0;
  private constructor(readonly child: ChildProcess) {
    readline.createInterface({ input: child.stdout! }).on('line', (l) => { try { this.events.push(JSON.parse(l)); } catch { /* not ours */ } });
  }
  static async start(args: string[]): Promise<Platform> {
    const child = spawn(process.execPath, [projectPath('bin/run-ts.mjs'), projectPath('cloud/hj212/upstream-simulator.ts'), ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    const p = new Platform(child);
    p.port = (await p.next((e) => e.ev === 'listening', 30_000)).port;
    return p;
  }
  frames(): any[] { return this.events.filter((e) => e.ev === 'frame'); }
  send(cmd: object): void { this.child.stdin!.write(`${JSON.stringify(cmd)}\n`); }
  async next(pred: (e: any) => boolean, timeoutMs = 15_000, from = 0): Promise<any> {
    return waitFor(() => this.events.slice(from).find(pred), { timeoutMs, what: 'a platform event' });
  }
  async call(cmd: object, ev: string): Promise<any> {
    const from = this.events.length;
    this.send(cmd);
    return this.next((e) => e.ev === ev || e.ev === 'error', 15_000, from);
  }
  async exit(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const done = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM'); // by its own PID
    await done;
  }
}

const influx = new InfluxPeer();
let province: Platform, nation: Platform;
let cloud: Cloud;
let feature: Hj212Feature;
let dataDir: string;
let seq = 0;

function hj212Config() {
  return {
    enterprises: [{ id: 'e1', name: '东城热电有限公司', outlets: [{ id: 'DA001', name: '1号锅炉排放口', mn: MN, kind: 'gas', site: 'env-north', intervals: { minute: 0, hourly: true, daily: false }, o2Ref: 6, limits: { a21026: 35 } }] }],
    upstreams: [
      { id: 'province', host: '127.0.0.1', port: province.port, revision: '2025', sm4Key: KEY, password: 'prov-pw', ackTimeoutMs: 500, reconnectMinMs: 100, reconnectMaxMs: 300, backfillAfterMs: 1500, heartbeatMs: 0 },
      { id: 'nation', host: '127.0.0.1', port: nation.port, revision: '2017', password: 'nation-pw', mnMap: { [MN]: NATION_MN }, periods: ['hour'], ackTimeoutMs: 500, reconnectMinMs: 100, reconnectMaxMs: 300, heartbeatMs: 0 },
    ],
  };
}
async function startCloud(): Promise<void> {
  const hj212 = hj212Config();
  feature = hj212Feature(hj212);
  const config = validateConfig(CloudConfigSchema, { dataDir, broker: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 }, influx: { url: influx.url, database: 'hj212_upstream' }, hj212 }, 'test cloud');
  cloud = await new Cloud(config, [feature]).start();
}
/** Hourly records as the edge sends them: SO2 and O2, one item per factor. */
async function ingestHours(hours: number[]): Promise<void> {
  const items = hours.flatMap((h) => [
    { kind: 'telemetry', id: newMessageId(), seq: ++seq, ts: hourTs(h), m: 'hj212', tags: { station: MN, pollutant: 'SO2', code: 'a21026', period: 'hour' }, fields: { avg: so2(h), min: so2(h) - 1, max: so2(h) + 1, zsAvg: so2(h) * 1.25, flag: 'N', unit: 'mg/m3', qc: 'ok', o2: 9, zsSource: 'computed' } },
    { kind: 'telemetry', id: newMessageId(), seq: ++seq, ts: hourTs(h), m: 'hj212', tags: { station: MN, pollutant: 'O2', code: 'a19001', period: 'hour' }, fields: { avg: 9, flag: 'N', unit: '%', qc: 'ok' } },
  ]);
  const r = cloud.ctx.ingest.accept('ce/v1/env-north/telemetry', Buffer.from(JSON.stringify({ v: 1, site: 'env-north', stream: 'hj212upstream1', sentAt: Date.now(), items })));
  if (!r.ok || r.rejected) throw new Error(`ingest refused: ${JSON.stringify(r)}`);
  await cloud.ctx.ingest.flush();
}
const dataTimes = (frames: any[]) => frames.map((f) => f.dataTime);
const expectedTimes = (hours: number[]) => hours.map((h) => formatDataTime(hourTs(h)));
const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

beforeAll(async () => {
  dataDir = tempDir('cloud-hj212-up-');
  [, province, nation] = await Promise.all([
    influx.start(),
    Platform.start(['--port', '0', '--password', 'prov-pw', '--revision', '2025', '--sm4-key', KEY]),
    Platform.start(['--port', '0', '--password', 'nation-pw', '--revision', '2017']),
  ]);
  await startCloud();
}, 90_000);
afterAll(async () => {
  await cloud?.stop();
  await Promise.all([province?.exit(), nation?.exit(), influx.stop()]);
});

describe('forwarding to upstream HJ 212 platforms', () => {
  it('live records reach both platforms at once, re-encoded per revision (2025 SM4, 2017 with the mapped MN), acked by 9014', async () => {
    await ingestHours([0, 1, 2]);
    await waitFor(() => province.frames().length >= 3 && nation.frames().length >= 3, { what: 'the live records upstream' });
    const p = province.frames();
    expect(dataTimes(p)).toEqual(expectedTimes([0, 1, 2]));
    expect(p.every((f) => f.cn === '2061' && f.mn === MN && f.pw === 'prov-pw' && f.encrypted && !f.resent && f.flag === 9)).toBe(true);
    expect(p[1].factors).toEqual({ a19001: { Avg: '9', Flag: 'N' }, a21026: { Avg: '20.5', Min: '19.5', Max: '21.5', ZsAvg: '25.625', Flag: 'N' } });
    const n = nation.frames();
    expect(dataTimes(n)).toEqual(expectedTimes([0, 1, 2]));
    expect(n.every((f) => f.mn === NATION_MN && f.pw === 'nation-pw' && !f.encrypted && f.flag === 5)).toBe(true);
    const viewer = cloud.ctx.tokens.create('wall', 'viewer').token;
    await waitFor(async () => (await fetch(`${cloud.httpUrl}/api/v1/hj212/upstreams`, { headers: { authorization: `Bearer ${viewer}` } }).then((r) => r.json())).upstreams.every((u: any) => u.acked === 3 && u.pending === 0), { what: 'acks recorded' });
  });

  it('a platform stopped for a while (the cloud restarted meanwhile) receives every record after it returns, in order, marked RF=1', async () => {
    expect((await province.call({ op: 'stop' }, 'stopped')).ev).toBe('stopped');
    await ingestHours(range(3, 13));
    await waitFor(() => nation.frames().length >= 13 && feature.upstreams.find((u) => u.cfg.id === 'nation')!.status().pending === 0, { what: 'the national platform keeps receiving' });
    // the cloud goes down and comes back while the province is still down: the outbox is on disk
    await cloud.stop();
    await startCloud();
    await ingestHours(range(13, 23));
    await new Promise((r) => setTimeout(r, 1600)); // longer than backfillAfterMs: these are back-fill now
    const status = feature.upstreams.find((u) => u.cfg.id === 'province')!.status();
    expect(status).toMatchObject({ connected: false, pending: 20 });
    expect(province.frames()).toHaveLength(3);

    await province.call({ op: 'start' }, 'listening');
    await waitFor(() => province.frames().length >= 23, { what: 'the back-fill upstream', timeoutMs: 20_000 });
    await new Promise((r) => setTimeout(r, 300)); // nothing more arrives
    const after = province.frames().slice(3);
    expect(dataTimes(after)).toEqual(expectedTimes(range(3, 23))); // every record, in order, once
    expect(after.every((f) => f.resent && f.encrypted)).toBe(true);
    expect(after.map((f) => f.factors.a21026.Avg)).toEqual(range(3, 23).map((h) => String(so2(h))));
    expect(dataTimes(nation.frames())).toEqual(expectedTimes(range(0, 23))); // the other platform: no gaps, no repeats, no RF in 2017
    expect(feature.upstreams.find((u) => u.cfg.id === 'province')!.status()).toMatchObject({ connected: true, pending: 0, acked: 23 });
  });

  it('a frame without a 9014 ack is sent again (RF=1) until acknowledged', async () => {
    await province.call({ op: 'dropAcks', n: 1 }, 'ok');
    await ingestHours([23]);
    await waitFor(() => province.frames().length >= 25, { what: 'the retry' });
    const last = province.frames().slice(23);
    expect(dataTimes(last)).toEqual(expectedTimes([23, 23]));
    expect(last[1].resent).toBe(true);
    expect(last[0].qn).not.toBe(last[1].qn);
    await waitFor(() => feature.upstreams.find((u) => u.cfg.id === 'province')!.status().acked === 24, { what: 'the ack of the retry' });
  });

  it('answers the platform\'s history request (CN 2061, BeginTime/EndTime) from InfluxDB: 9011 QnRtn=1, the records, 9012 ExeRtn=1', async () => {
    const a = await province.call({ op: 'request', cn: '2061', mn: MN, begin: formatDataTime(hourTs(4)), end: formatDataTime(hourTs(9)) }, 'answer');
    expect(a).toMatchObject({ ev: 'answer', qnRtn: 1, exeRtn: 1 });
    expect(dataTimes(a.frames)).toEqual(expectedTimes(range(4, 10))); // EndTime inclusive
    expect(a.frames.every((f: any) => f.cn === '2061' && f.qn === a.qn && f.encrypted)).toBe(true);
    expect(a.frames.map((f: any) => Number(f.factors.a21026.Avg))).toEqual(range(4, 10).map(so2));
    expect(a.frames[0].factors.a21026.Flag).toBe('N');
    const none = await province.call({ op: 'request', cn: '2051', mn: MN, begin: formatDataTime(hourTs(4)), end: formatDataTime(hourTs(9)) }, 'answer');
    expect(none).toMatchObject({ qnRtn: 1, exeRtn: 100, frames: [] }); // no minute data stored
    expect(await province.call({ op: 'request', cn: '2061', mn: MN, begin: '20240101000000', end: '20240102000000', password: 'wrong' }, 'answer')).toMatchObject({ qnRtn: 3, frames: [] });
    expect(await province.call({ op: 'request', cn: '2061', mn: 'NOSUCHMN', begin: '20240101000000', end: '20240102000000' }, 'answer')).toMatchObject({ qnRtn: 4 });
    const n = await nation.call({ op: 'request', cn: '2061', mn: NATION_MN, begin: formatDataTime(hourTs(0)), end: formatDataTime(hourTs(23)) }, 'answer');
    expect(n).toMatchObject({ qnRtn: 1, exeRtn: 1 });
    expect(n.frames).toHaveLength(24);
    expect(n.frames.every((f: any) => f.mn === NATION_MN)).toBe(true);
  });

  it('the rate job writes hj212_rates into InfluxDB (yesterday: 24 of 24 hourly records)', async () => {
    expect(await feature.writeRatesNow()).toBeGreaterThan(0);
    const r = await influx.query(`SELECT "expected", "received", "valid", "effectiveRate" FROM "hj212_rates" WHERE "window" = 'day' AND "station" = '${MN}' AND time = ${DAY}ms`, 'hj212_upstream');
    expect(r.results[0].series[0].values).toEqual([[DAY, 24, 24, 24, 1]]);
  });

  it('a record too long for one 1024-character data segment reaches the platform as split packets (PNUM/PNO), acked once', async () => {
    // the day before yesterday, 23:00: 24 factors with every statistic (a large incinerator's hourly record)
    const ts = DAY - 3600_000;
    const codes = Array.from({ length: 24 }, (_, i) => `a${21000 + i}`);
    const items = codes.map((code, i) => ({ kind: 'telemetry', id: newMessageId(), seq: ++seq, ts, m: 'hj212', tags: { station: MN, pollutant: code, code, period: 'hour' }, fields: { avg: 10 + i, min: 9 + i, max: 11 + i, cou: 1000.25 + i, zsAvg: 12.5 + i, zsMin: 11.5 + i, zsMax: 13.5 + i, flag: 'N', unit: 'mg/m3', qc: 'ok' } }));
    const r = cloud.ctx.ingest.accept('ce/v1/env-north/telemetry', Buffer.from(JSON.stringify({ v: 1, site: 'env-north', stream: 'hj212upstream1', sentAt: Date.now(), items })));
    expect(r.ok && !r.rejected).toBe(true);
    await cloud.ctx.ingest.flush();
    const link = feature.upstreams.find((u) => u.cfg.id === 'province')!;
    const acked = link.status().acked;
    const from = province.frames().length;
    await waitFor(() => link.status().acked === acked + 1 && link.status().pending === 0, { what: 'the split record acked' });
    const packets = province.frames().slice(from);
    expect(packets.length).toBeGreaterThan(1);
    expect(packets.map((f) => [f.pnum, f.pno])).toEqual(packets.map((_, i) => [packets.length, i + 1]));
    expect(new Set(packets.map((f) => f.qn)).size).toBe(1);
    expect(dataTimes(packets)).toEqual(packets.map(() => formatDataTime(ts)));
    expect(packets.every((f) => f.length <= 1024)).toBe(true);
    expect(packets.flatMap((f) => Object.keys(f.factors)).sort()).toEqual(codes);
  });
});
