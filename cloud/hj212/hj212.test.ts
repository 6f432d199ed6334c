/**
 * The hj212 feature in a real cloud (embedded broker, ingest, SQLite series store, HTTP API), fed
 * with items built to the edge contract (m: 'hj212', tags {station, pollutant, code, period},
 * fields {avg|min|max|cou, flag, unit, qc, resent?, zsAvg…, o2}) through the real ingest.
 */
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../lib/config.ts';
import { newMessageId } from '../../protocol/ids.ts';
import { tempDir, waitFor } from '../../test/peers/ports.ts';
import { Cloud } from '../cloud.ts';
import { CloudConfigSchema } from '../config.ts';
import { hj212Feature, type Hj212Feature } from './feature.ts';
import { COLUMNS } from './reports.ts';

const OFF = 8 * 3600_000; // Beijing time
const bj = (y: number, mo: number, d: number, h = 0) => Date.UTC(y, mo - 1, d, h) - OFF;
const MN1 = 'HJ0000000000000000000001';
const MN2 = 'HJ0000000000000000000002';
const MN3 = 'HJ0000000000000000000003';
const NOW = bj(2024, 3, 1, 12); // the feature's clock: 1 March 2024 12:00 Beijing time

const registry = {
  enterprises: [{
    id: 'e1', name: '东城热电有限公司', nameEn: 'Dongcheng Thermal Power',
    outlets: [
      { id: 'DA001', name: '1号锅炉排放口', mn: MN1, kind: 'gas', since: '2024-02-01', intervals: { minute: 0, hourly: true, daily: false }, standard: 'GB 13223-2011', o2Ref: 6, limits: { a21026: 35, a21002: 50 } },
      { id: 'DA002', name: '2号锅炉排放口', mn: MN2, kind: 'gas', since: '2024-02-01', intervals: { minute: 0, hourly: true, daily: false }, o2Ref: 6, limits: { a21026: 35 } },
    ],
  }, {
    id: 'e2', name: '西城污水处理厂', outlets: [{ id: 'DW001', name: '总排口', mn: MN3, kind: 'water', site: 'env-south', intervals: { minute: 10 } }],
  }],
};

let seq = 0;
function item(mn: string, ts: number, code: string, pollutant: string, fields: Record<string, unknown>, period = 'hour') {
  return { kind: 'telemetry', id: newMessageId(), seq: ++seq, ts, m: 'hj212', tags: { station: mn, pollutant, code, period }, fields: { qc: 'ok', ...fields } };
}
async function ingest(cloud: Cloud, site: string, items: unknown[], channel = 'telemetry'): Promise<void> {
  for (let i = 0; i < items.length; i += 1000) {
    const r = cloud.ctx.ingest.accept(`ce/v1/${site}/${channel}`, Buffer.from(JSON.stringify({ v: 1, site, stream: 'hj212test01', sentAt: Date.now(), items: items.slice(i, i + 1000) })));
    if (!r.ok || r.rejected) throw new Error(`ingest refused: ${JSON.stringify(r)}`);
  }
  await cloud.ctx.ingest.flush();
}
async function api(cloud: Cloud, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any; raw: Buffer; headers: Headers }> {
  const res = await fetch(`${cloud.httpUrl}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, body: body !== undefined ? JSON.stringify(body) : undefined });
  const raw = Buffer.from(await res.arrayBuffer());
  let parsed: unknown;
  try { parsed = JSON.parse(raw.toString('utf8')); } catch { parsed = undefined; }
  return { status: res.status, body: parsed, raw, headers: res.headers };
}

let cloud: Cloud;
let feature: Hj212Feature;
let viewer: string, env: string, ops: string;
beforeAll(async () => {
  feature = hj212Feature(registry, { now: () => NOW });
  const config = validateConfig(CloudConfigSchema, { dataDir: tempDir('cloud-hj212-'), broker: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 }, hj212: registry }, 'test cloud');
  cloud = await new Cloud(config, [feature]).start();
  viewer = cloud.ctx.tokens.create('wall', 'viewer').token;
  env = cloud.ctx.tokens.create('li.wei', 'env').token;
  ops = cloud.ctx.tokens.create('zhang.ops', 'ops').token;
});
afterAll(async () => { await cloud?.stop(); });

describe('transmission effective rate (数据传输有效率)', () => {
  // February 2024 in Beijing time, hourly records k = 0 … 695 (k = day × 24 + hour), two factors each:
  //   missing   k % 20 === 7   → k = 7, 27, …, 687                         35 records never sent
  //   SO2 D     k % 25 === 3   → k = 3, 28, …, 678                         28 records (fault on one factor)
  //   O2 M      k % 100 === 11 → k = 11, 111, …, 611                        7 records (maintenance)
  //   re-sent   k % 30 === 0   → sent a second time, resent: true        (24 records, not counted again)
  // (the three rules never hit the same k: mod 100 the missing k end in 7, 27, 47, 67, 87, the D ones in 3, 28, 53, 78.)
  // Hand computation:  expected = 29 days × 24 = 696;  received = 696 − 35 = 661;  valid = 661 − 28 − 7 = 626
  //   transmission rate = 661 / 696 = 0.949713;  validity rate = 626 / 661 = 0.947050;
  //   effective rate    = 0.949713 × 0.947050 = 626 / 696 = 0.899425  → below 90 %: flagged.
  const K = 29 * 24;
  const T = (k: number) => bj(2024, 2, 1) + k * 3600_000;
  beforeAll(async () => {
    const items: unknown[] = [];
    for (let k = 0; k < K; k++) {
      if (k % 20 === 7) continue;
      items.push(item(MN2, T(k), 'a21026', 'SO2', { avg: 20 + (k % 7), flag: k % 25 === 3 ? 'D' : 'N', unit: 'mg/m3' }));
      items.push(item(MN2, T(k), 'a19001', 'O2', { avg: 9, flag: k % 100 === 11 ? 'M' : 'N', unit: '%' }));
    }
    await ingest(cloud, 'env-north', items);
    await new Promise((r) => setTimeout(r, 5)); // later item ids for the re-sent copies
    const resent: unknown[] = [];
    for (let k = 0; k < K; k += 30) {
      resent.push(item(MN2, T(k), 'a21026', 'SO2', { avg: 20 + (k % 7), flag: k % 25 === 3 ? 'D' : 'N', unit: 'mg/m3', resent: true }));
      resent.push(item(MN2, T(k), 'a19001', 'O2', { avg: 9, flag: 'N', unit: '%', resent: true }));
    }
    await ingest(cloud, 'env-north', resent);
  });

  it('the monthly rate of an outlet with missing, flagged and re-sent records equals the hand computation', async () => {
    const r = await api(cloud, viewer, 'GET', '/api/v1/hj212/rates?period=month&from=2024-02&to=2024-03&enterprise=e1&outlet=DA002');
    expect(r.status).toBe(200);
    const row = r.body.rows.find((x: { outlet?: string }) => x.outlet === 'DA002');
    expect(row).toMatchObject({ label: '2024-02', mn: MN2, dataPeriod: 'hour', expected: 696, received: 661, valid: 626, belowThreshold: true });
    expect(row.transmissionRate).toBeCloseTo(661 / 696, 12);
    expect(row.validityRate).toBeCloseTo(626 / 661, 12);
    expect(row.effectiveRate).toBeCloseTo(0.899425, 6);
    expect(row.effectiveRate).toBeCloseTo(row.transmissionRate * row.validityRate, 12);
    // the enterprise row sums its outlets (DA001 has no February records: 696 expected, none received)
    const ent = r.body.rows.find((x: { outlet?: string }) => x.outlet === undefined);
    expect(ent).toMatchObject({ enterprise: 'e1', expected: 696, received: 661, valid: 626 });
  });

  it('a day: 29 February has k = 672 … 695 — one missing (687), one D (678): 23 of 24 received, 22 valid', async () => {
    const r = await api(cloud, viewer, 'GET', '/api/v1/hj212/rates?period=day&from=2024-02-29&to=2024-03-01&outlet=DA002');
    expect(r.body.rows.find((x: { outlet?: string }) => x.outlet === 'DA002')).toMatchObject({ label: '2024-02-29', expected: 24, received: 23, valid: 22 });
  });

  it('a flag correction by an env user is audited, keeps the original, and is used by the rate (626 → 627 valid: above 90 %)', async () => {
    const ts = T(678); // 2024-02-29 06:00, SO2 flagged D
    const path = `/api/v1/hj212/records/${MN2}/hour/${ts}`;
    // refused below env, and bad flag / reason / record, each with its code
    expect(await api(cloud, viewer, 'POST', `${path}/flag`, { flag: 'N', reason: 'x' })).toMatchObject({ status: 403, body: { code: 'API_FORBIDDEN' } });
    expect(await api(cloud, env, 'POST', `${path}/flag`, { flag: 'X', reason: 'x' })).toMatchObject({ status: 400, body: { code: 'HJ212_BAD_FLAG' } });
    expect(await api(cloud, env, 'POST', `${path}/flag`, { flag: 'N', reason: '   ' })).toMatchObject({ status: 400, body: { code: 'HJ212_REASON_REQUIRED' } });
    expect(await api(cloud, env, 'POST', `${path}/flag`, { flag: 'N' })).toMatchObject({ status: 400, body: { code: 'HJ212_REASON_REQUIRED' } });
    expect(await api(cloud, env, 'POST', `/api/v1/hj212/records/${MN2}/hour/${T(687)}/flag`, { flag: 'N', reason: 'x' })).toMatchObject({ status: 404, body: { code: 'HJ212_RECORD_NOT_FOUND' } });
    expect(await api(cloud, env, 'POST', `/api/v1/hj212/records/${MN2}/hour/${T(3)}/flag`, { flag: 'N', reason: 'x' })).toMatchObject({ status: 409, body: { code: 'HJ212_CORRECTION_TOO_LATE' } });
    expect(await api(cloud, env, 'POST', `/api/v1/hj212/records/${MN2}/week/${ts}/flag`, { flag: 'N', reason: 'x' })).toMatchObject({ status: 400, body: { code: 'HJ212_BAD_PERIOD' } });

    const ok = await api(cloud, env, 'POST', `${path}/flag`, { flag: 'N', reason: '运维记录：06:00 为误报，仪器正常' });
    expect(ok.status).toBe(200);
    expect(ok.body.change).toMatchObject({ code: '', oldFlag: 'a19001=N;a21026=D', newFlag: 'N', by: 'li.wei', at: NOW, reason: '运维记录：06:00 为误报，仪器正常' });
    expect(ok.body.flags).toEqual({ a21026: { original: 'D', flag: 'N' }, a19001: { original: 'N', flag: 'N' } });
    // the DataTime form of the same record (local time) works too; a per-factor change is audited on its own
    const one = await api(cloud, env, 'POST', `/api/v1/hj212/records/${MN2}/hour/20240229060000/flag`, { flag: 'C', code: 'a19001', reason: '校准' });
    expect(one.body.change).toMatchObject({ code: 'a19001', oldFlag: 'N', newFlag: 'C' });
    const back = await api(cloud, env, 'POST', `${path}/flag`, { flag: 'N', code: 'a19001', reason: '校准记录有误' });
    expect(back.body.change).toMatchObject({ oldFlag: 'C', newFlag: 'N' });

    const hist = await api(cloud, viewer, 'GET', `${path}/history`);
    expect(hist.body.history.map((h: { oldFlag: string; newFlag: string; by: string }) => [h.oldFlag, h.newFlag, h.by])).toEqual([['a19001=N;a21026=D', 'N', 'li.wei'], ['N', 'C', 'li.wei'], ['C', 'N', 'li.wei']]);
    const rec = await api(cloud, viewer, 'GET', path);
    expect(rec.body.record.factors.a21026.fields.flag).toBe('D'); // the original stays

    const month = await api(cloud, viewer, 'GET', '/api/v1/hj212/rates?period=month&from=2024-02&to=2024-03&outlet=DA002');
    const row = month.body.rows.find((x: { outlet?: string }) => x.outlet === 'DA002');
    expect(row).toMatchObject({ valid: 627, belowThreshold: false });
    expect(row.effectiveRate).toBeCloseTo(627 / 696, 12); // 0.900862
  });

  it('the periodic job writes the rates as hj212_rates series through the series store', async () => {
    const n = await feature.writeRatesNow();
    expect(n).toBeGreaterThan(0);
    const q = await cloud.ctx.store.query({ measurement: 'hj212_rates', fields: ['expected', 'received', 'valid', 'effectiveRate', 'belowThreshold'], from: bj(2024, 2, 1), to: bj(2024, 2, 1) + 1, tags: { window: 'month', outlet: 'DA002' }, groupBy: ['station', 'dataPeriod'] });
    expect(q.series).toHaveLength(1);
    expect(q.series[0].tags).toEqual({ station: MN2, dataPeriod: 'hour' });
    const [, expected, received, valid, eff, below] = q.series[0].values[0];
    expect([expected, received, valid, below]).toEqual([696, 661, 627, false]);
    expect(eff).toBeCloseTo(627 / 696, 9);
  });
});

describe('reports (日报 / 月报)', () => {
  // 10 March 2024 at DA001: SO2 (a21026, zsAvg from the edge), NOx (a21002, converted in the cloud from O2), O2, flue-gas flow in m3/h.
  const D = bj(2024, 3, 10);
  const hours = Array.from({ length: 24 }, (_, h) => h);
  const so2 = (h: number) => 30 + h; // raw mg/m3
  const o2 = (h: number) => (h < 12 ? 9 : 11);
  const zs = (c: number, h: number) => (c * (21 - 6)) / (21 - o2(h));
  const flow = (h: number) => 150_000 + h * 1000; // m3/h
  const badHour = 5; // SO2 fault at 05:00 — excluded from stats, exceedance and emission
  beforeAll(async () => {
    const items: unknown[] = [];
    for (const h of hours) {
      const t = D + h * 3600_000;
      items.push(item(MN1, t, 'a21026', 'SO2', { avg: so2(h), min: so2(h) - 2, max: so2(h) + 3, zsAvg: zs(so2(h), h), zsMin: zs(so2(h) - 2, h), zsMax: zs(so2(h) + 3, h), o2: o2(h), zsSource: 'logger', flag: h === badHour ? 'D' : 'N', unit: 'mg/m3' }));
      items.push(item(MN1, t, 'a21002', 'NOx', { avg: 40, flag: 'N', unit: 'mg/m3' }));
      items.push(item(MN1, t, 'a19001', 'O2', { avg: o2(h), flag: 'N', unit: '%' }));
      items.push(item(MN1, t, 'a00000', 'flue_gas_flow', { avg: flow(h), flag: 'N', unit: 'm3/h' }));
    }
    await ingest(cloud, 'env-north', items);
  });

  it('CSV opens with the BOM and the Chinese header, and its totals equal the stored data', async () => {
    const r = await api(cloud, viewer, 'GET', '/api/v1/hj212/reports/daily?date=2024-03-10&enterprise=e1&outlet=DA001&format=csv&lang=zh-CN');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    // the bytes: EF BB BF, then the UTF-8 header
    expect([...r.raw.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const header = '日期,企业,排放口,数采仪MN,监测因子,因子编码,单位,小时数据条数,有效小时数,实测浓度最小值,实测浓度平均值,实测浓度最大值,折算浓度最小值,折算浓度平均值,折算浓度最大值,排放限值,限值适用,超标小时数,最大超标倍数,排放量（kg）,传输率,有效率,数据传输有效率,数据传输有效率不达标\r\n';
    expect(r.raw.subarray(3, 3 + Buffer.byteLength(header))).toEqual(Buffer.from(header, 'utf8'));
    const lines = r.raw.subarray(3).toString('utf8').trimEnd().split('\r\n').map((l) => l.split(','));
    const col = (name: string) => lines[0].indexOf(name);
    const so2Row = lines.find((l) => l[col('因子编码')] === 'a21026' && l[0] === '2024-03-10')!;
    const total = lines.find((l) => l[0] === '合计' && l[col('因子编码')] === 'a21026')!;
    expect(so2Row.slice(0, 7)).toEqual(['2024-03-10', '东城热电有限公司', '1号锅炉排放口', MN1, 'SO2', 'a21026', 'mg/m3']);

    // the same numbers straight from the series store (hourly records of 10 March, flags N only)
    const q = await cloud.ctx.store.query({ measurement: 'hj212', fields: ['avg', 'flag', 'zsAvg'], from: D, to: D + 86_400_000, tags: { station: MN1, period: 'hour' }, groupBy: ['code'] });
    const series = (code: string) => new Map(q.series.find((s) => s.tags.code === code)!.values.map((v) => [v[0] as number, v]));
    const s = series('a21026'), f = series('a00000');
    let kg = 0, n = 0, sum = 0, exceed = 0;
    for (const [t, v] of s) {
      if (v[2] !== 'N' || f.get(t)![2] !== 'N') continue;
      kg += (v[1] as number) * (f.get(t)![1] as number) * 1e-6; // mg/m3 × m3 (1 h of m3/h) → kg
      n++; sum += v[1] as number;
      if ((v[3] as number) > 35) exceed++;
    }
    expect(n).toBe(23);
    expect(Number(total[col('排放量（kg）')])).toBeCloseTo(kg, 5);
    expect(Number(so2Row[col('排放量（kg）')])).toBeCloseTo(kg, 5);
    expect(Number(so2Row[col('实测浓度平均值')])).toBeCloseTo(sum / n, 5);
    expect(Number(so2Row[col('有效小时数')])).toBe(23);
    expect(Number(so2Row[col('小时数据条数')])).toBe(24);
    expect(Number(so2Row[col('超标小时数')])).toBe(exceed);
    expect(exceed).toBeGreaterThan(0);
    expect(so2Row[col('限值适用')]).toBe('折算浓度');
    // raw SO2 exceeds 35 only from 06:00 (36 mg/m3); converted from 00:00 (30 × 15/12 = 37.5): converted is what counts
    expect(exceed).toBe(23);
    // NOx converted by the cloud from the hour's O2: 40 × 15/12 = 50 (h < 12), 40 × 15/10 = 60 (h ≥ 12)
    const nox = lines.find((l) => l[col('因子编码')] === 'a21002' && l[0] === '2024-03-10')!;
    expect(Number(nox[col('折算浓度平均值')])).toBeCloseTo(55, 9);
    expect(Number(nox[col('超标小时数')])).toBe(12);
    expect(Number(nox[col('最大超标倍数')])).toBeCloseTo(0.2, 9); // (60 − 50) / 50
  });

  it('JSON and English column names; monthly report over the same data', async () => {
    const en = await api(cloud, viewer, 'GET', '/api/v1/hj212/reports/daily?date=2024-03-10&outlet=DA001&format=csv&lang=en');
    expect(en.raw.subarray(3).toString('utf8').split('\r\n')[0]).toBe(COLUMNS.map((c) => c.en).join(','));
    const j = await api(cloud, viewer, 'GET', '/api/v1/hj212/reports/monthly?month=2024-03&enterprise=e1&format=json');
    expect(j.status).toBe(200);
    const so2 = j.body.rows.find((r: { outlet: string; code: string }) => r.outlet === 'DA001' && r.code === 'a21026');
    expect(so2).toMatchObject({ period: '2024-03', hours: 24, validHours: 23, limit: 35, limitBasis: 'converted' });
    expect(j.body.totals.find((t: { code: string }) => t.code === 'a21026').emissionKg).toBeCloseTo(so2.emissionKg, 9);
    expect((await api(cloud, viewer, 'GET', '/api/v1/hj212/reports/daily?date=2024-3-10')).body.code).toBe('HJ212_BAD_TIME');
    expect((await api(cloud, viewer, 'GET', '/api/v1/hj212/reports/daily?date=2024-03-10&enterprise=nope')).body.code).toBe('HJ212_UNKNOWN_ENTERPRISE');
  });
});

describe('remote commands to loggers (反控)', () => {
  it('clock.set reaches the site as hj212.request; the answer (cmdres) is recorded and shown', async () => {
    const password = await cloud.ctx.devices.add('env-south');
    const site = await mqtt.connectAsync(`mqtt://127.0.0.1:${cloud.mqttPort}`, { username: 'env-south', password, clientId: 'env-south', reconnectPeriod: 0 });
    try {
      const got: Array<{ topic: string; cmd: any }> = [];
      site.on('message', (topic, payload) => got.push({ topic, cmd: JSON.parse(payload.toString()) }));
      await site.subscribeAsync('ce/v1/env-south/cmd/#', { qos: 1 });

      expect(await api(cloud, env, 'POST', `/api/v1/hj212/stations/${MN3}/commands`, { action: 'clock.set', time: '2024-03-01T04:00:00Z' })).toMatchObject({ status: 403, body: { code: 'API_FORBIDDEN' } });
      expect(await api(cloud, viewer, 'POST', `/api/v1/hj212/stations/${MN3}/commands`, { action: 'clock.read' })).toMatchObject({ status: 403, body: { code: 'API_FORBIDDEN' } });
      expect(await api(cloud, ops, 'POST', `/api/v1/hj212/stations/${MN3}/commands`, { action: 'interval.set', kind: 'min', value: 7 })).toMatchObject({ status: 400, body: { code: 'HJ212_BAD_COMMAND' } });
      expect(await api(cloud, ops, 'POST', '/api/v1/hj212/stations/UNKNOWN1/commands', { action: 'clock.read' })).toMatchObject({ status: 404, body: { code: 'HJ212_UNKNOWN_STATION' } });

      const sent = await api(cloud, ops, 'POST', `/api/v1/hj212/stations/${MN3}/commands`, { action: 'clock.set', time: '2024-03-01T04:00:00Z' });
      expect(sent.status).toBe(202);
      expect(sent.body).toMatchObject({ mn: MN3, site: 'env-south', action: 'clock.set', cn: '1012', cp: { SystemTime: '20240301120000' }, state: 'sent', by: 'zhang.ops' });
      await waitFor(() => got.length >= 1, { what: 'the command at the site' });
      expect(got[0].topic).toBe('ce/v1/env-south/cmd/hj212.request');
      expect(got[0].cmd).toMatchObject({ v: 1, id: sent.body.id, name: 'hj212.request', args: { mn: MN3, cn: '1012', cp: { SystemTime: '20240301120000' } } });

      // the edge answers (its cmdres travels through ingest like every item)
      await ingest(cloud, 'env-south', [{ kind: 'cmdres', id: newMessageId(), seq: ++seq, ts: Date.now(), cmdId: sent.body.id, ok: true, result: { mn: MN3, cn: '1012', qnRtn: 1, exeRtn: 1, answer: { cn: '9012', cp: { ExeRtn: '1' } } } }], 'cmdres');
      const read = await api(cloud, env, 'POST', `/api/v1/hj212/stations/${MN3}/commands`, { action: 'interval.read', kind: 'min' });
      expect(read.body).toMatchObject({ cn: '1063', state: 'sent' });
      await waitFor(() => got.length >= 2, { what: 'the second command' });
      await ingest(cloud, 'env-south', [{ kind: 'cmdres', id: newMessageId(), seq: ++seq, ts: Date.now(), cmdId: read.body.id, ok: false, result: { code: 'HJ212_TIMEOUT', message: 'the logger did not answer within 30000 ms' } }], 'cmdres');

      const list = await api(cloud, viewer, 'GET', `/api/v1/hj212/stations/${MN3}/commands`);
      expect(list.body.commands).toHaveLength(2);
      expect(list.body.commands.find((c: { id: string }) => c.id === sent.body.id)).toMatchObject({ state: 'answered', ok: true, qnRtn: 1, exeRtn: 1 });
      expect(list.body.commands.find((c: { id: string }) => c.id === read.body.id)).toMatchObject({ state: 'failed', ok: false, result: { code: 'HJ212_TIMEOUT' } });
    } finally {
      await site.endAsync();
    }
  });

  it('the site of an MN without one configured is the site of its newest record', async () => {
    // MN2's records came from env-north, which is not provisioned
    expect(await api(cloud, env, 'POST', `/api/v1/hj212/stations/${MN2}/commands`, { action: 'clock.read' })).toMatchObject({ status: 404, body: { code: 'API_UNKNOWN_SITE' } });
    await cloud.ctx.devices.add('env-north');
    expect(await api(cloud, env, 'POST', `/api/v1/hj212/stations/${MN2}/commands`, { action: 'clock.read' })).toMatchObject({ status: 202, body: { site: 'env-north', cn: '1011' } });
  });
});
