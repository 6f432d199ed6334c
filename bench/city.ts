/**
 * City load generator (issue #14 item 4): `npm run bench -- city [--cities N] [--broker embedded|mosquitto] [--nodes 2]`.
 *
 * N Zhuzhou-size cities of street gateways (bench/city-plan.ts: 486 gateways a city, their
 * programmes and busy-hour rates — ≈ 149 points/s, 39 events/s, 0.33 alerts/s, 112 messages/s a
 * city) speak the edge protocol (protocol/: topics, batches of stamped items, retained status,
 * receipts on cmd/_receipt) over one real MQTT connection per gateway to one cloud node running as
 * its own process (`cityedge cloud` from dist/, so its CPU and RSS are its own), InfluxDB store
 * (a real influxd), the alerts feature on. A run:
 *   1. InfluxDB's ceiling for the city's points, measured the way bench/ingest.ts measures its own
 *      (pre-built line protocol, here the exact lines ingest writes for the city mix, 5,000 a POST,
 *      2 in flight; re-implemented here rather than imported, as bench/ingest.ts is being changed
 *      by other work and its ceiling is tied to its own points);
 *   2. provisioning every gateway (`DeviceRegistry.add`, as `cityedge device add` does against
 *      the running cloud's database), then a staggered connect of all of them (the cloud verifies
 *      each password with scrypt: the connect storm of a cloud restart);
 *   3. BENCH_CITY_SECONDS (default 60) of publishing at the plan's rates, QoS 1, while sampling
 *      reading → queryable in InfluxDB (one probe a second, polled every 25 ms) and alert → listed
 *      by GET /api/v1/alerts (one request every 100 ms), and the CPU and RSS of the cloud, influxd,
 *      (mosquitto) and this process from /proc every second;
 *   4. the drain, then the zero-loss check: every point published is in InfluxDB (one point per
 *      (series, time), so a count equal to what was published is exactly once), every event and
 *      alert item is in the events table once (keyed by message id), every raise is an alert in
 *      the API in the state its last item says, every seq was receipted, nothing dead-lettered.
 * `--broker mosquitto`: the gateways connect to mosquitto (the test peer's config: anonymous, no
 * ACL) and the cloud ingests as its external QoS 1 subscriber (test/e2e/mosquitto.int.test.ts).
 * `--nodes 2` is refused with the reason (see NODES_NOTE). Ends with one JSON line.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import mqtt, { type MqttClient } from 'mqtt';
import { InfluxPeer } from '../test/peers/influx.ts';
import { MosquittoPeer } from '../test/peers/mosquitto.ts';
import { spawnCloud } from '../test/harness.ts';
import { waitFor } from '../test/peers/ports.ts';
import { openCloudDb } from '../cloud/db.ts';
import { DeviceRegistry } from '../cloud/devices/registry.ts';
import { TokenStore } from '../cloud/api/tokens.ts';
import { telemetryLine } from '../cloud/ingest/prepare.ts';
import { newMessageId } from '../protocol/ids.ts';
import { topics, type UpstreamChannel } from '../protocol/topics.ts';
import type { NewItem, TelemetryItem } from '../protocol/schemas.ts';
import { cityRates, planSites, rng, Schedule, siteStreams, SITE_KINDS, type Emission, type SitePlan } from './city-plan.ts';

export const NODES_NOTE = 'two cloud nodes cannot share state today: each node has its own cloud.db (devices, dedupe ranges, spool, alerts, events), so a shared subscription would split dedupe and the alert lifecycle between two databases; --nodes 2 skipped';

export interface CityArgs { cities: number; broker: 'embedded' | 'mosquitto'; nodes: number }

export function parseCityArgs(argv: string[]): CityArgs {
  const out: CityArgs = { cities: 1, broker: 'embedded', nodes: 1 };
  for (let i = 0; i < argv.length; i++) {
    const [k, inline] = argv[i].split('=', 2);
    const val = () => inline ?? argv[++i];
    if (k === '--cities') out.cities = Number(val());
    else if (k === '--broker') out.broker = val() as CityArgs['broker'];
    else if (k === '--nodes') out.nodes = Number(val());
  }
  if (!Number.isInteger(out.cities) || out.cities < 1) throw new Error('--cities must be a positive integer');
  if (out.broker !== 'embedded' && out.broker !== 'mosquitto') throw new Error('--broker must be embedded or mosquitto');
  return out;
}

const PASSWORD = 'city-bench-password';
const pct = (xs: number[], p: number) => { if (!xs.length) return NaN; const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]; };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const r1 = (x: number) => (Number.isFinite(x) ? Math.round(x * 10) / 10 : null);
const r3 = (x: number) => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : null);
const int = (x: number) => (Number.isFinite(x) ? Math.round(x) : null);
const fmt = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '-');

/** CPU seconds (utime + stime, all threads) and RSS bytes of a process, from /proc. */
function procStat(pid: number | undefined): { cpu: number; rss: number } {
  if (!pid) return { cpu: NaN, rss: NaN };
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const rss = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { cpu: (Number(f[11]) + Number(f[12])) / 100, rss: rss ? Number(rss[1]) * 1024 : NaN };
  } catch { return { cpu: NaN, rss: NaN }; }
}

/** InfluxDB's own rate for these lines: 5,000 a POST, 2 in flight, until all are counted (as bench/ingest.ts). */
async function ceiling(influx: InfluxPeer, lines: string[]): Promise<number> {
  await fetch(`${influx.url}/query?q=${encodeURIComponent('CREATE DATABASE ceiling')}`, { method: 'POST' });
  const bodies: string[] = [];
  for (let i = 0; i < lines.length; i += 5000) bodies.push(lines.slice(i, i + 5000).join('\n'));
  const t = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < bodies.length) {
      const res = await fetch(`${influx.url}/write?db=ceiling&precision=ms`, { method: 'POST', body: bodies[next++] });
      if (res.status !== 204) throw new Error(`ceiling write failed ${res.status}: ${await res.text()}`);
    }
  };
  await Promise.all([worker(), worker()]);
  for (;;) {
    if ((await countPoints(influx, 'ceiling')).total >= lines.length) break;
    await sleep(100);
  }
  return lines.length / ((performance.now() - t) / 1000);
}

/** The city's points as ingest writes them (site tag, received_ms), from the plan in virtual time. */
function ceilingLines(n: number): string[] {
  const random = rng(7);
  const t0 = Date.UTC(2026, 0, 1);
  const schedule = new Schedule(random);
  const sites = planSites(1);
  for (const s of sites) for (const st of siteStreams(s, t0, random)) schedule.add(st);
  const lines: string[] = [];
  for (let t = t0; lines.length < n; t += 1000) {
    schedule.runUntil(t, (st, _due, e) => { for (const it of e.telemetry ?? []) if (lines.length < n) lines.push(telemetryLine(it as TelemetryItem, st.site.site, t)); });
  }
  return lines;
}

const MEASUREMENTS = ['bike_station', 'camera_stats', 'hj212', 'env_agg', 'edge_health'];

async function countPoints(influx: InfluxPeer, db: string): Promise<{ total: number; by: Record<string, number> }> {
  const r = await influx.query(`SELECT count("received_ms") FROM ${MEASUREMENTS.map((m) => `"${m}"`).join(',')}`, db);
  const by: Record<string, number> = {};
  for (const s of r.results?.[0]?.series ?? []) by[s.name] = s.values?.[0]?.[1] ?? 0;
  return { total: Object.values(by).reduce((a, b) => a + b, 0), by };
}

async function metric(url: string, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

/** Everything published, for the checks at the end. */
class Tally {
  points: Record<string, number> = {};
  events = 0;
  alertItems = 0;
  messages = 0;
  statuses = 0;
  items = 0;
  acked = 0;
  pubErrors = 0;
  /** Last published state per alert key, and each raise's publish time. */
  raises = new Map<string, { at: number; state: 'open' | 'resolved' }>();
  pendingAlerts = new Map<string, number>();
  alertLatency: number[] = [];
  /** Newest telemetry item published, for the reading → queryable probe. */
  candidate?: { m: string; site: string; tags: Record<string, string>; ts: number; at: number };
  lag: number[] = [];
}

/** One gateway's connection: stamps items (UUIDv7 id, seq of its stream) and publishes batches. */
class Gateway {
  client?: MqttClient;
  seq = 0;
  readonly stream: string;
  readonly receipted = new Set<number>();
  constructor(readonly plan: SitePlan, private readonly tally: Tally) { this.stream = `city${plan.site.replace(/[^a-z0-9]/g, '')}`.slice(0, 40); }

  async connect(url: string, auth: boolean): Promise<void> {
    const site = this.plan.site;
    const client = mqtt.connect(url, {
      clientId: site, ...(auth ? { username: site, password: PASSWORD } : {}), clean: true, keepalive: 30, reconnectPeriod: 1000, connectTimeout: 300_000,
      will: { topic: topics.status(site), payload: Buffer.from(JSON.stringify({ v: 1, site, online: false, ts: Date.now() })), qos: 1, retain: true },
    });
    this.client = client;
    client.on('error', () => { /* reconnects; a lasting failure shows as unacknowledged items */ });
    client.on('message', (topic, payload) => {
      if (topic !== topics.receipt(site)) return;
      const r = JSON.parse(payload.toString()) as { stream: string; ranges: Array<[number, number]> };
      if (r.stream !== this.stream) return;
      for (const [a, b] of r.ranges) for (let s = a; s <= b; s++) this.receipted.add(s);
    });
    await new Promise<void>((resolve, reject) => { client.once('connect', () => resolve()); client.once('error', reject); });
    await client.subscribeAsync(topics.commandFilter(site), { qos: 1 });
  }

  emit(e: Emission, due: number): void {
    const t = this.tally;
    const now = Date.now();
    t.lag.push(now - due);
    for (const ch of ['telemetry', 'events', 'alerts'] as const) {
      const items = e[ch];
      if (items?.length) this.publish(ch, items, now);
    }
    if (e.status) {
      t.statuses++;
      this.client!.publish(topics.status(this.plan.site), JSON.stringify(e.status), { qos: 1, retain: true }, (err) => { if (err) t.pubErrors++; });
    }
  }

  private publish(ch: UpstreamChannel, items: NewItem[], now: number): void {
    const t = this.tally;
    const site = this.plan.site;
    const stamped = items.map((it) => ({ id: newMessageId(), seq: ++this.seq, ...it }));
    for (const it of items) {
      if (it.kind === 'telemetry' || it.kind === 'aggregate') t.points[it.m] = (t.points[it.m] ?? 0) + 1;
      else if (it.kind === 'event') t.events++;
      else if (it.kind === 'alert') {
        t.alertItems++;
        const key = `${site}|${it.rule}|${it.source}`;
        if (it.state === 'raise') { t.raises.set(`${key}|${it.ts}`, { at: now, state: 'open' }); t.pendingAlerts.set(`${key}|${it.ts}`, now); }
        else for (const [k, v] of t.raises) if (k.startsWith(`${key}|`) && v.state === 'open') v.state = 'resolved';
      }
    }
    t.items += items.length;
    t.messages++;
    const last = items[items.length - 1];
    if (last.kind === 'telemetry' || last.kind === 'aggregate') t.candidate = { m: last.m, site, tags: last.tags, ts: last.ts, at: now };
    const payload = JSON.stringify({ v: 1, site, stream: this.stream, sentAt: now, items: stamped });
    this.client!.publish(topics.channel(site, ch), payload, { qos: 1 }, (err) => { if (err) t.pubErrors++; else t.acked += items.length; });
  }

  async end(): Promise<void> { await this.client?.endAsync().catch(() => undefined); }
}

/** Reading → queryable: one probe a second, each polled every 25 ms until InfluxDB returns it. */
async function probeLoop(influx: InfluxPeer, db: string, tally: Tally, running: () => boolean, out: number[]): Promise<void> {
  let lastTs = -1;
  while (running()) {
    const started = Date.now();
    const c = tally.candidate;
    if (c && c.at !== lastTs) {
      lastTs = c.at;
      const where = [`"site"='${c.site}'`, ...Object.entries(c.tags).map(([k, v]) => `"${k}"='${v}'`), `time = ${c.ts}ms`].join(' AND ');
      for (;;) {
        const r = await influx.query(`SELECT count("received_ms") FROM "${c.m}" WHERE ${where}`, db);
        if (r.results?.[0]?.series) { out.push(Date.now() - c.at); break; }
        if (Date.now() - c.at > 60_000) break; // counted as lost by the final check
        await sleep(25);
      }
    }
    await sleep(Math.max(0, 1000 - (Date.now() - started)));
  }
}

/** Alert → listed by the API: the newest 200 alerts every 100 ms, matched by (site, rule, source, firstTs). */
async function alertLoop(httpUrl: string, token: string, tally: Tally, running: () => boolean): Promise<void> {
  while (running()) {
    if (tally.pendingAlerts.size) {
      const res = await fetch(`${httpUrl}/api/v1/alerts?limit=200`, { headers: { authorization: `Bearer ${token}` } }).catch(() => undefined);
      if (res?.ok) {
        const now = Date.now();
        for (const a of ((await res.json()) as { alerts: Array<{ site: string; rule: string; source: string; firstTs: number }> }).alerts) {
          const k = `${a.site}|${a.rule}|${a.source}|${a.firstTs}`;
          const at = tally.pendingAlerts.get(k);
          if (at !== undefined) { tally.alertLatency.push(now - at); tally.pendingAlerts.delete(k); }
        }
      }
    }
    await sleep(100);
  }
}

/** Every alert of the run from the API (paged), keyed like Tally.raises. */
async function allAlerts(httpUrl: string, token: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let before: number | undefined;
  for (;;) {
    const res = await fetch(`${httpUrl}/api/v1/alerts?limit=1000${before ? `&before=${before}` : ''}`, { headers: { authorization: `Bearer ${token}` } });
    const body = (await res.json()) as { alerts: Array<{ id: number; site: string; rule: string; source: string; firstTs: number; state: string }>; next?: number };
    for (const a of body.alerts) out.set(`${a.site}|${a.rule}|${a.source}|${a.firstTs}`, a.state === 'resolved' ? 'resolved' : 'open');
    if (!body.next || !body.alerts.length) return out;
    before = body.next;
  }
}

async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => { while (next < items.length) await fn(items[next++]); }));
}

export async function run(argv: string[] = process.argv.slice(2)): Promise<Record<string, unknown>> {
  const args = parseCityArgs(argv);
  const seconds = Number(process.env.BENCH_CITY_SECONDS ?? 60);
  const sites = planSites(args.cities);
  const rates = cityRates();
  const offered = { items: rates.total.items * args.cities, points: rates.total.points * args.cities, messages: rates.total.messages * args.cities };
  console.log(`city bench: ${args.cities} ${args.cities === 1 ? 'city' : 'cities'} × ${rates.total.gateways} gateways = ${sites.length} MQTT connections, ${args.broker} broker, one cloud node (its own process), ${seconds} s`);
  console.log('  offered per city (busy hour):');
  for (const k of [...SITE_KINDS, 'gateway'] as const) {
    const r = rates.byKind[k];
    console.log(`    ${k.padEnd(8)} ${String(r.gateways).padStart(4)} gateways  ${r.points.toFixed(1).padStart(6)} points/s  ${r.events.toFixed(1).padStart(5)} events/s  ${r.alerts.toFixed(2).padStart(5)} alerts/s  ${r.messages.toFixed(1).padStart(6)} messages/s`);
  }
  console.log(`    total    ${String(rates.total.gateways).padStart(4)} gateways  ${rates.total.points.toFixed(1).padStart(6)} points/s  ${rates.total.events.toFixed(1).padStart(5)} events/s  ${rates.total.alerts.toFixed(2).padStart(5)} alerts/s  ${rates.total.messages.toFixed(1).padStart(6)} messages/s  = ${rates.total.items.toFixed(1)} items/s`);
  if (args.nodes > 1) console.log(`  --nodes ${args.nodes}: ${NODES_NOTE}`);
  const nofile = (() => { try { return /Max open files\s+(\d+)/.exec(fs.readFileSync('/proc/self/limits', 'utf8'))?.[1]; } catch { return undefined; } })();
  if (nofile && Number(nofile) < sites.length + 256) throw new Error(`ulimit -n is ${nofile}: ${sites.length} connections need more (raise it, or fewer --cities)`);

  const influx = await new InfluxPeer().start();
  const mosq = args.broker === 'mosquitto' ? await new MosquittoPeer().start() : undefined;
  let cloud: Awaited<ReturnType<typeof spawnCloud>> | undefined;
  const gateways: Gateway[] = [];
  try {
    const ceilingPps = await ceiling(influx, ceilingLines(Number(process.env.BENCH_CITY_CEILING_POINTS ?? 100_000)));
    const db = 'city';
    // the cloud as shipped (docker/Dockerfile.cloud sets this V8 flag)
    const nodeOptions = process.env.NODE_OPTIONS;
    process.env.NODE_OPTIONS = [nodeOptions, '--max-semi-space-size=64'].filter(Boolean).join(' ');
    cloud = await spawnCloud({ influx: { url: influx.url, database: db }, alerts: {}, ...(mosq ? { broker: { mode: 'external', url: mosq.url, clientId: 'cityedge-ingest-bench' } } : {}) });
    if (nodeOptions === undefined) delete process.env.NODE_OPTIONS; else process.env.NODE_OPTIONS = nodeOptions;
    const httpUrl = `http://127.0.0.1:${cloud.httpPort}`;
    await waitFor(async () => {
      if (!cloud!.proc.alive) throw new Error(`cloud exited: ${cloud!.proc.log.slice(-2000)}`);
      return (await fetch(`${httpUrl}/ready`).catch(() => undefined))?.status === 200;
    }, { timeoutMs: 60_000, what: 'cloud /ready' });
    const cloudPid = cloud.proc.pid;
    await sleep(2000); // let start-up settle before the idle RSS
    const idle = procStat(cloudPid);

    // provisioning, as `cityedge device add` does against the running cloud's database
    const dbFile = path.join(path.dirname(cloud.file), 'data', 'cloud.db');
    const cdb = openCloudDb(dbFile);
    const token = new TokenStore(cdb).create('city-bench', 'viewer').token;
    let provisionS = NaN;
    if (!mosq) {
      const reg = new DeviceRegistry(cdb);
      const t = performance.now();
      await pool(sites, 4, async (s) => { await reg.add(s.site, PASSWORD); });
      provisionS = (performance.now() - t) / 1000;
      console.log(`  provisioned ${sites.length} gateways in ${provisionS.toFixed(1)} s`);
    }
    cdb.close();

    // the connect storm: 16 CONNECTs in flight (the cloud hashes each password on its thread pool)
    const tally = new Tally();
    for (const s of sites) gateways.push(new Gateway(s, tally));
    const brokerUrl = mosq ? mosq.url : `mqtt://127.0.0.1:${cloud.mqttPort}`;
    const c0 = procStat(cloudPid);
    const tc = performance.now();
    await pool(gateways, 16, (g) => g.connect(brokerUrl, !mosq));
    const connectS = (performance.now() - tc) / 1000;
    const c1 = procStat(cloudPid);
    console.log(`  connected ${sites.length} gateways in ${connectS.toFixed(1)} s (${fmt(sites.length / connectS)}/s), cloud CPU ${(c1.cpu - c0.cpu).toFixed(1)} s`);

    // the run
    const random = rng(42);
    const schedule = new Schedule(random);
    const byPlan = new Map(gateways.map((g) => [g.plan, g]));
    const t0 = Date.now();
    for (const g of gateways) for (const st of siteStreams(g.plan, t0, random)) schedule.add(st);
    let running = true;
    let draining = true;
    const latency: number[] = [];
    const probes = probeLoop(influx, db, tally, () => running, latency);
    const alertsWatch = alertLoop(httpUrl, token, tally, () => draining);
    const samples: Array<{ at: number; cloud: { cpu: number; rss: number }; influx: { cpu: number; rss: number }; mosq: { cpu: number; rss: number } }> = [];
    const sample = () => samples.push({ at: Date.now(), cloud: procStat(cloudPid), influx: procStat(influx.proc?.pid), mosq: procStat(mosq?.proc?.pid) });
    const sampler = setInterval(sample, 1000);
    const accepted0 = await metric(httpUrl, 'cityedge_ingest_items_total', 'result="accepted"');
    const written0 = await metric(httpUrl, 'cityedge_ingest_written_total', 'sink="series"');
    sample();
    const self0 = process.cpuUsage();
    const tick = setInterval(() => schedule.runUntil(Date.now(), (st, due, e) => byPlan.get(st.site)!.emit(e, due)), 20);
    const tr = performance.now();
    await sleep(seconds * 1000);
    clearInterval(tick);
    const runS = (performance.now() - tr) / 1000;
    const accepted1 = await metric(httpUrl, 'cityedge_ingest_items_total', 'result="accepted"');
    const written1 = await metric(httpUrl, 'cityedge_ingest_written_total', 'sink="series"');
    sample();
    const selfCpu = process.cpuUsage(self0);
    running = false;
    await probes;
    const runSamples = [...samples];

    // the drain and the zero-loss check
    const wantPoints = Object.values(tally.points).reduce((a, b) => a + b, 0);
    const td = performance.now();
    let counted = await countPoints(influx, db);
    const ro = new Database(dbFile, { readonly: true, fileMustExist: true });
    const eventRows = () => ro.prepare("SELECT kind, count(*) AS n FROM events WHERE kind IN ('event', 'alert') GROUP BY kind").all() as Array<{ kind: string; n: number }>;
    const rowsOf = (k: string) => eventRows().find((r) => r.kind === k)?.n ?? 0;
    const deadline = Date.now() + 180_000;
    const receipted = () => gateways.reduce((n, g) => n + g.receipted.size, 0);
    while (Date.now() < deadline && (counted.total < wantPoints || rowsOf('event') < tally.events || rowsOf('alert') < tally.alertItems || tally.pendingAlerts.size > 0 || receipted() < tally.items)) {
      await sleep(500);
      counted = await countPoints(influx, db);
    }
    const drainS = (performance.now() - td) / 1000;
    draining = false;
    await alertsWatch;
    const apiAlerts = await allAlerts(httpUrl, token);
    let alertsVisible = 0;
    let alertsRightState = 0;
    for (const [k, v] of tally.raises) { const s = apiAlerts.get(k); if (s) { alertsVisible++; if (s === v.state) alertsRightState++; } }
    const duplicates = await metric(httpUrl, 'cityedge_ingest_items_total', 'result="duplicate"');
    const acceptedTotal = await metric(httpUrl, 'cityedge_ingest_items_total', 'result="accepted"');
    // the gateways' dead letters; others (the cloud's own messages) are reported apart
    const deadRows = ro.prepare("SELECT topic, code, count(*) AS n FROM dead_letters GROUP BY topic, code").all() as Array<{ topic: string; code: string; n: number }>;
    const ours = (topic: string) => sites.some((s) => topic.startsWith(topics.prefix(s.site)));
    const deadLetters = deadRows.filter((r) => ours(r.topic)).reduce((n, r) => n + r.n, 0);
    const otherDead = deadRows.filter((r) => !ours(r.topic));
    const events = rowsOf('event');
    const alertRows = rowsOf('alert');
    ro.close();
    const lost = {
      points: wantPoints - counted.total, events: tally.events - events, alert_items: tally.alertItems - alertRows,
      alerts: tally.raises.size - alertsVisible, alerts_wrong_state: alertsVisible - alertsRightState, unreceipted: tally.items - receipted(),
    };
    const zeroLoss = Object.values(lost).every((v) => v === 0) && acceptedTotal === tally.items && deadLetters === 0;

    // figures
    const first = runSamples[0];
    const last = runSamples[runSamples.length - 1];
    const wall = (last.at - first.at) / 1000;
    const cores = (k: 'cloud' | 'influx' | 'mosq') => (last[k].cpu - first[k].cpu) / wall;
    const peak = (k: 'cloud' | 'influx' | 'mosq') => Math.max(...runSamples.map((s) => s[k].rss));
    const acceptedIps = (accepted1 - accepted0) / runS;
    const pointsPs = (written1 - written0) / runS;
    const mb = (b: number) => (b / 2 ** 20).toFixed(0);
    // growth over idle per connection; below the GC's noise (negative) at small N it says nothing
    const perConnKb = c1.rss > idle.rss ? (c1.rss - idle.rss) / 1024 / sites.length : NaN;
    console.log(`  offered        ${fmt(offered.items)} items/s, ${fmt(offered.points)} points/s, ${fmt(offered.messages)} messages/s; published ${fmt(tally.items / runS)} items/s in ${fmt(tally.messages / runS)} messages/s (+ ${fmt(tally.statuses / runS)} status/s)`);
    console.log(`  accepted       ${fmt(acceptedIps)} items/s (cloud's counter over the run) = ${(acceptedIps / offered.items).toFixed(3)}× offered`);
    console.log(`  into InfluxDB  ${fmt(pointsPs)} points/s = ${(pointsPs / ceilingPps).toFixed(4)}× InfluxDB's ceiling for these points (${fmt(ceilingPps)} points/s, measured first)`);
    console.log(`  reading → queryable in InfluxDB  p50 ${pct(latency, 50)} ms  p95 ${pct(latency, 95)} ms  (n=${latency.length}; 25 ms polling)`);
    console.log(`  alert → listed by the API        p50 ${pct(tally.alertLatency, 50)} ms  p95 ${pct(tally.alertLatency, 95)} ms  (n=${tally.alertLatency.length}; 100 ms polling)`);
    console.log(`  generator lag (due → published)  p95 ${pct(tally.lag, 95)} ms; its CPU ${((selfCpu.user + selfCpu.system) / 1e6 / runS).toFixed(2)} cores`);
    console.log(`  cloud node     ${cores('cloud').toFixed(2)} cores over the run; RSS idle ${mb(idle.rss)} MB, ${mb(c1.rss)} MB with ${sites.length} connections (${Number.isFinite(perConnKb) ? `${perConnKb.toFixed(0)} KB each over idle` : 'growth below GC noise'}), peak ${mb(peak('cloud'))} MB`);
    console.log(`  influxd        ${cores('influx').toFixed(2)} cores, RSS peak ${mb(peak('influx'))} MB${mosq ? `; mosquitto ${cores('mosq').toFixed(2)} cores, RSS peak ${mb(peak('mosq'))} MB` : ''}`);
    console.log(`  drain          ${drainS.toFixed(1)} s after the last publish until everything was in`);
    console.log(`  zero loss      ${zeroLoss ? 'yes' : 'NO'}: points ${fmt(counted.total)} of ${fmt(wantPoints)} in InfluxDB; events ${fmt(events)} of ${fmt(tally.events)}; alert items ${alertRows} of ${tally.alertItems}; alerts ${alertsVisible} of ${tally.raises.size} raised listed (${alertsRightState} in the state last sent); receipted ${fmt(receipted())} of ${fmt(tally.items)} seqs; accepted ${fmt(acceptedTotal)}, duplicates ${duplicates}, dead letters ${deadLetters}, publish errors ${tally.pubErrors}`);
    for (const d of otherDead) console.log(`  note           ${d.n} dead letters not from the gateways: ${d.code} on ${d.topic}${d.topic.startsWith('ce/v1/_cloud/') ? " (the cloud's own alert notifications, which its ingest subscription ce/v1/+/+ receives from the external broker)" : ''}`);
    if (!zeroLoss) console.log(`  LOSS: ${JSON.stringify({ ...lost, by_measurement: Object.fromEntries(MEASUREMENTS.map((m) => [m, `${counted.by[m] ?? 0}/${tally.points[m] ?? 0}`])) })}`);
    const out = {
      bench: 'city', cities: args.cities, gateways: sites.length, broker: args.broker, nodes: 1, ...(args.nodes > 1 ? { nodes_note: NODES_NOTE } : {}), seconds: r1(runS),
      offered_items_per_s: r1(offered.items), offered_points_per_s: r1(offered.points), offered_messages_per_s: r1(offered.messages),
      per_city_items_per_s: r1(rates.total.items), per_city_points_per_s: r1(rates.total.points),
      accepted_items_per_s: r1(acceptedIps), accepted_vs_offered: r3(acceptedIps / offered.items),
      points_per_s: r1(pointsPs), influx_ceiling_points_per_s: int(ceilingPps), points_vs_ceiling: r3(pointsPs / ceilingPps),
      reading_to_queryable_p50_ms: pct(latency, 50), reading_to_queryable_p95_ms: pct(latency, 95), reading_probes: latency.length,
      alert_to_api_p50_ms: pct(tally.alertLatency, 50), alert_to_api_p95_ms: pct(tally.alertLatency, 95), alerts_raised: tally.raises.size,
      cloud_cpu_cores: r3(cores('cloud')), cloud_rss_idle_mb: int(idle.rss / 2 ** 20), cloud_rss_connected_mb: int(c1.rss / 2 ** 20), cloud_rss_peak_mb: int(peak('cloud') / 2 ** 20), cloud_kb_per_connection: int(perConnKb),
      influx_cpu_cores: r3(cores('influx')), ...(mosq ? { mosquitto_cpu_cores: r3(cores('mosq')) } : {}), generator_cpu_cores: r3((selfCpu.user + selfCpu.system) / 1e6 / runS), generator_lag_p95_ms: pct(tally.lag, 95),
      provision_s: r1(provisionS), connect_s: r1(connectS), connect_cloud_cpu_s: r1(c1.cpu - c0.cpu), drain_s: r1(drainS),
      published_items: tally.items, zero_loss: zeroLoss, lost, duplicates, dead_letters: deadLetters, other_dead_letters: otherDead.reduce((n, r) => n + r.n, 0),
    };
    console.log(JSON.stringify(out));
    return out;
  } finally {
    await pool(gateways, 64, (g) => g.end());
    await cloud?.proc.stop();
    await mosq?.stop();
    await influx.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await run();
