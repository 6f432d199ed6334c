import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/peers/ports.ts';
import { Hj212Client } from './simulator.ts';
import { Hj212Server, type AcceptedFrame, type Hj212ServerOptions } from './server.ts';
import { hj212Factory, valuesToItems } from '../../edge/sources/hj212.ts';
import { sharedFrames } from '../../test/support/hj212.ts';
import type { NewItem } from '../../protocol/schemas.ts';
import { checkers } from '../../protocol/schemas.ts';
import { rootLogger } from '../../lib/log.ts';

const SM4_KEY = '0123456789abcdeffedcba9876543210';
const stations = [
  { mn: 'AIR2017', password: '123456', revision: '2017' as const },
  { mn: '010000A8900016F000169DC0', password: '654321', revision: '2025' as const, sm4Key: SM4_KEY, requireEncryption: true },
  { mn: 'Y80110010000010', password: '123456' },
];
const cleanup: Array<() => unknown> = [];
afterEach(async () => { for (const f of cleanup.splice(0).reverse()) await f(); });

async function startServer(extra: Partial<Hj212ServerOptions> = {}) {
  const accepted: AcceptedFrame[] = [];
  const server = new Hj212Server({ host: '127.0.0.1', port: 0, stations, onFrame: (ev) => { accepted.push(ev); }, ...extra });
  const port = await server.listen();
  cleanup.push(() => server.close());
  return { server, port, accepted };
}

async function client(port: number, o: Partial<ConstructorParameters<typeof Hj212Client>[0]> & { mn: string; password: string; revision: '2017' | '2025' }) {
  const c = new Hj212Client({ port, ackTimeoutMs: 1000, ...o });
  await c.connect();
  cleanup.push(() => c.close());
  return c;
}

const T = Date.UTC(2026, 2, 5, 2); // 2026-03-05 10:00 Beijing

describe('Hj212Server with real loggers on loopback', () => {
  it('a 2017 logger and a 2025 SM4 logger on the same server both deliver readings and get 9014 acks', async () => {
    const { server, port, accepted } = await startServer();
    const old = await client(port, { mn: 'AIR2017', password: '123456', revision: '2017' });
    const neu = await client(port, { mn: '010000A8900016F000169DC0', password: '654321', revision: '2025', sm4Key: SM4_KEY, st: '31' });
    const r1 = await old.sendData('2061', T, [{ code: 'a34004', fields: { Avg: 88, Min: 60, Max: 120, Cou: 12, Flag: 'N' } }]);
    const r2 = await neu.sendData('2011', T, [{ code: 'a21026', fields: { Rtd: 12.5, Flag: 'C' } }, { code: 'a34013', fields: { Rtd: 3.2, Flag: 'N' } }]);
    expect(r1).toMatchObject({ acked: true, attempts: 1 });
    expect(r2).toMatchObject({ acked: true, attempts: 1 });
    expect(await neu.heartbeat()).toBe(true);
    const byMn: Record<string, AcceptedFrame> = Object.fromEntries(accepted.filter((a) => a.values.length).map((a) => [a.frame.mn, a]));
    expect(byMn.AIR2017.frame.revision).toBe('2017');
    expect(byMn.AIR2017.values.find((r) => r.statistic === 'avg')).toMatchObject({ pollutant: 'PM2.5', value: 88, observedAt: T, flag: 'N', unit: 'ug/m3' });
    const f25 = byMn['010000A8900016F000169DC0'];
    expect(f25.frame).toMatchObject({ revision: '2025', encrypted: true });
    expect(f25.values.find((r) => r.code === 'a21026')).toMatchObject({ pollutant: 'SO2', value: 12.5, flag: 'C', flagMeaning: 'calibration' });
    // acks carry the logger's QN and the logger's revision in Flag (no reply bit)
    const ack = neu.received.find((f) => f.cn === '9014')!;
    expect(ack).toMatchObject({ st: '91', flag: 8, qn: r2.qn });
    expect(old.received.find((f) => f.cn === '9014')).toMatchObject({ flag: 4, qn: r1.qn });
    expect(server.stats()).toMatchObject({ accepted: 3, acks: 3, heartbeats: 1, readings: 6 });
    // telemetry items are valid protocol items
    for (const it of valuesToItems([...byMn.AIR2017.values, ...f25.values])) expect(checkers.telemetry.Check({ ...it, id: '0190b8a0-0000-7000-8000-000000000000', seq: 1 })).toBe(true);
  });

  it('rejects a 2025 frame encrypted with the wrong key (HJ212_DECRYPT, no ack) and plaintext from an encryption-only station', async () => {
    const { server, port, accepted } = await startServer();
    const bad = await client(port, { mn: '010000A8900016F000169DC0', password: '654321', revision: '2025', sm4Key: 'fedcba98765432100123456789abcdef', ackTimeoutMs: 300, maxAttempts: 1 });
    expect((await bad.sendData('2011', T, [{ code: 'a21026', fields: { Rtd: 1, Flag: 'N' } }])).acked).toBe(false);
    const plain = await client(port, { mn: '010000A8900016F000169DC0', password: '654321', revision: '2025', ackTimeoutMs: 300, maxAttempts: 1 });
    expect((await plain.sendData('2011', T, [{ code: 'a21026', fields: { Rtd: 1, Flag: 'N' } }])).acked).toBe(false);
    expect(server.stats().rejected.HJ212_DECRYPT).toBe(2);
    expect(accepted).toHaveLength(0);
  });

  it('authentication failures: wrong PW gets 9011 QnRtn=3, unknown MN QnRtn=4, both HJ212_AUTH', async () => {
    const { server, port, accepted } = await startServer();
    const wrong = await client(port, { mn: 'AIR2017', password: 'nope', revision: '2017' });
    await expect(wrong.sendData('2011', T, [{ code: 'a34004', fields: { Rtd: 1 } }])).rejects.toMatchObject({ code: 'HJ212_AUTH', details: { qnRtn: 3 } });
    const unknown = await client(port, { mn: 'NOBODY', password: '123456', revision: '2017' });
    await expect(unknown.sendData('2011', T, [{ code: 'a34004', fields: { Rtd: 1 } }])).rejects.toMatchObject({ code: 'HJ212_AUTH', details: { qnRtn: 4 } });
    expect(server.stats().rejected.HJ212_AUTH).toBe(2);
    expect(accepted).toHaveLength(0);
  });

  it('re-sends with RF=1 when unacknowledged (store failure suppresses the ack) and drops the duplicate', async () => {
    let fail = true;
    const seen: AcceptedFrame[] = [];
    const { server, port } = await startServer({ onFrame: (ev) => { if (fail) { fail = false; throw new Error('outbox full'); } seen.push(ev); } });
    const c = await client(port, { mn: '010000A8900016F000169DC0', password: '654321', revision: '2025', sm4Key: SM4_KEY, ackTimeoutMs: 300 });
    const r = await c.sendData('2061', T, [{ code: 'a34004', fields: { Avg: 40, Flag: 'N' } }]);
    expect(r).toMatchObject({ acked: true, attempts: 2 });
    expect(seen[0].frame.resent).toBe(true);
    expect(seen[0].values[0].resent).toBe(true);
    expect(server.stats().rejected.HJ212_STORE).toBe(1);
    // the same data again is acked but counted as duplicate, with no readings
    await c.sendData('2061', T, [{ code: 'a34004', fields: { Avg: 40, Flag: 'N' } }]);
    expect(seen[1]).toMatchObject({ duplicate: true, values: [] });
  });

  it('times out idle and slow connections, bounds frames, survives garbage', async () => {
    const { server, port, accepted } = await startServer({ idleTimeoutMs: 300, frameTimeoutMs: 200, maxFrameBytes: 1024 });
    const idle = net.connect(port, '127.0.0.1');
    const slow = net.connect(port, '127.0.0.1');
    const closed = (s: net.Socket) => new Promise<void>((r) => s.once('close', () => r()));
    await Promise.all([new Promise((r) => idle.once('connect', r)), new Promise((r) => slow.once('connect', r))]);
    slow.write('##0275QN=2019');
    // a garbage sender and an oversized frame on a third connection, then a good frame
    const g = net.connect(port, '127.0.0.1');
    await new Promise((r) => g.once('connect', r));
    g.write(Buffer.concat([Buffer.from([0, 255, 35, 13, 10]), Buffer.from(`##0999${'x'.repeat(3000)}\r\n`), Buffer.from(sharedFrames('frames_valid.txt')[0])]));
    await Promise.all([closed(idle), closed(slow)]);
    await waitFor(() => accepted.length === 1, { timeoutMs: 3000 });
    g.destroy();
    const s = server.stats();
    expect(s.connections.idleTimeouts).toBeGreaterThanOrEqual(1);
    expect(s.connections.slowTimeouts).toBe(1);
    expect(s.rejected.HJ212_TOO_LARGE).toBe(1);
    expect(accepted[0].frame.mn).toBe('Y80110010000010');
  });
});

describe('hj212 edge source', () => {
  it('starts the server and emits telemetry items per factor', async () => {
    const items: NewItem[] = [];
    const ctx = { site: 's1', log: rootLogger, metrics: undefined as never, stateDir: '/tmp', configDir: '/tmp', emit: (xs: NewItem[]) => { items.push(...xs); return []; }, checkpoint: () => undefined };
    const src = hj212Factory.create({ type: 'hj212', id: 'hj', host: '127.0.0.1', port: 0, stations, idleTimeoutMs: 60_000, frameTimeoutMs: 5000, maxFrameBytes: 8192, maxConnections: 10, offsetMinutes: 480 });
    await src.start(ctx);
    cleanup.push(() => src.stop());
    const port = src.health!().port as number;
    const c = await client(port, { mn: 'AIR2017', password: '123456', revision: '2017' });
    await c.sendData('2061', T, [{ code: 'a34004', fields: { Avg: 88, Min: 60, Max: 120, Cou: 12, Flag: 'M' } }, { code: 'a21005', fields: { Avg: 0.9, Flag: 'N' } }]);
    expect(items).toHaveLength(2);
    expect(items[0]).toMatchObject({ kind: 'telemetry', m: 'hj212', ts: T, tags: { station: 'AIR2017', pollutant: 'PM2.5', code: 'a34004', period: 'hour' }, fields: { avg: 88, min: 60, max: 120, cou: 12, flag: 'M', unit: 'ug/m3', qc: 'ok' } });
    expect(src.health!()).toMatchObject({ accepted: 1, acks: 1 });
  });
});
