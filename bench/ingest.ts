/**
 * Ingest throughput MQTT → InfluxDB, side by side in one run on one influxd:
 *   ceiling   — InfluxDB's own: pre-built line protocol POSTed in 5,000-line batches (2 in flight)
 *   by hand   — what a user would write: mosquitto + a minimal mqtt.js subscriber calling
 *               influx.writePoints for each message (same batched messages as ours)
 *   cityedge  — the same publisher → embedded aedes (device auth, ACL) → ingest (validate, dedupe,
 *               durable spool) → InfluxDB, with ingest.durability process and power side by side
 *               (and the spool alone, where durability acts, both ways alternated);
 *               and the whole path from an edge process's outbox
 * and end-to-end latency (reading produced → queryable in InfluxDB) at a moderate rate.
 */
import { pathToFileURL } from 'node:url';
import mqtt from 'mqtt';
import { InfluxDB } from 'influx';
import { InfluxPeer } from '../test/peers/influx.ts';
import { MosquittoPeer } from '../test/peers/mosquitto.ts';
import fs from 'node:fs';
import path from 'node:path';
import { edgeConfig, spawnEdge, startCloud, startEdge } from '../test/harness.ts';
import { freePort, tempDir } from '../test/peers/ports.ts';
import { Outbox } from '../edge/outbox/outbox.ts';
import { newMessageId } from '../protocol/ids.ts';
import type { NewItem } from '../protocol/schemas.ts';
import { Registry } from 'prom-client';
import { openCloudDb } from '../cloud/db.ts';
import { Ingest } from '../cloud/ingest/ingest.ts';
import { createLogger } from '../lib/log.ts';

const N = Number(process.env.BENCH_INGEST_POINTS ?? 200_000);
const BATCH = 500;
const T0 = 1_600_000_000_000;

async function count(influx: InfluxPeer, db: string, m = 'bench'): Promise<number> {
  const r = await influx.query(`SELECT count("value") FROM "${m}"`, db);
  return r.results?.[0]?.series?.[0]?.values?.[0]?.[1] ?? 0;
}

async function waitCount(influx: InfluxPeer, db: string, n: number, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await count(influx, db)) < n) {
    if (Date.now() > deadline) throw new Error(`timed out: ${await count(influx, db)} of ${n} in ${db}`);
    // count() scans the database: poll gently so the probe does not take CPU from the writers
    await new Promise((r) => setTimeout(r, 100));
  }
}

function reading(i: number, site = 'bench-site'): { m: string; tags: Record<string, string>; fields: Record<string, number>; ts: number; site: string } {
  return { m: 'bench', tags: { station: `s${i % 10}` }, fields: { value: i, pm25: (i * 7) % 300 }, ts: T0 + i, site };
}

async function ceiling(influx: InfluxPeer): Promise<number> {
  await fetch(`${influx.url}/query?q=${encodeURIComponent('CREATE DATABASE ceiling')}`, { method: 'POST' });
  const bodies: string[] = [];
  for (let start = 0; start < N; start += 5000) {
    const lines: string[] = [];
    for (let i = start; i < Math.min(N, start + 5000); i++) {
      const r = reading(i);
      lines.push(`bench,site=${r.site},station=${r.tags.station} value=${r.fields.value},pm25=${r.fields.pm25} ${r.ts}`);
    }
    bodies.push(lines.join('\n'));
  }
  const t = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < bodies.length) {
      const b = bodies[next++];
      const res = await fetch(`${influx.url}/write?db=ceiling&precision=ms`, { method: 'POST', body: b });
      if (res.status !== 204) throw new Error(`write failed ${res.status}`);
    }
  };
  await Promise.all([worker(), worker()]);
  await waitCount(influx, 'ceiling', N);
  return N / ((performance.now() - t) / 1000);
}

function batchPayload(start: number, n: number, site: string, stream: string): string {
  const items = [];
  for (let i = start; i < start + n; i++) {
    const r = reading(i, site);
    items.push({ id: newMessageId(), seq: i + 1, ts: r.ts, kind: 'telemetry', m: r.m, tags: r.tags, fields: r.fields });
  }
  return JSON.stringify({ v: 1, site, stream, sentAt: Date.now(), items });
}

/** The same publisher for both brokers: pre-built batch messages, 16 QoS 1 publishes in flight. */
async function publishAll(url: string, topic: string, payloads: string[], auth?: { username: string; password: string }): Promise<void> {
  // the embedded broker binds a site's client id to its username
  const pub = mqtt.connect(url, { clientId: auth?.username ?? `publisher-${Math.random()}`, ...auth });
  await new Promise<void>((r, j) => { pub.once('connect', () => r()); pub.once('error', j); });
  let next = 0;
  const worker = async () => { while (next < payloads.length) await pub.publishAsync(topic, payloads[next++], { qos: 1 }); };
  await Promise.all(Array.from({ length: 16 }, worker));
  await pub.endAsync();
}

async function byHand(influx: InfluxPeer): Promise<number> {
  const mosq = await new MosquittoPeer().start();
  const client = new InfluxDB({ host: '127.0.0.1', port: influx.httpPort, database: 'byhand' });
  await client.createDatabase('byhand');
  // the forwarder a user would write: parse each message, write its points
  const sub = mqtt.connect(mosq.url, { clientId: 'forwarder', clean: false });
  await new Promise<void>((r) => sub.once('connect', () => r()));
  await sub.subscribeAsync('ce/v1/+/telemetry', { qos: 1 });
  sub.on('message', (topic, payload) => {
    const b = JSON.parse(payload.toString());
    client.writePoints(b.items.map((it: { m: string; tags: Record<string, string>; fields: Record<string, number>; ts: number }) => ({ measurement: it.m, tags: { ...it.tags, site: b.site }, fields: it.fields, timestamp: it.ts })), { precision: 'ms' })
      .catch((err) => console.error('forwarder write failed', err.message));
  });
  const payloads: string[] = [];
  for (let s = 0; s < N; s += BATCH) payloads.push(batchPayload(s, Math.min(BATCH, N - s), 'bench-site', 'stream-byhand'));
  const t = performance.now();
  const cpu0 = process.cpuUsage();
  const pid = mosq.proc?.pid;
  const m0 = procCpuSec(pid);
  await publishAll(mosq.url, 'ce/v1/bench-site/telemetry', payloads);
  const published = performance.now() - t;
  await waitCount(influx, 'byhand', N);
  if (process.env.BENCH_INGEST_DEBUG) console.log(`  (by hand: all PUBACKed after ${published.toFixed(0)} ms, all in InfluxDB after ${(performance.now() - t).toFixed(0)} ms)`);
  const secs = (performance.now() - t) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const mosquittoSec = procCpuSec(pid) - m0;
  lastCpu.hand = { cpuSec: (cpu.user + cpu.system) / 1e6 + mosquittoSec, wallSec: secs, mosquittoSec };
  const rate = N / secs;
  await sub.endAsync();
  await mosq.stop();
  return rate;
}

/**
 * cityedge ingest fed by the same publisher: embedded aedes (auth, ACL) → validate, dedupe, durable
 * spool → InfluxDB, with the cloud's spool durability `process` (WAL, synchronous=NORMAL: survives
 * kill -9) or `power` (synchronous=FULL: every spool commit fsynced before its PUBACK).
 */
async function cityedgeIngest(influx: InfluxPeer, durability: 'process' | 'power' = 'process'): Promise<number> {
  // BENCH_INGEST_WORKERS=0|1|…: ingest.workers (default: the cloud's default, auto)
  const workers = process.env.BENCH_INGEST_WORKERS;
  const cloud = await startCloud({ influx: { url: influx.url, database: 'ingest' }, ingest: { durability, ...(workers ? { workers: workers === 'auto' ? 'auto' : Number(workers) } : {}) } });
  await cloud.ctx.devices.add('bench-site', 'bench-password-9');
  const payloads: string[] = [];
  for (let s = 0; s < N; s += BATCH) payloads.push(batchPayload(s, Math.min(BATCH, N - s), 'bench-site', 'stream-ingest'));
  const prof = process.env.BENCH_INGEST_PROFILE && durability === 'process' ? await startProfile() : undefined;
  const t = performance.now();
  const cpu0 = process.cpuUsage();
  await publishAll(`mqtt://127.0.0.1:${cloud.mqttPort}`, 'ce/v1/bench-site/telemetry', payloads, { username: 'bench-site', password: 'bench-password-9' });
  const published = performance.now() - t;
  await waitCount(influx, 'ingest', N);
  if (process.env.BENCH_INGEST_DEBUG) console.log(`  (ingest: all PUBACKed after ${published.toFixed(0)} ms, all in InfluxDB after ${(performance.now() - t).toFixed(0)} ms; group commits ${cloud.ctx.ingest.groups.commits} for ${cloud.ctx.ingest.groups.messages} messages)`);
  const secs = (performance.now() - t) / 1000;
  const cpu = process.cpuUsage(cpu0);
  if (durability === 'process') lastCpu.ours = { cpuSec: (cpu.user + cpu.system) / 1e6, wallSec: secs };
  if (prof) await prof(process.env.BENCH_INGEST_PROFILE!);
  const rate = N / secs;
  await cloud.stop();
  return rate;
}

/**
 * BENCH_INGEST_PROFILE=<file.cpuprofile>: a CPU profile of this process's main thread over exactly
 * the timed window of the cityedge ingest run (node --cpu-prof would include start-up and the
 * other phases). Returns the function that stops it and writes the file.
 */
async function startProfile(): Promise<(file: string) => Promise<void>> {
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  return async (file) => {
    const { profile } = await session.post('Profiler.stop');
    fs.writeFileSync(file, JSON.stringify(profile));
    session.disconnect();
  };
}

/**
 * CPU seconds over a timed run. Ours: this process (the cloud — aedes, ingest, its worker threads,
 * the InfluxDB client — plus the publisher, which runs here too). By hand: this process (forwarder
 * plus the same publisher) plus the mosquitto process (from /proc). influxd is in neither.
 */
const lastCpu: { ours?: { cpuSec: number; wallSec: number }; hand?: { cpuSec: number; wallSec: number; mosquittoSec: number } } = {};

function procCpuSec(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks (USER_HZ = 100)
  } catch { return 0; }
}

async function cityedge(influx: InfluxPeer): Promise<{ rate: number; latency: { p50: number; p95: number; n: number } }> {
  const port = await freePort();
  // The street site is its own process (as in the field): its outbox is filled while the
  // uplink is down, then the cloud comes up and we time the drain into InfluxDB.
  const stateDir = tempDir('bench-edge-');
  const outbox = new Outbox(path.join(stateDir, 'outbox.db'), { capBytes: 4 * 1024 ** 3 });
  for (let s = 0; s < N; s += 1000) {
    const items: NewItem[] = [];
    for (let i = s; i < Math.min(N, s + 1000); i++) { const r = reading(i); items.push({ kind: 'telemetry', ts: r.ts, m: r.m, tags: r.tags, fields: r.fields }); }
    outbox.append(items);
  }
  outbox.close();
  const edge = spawnEdge(edgeConfig({ site: 'bench-site', password: 'bench-password-1', url: `mqtt://127.0.0.1:${port}`, stateDir, uplink: { backlogRate: 10_000_000, batchMaxItems: BATCH, maxInflight: 32, reconnectMinMs: 50, reconnectMaxMs: 100 }, outbox: { cap: '4GiB' } }));
  const cloud = await startCloud({ influx: { url: influx.url, database: 'cityedge' }, broker: { port } });
  await cloud.ctx.devices.add('bench-site', 'bench-password-1');
  let first = 0;
  let firstCount = 0;
  for (;;) {
    const c = (await cloud.ctx.ingest.counts())['items.accepted'] ?? 0;
    if (c > 0) { first = performance.now(); firstCount = c; break; }
    await new Promise((r) => setTimeout(r, 2));
  }
  await waitCount(influx, 'cityedge', N);
  const rate = (N - firstCount) / ((performance.now() - first) / 1000);
  await edge.proc.stop();

  // latency at a moderate rate: an in-process edge at 200 readings/s for ~8 s, probing one reading every 100 ms
  const live = await startEdge(edgeConfig({ site: 'bench-live', password: 'bench-password-2', url: `mqtt://127.0.0.1:${cloud.mqttPort}` }));
  await cloud.ctx.devices.add('bench-live', 'bench-password-2');
  while (!live.uplink.stats().connected) await new Promise((r) => setTimeout(r, 20));
  const lat: number[] = [];
  const bg = setInterval(() => {
    const items: NewItem[] = [];
    for (let k = 0; k < 20; k++) items.push({ kind: 'telemetry', ts: Date.now(), m: 'bg', tags: {}, fields: { v: k } });
    live.emit(items);
  }, 100);
  for (let k = 0; k < 60; k++) {
    const produced = Date.now();
    const probe = 1_000_000 + k;
    live.emit([{ kind: 'telemetry', ts: produced, m: 'probe', tags: {}, fields: { probe } }]);
    for (;;) {
      const r = await influx.query(`SELECT "probe" FROM "probe" WHERE "probe" = ${probe}`, 'cityedge');
      if (r.results?.[0]?.series) break;
      await new Promise((res) => setTimeout(res, 2));
    }
    lat.push(Date.now() - produced);
    await new Promise((res) => setTimeout(res, 100));
  }
  clearInterval(bg);
  lat.sort((a, b) => a - b);
  await live.stop();
  await cloud.stop();
  return { rate, latency: { p50: lat[Math.floor(lat.length * 0.5)], p95: lat[Math.floor(lat.length * 0.95)], n: lat.length } };
}

/**
 * The spool alone, where the durability setting acts: `Ingest.accept` (validate, dedupe, one
 * SQLite commit per message) of the same 500-item messages into a fresh cloud.db, nothing drained.
 * Alternated process/power three times; the median of each.
 */
async function spoolOnly(): Promise<{ process: number; power: number }> {
  const payloads: Buffer[] = [];
  for (let s = 0; s < N; s += BATCH) payloads.push(Buffer.from(batchPayload(s, Math.min(BATCH, N - s), 'bench-site', 'stream-spool')));
  const once = (durability: 'process' | 'power') => {
    const db = openCloudDb(path.join(tempDir('bench-spool-'), 'cloud.db'));
    const ingest = new Ingest(db, { maxMessageBytes: 4 << 20, maxFutureMs: 300_000, writeBatch: 5000, lingerMs: 20, durability }, createLogger({ name: 'bench', level: 'silent' }), new Registry());
    const t = performance.now();
    for (const p of payloads) ingest.accept('ce/v1/bench-site/telemetry', p, 'bench-site');
    const rate = N / ((performance.now() - t) / 1000);
    db.close();
    return rate;
  };
  const runs: Record<'process' | 'power', number[]> = { process: [], power: [] };
  for (let r = 0; r < 3; r++) { runs.process.push(once('process')); runs.power.push(once('power')); }
  const median = (a: number[]) => [...a].sort((x, y) => x - y)[1];
  return { process: median(runs.process), power: median(runs.power) };
}

/** Each measurement gets a fresh influxd, so none pays for the compactions of the one before. */
async function withInflux<T>(fn: (influx: InfluxPeer) => Promise<T>): Promise<T> {
  const influx = await new InfluxPeer().start();
  try { return await fn(influx); } finally { await influx.stop(); }
}

export async function run(): Promise<Record<string, unknown>> {
  // BENCH_INGEST_ONLY=ceiling,hand,ingest (a comma list of ceiling, hand, ingest, power, edge, spool)
  // runs only those, for profiling; the JSON line then has only their figures.
  const only = process.env.BENCH_INGEST_ONLY ? new Set(process.env.BENCH_INGEST_ONLY.split(',')) : undefined;
  const want = (k: string) => !only || only.has(k);
  const ceil = want('ceiling') ? await withInflux(ceiling) : NaN;
  const hand = want('hand') ? await withInflux(byHand) : NaN;
  const ingest = want('ingest') ? await withInflux((i) => cityedgeIngest(i, 'process')) : NaN;
  const power = want('power') ? await withInflux((i) => cityedgeIngest(i, 'power')) : NaN;
  const ours = want('edge') ? await withInflux(cityedge) : { rate: NaN, latency: { p50: NaN, p95: NaN, n: 0 } };
  const spool = want('spool') ? await spoolOnly() : { process: NaN, power: NaN };
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US').padStart(10);
  // points/s per core used: points over CPU seconds (see lastCpu for what each side counts)
  const oursPerCore = lastCpu.ours ? N / lastCpu.ours.cpuSec : NaN;
  const handPerCore = lastCpu.hand ? N / lastCpu.hand.cpuSec : NaN;
  console.log(`ingest throughput, ${N.toLocaleString('en-US')} points, InfluxDB 1.6 on this machine (a fresh influxd for each line)`);
  console.log(`  InfluxDB ceiling (line protocol, 5,000/POST) ${fmt(ceil)} points/s`);
  console.log(`  mosquitto + hand-written forwarder           ${fmt(hand)} points/s   ${fmt(handPerCore)} points/s per core (${lastCpu.hand ? `${lastCpu.hand.cpuSec.toFixed(2)} CPU s over ${lastCpu.hand.wallSec.toFixed(2)} s, mosquitto ${lastCpu.hand.mosquittoSec.toFixed(2)} s of it` : '-'})`);
  console.log(`  cityedge ingest (aedes→ingest→InfluxDB)      ${fmt(ingest)} points/s   ${(ingest / ceil).toFixed(2)}× ceiling, ${(ingest / hand).toFixed(2)}× by hand   (ingest.durability: process)`);
  console.log(`    per core                                   ${fmt(oursPerCore)} points/s per core (${lastCpu.ours ? `${lastCpu.ours.cpuSec.toFixed(2)} CPU s over ${lastCpu.ours.wallSec.toFixed(2)} s = ${(lastCpu.ours.cpuSec / lastCpu.ours.wallSec).toFixed(2)} cores` : '-'}, publisher included)`);
  console.log(`  the same, ingest.durability: power           ${fmt(power)} points/s   ${(power / ingest).toFixed(2)}× process (synchronous=FULL: a PUBACK never precedes stable storage)`);
  console.log(`  spool alone (accept: validate, dedupe, commit) ${fmt(spool.process)} items/s process, ${fmt(spool.power)} items/s power   ${(spool.power / spool.process).toFixed(2)}× (one commit per 500-item message)`);
  console.log(`  whole path from an edge process's outbox     ${fmt(ours.rate)} points/s   ${(ours.rate / ceil).toFixed(2)}× ceiling`);
  console.log(`  end-to-end latency at 200 readings/s: p50 ${ours.latency.p50} ms, p95 ${ours.latency.p95} ms (n=${ours.latency.n})`);
  const r3 = (x: number) => (Number.isFinite(x) ? +x.toFixed(3) : null);
  const int = (x: number) => (Number.isFinite(x) ? Math.round(x) : null);
  const result = {
    bench: 'ingest', points: N,
    ceiling_pps: int(ceil), by_hand_pps: int(hand), cityedge_ingest_pps: int(ingest), cityedge_ingest_power_pps: int(power), power_vs_process: r3(power / ingest), spool_process_ips: int(spool.process), spool_power_ips: int(spool.power), spool_power_vs_process: r3(spool.power / spool.process), edge_to_influx_pps: int(ours.rate),
    ratio_vs_ceiling: r3(ingest / ceil), ratio_vs_by_hand: r3(ingest / hand), edge_path_ratio_vs_ceiling: r3(ours.rate / ceil),
    latency_p50_ms: Number.isFinite(ours.latency.p50) ? ours.latency.p50 : null, latency_p95_ms: Number.isFinite(ours.latency.p95) ? ours.latency.p95 : null,
    cityedge_pps_per_core: int(oursPerCore), by_hand_pps_per_core: int(handPerCore),
    cityedge_cpu_s: lastCpu.ours ? r3(lastCpu.ours.cpuSec) : null, by_hand_cpu_s: lastCpu.hand ? r3(lastCpu.hand.cpuSec) : null,
  };
  console.log(JSON.stringify(result));
  return result;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await run();
