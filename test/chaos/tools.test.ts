/**
 * The chaos run's own tools, without peers: the seeded schedule, the black-hole proxy
 * (loopback sockets) and the process-level clock preload (a child node process).
 */
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { projectPath } from '../../lib/data-dir.ts';
import { tempDir, waitFor } from '../peers/ports.ts';
import { fuzzCases } from './fuzz.ts';
import { BlackholeProxy } from './proxy.ts';
import { buildSchedule, defaultKinds, type ScheduleOptions } from './schedule.ts';

const opts = (seed: number, over: Partial<ScheduleOptions> = {}): ScheduleOptions => ({
  seed, runMs: 180_000, warmupMs: 15_000, quietMs: 10_000, broker: 'embedded', kinds: defaultKinds('embedded'), skip: [], fuzzCases: 3000, fuzzRate: 300, ...over,
});

describe('chaos schedule', () => {
  it('is the same for the same seed and differs for another', () => {
    expect(buildSchedule(opts(42))).toEqual(buildSchedule(opts(42)));
    expect(buildSchedule(opts(42))).not.toEqual(buildSchedule(opts(43)));
  });

  it('applies every enabled kind in a 3-minute run, lane-A faults one at a time and over before the quiet tail', () => {
    for (const seed of [1, 7, 20260101]) {
      const s = buildSchedule(opts(seed));
      for (const k of defaultKinds('embedded')) expect(s.some((e) => e.kind === k), `${k} (seed ${seed})`).toBe(true);
      const a = s.filter((e) => e.lane === 'A');
      for (let i = 1; i < a.length; i++) expect(a[i].at).toBeGreaterThanOrEqual(a[i - 1].at + a[i - 1].durationMs);
      for (const e of a) expect(e.at + e.durationMs).toBeLessThanOrEqual(180_000 - 10_000);
      expect(s.filter((e) => e.kind === 'fuzz').reduce((n, e) => n + (e.cases ?? 0), 0)).toBe(3000);
    }
  });

  it("the seeds of chaos.int.test.ts reach every kind and many targets in their short runs", () => {
    const pairs = (broker: 'embedded' | 'mosquitto', minutes: number, seed: number) => {
      const runMs = minutes * 60_000;
      const s = buildSchedule(opts(seed, { runMs, warmupMs: Math.min(15_000, runMs * 0.1), broker, kinds: defaultKinds(broker), fuzzCases: 1500 }));
      for (const k of defaultKinds(broker)) expect(s.some((e) => e.kind === k), `${k} (${broker} seed ${seed})`).toBe(true);
      return new Set(s.filter((e) => e.lane === 'A').map((e) => `${e.kind}@${e.target}`));
    };
    const e = pairs('embedded', 1.75, 20260546);
    const m = pairs('mosquitto', 1.25, 20260470);
    for (const p of ['kill-broker@mosquitto', 'pause-broker@mosquitto', 'kill-cloud@cloud', 'pause-cloud@cloud']) expect(m.has(p)).toBe(true);
    // between them the two runs kill and black-hole each of the three edges
    const both = new Set([...e, ...m]);
    for (const t of ['air', 'env', 'bikes']) { expect(both.has(`kill-edge@${t}`), `kill-edge@${t}`).toBe(true); expect(both.has(`blackhole@${t}`), `blackhole@${t}`).toBe(true); }
  });

  it('leaves out skipped targets; the clock steps the next edge when the bike edge is skipped', () => {
    const s = buildSchedule(opts(5, { skip: ['kill-edge@bikes', 'kill-edge@env', 'clock-jump@bikes'] }));
    expect(s.filter((e) => e.kind === 'kill-edge').map((e) => e.target).every((t) => t === 'air')).toBe(true);
    expect(new Set(s.filter((e) => e.kind === 'clock-jump').map((e) => e.target))).toEqual(new Set(['env']));
    const jumps = s.filter((e) => e.kind === 'clock-jump').map((e) => e.offsetMs!);
    expect(jumps[0]).toBeGreaterThan(0); // forward, below ingest.maxFutureMs
    expect(jumps[0]).toBeLessThan(300_000);
    expect(jumps[1]).toBeLessThan(0); // backward past true time
    expect(jumps[2]).toBe(0); // put right
  });

  it('mosquitto faults only with the mosquitto broker', () => {
    expect(defaultKinds('embedded')).not.toContain('pause-broker');
    expect(defaultKinds('mosquitto')).toContain('pause-broker');
  });

  it('fuzz cases are reproducible from the seed', () => {
    expect(fuzzCases(9, 200)).toEqual(fuzzCases(9, 200));
    expect(new Set(fuzzCases(9, 2000).map((c) => c.kind)).size).toBeGreaterThan(12);
    expect(fuzzCases(9, 50, 'only-refused').every((c) => c.kind === 'refused')).toBe(true);
  });
});

describe('black-hole proxy', () => {
  const closers: Array<() => unknown> = [];
  afterEach(async () => { for (const f of closers.splice(0).reverse()) await f(); });

  async function echoServer(): Promise<{ port: number; events: string[] }> {
    const events: string[] = [];
    const srv = net.createServer((s) => {
      s.on('data', (b) => { events.push(`data:${b.toString()}`); s.write(b); });
      s.on('end', () => events.push('end'));
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    closers.push(() => new Promise((r) => srv.close(r)));
    return { port: (srv.address() as net.AddressInfo).port, events };
  }

  it('forwards, then while black-holed moves nothing and closes nothing, and delivers on restore', async () => {
    const up = await echoServer();
    const proxy = new BlackholeProxy('t', () => up.port);
    await proxy.listen();
    closers.push(() => proxy.close());
    const c = net.connect(proxy.port, '127.0.0.1');
    const got: string[] = [];
    let closed = false;
    c.on('data', (b) => got.push(b.toString()));
    c.on('close', () => { closed = true; });
    await new Promise((r) => c.once('connect', r));
    c.write('a');
    await waitFor(() => got.join('') === 'a', { what: 'echo a' });

    proxy.blackhole();
    c.write('b');
    c.end(); // the client gives up: the broker must not hear of it while the path is down
    await new Promise((r) => setTimeout(r, 300));
    expect(up.events).toEqual(['data:a']);
    expect(got.join('')).toBe('a');

    proxy.restore();
    await waitFor(() => up.events.includes('end'), { what: 'held bytes and the FIN delivered' });
    expect(up.events).toEqual(['data:a', 'data:b', 'end']);
    await waitFor(() => closed, { what: 'client closed' });
  });

  it('holds a connection made while black-holed and joins it to the broker on restore', async () => {
    const up = await echoServer();
    const proxy = new BlackholeProxy('t', () => up.port);
    await proxy.listen();
    closers.push(() => proxy.close());
    proxy.blackhole();
    const c = net.connect(proxy.port, '127.0.0.1');
    closers.push(() => c.destroy());
    const got: string[] = [];
    c.on('data', (b) => got.push(b.toString()));
    await new Promise((r) => c.once('connect', r)); // accepted, not refused
    c.write('x');
    await new Promise((r) => setTimeout(r, 300));
    expect(up.events).toEqual([]);
    proxy.restore();
    await waitFor(() => got.join('') === 'x', { what: 'echo after restore' });
  });

  it('closes the client at once when the broker side refuses', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const dead = (srv.address() as net.AddressInfo).port;
    await new Promise((r) => srv.close(r));
    const proxy = new BlackholeProxy('t', () => dead);
    await proxy.listen();
    closers.push(() => proxy.close());
    const c = net.connect(proxy.port, '127.0.0.1');
    c.on('error', () => undefined);
    await new Promise((r) => c.once('close', r));
    expect(proxy.stats.refused).toBe(1);
  });
});

describe('clock preload', () => {
  it('steps Date.now(), new Date() and Date() of one process by the offset in its file, leaving timers alone', () => {
    const dir = tempDir('clock-');
    const file = path.join(dir, 'clock.json');
    fs.writeFileSync(file, JSON.stringify({ offsetMs: 120_000 }));
    const script = `
      const fs = require('node:fs');
      const skew = () => Date.now() - (performance.timeOrigin + performance.now());
      const out = { a: skew(), b: new Date().getTime() - Date.now(), fn: typeof Date(), inst: new Date() instanceof Date, fixed: new Date(0).getTime() };
      fs.writeFileSync(${JSON.stringify(file)}, JSON.stringify({ offsetMs: -60000 }));
      const t0 = performance.now();
      setTimeout(() => { out.c = skew(); out.timer = performance.now() - t0; console.log(JSON.stringify(out)); }, 400);`;
    const res = JSON.parse(execFileSync(process.execPath, ['--import', pathToFileURL(projectPath('test', 'chaos', 'clock-preload.mjs')).href, '-e', script], { env: { ...process.env, CHAOS_CLOCK_FILE: file }, encoding: 'utf8' }));
    expect(Math.round(res.a / 1000)).toBe(120);
    expect(Math.abs(res.b)).toBeLessThan(50);
    expect(res).toMatchObject({ fn: 'string', inst: true, fixed: 0 });
    expect(Math.round(res.c / 1000)).toBe(-60);
    expect(res.timer).toBeGreaterThanOrEqual(390);
    expect(res.timer).toBeLessThan(2000);
  });
});
