/**
 * The chaos run (`npm run chaos`, test/chaos/chaos.int.test.ts): three edges, the cloud, InfluxDB
 * (and mosquitto) as real processes on loopback, a seeded schedule of faults, and at the end a
 * comparison of what the sources' ledgers say must be there with what InfluxDB and the cloud API
 * hold. See test/README.md "Chaos run".
 *
 * The cloud and the edges run the built CLI (dist/cli/main.js, what `bin/cityedge.mjs` runs): the
 * product as shipped, without tsx's compile time and memory in every restart and in the cloud's
 * RSS. dist/ is copied at the start of the run (node_modules/.cache/cityedge-chaos/<run>-<pid>-<t>/dist, so
 * packages and the project root resolve as from dist/) and every process runs that copy: one
 * snapshot of the code for the whole run, also when dist/ is rebuilt meanwhile (a restart after
 * kill -9 runs the same code). The device simulators and the harness are test code and run from
 * the sources (bin/run-ts.mjs). `dist/` older than the sources is refused unless `allowStaleDist`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import YAML from 'yaml';
import { openCloudDb } from '../../cloud/db.ts';
import { DeviceRegistry } from '../../cloud/devices/registry.ts';
import { TokenStore } from '../../cloud/api/tokens.ts';
import { demoGbfsConfig } from '../../demo/bikes.ts';
import { osloFiles } from '../../edge/bikes/replay.ts';
import { parseBytes } from '../../lib/config.ts';
import { projectPath } from '../../lib/data-dir.ts';
import { InfluxPeer } from '../peers/influx.ts';
import { MosquittoPeer } from '../peers/mosquitto.ts';
import { freePort, tempDir, waitFor } from '../peers/ports.ts';
import { OwnedProcess } from '../peers/process.ts';
import { FuzzClient, fuzzCases } from './fuzz.ts';
import {
  EDGE_NAMES, HJ212_RULES, SITES, airExpected, countsOf, episodesOf, expectedAlertItems, loggerRows, loggerSpecs, prng, readJsonl, subSeed, writeAirSlice,
  type DockLedgerLine, type EdgeName, type Episode, type HjAcked, type HjRow, type LoggerSpec,
} from './ledger.ts';
import { BlackholeProxy } from './proxy.ts';
import { KNOWN_OPEN, applicableKinds, buildSchedule, defaultKinds, FAULT_KINDS, type FaultEvent, type FaultKind } from './schedule.ts';

export interface ChaosOptions {
  minutes: number;
  seed: number;
  broker: 'embedded' | 'mosquitto';
  /** Fault kinds to apply (default: every kind of the broker mode except KNOWN_OPEN). */
  faults?: FaultKind[];
  /** `kind` or `kind@target` to leave out. */
  skip?: string[];
  /** Hostile messages over the run (default 100,000 per 30 minutes). */
  fuzzCases?: number;
  fuzzRate?: number;
  /** Per edge (database + -wal + -shm). */
  outboxCap?: string;
  maxCloudRssMiB?: number;
  /** Longest wait for the system to drain after the faults stop. */
  drainTimeoutMs?: number;
  /** Give up draining when nothing moved for this long (longer than the edge's receiptTimeoutMs, 30 s, after which unreceipted rows are resent). */
  stallMs?: number;
  dir?: string;
  keep?: boolean;
  allowStaleDist?: boolean;
  log?: (line: string) => void;
}

export interface Invariant { name: string; ok: boolean; detail: string }
export interface SourceFigures { expected: number; found: number; lost: number; duplicated: number; unexpected: number; wrongValue: number; extra?: Record<string, unknown> }

export interface ChaosResult {
  ok: boolean;
  /** the command line that runs the same schedule */
  reproduce: string;
  seed: number;
  broker: string;
  minutes: number;
  dir: string;
  durationMs: number;
  faults: Record<string, number>;
  faultLog: Array<{ at: number; kind: string; target: string; durationMs: number; note?: string }>;
  sources: Record<string, SourceFigures>;
  lost: number;
  duplicated: number;
  alertStatesWrong: number;
  alertEpisodesWrong: number;
  transport: Record<string, { stamped: number; remaining: number; evicted: number; admitted: number; ackedNotAdmitted: number; deadLettered: number }>;
  outbox: Record<string, { maxBytes: number; capBytes: number; overCapSamples: number }>;
  maxCloudRssMiB: number;
  crashes: Array<{ process: string; at: number; code: number | null; signal: string | null; tail: string }>;
  unexpectedBrokerCloses: Record<string, number[]>;
  deadLetters: Record<string, number>;
  fuzz: unknown;
  drain: { ms: number; converged: boolean; waitingFor: string[] };
  invariants: Invariant[];
  details: Record<string, unknown>;
  schedule: FaultEvent[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const RUN_TS = () => projectPath('bin', 'run-ts.mjs');
const CLOCK_PRELOAD = () => pathToFileURL(projectPath('test', 'chaos', 'clock-preload.mjs')).href;

/** dist/ must be at least as new as every production source (the edges and the cloud run it). */
export function distIsCurrent(): { ok: boolean; newest?: string } {
  const main = projectPath('dist', 'cli', 'main.js');
  if (!fs.existsSync(main)) return { ok: false, newest: 'dist/ missing' };
  const built = fs.statSync(main).mtimeMs;
  let newest: { file: string; t: number } | undefined;
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) { if (e.name !== 'testdata' && e.name !== 'node_modules') walk(p); continue; }
      if (!e.name.endsWith('.ts') || /\.test\.ts$/.test(e.name)) continue;
      const t = fs.statSync(p).mtimeMs;
      if (!newest || t > newest.t) newest = { file: path.relative(projectPath(), p), t };
    }
  };
  for (const d of ['cli', 'cloud', 'edge', 'firmware-bridge', 'lib', 'protocol', 'models', 'demo']) walk(projectPath(d));
  return newest && newest.t > built ? { ok: false, newest: newest.file } : { ok: true };
}

/** One process of the run: restarted by the harness after its faults, and after an exit nobody asked for (counted as a crash). */
class Managed {
  proc?: OwnedProcess;
  private expectDown = false;
  paused = false;
  starts = 0;
  readonly crashes: ChaosResult['crashes'] = [];
  constructor(readonly name: string, private readonly spawn: () => Promise<OwnedProcess>, private readonly logFile: string, private readonly t0: number) {}

  get pid(): number | undefined {
    return this.proc?.alive ? this.proc.pid : undefined;
  }

  async start(): Promise<void> {
    this.expectDown = false;
    this.paused = false;
    const p = await this.spawn();
    this.starts++;
    this.proc = p;
    const out = fs.createWriteStream(this.logFile, { flags: 'a' });
    out.write(`--- start ${this.starts} pid ${p.pid} at +${((Date.now() - this.t0) / 1000).toFixed(1)} s\n`);
    p.child.stdout?.on('data', (b: Buffer) => out.write(b));
    p.child.stderr?.on('data', (b: Buffer) => out.write(b));
    p.child.once('exit', (code, signal) => {
      out.write(`--- exit code ${code} signal ${signal} at +${((Date.now() - this.t0) / 1000).toFixed(1)} s\n`);
      out.end();
      if (this.expectDown || this.proc !== p) return;
      // nobody asked for this exit: a crash; keep the run going with a fresh process
      this.crashes.push({ process: this.name, at: Date.now() - this.t0, code, signal, tail: p.log.slice(-1500) });
      setTimeout(() => { if (!this.expectDown && this.proc === p) void this.start().catch(() => undefined); }, 1000);
    });
  }

  async kill9(): Promise<void> {
    this.expectDown = true;
    this.paused = false;
    await this.proc?.kill9();
  }

  async stop(): Promise<void> {
    this.expectDown = true;
    if (this.paused) this.resume();
    await this.proc?.stop('SIGTERM', 15_000);
  }

  pause(): void {
    if (this.pid) { process.kill(this.pid, 'SIGSTOP'); this.paused = true; }
  }

  resume(): void {
    if (this.pid && this.paused) process.kill(this.pid, 'SIGCONT');
    this.paused = false;
  }

  /** Resident set of the live process, bytes (VmRSS). */
  rss(): number | undefined {
    if (!this.pid) return undefined;
    try {
      const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${this.pid}/status`, 'utf8'));
      return m ? Number(m[1]) * 1024 : undefined;
    } catch { return undefined; }
  }
}

interface Ctx {
  /** dist/cli/main.js of this run's copy of dist/ */
  cli: string;
  o: Required<Omit<ChaosOptions, 'dir' | 'log' | 'faults' | 'skip'>> & { faults: FaultKind[]; skip: string[] };
  dir: string;
  t0: number;
  log: (s: string) => void;
  influx: InfluxPeer;
  mosq?: MosquittoPeer;
  cloud: Managed;
  broker?: Managed;
  influxProc: Managed;
  edges: Record<EdgeName, Managed>;
  proxies: Record<EdgeName, BlackholeProxy>;
  sims: Managed[];
  api: string;
  token: string;
  brokerPort: number;
  passwords: Record<string, string>;
  clockFiles: Record<EdgeName, string>;
  capBytes: number;
  outboxFiles: Record<EdgeName, string>;
}

const q = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

async function influxRows(ctx: Ctx, ql: string): Promise<Array<{ tags?: Record<string, string>; columns: string[]; values: unknown[][] }>> {
  const r = await ctx.influx.query(ql, 'chaos');
  const res = r.results?.[0];
  if (res?.error) throw new Error(`InfluxDB: ${res.error} (${ql})`);
  if (res?.partial) throw new Error(`InfluxDB returned a partial result (row limit) for ${ql}`);
  return res?.series ?? [];
}

async function apiGet<T>(ctx: Ctx, p: string): Promise<T> {
  const r = await fetch(`${ctx.api}${p}`, { headers: { authorization: `Bearer ${ctx.token}` }, signal: AbortSignal.timeout(15_000) });
  if (!r.ok) throw new Error(`GET ${p}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}

interface AlertView { id: number; site: string; rule: string; source: string; state: 'open' | 'acknowledged' | 'resolved'; firstTs: number; clearedTs?: number; raiseCount: number }

async function allAlerts(ctx: Ctx, site: string): Promise<AlertView[]> {
  const out: AlertView[] = [];
  let before: number | undefined;
  for (;;) {
    const page = await apiGet<{ alerts: AlertView[]; next?: number }>(ctx, `/api/v1/alerts?site=${site}&limit=1000${before ? `&before=${before}` : ''}`);
    out.push(...page.alerts);
    if (!page.next) return out;
    before = page.next;
  }
}

async function allEvents(ctx: Ctx, site: string, from: number, to: number): Promise<Array<{ type: string; ts: number; data: Record<string, unknown>; id: string; seq: number }>> {
  const rows = await apiGet<Array<{ type: string; ts: number; data: Record<string, unknown>; id: string; seq: number }>>(ctx, `/api/v1/events?site=${site}&kind=event&from=${from}&to=${to}&limit=1000`);
  if (rows.length < 1000 || to - from <= 1) return rows;
  const mid = Math.floor((from + to) / 2);
  return [...(await allEvents(ctx, site, from, mid)), ...(await allEvents(ctx, site, mid, to))];
}

async function spoolDepth(ctx: Ctx): Promise<number | undefined> {
  try {
    const text = await (await fetch(`${ctx.api}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    const m = /^cityedge_ingest_spool_items (\d+)/m.exec(text);
    return m ? Number(m[1]) : undefined;
  } catch { return undefined; }
}

async function outboxRows(ctx: Ctx): Promise<Record<string, number | undefined>> {
  const out: Record<string, number | undefined> = {};
  try {
    const sites = await apiGet<Array<{ site: string; health?: { outbox?: { rows?: number } } }>>(ctx, '/api/v1/sites');
    for (const e of EDGE_NAMES) out[e] = sites.find((s) => s.site === SITES[e])?.health?.outbox?.rows;
  } catch { /* cloud not answering yet */ }
  return out;
}

function fileBytes(base: string): number {
  let n = 0;
  for (const s of ['', '-wal', '-shm']) { try { n += fs.statSync(base + s).size; } catch { /* absent */ } }
  return n;
}

// ───────────────────────────── setup ─────────────────────────────

async function setup(o: Ctx['o'], dir: string, log: (s: string) => void, procs: Managed[], proxyList: BlackholeProxy[], cli: string): Promise<Ctx> {
  const t0 = Date.now();
  const CLI = () => cli;
  const logs = path.join(dir, 'logs');
  fs.mkdirSync(logs, { recursive: true });
  const seedRand = prng(subSeed(o.seed, 'setup'));
  const secret = (n: number) => Array.from({ length: n }, () => 'abcdefghijkmnopqrstuvwxyz23456789'[Math.floor(seedRand() * 33)]).join('');

  // InfluxDB
  const influx = new InfluxPeer(path.join(dir, 'influx'));
  fs.mkdirSync(influx.dir, { recursive: true });
  const influxProc = new Managed('influxd', async () => { await influx.start(); return influx.proc!; }, path.join(logs, 'influxd.log'), t0);
  procs.push(influxProc);
  await influxProc.start();

  // cloud database: devices and an admin token, before the cloud process opens it
  const cloudData = path.join(dir, 'cloud-data');
  fs.mkdirSync(cloudData, { recursive: true });
  const db = openCloudDb(path.join(cloudData, 'cloud.db'));
  const reg = new DeviceRegistry(db);
  const passwords: Record<string, string> = {};
  for (const s of Object.values(SITES)) passwords[s] = await reg.add(s);
  const token = new TokenStore(db).create('chaos-admin', 'admin').token;
  db.close();

  // broker
  const httpPort = await freePort();
  let brokerPort: number;
  let mosq: MosquittoPeer | undefined;
  let broker: Managed | undefined;
  const ingestPassword = `ingest-${secret(16)}`;
  if (o.broker === 'mosquitto') {
    mosq = new MosquittoPeer();
    const passwd = path.join(mosq.dir, 'passwd');
    execFileSync('mosquitto_passwd', ['-c', '-b', passwd, 'cityedge-ingest', ingestPassword]);
    for (const [s, pw] of Object.entries(passwords)) execFileSync('mosquitto_passwd', ['-b', passwd, s, pw]);
    fs.chmodSync(passwd, 0o644);
    // the shipped config's own lines (docker/mosquitto/mosquitto.conf) minus what the peer sets itself
    const own = /^(listener|password_file|acl_file|persistence|persistence_location|max_queued_messages|max_inflight_messages|log_type|log_dest|allow_anonymous)\b/;
    const shipped = fs.readFileSync(projectPath('docker', 'mosquitto', 'mosquitto.conf'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#') && !own.test(l));
    mosq.extraConfig.push('allow_anonymous false', `password_file ${passwd}`, `acl_file ${projectPath('docker', 'mosquitto', 'acl')}`, ...shipped);
    const m = mosq;
    broker = new Managed('mosquitto', async () => { await m.start(); return m.proc!; }, path.join(logs, 'mosquitto.log'), t0);
    procs.push(broker);
    await broker.start();
    brokerPort = mosq.port;
  } else {
    brokerPort = await freePort();
  }

  // cloud
  const cloudFile = path.join(dir, 'cloud.yaml');
  fs.writeFileSync(cloudFile, YAML.stringify({
    dataDir: cloudData,
    broker: o.broker === 'mosquitto'
      ? { mode: 'external', url: `mqtt://127.0.0.1:${brokerPort}`, username: 'cityedge-ingest', password: ingestPassword, clientId: 'cityedge-ingest' }
      : { mode: 'embedded', host: '127.0.0.1', port: brokerPort, revocationPollMs: 1000 },
    influx: { url: influx.url, database: 'chaos' },
    http: { host: '127.0.0.1', port: httpPort },
    ingest: { maxMessageBytes: 512 * 1024 },
    alerts: { escalation: false, mqtt: { enabled: false } },
    gbfs: demoGbfsConfig(),
  }));
  const env = { ...process.env, LOG_LEVEL: 'warn', LOG_FORMAT: 'json' };
  const cloud = new Managed('cloud', async () => new OwnedProcess(process.execPath, [CLI(), 'cloud', '--config', cloudFile], { env }), path.join(logs, 'cloud.log'), t0);
  procs.push(cloud);
  await cloud.start();
  const api = `http://127.0.0.1:${httpPort}`;
  await waitFor(async () => (await fetch(`${api}/health`).catch(() => null))?.ok, { timeoutMs: 30_000, what: 'cloud /health' });

  // proxies: one per edge, between the edge and the broker
  const proxies = {} as Record<EdgeName, BlackholeProxy>;
  for (const e of EDGE_NAMES) {
    proxies[e] = new BlackholeProxy(e, () => brokerPort);
    proxyList.push(proxies[e]);
    await proxies[e].listen();
  }

  // edges
  const capBytes = parseBytes(o.outboxCap);
  const runMs = o.minutes * 60_000;
  const specs = loggerSpecs(o.seed);
  const hjPort = await freePort();
  const dockPort = await freePort();
  const dockToken = `dock-${secret(16)}`;
  const stations = pickStations(o.seed, 24);
  const airRate = 5;
  const edgeCfg: Record<EdgeName, Record<string, unknown>> = {
    air: { sources: [{ type: 'air-replay', id: 'aq', file: './air.csv', rowsPerSecond: airRate, time: 'original' }] },
    env: {
      sources: [{
        type: 'hj212', id: 'loggers', host: '127.0.0.1', port: hjPort,
        stations: specs.map((s) => ({ mn: s.mn, password: s.password, revision: s.revision, ...(s.sm4Key ? { sm4Key: s.sm4Key, requireEncryption: true } : {}) })),
        pipeline: { alerts: HJ212_RULES },
      }],
    },
    bikes: {
      sources: [{
        type: 'bike-docks', id: 'docks', host: '127.0.0.1', port: dockPort, token: dockToken, cardKey: `card-key-${secret(24)}`,
        stationsFile: osloFiles().informationFile, stationIds: stations, emptyAlertMin: 0, fullAlertMin: 0, statusEveryS: 20,
      }],
    },
  };
  // every edge runs with the clock preload (its own offset file); the schedule steps one of them
  const clockFiles = {} as Record<EdgeName, string>;
  const edges = {} as Record<EdgeName, Managed>;
  const outboxFiles = {} as Record<EdgeName, string>;
  for (const e of EDGE_NAMES) {
    const edir = path.join(dir, 'edges', e);
    fs.mkdirSync(edir, { recursive: true });
    if (e === 'air') writeAirSlice(path.join(edir, 'air.csv'), 500 + Math.floor(prng(subSeed(o.seed, 'air'))() * 20_000), Math.floor((airRate * (runMs - 25_000)) / 1000));
    const file = path.join(edir, 'edge.yaml');
    fs.writeFileSync(file, YAML.stringify({
      site: SITES[e], stateDir: './state',
      mqtt: { url: `mqtt://127.0.0.1:${proxies[e].port}`, password: passwords[SITES[e]], keepaliveSec: 5 },
      outbox: { cap: o.outboxCap },
      uplink: { reconnectMinMs: 200, reconnectMaxMs: 2000, statusIntervalMs: 2000 },
      ...edgeCfg[e],
    }));
    outboxFiles[e] = path.join(edir, 'state', 'outbox.db');
    clockFiles[e] = path.join(dir, `clock-${e}.json`);
    fs.writeFileSync(clockFiles[e], JSON.stringify({ offsetMs: 0 }));
    edges[e] = new Managed(`edge-${e}`, async () => new OwnedProcess(process.execPath, ['--import', CLOCK_PRELOAD(), CLI(), 'edge', '--config', file], { env: { ...env, CHAOS_CLOCK_FILE: clockFiles[e] } }), path.join(logs, `edge-${e}.log`), t0);
    procs.push(edges[e]);
    await edges[e].start();
  }

  // device simulators
  const until = t0 + runMs; // re-based on the run start below
  const hjCfg = path.join(dir, 'hj212-loggers.json');
  fs.writeFileSync(hjCfg, JSON.stringify({ port: hjPort, loggers: specs, rowsPerSecond: 1.5, maxRows: 100_000, untilMs: until, ledgerFile: path.join(dir, 'hj212-ledger.jsonl'), statusFile: path.join(dir, 'hj212-status.json'), ackTimeoutMs: 3000 }));
  const dockCfg = path.join(dir, 'dock-controllers.json');
  fs.writeFileSync(dockCfg, JSON.stringify({ port: dockPort, token: dockToken, stations, seed: o.seed, hourMs: 8000, untilMs: until, ledgerFile: path.join(dir, 'dock-ledger.jsonl'), statusFile: path.join(dir, 'dock-status.json'), heartbeatMs: 20_000 }));
  const sims = [
    new Managed('hj212-loggers', async () => new OwnedProcess(process.execPath, [RUN_TS(), projectPath('test', 'chaos', 'hj212-loggers.ts'), hjCfg], { env, cwd: projectPath() }), path.join(logs, 'hj212-loggers.log'), t0),
    new Managed('dock-controllers', async () => new OwnedProcess(process.execPath, [RUN_TS(), projectPath('test', 'chaos', 'dock-controllers.ts'), dockCfg], { env, cwd: projectPath() }), path.join(logs, 'dock-controllers.log'), t0),
  ];
  procs.push(...sims);

  const ctx: Ctx = {
    cli, o, dir, t0, log, influx, mosq, cloud, broker, influxProc, edges, proxies, sims, api, token, brokerPort, passwords, clockFiles, capBytes, outboxFiles,
  };
  return ctx;
}

/** 24 Oslo stations present in both the station list and the initial status, chosen by the seed. */
function pickStations(seed: number, n: number): string[] {
  const f = osloFiles();
  const info = JSON.parse(fs.readFileSync(f.informationFile, 'utf8')) as { data: { stations: Array<{ station_id: string; capacity: number }> } };
  const initial = JSON.parse(fs.readFileSync(f.initialStatusFile, 'utf8')) as { data: { stations: Array<{ station_id: string }> } };
  const have = new Set(initial.data.stations.map((s) => s.station_id));
  const ids = info.data.stations.filter((s) => have.has(s.station_id) && s.capacity > 0 && s.capacity <= 40).map((s) => s.station_id).sort();
  const r = prng(subSeed(seed, 'stations'));
  for (let i = ids.length - 1; i > 0; i--) { const j = Math.floor(r() * (i + 1)); [ids[i], ids[j]] = [ids[j], ids[i]]; }
  return ids.slice(0, n).sort();
}

// ───────────────────────────── run ─────────────────────────────

export async function runChaos(opts: ChaosOptions): Promise<ChaosResult> {
  const log = opts.log ?? ((s: string) => process.stderr.write(`${s}\n`));
  const o: Ctx['o'] = {
    minutes: opts.minutes, seed: opts.seed, broker: opts.broker,
    faults: opts.faults ?? defaultKinds(opts.broker), skip: opts.skip ?? [],
    fuzzCases: opts.fuzzCases ?? Math.round((100_000 * opts.minutes) / 30), fuzzRate: opts.fuzzRate ?? 300,
    outboxCap: opts.outboxCap ?? '2MiB', maxCloudRssMiB: opts.maxCloudRssMiB ?? 400,
    drainTimeoutMs: opts.drainTimeoutMs ?? 240_000, stallMs: opts.stallMs ?? 60_000,
    keep: opts.keep ?? false, allowStaleDist: opts.allowStaleDist ?? false,
  };
  for (const k of o.faults) if (!(FAULT_KINDS as readonly string[]).includes(k)) throw new Error(`unknown fault kind ${k} (known: ${FAULT_KINDS.join(', ')})`);
  const notHere = o.faults.filter((k) => !applicableKinds(o.broker).includes(k));
  if (notHere.length) throw new Error(`fault kinds ${notHere.join(', ')} need --broker mosquitto`);
  const dist = distIsCurrent();
  if (!dist.ok && !o.allowStaleDist) throw new Error(`dist/ is older than the sources (${dist.newest}): run \`npm run build\` (or pass --allow-stale-dist)`);

  const dir = opts.dir ?? tempDir('chaos-');
  // ledgers are appended to: a run dir must be new (or empty), never another run's
  if (fs.existsSync(dir) && fs.readdirSync(dir).length) throw new Error(`run dir ${dir} is not empty (another run's?): pass a new --dir`);
  fs.mkdirSync(dir, { recursive: true });
  const started = Date.now();
  const runMs = o.minutes * 60_000;
  const schedule = buildSchedule({ seed: o.seed, runMs, warmupMs: Math.min(15_000, runMs * 0.1), quietMs: 10_000, broker: o.broker, kinds: o.faults, skip: o.skip, fuzzCases: o.fuzzCases, fuzzRate: o.fuzzRate });
  log(`chaos: seed ${o.seed}, ${o.minutes} min, broker ${o.broker}, faults ${o.faults.join(' ')}${o.skip.length ? ` (skip ${o.skip.join(' ')})` : ''}, ${schedule.length} scheduled, dir ${dir}`);
  fs.writeFileSync(path.join(dir, 'schedule.json'), JSON.stringify(schedule, null, 1));

  // everything started, in start order: stopped in reverse (devices, edges, cloud, broker, InfluxDB) also when setup fails half-way
  const procs: Managed[] = [];
  const proxyList: BlackholeProxy[] = [];
  // unique per run (several runs may share the machine, and a --dir name may repeat)
  const snapshot = projectPath('node_modules', '.cache', 'cityedge-chaos', `${path.basename(dir)}-${process.pid}-${Date.now().toString(36)}`);
  try {
    fs.cpSync(projectPath('dist'), path.join(snapshot, 'dist'), { recursive: true });
    const ctx = await setup(o, dir, log, procs, proxyList, path.join(snapshot, 'dist', 'cli', 'main.js'));
    return await runPhases(ctx, schedule, started);
  } finally {
    for (const m of [...procs].reverse()) await m.stop().catch(() => undefined);
    for (const p of proxyList) await p.close().catch(() => undefined);
    fs.rmSync(snapshot, { recursive: true, force: true });
    if (!o.keep) fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function runPhases(ctx: Ctx, schedule: FaultEvent[], started: number): Promise<ChaosResult> {
  const { o, log } = ctx;
  const runMs = o.minutes * 60_000;
  // The run starts now: the simulators produce until runStart + runMs.
  const runStart = Date.now();
  for (const f of ['hj212-loggers.json', 'dock-controllers.json']) {
    const p = path.join(ctx.dir, f);
    const cfg = JSON.parse(fs.readFileSync(p, 'utf8'));
    cfg.untilMs = runStart + runMs;
    fs.writeFileSync(p, JSON.stringify(cfg));
  }
  for (const s of ctx.sims) await s.start();
  const rel = () => Date.now() - runStart;

  // ── sampling: outbox files, cloud RSS ──
  const outbox: ChaosResult['outbox'] = {};
  for (const e of EDGE_NAMES) outbox[e] = { maxBytes: 0, capBytes: ctx.capBytes, overCapSamples: 0 };
  let maxRss = 0;
  const rssSeries: number[] = [];
  const sample = () => {
    for (const e of EDGE_NAMES) {
      const b = fileBytes(ctx.outboxFiles[e]);
      if (b > outbox[e].maxBytes) outbox[e].maxBytes = b;
      if (b > ctx.capBytes) outbox[e].overCapSamples++;
    }
    const rss = ctx.cloud.rss();
    if (rss !== undefined) { maxRss = Math.max(maxRss, rss); rssSeries.push(rss); }
  };
  const sampler = setInterval(sample, 250);

  // ── broker-side closes of edge connections outside any fault window ──
  let laneAActive = 0;
  let laneAEnded = 0;
  const unexpected: Record<string, number[]> = {};
  for (const e of EDGE_NAMES) {
    ctx.proxies[e].onBrokerClose = (at) => {
      if (laneAActive > 0 || at - laneAEnded < 15_000 || at - runStart > runMs) return;
      (unexpected[e] ??= []).push(Math.round((at - runStart) / 100) / 10);
    };
  }

  // ── faults ──
  const faultLog: ChaosResult['faultLog'] = [];
  const faults: Record<string, number> = {};
  const skipped: FaultEvent[] = [];
  const note = (e: FaultEvent, extra?: string) => {
    faults[e.kind] = (faults[e.kind] ?? 0) + 1;
    faultLog.push({ at: Math.round(e.at / 100) / 10, kind: e.kind, target: e.target, durationMs: e.durationMs, ...(extra ? { note: extra } : {}) });
    log(`  +${(rel() / 1000).toFixed(1)} s ${e.kind} ${e.target}${e.durationMs ? ` ${(e.durationMs / 1000).toFixed(1)} s` : ''}${extra ? ` ${extra}` : ''}`);
  };
  const fuzz = new FuzzClient({ url: `mqtt://127.0.0.1:${ctx.brokerPort}`, site: SITES.fuzz, password: ctx.passwords[SITES.fuzz], otherSites: EDGE_NAMES.map((e) => SITES[e]), maxMessageBytes: 512 * 1024, rate: o.fuzzRate, concurrency: 8 });
  const managedOf = (e: FaultEvent): Managed => (e.target === 'cloud' ? ctx.cloud : e.target === 'mosquitto' ? ctx.broker! : e.target === 'influx' ? ctx.influxProc : ctx.edges[e.target as EdgeName]);
  const until = async (at: number) => { const w = runStart + at - Date.now(); if (w > 0) await sleep(w); };

  const laneA = (async () => {
    for (const e of schedule.filter((x) => x.lane === 'A')) {
      await until(e.at);
      // a fault that would still be active in the quiet tail (earlier ones ran late) is left out, and said so
      if (rel() + e.durationMs > runMs - 10_000) { log(`  +${(rel() / 1000).toFixed(1)} s ${e.kind} ${e.target} skipped: the run is late`); skipped.push(e); continue; }
      laneAActive++;
      try {
        note(e);
        const m = managedOf(e);
        switch (e.kind) {
          case 'kill-edge': case 'kill-cloud': case 'kill-broker':
            await m.kill9(); await sleep(e.durationMs); await m.start(); break;
          case 'pause-edge': case 'pause-cloud': case 'pause-broker':
            m.pause(); await sleep(e.durationMs); m.resume(); break;
          case 'influx-restart':
            await m.stop(); await sleep(e.durationMs); await m.start(); break;
          case 'blackhole':
            ctx.proxies[e.target as EdgeName].blackhole(); await sleep(e.durationMs); ctx.proxies[e.target as EdgeName].restore(); break;
          default: break;
        }
      } catch (err) {
        log(`  fault ${e.kind} ${e.target} failed: ${(err as Error).message}`);
      } finally {
        laneAActive--;
        laneAEnded = Date.now();
      }
    }
  })();
  let fuzzChain = Promise.resolve();
  const timers: NodeJS.Timeout[] = [];
  for (const e of schedule.filter((x) => x.lane === 'B')) {
    timers.push(setTimeout(() => {
      if (e.kind === 'clock-jump') {
        fs.writeFileSync(ctx.clockFiles[e.target as EdgeName], JSON.stringify({ offsetMs: e.offsetMs }));
        note(e, `clock offset → ${((e.offsetMs ?? 0) / 1000).toFixed(0)} s`);
      } else {
        fuzzChain = fuzzChain.then(async () => {
          note(e, `${e.cases} cases`);
          await fuzz.run(fuzzCases(subSeed(o.seed, `fuzz-${e.burst}`), e.cases ?? 0, e.kind === 'fuzz-refused' ? 'only-refused' : 'mixed'), runStart + runMs + 30_000).catch((err) => log(`  fuzz: ${(err as Error).message}`));
        });
      }
    }, Math.max(0, runStart + e.at - Date.now())));
  }

  // progress line every 30 s
  const ticker = setInterval(() => {
    void (async () => {
      const rows = await outboxRows(ctx);
      log(`  +${(rel() / 1000).toFixed(0)} s outbox ${EDGE_NAMES.map((e) => `${e}:${rows[e] ?? '?'}`).join(' ')} spool ${await spoolDepth(ctx) ?? '?'} rss ${(ctx.cloud.rss() ?? 0) / 2 ** 20 | 0} MiB`);
    })().catch(() => undefined);
  }, 30_000);

  await until(runMs);
  await laneA;
  await fuzzChain;
  for (const t of timers) clearTimeout(t);
  clearInterval(ticker);
  // everything back to normal (they should be already)
  for (const e of EDGE_NAMES) fs.writeFileSync(ctx.clockFiles[e], JSON.stringify({ offsetMs: 0 }));
  for (const e of EDGE_NAMES) ctx.proxies[e].restore();
  for (const m of [ctx.cloud, ctx.broker, ...EDGE_NAMES.map((e) => ctx.edges[e])]) m?.resume();
  await fuzz.close();

  // ── drain ──
  log(`  +${(rel() / 1000).toFixed(0)} s faults over; draining`);
  const drainStart = Date.now();
  const drain = await drainPhase(ctx);
  log(`  drained in ${((Date.now() - drainStart) / 1000).toFixed(0)} s${drain.converged ? '' : ` — NOT converged, waiting for: ${drain.waitingFor.join('; ')}`}`);
  sample();
  clearInterval(sampler);

  // ── checks ──
  const result = await check(ctx, { runStart, started, schedule, faults, faultLog, outbox, maxRss, rssSeries, unexpected, fuzz, drain: { ...drain, ms: Date.now() - drainStart } });
  result.details.faultsSkippedLate = skipped;
  // RSS over the run (every 250 ms): the first and the last minute against the peak, to tell growth from a spike
  const mib = (xs: number[]) => (xs.length ? Math.round(xs.reduce((a, x) => a + x, 0) / xs.length / 2 ** 20) : 0);
  result.details.cloudRssMiB = { firstMinuteMean: mib(rssSeries.slice(0, 240)), lastMinuteMean: mib(rssSeries.slice(-240)), max: result.maxCloudRssMiB, samples: rssSeries.length };
  fs.writeFileSync(path.join(ctx.dir, 'result.json'), JSON.stringify(result, null, 1));
  return result;
}

// ───────────────────────────── ledgers ─────────────────────────────

interface Ledgers {
  air: Awaited<ReturnType<typeof airExpected>>;
  hjFrames: Array<{ spec: LoggerSpec; row: HjRow; attempts: number }>;
  dock: DockLedgerLine[];
  finals: Record<string, string>;
  simsDone: boolean;
}

async function readLedgers(ctx: Ctx): Promise<Ledgers> {
  const air = await airExpected(path.join(ctx.dir, 'edges', 'air', 'air.csv'));
  const specs = loggerSpecs(ctx.o.seed);
  const acked = readJsonl<HjAcked>(path.join(ctx.dir, 'hj212-ledger.jsonl'));
  const hjFrames: Ledgers['hjFrames'] = [];
  for (const spec of specs) {
    const mine = acked.filter((a) => a.mn === spec.mn);
    if (!mine.length) continue;
    const rows = await loggerRows(spec, mine[mine.length - 1].row - spec.skip + 1);
    const byIndex = new Map(rows.map((r) => [r.index, r]));
    for (const a of mine) hjFrames.push({ spec, row: byIndex.get(a.row)!, attempts: a.attempts });
  }
  const lines = readJsonl<DockLedgerLine | { t: 'final'; station: string; states: string }>(path.join(ctx.dir, 'dock-ledger.jsonl'));
  const finals: Record<string, string> = {};
  const dock: DockLedgerLine[] = [];
  for (const l of lines) { if (l.t === 'final') finals[(l as { station: string }).station] = (l as { states: string }).states; else dock.push(l as DockLedgerLine); }
  const status = (f: string) => { try { return JSON.parse(fs.readFileSync(path.join(ctx.dir, f), 'utf8')) as { done: boolean }; } catch { return { done: false }; } };
  return { air, hjFrames, dock, finals, simsDone: status('hj212-status.json').done && status('dock-status.json').done };
}

const hjKey = (station: string, code: string, time: number) => `${station}|${code}|${time}`;

async function storeState(ctx: Ctx) {
  const airPts = await influxRows(ctx, `SELECT * FROM "air" WHERE "site" = ${q(SITES.air)}`);
  const hjPts = await influxRows(ctx, `SELECT "avg" FROM "hj212" WHERE "site" = ${q(SITES.env)} GROUP BY "station", "code"`);
  const bikePts = await latestBikePoints(ctx);
  const bikePointCount = await countPoints(ctx, 'bike_station', SITES.bikes);
  const events = await allEvents(ctx, SITES.bikes, ctx.t0 - 3_600_000, Date.now() + 3_600_000);
  return { airPts, hjPts, bikePts, bikePointCount, events };
}

/** Points of a site in a measurement (every point carries received_ms). */
async function countPoints(ctx: Ctx, m: string, site: string): Promise<number> {
  const s = await influxRows(ctx, `SELECT count("received_ms") FROM "${m}" WHERE "site" = ${q(site)}`);
  return (s[0]?.values?.[0]?.[1] as number | undefined) ?? 0;
}

async function latestBikePoints(ctx: Ctx) {
  return influxRows(ctx, `SELECT * FROM "bike_station" WHERE "site" = ${q(SITES.bikes)} GROUP BY "station" ORDER BY time DESC LIMIT 1`);
}

/** Latest bike_station point per station by time, as GBFS counts. */
function latestBike(bikePts: Awaited<ReturnType<typeof influxRows>>): Map<string, { time: number; counts: Record<string, number> }> {
  const out = new Map<string, { time: number; counts: Record<string, number> }>();
  for (const s of bikePts) {
    const col = (n: string) => s.columns.indexOf(n);
    let best: unknown[] | undefined;
    for (const v of s.values) if (!best || (v[0] as number) > (best[0] as number)) best = v;
    if (!best) continue;
    const counts: Record<string, number> = {};
    for (const k of ['capacity', 'num_bikes_available', 'num_bikes_disabled', 'num_docks_available', 'num_docks_disabled']) counts[k] = best[col(k)] as number;
    out.set(s.tags!.station, { time: best[0] as number, counts });
  }
  return out;
}

function bikeStateWrong(L: Ledgers, latest: ReturnType<typeof latestBike>): string[] {
  const wrong: string[] = [];
  for (const [station, states] of Object.entries(L.finals)) {
    const want = countsOf(states);
    const got = latest.get(station)?.counts;
    const diff = Object.entries(want).filter(([k, v]) => got?.[k] !== v);
    if (diff.length) wrong.push(`${station}: ${diff.map(([k, v]) => `${k} want ${v} got ${got?.[k]}`).join(', ')}`);
  }
  return wrong;
}

async function drainPhase(ctx: Ctx): Promise<{ converged: boolean; waitingFor: string[] }> {
  const deadline = Date.now() + ctx.o.drainTimeoutMs;
  let lastFig = '';
  let lastChange = Date.now();
  let waiting: string[] = ['start'];
  while (Date.now() < deadline) {
    await sleep(3000);
    try {
      const L = await readLedgers(ctx);
      const hjWant = new Set<string>();
      for (const f of L.hjFrames) for (const fac of f.row.factors) hjWant.add(hjKey(f.spec.mn, fac.code, f.row.time));
      const air = await countPoints(ctx, 'air', SITES.air);
      const hj = await countPoints(ctx, 'hj212', SITES.env);
      const events = (await allEvents(ctx, SITES.bikes, ctx.t0 - 3_600_000, Date.now() + 3_600_000)).length;
      const acked = L.dock.filter((d) => d.t === 'acked').length;
      const rows = await outboxRows(ctx);
      const spool = await spoolDepth(ctx);
      const bikeWrong = bikeStateWrong(L, latestBike(await latestBikePoints(ctx)));
      waiting = [];
      if (!L.simsDone) waiting.push('device simulators');
      if (air < L.air.length) waiting.push(`air ${air}/${L.air.length}`);
      if (hj < hjWant.size) waiting.push(`hj212 ${hj}/${hjWant.size}`);
      if (events < acked) waiting.push(`bike events ${events}/${acked}`);
      for (const e of EDGE_NAMES) if (rows[e] !== 0) waiting.push(`outbox ${e} ${rows[e]}`);
      if (spool !== 0) waiting.push(`spool ${spool}`);
      if (bikeWrong.length) waiting.push(`bike state ${bikeWrong.length} stations`);
      if (!waiting.length) { await sleep(3000); return { converged: true, waitingFor: [] }; }
      const fig = waiting.join('|');
      if (fig !== lastFig) { lastFig = fig; lastChange = Date.now(); }
      else if (Date.now() - lastChange > ctx.o.stallMs) return { converged: false, waitingFor: [...waiting, `no progress for ${ctx.o.stallMs / 1000} s`] };
    } catch (err) {
      waiting = [`error: ${(err as Error).message}`];
    }
  }
  return { converged: false, waitingFor: [...waiting, 'drain timeout'] };
}

// ───────────────────────────── checks ─────────────────────────────

interface RunInfo {
  runStart: number; started: number; schedule: FaultEvent[]; faults: Record<string, number>; faultLog: ChaosResult['faultLog'];
  outbox: ChaosResult['outbox']; maxRss: number; rssSeries: number[]; unexpected: Record<string, number[]>; fuzz: FuzzClient; drain: ChaosResult['drain'];
}

async function check(ctx: Ctx, run: RunInfo): Promise<ChaosResult> {
  const { o } = ctx;
  const L = await readLedgers(ctx);
  const s = await storeState(ctx);
  const details: Record<string, unknown> = {};
  const sources: Record<string, SourceFigures> = {};

  // air: exact keys (time) and values of the slice
  {
    const found = new Map<number, Record<string, unknown>>();
    let dupKeys = 0;
    for (const ser of s.airPts) for (const v of ser.values) {
      const t = v[0] as number;
      if (found.has(t)) dupKeys++;
      found.set(t, Object.fromEntries(ser.columns.map((c, i) => [c, v[i]])));
    }
    const want = new Map(L.air.map((a) => [a.ts, a]));
    const lostKeys = L.air.filter((a) => !found.has(a.ts)).map((a) => a.ts);
    const unexpectedKeys = [...found.keys()].filter((t) => !want.has(t));
    const wrong = L.air.filter((a) => found.has(a.ts) && Object.entries(a.fields).some(([k, v]) => found.get(a.ts)![k] !== v)).map((a) => a.ts);
    sources.air = { expected: L.air.length, found: found.size, lost: lostKeys.length, duplicated: dupKeys, unexpected: unexpectedKeys.length, wrongValue: wrong.length };
    details.air = { lost: lostKeys.slice(0, 20).map((t) => new Date(t).toISOString()), unexpected: unexpectedKeys.slice(0, 20), wrongValue: wrong.slice(0, 20) };
  }

  // hj212: one point per (station, factor, hour) of every acknowledged frame, with its value
  {
    const want = new Map<string, number>();
    for (const f of L.hjFrames) for (const fac of f.row.factors) want.set(hjKey(f.spec.mn, fac.code, f.row.time), Number(fac.fields.Avg));
    const found = new Map<string, number>();
    let dupKeys = 0;
    for (const ser of s.hjPts) for (const v of ser.values) {
      const k = hjKey(ser.tags!.station, ser.tags!.code, v[0] as number);
      if (found.has(k)) dupKeys++;
      found.set(k, v[1] as number);
    }
    const lostKeys = [...want.keys()].filter((k) => !found.has(k));
    const unexpectedKeys = [...found.keys()].filter((k) => !want.has(k));
    const wrong = [...want.entries()].filter(([k, v]) => found.has(k) && found.get(k) !== v).map(([k]) => k);
    const resends = L.hjFrames.filter((f) => f.attempts > 1).length;
    sources.hj212 = { expected: want.size, found: found.size, lost: lostKeys.length, duplicated: dupKeys, unexpected: unexpectedKeys.length, wrongValue: wrong.length, extra: { frames: L.hjFrames.length, framesSentMoreThanOnce: resends } };
    details.hj212 = { lost: lostKeys.slice(0, 20), unexpected: unexpectedKeys.slice(0, 20), wrongValue: wrong.slice(0, 20) };
  }

  // bike events: every acknowledged RELEASED/DOCKED exactly once
  {
    const key = (type: string, station: string, dock: number, ts: number) => `${type}|${station}|${dock}|${ts}`;
    const acked = new Map<string, DockLedgerLine>();
    const maybe = new Set<string>();
    for (const d of L.dock) {
      const k = key(d.type, d.station, d.dock, d.ts);
      if (d.t === 'acked') acked.set(k, d); else maybe.add(k);
    }
    const count = new Map<string, number>();
    for (const ev of s.events) {
      const k = key(ev.type, String(ev.data.station), Number(ev.data.dock), ev.ts);
      count.set(k, (count.get(k) ?? 0) + 1);
    }
    const lostKeys = [...acked.keys()].filter((k) => !count.has(k));
    const dupKeys = [...count.entries()].filter(([, n]) => n > 1);
    const unexpectedKeys = [...count.keys()].filter((k) => !acked.has(k) && !maybe.has(k));
    const maybePresent = [...maybe].filter((k) => count.has(k)).length;
    sources['bike-events'] = {
      expected: acked.size, found: s.events.length, lost: lostKeys.length, duplicated: dupKeys.reduce((a, [, n]) => a + n - 1, 0), unexpected: unexpectedKeys.length, wrongValue: 0,
      extra: { unackedSent: maybe.size, unackedPresent: maybePresent },
    };
    // where the lost ones sit in time, against the bike edge's faults
    const bikeFaults = run.faultLog.filter((f) => f.target === 'bikes' || f.target === 'cloud' || f.target === 'mosquitto');
    details['bike-events'] = {
      lost: lostKeys.slice(0, 30).map((k) => { const d = acked.get(k)!; return `${k} (+${((d.ts - run.runStart) / 1000).toFixed(1)} s)`; }),
      lostByFault: groupByFault(lostKeys.map((k) => (acked.get(k)!.ts - run.runStart) / 1000), bikeFaults),
      duplicated: dupKeys.slice(0, 20).map(([k, n]) => `${k} ×${n}`), unexpected: unexpectedKeys.slice(0, 20),
    };
  }

  // bike telemetry: the newest point of each station is its controller's true final state
  const latest = latestBike(s.bikePts);
  const bikeWrong = bikeStateWrong(L, latest);
  sources['bike-telemetry'] = {
    expected: Object.keys(L.finals).length, found: latest.size, lost: 0, duplicated: 0, unexpected: 0, wrongValue: bikeWrong.length,
    extra: { points: s.bikePointCount },
  };
  details['bike-telemetry'] = { wrongFinalState: bikeWrong.slice(0, 20) };

  // alerts: HJ 212 (episodes and final state from the rules over the acknowledged frames), bikes (final state from the final dock states)
  const envAlerts = await allAlerts(ctx, SITES.env);
  const bikeAlerts = await allAlerts(ctx, SITES.bikes);
  const expectedItems = expectedAlertItems(L.hjFrames.map((f) => ({ spec: f.spec, row: f.row })));
  const wantEp = episodesOf(expectedItems);
  const gotEp = new Map<string, AlertView[]>();
  for (const a of [...envAlerts].sort((x, y) => x.id - y.id)) { const k = `${a.rule}|${a.source}`; gotEp.set(k, [...(gotEp.get(k) ?? []), a]); }
  const finalOf = (eps: Episode[] | undefined) => (!eps?.length ? 'none' : eps[eps.length - 1].clearedTs === null ? 'open' : 'resolved');
  const finalGot = (as: AlertView[] | undefined) => (!as?.length ? 'none' : as[as.length - 1].state === 'resolved' ? 'resolved' : 'open');
  const stateWrong: string[] = [];
  const episodeWrong: string[] = [];
  for (const k of new Set([...wantEp.keys(), ...gotEp.keys()])) {
    const w = wantEp.get(k);
    const g = gotEp.get(k);
    if (finalOf(w) !== finalGot(g)) stateWrong.push(`${SITES.env} ${k}: want ${finalOf(w)} got ${finalGot(g)}`);
    const ws = (w ?? []).map((e) => `${e.firstTs}-${e.clearedTs ?? 'open'}`);
    const gs = (g ?? []).map((a) => `${a.firstTs}-${a.state === 'resolved' ? a.clearedTs ?? 'resolved' : 'open'}`);
    const missing = ws.filter((x) => !gs.includes(x));
    const extra = gs.filter((x) => !ws.includes(x));
    if (missing.length || extra.length) episodeWrong.push(`${k}: missing [${missing.map(fmtEp).join(', ')}] unexpected [${extra.map(fmtEp).join(', ')}]`);
  }
  const finalCounts = Object.fromEntries(Object.entries(L.finals).map(([st, states]) => [st, countsOf(states)]));
  const bikeLatest = new Map<string, AlertView>();
  for (const a of bikeAlerts) { const k = `${a.rule}|${a.source}`; const cur = bikeLatest.get(k); if (!cur || a.id > cur.id) bikeLatest.set(k, a); }
  const bikeKeys = new Set([...bikeLatest.keys()]);
  for (const st of Object.keys(finalCounts)) { bikeKeys.add(`bike.station_empty|${st}`); bikeKeys.add(`bike.station_full|${st}`); }
  for (const k of bikeKeys) {
    const [rule, source] = k.split('|');
    const c = finalCounts[source.split('/')[0]];
    const want = rule === 'bike.station_empty' ? (c?.num_bikes_available === 0 ? 'open' : 'not open')
      : rule === 'bike.station_full' ? (c && c.capacity > 0 && c.num_docks_available === 0 ? 'open' : 'not open') : 'not open';
    const a = bikeLatest.get(k);
    const got = a && a.state !== 'resolved' ? 'open' : 'not open';
    if (want !== got) stateWrong.push(`${SITES.bikes} ${k}: want ${want} got ${got}${a ? ` (alert ${a.id}, firstTs +${((a.firstTs - run.runStart) / 1000).toFixed(1)} s, raised ×${a.raiseCount})` : ''}`);
  }
  sources['hj212-alerts'] = {
    expected: [...wantEp.values()].reduce((a, e) => a + e.length, 0), found: envAlerts.length, lost: 0, duplicated: 0, unexpected: 0, wrongValue: 0,
    extra: { keys: wantEp.size, raisedItems: expectedItems.filter((i) => i.state === 'raise').length },
  };
  details.alerts = { stateWrong, episodeWrong: episodeWrong.slice(0, 30), bikeAlerts: bikeAlerts.length, bikeOpen: bikeAlerts.filter((a) => a.state !== 'resolved').length };

  // dead letters of the real sites
  const deadLetters = (await apiGet<{ counts: Record<string, number> }>(ctx, '/api/v1/dead-letters?limit=1')).counts;
  const deadBySite: Record<string, number> = {};
  for (const e of EDGE_NAMES) deadBySite[e] = (await apiGet<{ items: unknown[] }>(ctx, `/api/v1/dead-letters?site=${SITES[e]}&limit=1000`)).items.length;

  // transport: every row an edge deleted from its outbox (acknowledged) was admitted by the cloud
  for (const e of EDGE_NAMES) await ctx.edges[e].stop().catch(() => undefined);
  const transport: ChaosResult['transport'] = {};
  const inversions: string[] = [];
  const cloudDb = new Database(path.join(ctx.dir, 'cloud-data', 'cloud.db'), { readonly: true, fileMustExist: true });
  try {
    for (const e of EDGE_NAMES) {
      const ob = new Database(ctx.outboxFiles[e], { readonly: true, fileMustExist: true });
      try {
        const meta = (k: string) => (ob.prepare('SELECT v FROM meta WHERE k = ?').get(k) as { v: string } | undefined)?.v;
        const stream = meta('stream')!;
        const maxSeq = (ob.prepare('SELECT max(seq) AS m FROM outbox').get() as { m: number | null }).m ?? 0;
        const stamped = Math.max(Number(meta('next_seq') ?? 1) - 1, maxSeq);
        const remaining = new Set((ob.prepare('SELECT seq FROM outbox').all() as Array<{ seq: number }>).map((r) => r.seq));
        const evicted = (ob.prepare('SELECT coalesce(sum(rows), 0) AS n FROM evictions').get() as { n: number }).n;
        const ranges = cloudDb.prepare('SELECT lo, hi FROM ingest_seen WHERE site = ? AND stream = ? ORDER BY lo').all(SITES[e], stream) as Array<{ lo: number; hi: number }>;
        let admitted = 0;
        for (const r of ranges) admitted += r.hi - r.lo + 1;
        let notAdmitted = 0;
        let i = 0;
        for (let seq = 1; seq <= stamped; seq++) {
          if (remaining.has(seq)) continue;
          while (i < ranges.length && ranges[i].hi < seq) i++;
          if (!(i < ranges.length && ranges[i].lo <= seq)) notAdmitted++;
        }
        // evicted rows are not admitted either: what is left beyond them went missing between outbox and cloud
        transport[e] = { stamped, remaining: remaining.size, evicted, admitted, ackedNotAdmitted: Math.max(0, notAdmitted - evicted - deadBySite[e]), deadLettered: deadBySite[e] };
      } finally { ob.close(); }
    }
    // Alert items in the edge's own order: an item the edge produced after one the cloud applied
    // (higher seq, one outbox stream per site) must not be discarded as older (stale).
    const rows = cloudDb.prepare(`SELECT h.action AS action, e.site AS site, e.type AS rule, e.source AS source, json_extract(e.body, '$.seq') AS seq, e.ts AS ts
      FROM alert_history h JOIN events e ON e.id = h.item_id WHERE e.kind = 'alert' AND e.site IN (${EDGE_NAMES.map(() => '?').join(',')})`).all(...EDGE_NAMES.map((e) => SITES[e])) as Array<{ action: string; site: string; rule: string; source: string; seq: number; ts: number }>;
    const byKey = new Map<string, typeof rows>();
    for (const r of rows) { const k = `${r.site} ${r.rule}|${r.source}`; byKey.set(k, [...(byKey.get(k) ?? []), r]); }
    for (const [k, list] of byKey) {
      const applied = list.filter((r) => r.action === 'raise' || r.action === 'clear');
      for (const x of list.filter((r) => r.action.startsWith('stale-'))) {
        const y = applied.find((a) => a.seq < x.seq && a.ts > x.ts);
        if (y) inversions.push(`${k}: ${x.action.slice(6)} seq ${x.seq} (+${((x.ts - run.runStart) / 1000).toFixed(1)} s) discarded as older than ${y.action} seq ${y.seq} (+${((y.ts - run.runStart) / 1000).toFixed(1)} s)`);
      }
    }
  } finally { cloudDb.close(); }

  // ── invariants ──
  const lost = Object.values(sources).reduce((a, x) => a + x.lost, 0) + Object.values(transport).reduce((a, x) => a + x.ackedNotAdmitted + x.evicted, 0);
  const duplicated = Object.values(sources).reduce((a, x) => a + x.duplicated + x.unexpected, 0);
  const wrongValues = Object.values(sources).reduce((a, x) => a + x.wrongValue, 0);
  const crashes = [ctx.cloud, ctx.broker, ctx.influxProc, ...EDGE_NAMES.map((e) => ctx.edges[e]), ...ctx.sims].flatMap((m) => m?.crashes ?? []);
  const maxCloudRssMiB = Math.round(run.maxRss / 2 ** 20);
  const inv: Invariant[] = [
    { name: 'drained (no stall)', ok: run.drain.converged, detail: run.drain.converged ? `in ${(run.drain.ms / 1000).toFixed(0)} s` : run.drain.waitingFor.join('; ') },
    { name: '0 lost', ok: lost === 0, detail: fig(sources, 'lost') + ` transport(ackedNotAdmitted+evicted) ${Object.entries(transport).map(([k, t]) => `${k}:${t.ackedNotAdmitted}+${t.evicted}`).join(' ')}` },
    { name: '0 duplicated or unexpected', ok: duplicated === 0, detail: `${fig(sources, 'duplicated')} unexpected ${fig(sources, 'unexpected')}` },
    { name: 'values and final bike states right', ok: wrongValues === 0, detail: fig(sources, 'wrongValue') },
    { name: 'every alert in its right final state', ok: stateWrong.length === 0, detail: stateWrong.length ? stateWrong.slice(0, 8).join('; ') : `${envAlerts.length + bikeAlerts.length} alerts` },
    { name: "alert items applied in the edge's order", ok: inversions.length === 0, detail: inversions.length ? `${inversions.length} items discarded as stale though the edge produced them later: ${inversions.slice(0, 3).join('; ')}` : 'no later item discarded as stale' },
    { name: 'HJ 212 alert episodes as the rules give them', ok: episodeWrong.length === 0, detail: episodeWrong.length ? episodeWrong.slice(0, 5).join('; ') : `${sources['hj212-alerts'].expected} episodes` },
    { name: 'no real-site item dead-lettered', ok: Object.values(deadBySite).every((n) => n === 0), detail: JSON.stringify(deadBySite) },
    { name: 'outbox files under their caps', ok: Object.values(run.outbox).every((x) => x.overCapSamples === 0), detail: Object.entries(run.outbox).map(([k, x]) => `${k} max ${(x.maxBytes / 2 ** 20).toFixed(2)} MiB of ${(x.capBytes / 2 ** 20).toFixed(0)} MiB${x.overCapSamples ? ` (over in ${x.overCapSamples} samples)` : ''}`).join(', ') },
    { name: 'cloud RSS bounded', ok: maxCloudRssMiB <= o.maxCloudRssMiB, detail: `max ${maxCloudRssMiB} MiB (limit ${o.maxCloudRssMiB})` },
    { name: 'no process crashed', ok: crashes.length === 0, detail: crashes.map((c) => `${c.process} at +${(c.at / 1000).toFixed(0)} s code ${c.code} ${c.signal ?? ''}`).join('; ') || 'none' },
    { name: 'no edge connection dropped by the broker outside faults', ok: Object.keys(run.unexpected).length === 0, detail: JSON.stringify(run.unexpected) },
  ];
  const same = JSON.stringify([...o.faults].sort()) === JSON.stringify([...defaultKinds(o.broker)].sort());
  const reproduce = `npm run chaos -- --minutes ${o.minutes} --seed ${o.seed} --broker ${o.broker}${same ? '' : ` --faults ${o.faults.join(',')}`}${o.skip.length ? ` --skip ${o.skip.join(',')}` : ''} --fuzz-cases ${o.fuzzCases}`;
  const result: ChaosResult = {
    ok: inv.every((i) => i.ok), reproduce, seed: o.seed, broker: o.broker, minutes: o.minutes, dir: ctx.dir, durationMs: Date.now() - run.started,
    faults: run.faults, faultLog: run.faultLog, sources, lost, duplicated, alertStatesWrong: stateWrong.length, alertEpisodesWrong: episodeWrong.length,
    transport, outbox: run.outbox, maxCloudRssMiB, crashes, unexpectedBrokerCloses: run.unexpected, deadLetters, fuzz: run.fuzz.stats,
    drain: run.drain, invariants: inv, details, schedule: run.schedule,
  };
  result.details.staleInversions = inversions.slice(0, 50);
  fs.writeFileSync(path.join(ctx.dir, 'result.json'), JSON.stringify(result, null, 1));
  return result;
}

function fmtEp(s: string): string {
  const [a, b] = s.split('-');
  const f = (x: string) => (/^\d+$/.test(x) ? new Date(Number(x)).toISOString().slice(0, 13) : x);
  return `${f(a)}→${f(b)}`;
}

function fig(sources: Record<string, SourceFigures>, k: keyof SourceFigures): string {
  return Object.entries(sources).map(([n, s]) => `${n}:${s[k] as number}`).join(' ');
}

/**
 * Lost items by the fault that took them: the first fault that began at most 3 s after the
 * item's time (an item acknowledged but not yet stored dies with the process that held it),
 * else the fault whose window (plus 10 s) holds it.
 */
function groupByFault(times: number[], faultLog: ChaosResult['faultLog']): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of times) {
    const f = faultLog.find((x) => x.at >= t - 0.5 && x.at - t <= 3) ?? faultLog.find((x) => t >= x.at && t <= x.at + x.durationMs / 1000 + 10);
    const k = f ? `${f.kind} ${f.target} @${f.at}s` : 'outside faults';
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

// ───────────────────────────── report ─────────────────────────────

export function summary(r: ChaosResult): string {
  const lines: string[] = [];
  const pad = (s: string | number, n: number) => String(s).padEnd(n);
  lines.push(`chaos run — seed ${r.seed}, ${r.minutes} min, broker ${r.broker}, ${(r.durationMs / 1000).toFixed(0)} s wall`);
  lines.push('');
  lines.push(`${pad('fault', 16)}applied`);
  for (const [k, n] of Object.entries(r.faults).sort()) lines.push(`${pad(k, 16)}${n}`);
  lines.push('');
  lines.push(`${pad('source', 16)}${pad('expected', 10)}${pad('found', 10)}${pad('lost', 7)}${pad('dup', 7)}${pad('unexp', 7)}${pad('wrong', 7)}`);
  for (const [k, s] of Object.entries(r.sources)) lines.push(`${pad(k, 16)}${pad(s.expected, 10)}${pad(s.found, 10)}${pad(s.lost, 7)}${pad(s.duplicated, 7)}${pad(s.unexpected, 7)}${pad(s.wrongValue, 7)}`);
  lines.push('');
  lines.push(`${pad('edge', 8)}${pad('stamped', 10)}${pad('admitted', 10)}${pad('left', 7)}${pad('evicted', 9)}${pad('lost', 6)}${pad('max outbox', 13)}cap`);
  for (const e of Object.keys(r.transport)) {
    const t = r.transport[e];
    const ob = r.outbox[e];
    lines.push(`${pad(e, 8)}${pad(t.stamped, 10)}${pad(t.admitted, 10)}${pad(t.remaining, 7)}${pad(t.evicted, 9)}${pad(t.ackedNotAdmitted, 6)}${pad(`${(ob.maxBytes / 2 ** 20).toFixed(2)} MiB`, 13)}${(ob.capBytes / 2 ** 20).toFixed(0)} MiB`);
  }
  lines.push('');
  lines.push(`lost ${r.lost}, duplicated ${r.duplicated}, alert states wrong ${r.alertStatesWrong}, alert episodes wrong ${r.alertEpisodesWrong}, max cloud RSS ${r.maxCloudRssMiB} MiB`);
  const fz = r.fuzz as { cases: number; connects: number };
  lines.push(`fuzz: ${fz.cases} cases, ${fz.connects} connects; dead letters ${JSON.stringify(r.deadLetters)}`);
  lines.push('');
  for (const i of r.invariants) lines.push(`${i.ok ? 'ok  ' : 'FAIL'} ${i.name}: ${i.detail}`);
  lines.push('');
  lines.push(r.ok ? 'all invariants hold' : `INVARIANTS FAILED — reproduce: ${r.reproduce}`);
  return lines.join('\n');
}

/** The one JSON line the run ends with. */
export function jsonLine(r: ChaosResult): string {
  return JSON.stringify({
    chaos: 1, ok: r.ok, seed: r.seed, broker: r.broker, minutes: r.minutes, wallS: Math.round(r.durationMs / 1000),
    faults: r.faults, items: Object.fromEntries(Object.entries(r.sources).map(([k, s]) => [k, { expected: s.expected, found: s.found }])),
    lost: r.lost, duplicated: r.duplicated, alertStatesWrong: r.alertStatesWrong, alertEpisodesWrong: r.alertEpisodesWrong,
    maxOutboxBytes: Object.fromEntries(Object.entries(r.outbox).map(([k, x]) => [k, { max: x.maxBytes, cap: x.capBytes }])),
    maxCloudRssMiB: r.maxCloudRssMiB, crashes: r.crashes.length, fuzzCases: (r.fuzz as { cases: number }).cases,
    failed: r.invariants.filter((i) => !i.ok).map((i) => i.name),
  });
}

export { KNOWN_OPEN };
