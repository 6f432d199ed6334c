/**
 * Rollout bench: time from `push` to every site of a group of N (default 100) running the new
 * model, and time for a rollback of the whole group to complete.
 *
 * Real: one cloud (embedded MQTT broker, registry, rollout engine, HTTP), N edges in this process,
 * each with its own MQTT connection, SQLite outbox, model manager, journal, and a real HTTP
 * download + sha256 + ed25519 verification + extraction of the bundle.
 * Simulated (to fit N sites on a 2-core machine): on all but REAL (default 3) sites the model
 * "load" is a cheap runtime that runs no ONNX and no self-test (those sites process no frames).
 * The REAL sites load the model into onnxruntime worker sessions and self-test it; the canary is
 * one of them, running frames of the pedestrian video so its gates are judged on real statistics.
 * The physical floor printed beside it: N sequential loopback downloads + verifications of the bundle.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Cloud } from '../cloud/cloud.ts';
import { modelsFeature } from '../cloud/models/feature.ts';
import { validateEdgeConfig } from '../edge/config.ts';
import { Edge } from '../edge/edge.ts';
import { ModelManagerSource, attachModelCommands } from '../edge/sources/model-manager.ts';
import { modelSlot, type ModelRuntime } from '../edge/models/slot.ts';
import { decodeFrames, FramePump } from '../test/support/models/frame-pump.ts';
import type { ModelLoader } from '../edge/models/manager.ts';
import { dataFile } from '../lib/data-dir.ts';
import { packBundle, signBundle, verifyBundle } from '../models/bundle/bundle.ts';
import { generateKeyFiles, loadPrivateKey, loadTrustedKeys } from '../models/bundle/keys.ts';
import { edgeConfig } from '../test/harness.ts';
import { tempDir } from '../test/peers/ports.ts';

const cheapLoader: ModelLoader = async () => {
  const rt: ModelRuntime = { detect: async () => { throw new Error('simulated site runs no frames'); }, close: async () => undefined };
  return rt;
};

async function until<T>(fn: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function run(): Promise<Record<string, unknown>> {
  const N = Number(process.env.SITES ?? 100);
  const REAL = Math.min(N, Number(process.env.REAL ?? 3));
  const root = tempDir('bench-rollout-');
  process.env.LOG_LEVEL ??= 'warn';
  const keyDir = path.join(root, 'keys');
  generateKeyFiles(keyDir, 'ops');
  const bundle = signBundle(packBundle({ card: 'yolox_nano_416' }), loadPrivateKey(path.join(keyDir, 'ops.key')));
  const feature = modelsFeature({ trustedKeys: [path.join(keyDir, 'ops.pub')], rollout: { tickMs: 100, observeMs: 3000, resendMs: 30_000, batchSize: Number(process.env.BATCH ?? 25) } });
  const cloud = await Cloud.fromRaw({ dataDir: path.join(root, 'cloud'), broker: { host: '127.0.0.1', port: 0, revocationPollMs: 1000 }, http: { host: '127.0.0.1', port: 0 } }, 'bench cloud', [feature]).start();
  const token = cloud.ctx.tokens.create('bench', 'ops').token;
  const call = async (method: string, p: string, body?: unknown) => (await fetch(`${cloud.httpUrl}${p}`, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined })).json() as Promise<any>;

  console.log(`starting ${N} edges (${REAL} with real ONNX sessions)…`);
  const edges: Edge[] = [];
  const sites = Array.from({ length: N }, (_, i) => `street-${String(i).padStart(3, '0')}`);
  const source = (real: boolean) => ({ type: 'model-manager', id: 'models', trustedKeys: [path.join(keyDir, 'ops.pub')], registryUrl: cloud.httpUrl, initial: { card: 'nanodet_m_320' }, statsIntervalMs: 500, selfTest: { latencyFactor: 10 } });
  for (let i = 0; i < N; i++) {
    const real = i < REAL;
    const password = await cloud.ctx.devices.add(sites[i]);
    const { config } = await validateEdgeConfig(edgeConfig({ site: sites[i], password, url: `mqtt://127.0.0.1:${cloud.mqttPort}`, stateDir: path.join(root, sites[i]), sources: [source(real)], uplink: { statusIntervalMs: 5000 } }), 'bench edge');
    const factories = new Map([['model-manager', { type: 'model-manager', schema: {} as never, create: (c: never) => new ModelManagerSource(c, real ? undefined : cheapLoader, !real) }]]);
    const edge = await new Edge(config, factories).start();
    attachModelCommands(edge);
    edges.push(edge);
  }
  await until(async () => ((await call('GET', '/api/v1/sites')) as Array<{ online: boolean }>).filter((s) => s.online).length >= N || undefined, 120_000, 'all sites online');
  const frames = await decodeFrames(dataFile('video', 'opencv_vtest.avi'), 4, 768, 576, 10);
  const pump = new FramePump(modelSlot(sites[0]), frames, 5).start();
  await until(async () => pump.records.length >= 10 || undefined, 60_000, 'canary frames');

  // push → all sites active
  const t0 = performance.now();
  const put = await fetch(`${cloud.httpUrl}/api/v1/models`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' }, body: new Uint8Array(bundle) });
  if (put.status !== 201) throw new Error(`push failed: ${await put.text()}`);
  const tPush = performance.now();
  const r = await call('POST', '/api/v1/rollouts', { name: 'yolox_nano_416', version: '1.0.0', select: 'street-*', canary: { sites: [sites[0]] }, gates: { minFrames: 5, latencyFactor: 10, maxDetectionDrift: 5, minFpsRatio: 0.2 } });
  let tCanary = 0;
  const done = await until(async () => {
    const s = await call('GET', `/api/v1/rollouts/${r.id}`);
    if (!tCanary && s.state !== 'canary') tCanary = performance.now();
    return ['completed', 'rolled_back'].includes(s.state) ? s : undefined;
  }, 600_000, 'rollout');
  const tAll = performance.now();
  if (done.state !== 'completed' || done.sites.some((s: { state: string }) => s.state !== 'active')) throw new Error(`rollout did not complete: ${done.state} ${done.reason}`);

  // rollback of the whole group
  const t1 = performance.now();
  await call('POST', `/api/v1/rollouts/${r.id}/rollback`, { reason: 'bench' });
  const rb = await until(async () => { const s = await call('GET', `/api/v1/rollouts/${r.id}`); return s.state === 'rolled_back' ? s : undefined; }, 300_000, 'rollback');
  const tRb = performance.now();
  const rolled = rb.sites.filter((s: { state: string }) => s.state === 'rolled_back').length;
  await pump.stop();

  // physical floor: N sequential loopback downloads + full verification (sha256, ed25519) of the same bundle
  const trusted = loadTrustedKeys([path.join(keyDir, 'ops.pub')]);
  const f0 = performance.now();
  for (let i = 0; i < N; i++) {
    const b = Buffer.from(await (await fetch(`${cloud.httpUrl}/api/v1/models/yolox_nano_416/1.0.0/bundle`, { headers: { authorization: `Bearer ${token}` } })).arrayBuffer());
    verifyBundle(b, trusted);
  }
  const floorMs = performance.now() - f0;

  for (const e of edges) await e.stop();
  await cloud.stop();
  fs.rmSync(root, { recursive: true, force: true });

  const ms = (x: number) => Math.round(x);
  const out = {
    bench: 'rollout', sites: N, realOnnxSites: REAL, bundleBytes: bundle.length, batchSize: Number(process.env.BATCH ?? 25), canaryObserveMs: 3000,
    pushMs: ms(tPush - t0), canaryStageMs: ms(tCanary - tPush), promoteMs: ms(tAll - tCanary), pushToAllActiveMs: ms(tAll - t0),
    rollbackMs: ms(tRb - t1), rolledBackSites: rolled, canaryFramesServed: pump.records.length, canaryFrameErrors: pump.errors.length,
    floorSequentialDownloadVerifyMs: ms(floorMs), promoteVsFloor: Number(((tAll - tCanary) / floorMs).toFixed(2)),
  };
  console.log('\n| step | ms |\n|---|---|');
  for (const [k, v] of Object.entries(out)) if (k.endsWith('Ms')) console.log(`| ${k} | ${v} |`);
  console.log(JSON.stringify(out));
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await run();
