/**
 * The source conformance suite: every source type the edge knows (edge/sources/registry.ts) is run
 * through the same contract, against real peers where it has one:
 *  - bad config is refused with a coded error by the edge's config validation, before any I/O
 *    (no socket, timer, child process or worker appears);
 *  - start → it runs (health answers, items arrive where the source produces any) → stop;
 *  - stop releases every resource it took: the counts of active handles by kind (servers, sockets,
 *    timers, child processes, worker ports, file requests) return to what they were before start,
 *    and a port it listened on can be bound again;
 *  - stop is safe to call twice.
 * A source type without a fixture here fails the suite, so a new type cannot skip it.
 */
import net from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Source } from '../../lib/contract/source.ts';
import { dataFile, projectPath } from '../../lib/data-dir.ts';
import { isCoded } from '../../lib/errors.ts';
import { generateKeyFiles } from '../../models/bundle/keys.ts';
import { Hj212Client } from '../../firmware-bridge/hj212/simulator.ts';
import { DockController } from '../../firmware-bridge/dock/simulator.ts';
import { freePort, tempDir, waitFor, waitForPort } from '../../test/peers/ports.ts';
import { OwnedProcess } from '../../test/peers/process.ts';
import { memoryContext } from '../../test/support/source-context.ts';
import { validateEdgeConfig } from '../config.ts';
import { sourceFactories } from './registry.ts';

interface Fixture {
  /** A config that starts (peers it needs are started by `peer`). */
  good(): Promise<Record<string, unknown>>;
  /** Configs the edge must refuse, each with the reason. */
  bad: Array<{ why: string; config: Record<string, unknown> }>;
  /** Resolves when the started source has done its work once (items emitted, health filled in). */
  running(source: Source, items: { kind: string }[]): Promise<unknown>;
  /** Ports the source listened on, read from its health after start. */
  ports?(health: Record<string, unknown>): number[];
}

const owned: OwnedProcess[] = [];
const cleanups: Array<() => unknown> = [];
afterAll(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
  for (const p of owned) await p.stop();
});

const VIDEO = () => dataFile('video', 'opencv_vtest.avi');
const keysDir = tempDir('conformance-keys-');
const pub = generateKeyFiles(keysDir, 'ops').pubFile;

const FIXTURES: Record<string, Fixture> = {
  synthetic: {
    good: async () => ({ count: 40, ratePerSec: 2000, batch: 10 }),
    bad: [
      { why: 'count below 1', config: { count: 0 } },
      { why: 'unknown key', config: { count: 5, colour: 'red' } },
    ],
    running: async (_s, items) => waitFor(() => items.length >= 40, { what: 'synthetic readings' }),
  },
  'air-replay': {
    good: async () => ({ rowsPerSecond: 500, maxRows: 10, time: 'now' }),
    bad: [
      { why: 'rate 0', config: { rowsPerSecond: 0 } },
      { why: 'unknown time mode', config: { time: 'later' } },
    ],
    running: async (_s, items) => waitFor(() => items.length >= 10, { what: 'air rows' }),
  },
  hj212: {
    good: async () => ({ host: '127.0.0.1', port: 0, stations: [{ mn: 'CONF2017', password: '123456', revision: '2017' }], pipeline: { alerts: [] } }),
    bad: [
      { why: 'no stations', config: { stations: [] } },
      { why: 'port out of range', config: { port: 70000, stations: [{ mn: 'A', password: 'p' }] } },
      { why: 'SM4 key too short', config: { stations: [{ mn: 'A', password: 'p', revision: '2025', sm4Key: 'abc' }] } },
    ],
    running: async (s, items) => {
      const port = Number(s.health?.().port);
      expect(port).toBeGreaterThan(0);
      const logger = new Hj212Client({ port, mn: 'CONF2017', password: '123456', revision: '2017', ackTimeoutMs: 2000, maxAttempts: 2 });
      await logger.connect();
      const r = await logger.sendData('2061', Date.UTC(2024, 0, 1, 4), [{ code: 'a34004', fields: { Avg: 42, Flag: 'N' } }]);
      await logger.close();
      expect(r.acked).toBe(true);
      await waitFor(() => items.length > 0, { what: 'hj212 items' });
    },
    ports: (h) => [Number(h.port)],
  },
  'bike-docks': {
    good: async () => ({ host: '127.0.0.1', port: 0, cardKey: 'conformance-card-key-0123', token: 'dock-token-123', stations: [{ id: 'st-1', docks: 4 }], flushMs: 50 }),
    bad: [
      { why: 'card key too short', config: { cardKey: 'short' } },
      { why: 'station with 0 docks', config: { cardKey: 'conformance-card-key-0123', stations: [{ id: 'x', docks: 0 }] } },
    ],
    running: async (s, items) => {
      const port = Number((s.health?.() as { port?: number }).port);
      const dock = new DockController({ port, station: 'st-1', docks: 4, token: 'dock-token-123' });
      cleanups.push(() => dock.close());
      expect((await dock.connect()).verb).toBe('WELCOME');
      await waitFor(() => items.length > 0, { what: 'bike items' });
      dock.close();
    },
    ports: (h) => [Number(h.port)],
  },
  modbus: {
    good: async () => {
      const port = await freePort();
      const p = new OwnedProcess('/usr/bin/python3', [projectPath('firmware-bridge', 'modbus', 'simulator.py'), JSON.stringify({ port, framer: 'socket', unit: 1, holding: [215, 0], input: [0], tick: null })]);
      owned.push(p);
      await waitFor(() => { if (!p.alive) throw new Error(p.log); return p.log.includes('listening'); }, { what: 'pymodbus' });
      await waitForPort(port);
      return { station: 'plant-1', transport: { kind: 'tcp', host: '127.0.0.1', port }, pollIntervalMs: 100, registers: [{ pollutant: 'O3', unit: 'ug/m3', address: 0 }], pipeline: { aggregate: false } };
    },
    bad: [
      { why: 'register past address 65535', config: { station: 's', transport: { kind: 'tcp', host: 'h' }, registers: [{ pollutant: 'NOx', unit: 'x', address: 65535, type: 'float32' }] } },
      { why: 'backoff max below initial', config: { station: 's', transport: { kind: 'tcp', host: 'h' }, backoff: { initialMs: 500, maxMs: 100 }, registers: [{ pollutant: 'NOx', unit: 'x', address: 0 }] } },
      { why: 'unknown transport', config: { station: 's', transport: { kind: 'carrier-pigeon' }, registers: [{ pollutant: 'NOx', unit: 'x', address: 0 }] } },
    ],
    running: async (_s, items) => waitFor(() => items.some((i) => i.kind === 'telemetry'), { what: 'modbus readings' }),
  },
  opcua: {
    good: async () => {
      const port = await freePort();
      const sim = new OwnedProcess(process.execPath, [projectPath('bin', 'run-ts.mjs'), projectPath('firmware-bridge', 'opcua', 'simulator.ts'), JSON.stringify({ port, intervalMs: 100, pkiDir: path.join(tempDir('conf-ua-'), 'server'), items: [{ id: 'FQ01.SO2', base: 30, amplitude: 5 }] })]);
      owned.push(sim);
      await waitFor(() => { if (!sim.alive) throw new Error(sim.log); return sim.log.includes('listening'); }, { what: 'OPC UA simulator', timeoutMs: 60_000 });
      return { endpointUrl: `opc.tcp://127.0.0.1:${port}/cityedge/sim`, items: [{ nodeId: 'ns=1;s=FQ01.SO2', station: 'plant-1', pollutant: 'SO2', unit: 'mg/m3' }], publishingIntervalMs: 100, samplingIntervalMs: 100, pipeline: { aggregate: false } };
    },
    bad: [
      { why: 'not an opc.tcp URL', config: { endpointUrl: 'http://plc:4840', items: [{ nodeId: 'ns=1;s=X', station: 's', pollutant: 'SO2', unit: 'x' }] } },
      { why: 'no items', config: { endpointUrl: 'opc.tcp://plc:4840', items: [] } },
    ],
    running: async (_s, items) => waitFor(() => items.some((i) => i.kind === 'telemetry'), { what: 'opcua readings', timeoutMs: 60_000 }),
  },
  camera: {
    good: async () => ({ url: VIDEO(), model: 'nanodet_m_320', fps: 10, width: 320, realtime: false, loop: false, durationS: 2, statsIntervalS: 0.2, snapshot: { enabled: false } }),
    bad: [
      { why: 'fps 0', config: { url: 'x.mp4', fps: 0 } },
      { why: 'empty url', config: { url: '' } },
      { why: 'unknown rule kind', config: { url: 'x.mp4', rules: [{ id: 'r', kind: 'teleport' }] } },
    ],
    running: async (_s, items) => waitFor(() => items.some((i) => i.kind === 'telemetry'), { what: 'camera_stats', timeoutMs: 60_000 }),
  },
  'model-manager': {
    good: async () => ({ trustedKeys: [pub], initial: { card: 'nanodet_m_320' }, statsIntervalMs: 100 }),
    bad: [
      { why: 'no trusted keys', config: { trustedKeys: [] } },
      { why: 'unknown key', config: { trustedKeys: [pub], autoUpdate: true } },
    ],
    running: async (s) => waitFor(() => JSON.stringify(s.health?.() ?? {}).includes('nanodet_m_320'), { what: 'initial model active', timeoutMs: 60_000 }),
  },
};

/** Active handles and requests by kind (what keeps a Node process alive). */
function resources(): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) m.set(r, (m.get(r) ?? 0) + 1);
  return m;
}
const grown = (before: Map<string, number>) => [...resources()].filter(([k, n]) => n > (before.get(k) ?? 0)).map(([k, n]) => `${k} ${before.get(k) ?? 0}→${n}`);

const portFree = (port: number) => new Promise<boolean>((resolve) => {
  const s = net.createServer().once('error', () => resolve(false)).listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
});

const edgeConfig = (source: Record<string, unknown>) => ({ site: 'conformance', mqtt: { url: 'mqtt://127.0.0.1:1' }, sources: [source] });

const factories = await sourceFactories();

describe('source conformance', () => {
  it('every registered source type has a fixture in this suite', () => {
    expect(factories.map((f) => f.type).filter((t) => !FIXTURES[t])).toEqual([]);
  });

  for (const factory of factories) {
    const fx = FIXTURES[factory.type];
    if (!fx) continue;
    describe(factory.type, () => {
      it('refuses each bad config with a coded error before any I/O', async () => {
        for (const bad of fx.bad) {
          const before = resources();
          const err = await validateEdgeConfig(edgeConfig({ type: factory.type, id: 'bad', ...bad.config }), 'site.yaml').then(() => undefined, (e: unknown) => e);
          expect(err, bad.why).toBeDefined();
          expect(isCoded(err), `${bad.why}: ${String(err)}`).toBe(true);
          expect((err as Error).message, bad.why).toMatch(/\/sources\/0|source/);
          expect(grown(before), `${bad.why}: resources opened`).toEqual([]);
        }
      });

      it('starts, runs, answers health, and stop releases every resource it took (stop twice is safe)', async () => {
        const raw = { type: factory.type, id: `conf-${factory.type}`, ...(await fx.good()) };
        const { config } = await validateEdgeConfig(edgeConfig(raw), 'site.yaml');
        const before = resources();
        const ctx = memoryContext({ site: 'conformance', stateDir: tempDir(`conf-${factory.type}-`), configDir: path.dirname(pub) });
        const source = factory.create(config.sources[0]);
        expect(grown(before), 'create() opened resources').toEqual([]);
        await source.start(ctx.ctx);
        await fx.running(source, ctx.items);
        const health = source.health?.() ?? {};
        expect(typeof health).toBe('object');
        const ports = fx.ports?.(health) ?? [];
        for (const p of ports) expect(p).toBeGreaterThan(0);
        await source.stop();
        await source.stop();
        // closes finish asynchronously (sockets, worker exit, child exit): give them a moment
        await waitFor(() => grown(before).length === 0, { what: `${factory.type} resources released (${grown(before).join(', ')})`, timeoutMs: 10_000 }).catch(() => undefined);
        expect(grown(before), 'resources still held after stop').toEqual([]);
        for (const p of ports) expect(await portFree(p), `port ${p} still bound`).toBe(true);
      });
    });
  }
});
