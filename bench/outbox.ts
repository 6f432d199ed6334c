/**
 * Outbox benchmarks, side by side in one run:
 *   appends/s   — Outbox.append (stamp id + seq, validate, serialize, one transaction per
 *                 batch) against a raw better-sqlite3 batched insert of the same rows into
 *                 the same table shape with the same pragmas (the physical limit of SQLite here).
 *                 After a warm-up, ROUNDS (default 3) rounds alternate the two; the medians are
 *                 reported, so that a busy shared machine moves both sides alike.
 *                 BENCH_OUTBOX_BASELINE=<path to another outbox.ts> runs that implementation in
 *                 the same rounds (e.g. the previous commit's, `git show HEAD~1:edge/outbox/outbox.ts`).
 *   drain/live  — an edge that was offline holds a backlog; after reconnecting it sends live
 *                 data at the site's live rate and drains the backlog beside it. Drain rate
 *                 over live rate says how fast a day offline catches up (goal ≥ 5×).
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { Outbox } from '../edge/outbox/outbox.ts';
import type { NewItem } from '../protocol/schemas.ts';
import { edgeConfig, startCloud, startEdge } from '../test/harness.ts';
import { freePort, tempDir } from '../test/peers/ports.ts';

const ROWS = Number(process.env.BENCH_OUTBOX_ROWS ?? 200_000);
const ROUNDS = Number(process.env.BENCH_OUTBOX_ROUNDS ?? 3);
const BATCH = 100;
const T0 = 1_600_000_000_000;

function item(i: number): NewItem {
  return { kind: 'telemetry', ts: T0 + i, m: 'air', tags: { station: `s${i % 10}` }, fields: { pm25: i % 300, pm10: i % 500, no2: 41.5 } };
}

type OutboxClass = new (file: string, opts: { capBytes: number }) => { append(items: NewItem[]): unknown; close(): void };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function appendRates(): Promise<{ outbox: number; raw: number; baseline?: number }> {
  const dir = tempDir('bench-outbox-');
  const batches: NewItem[][] = [];
  for (let s = 0; s < ROWS; s += BATCH) batches.push(Array.from({ length: BATCH }, (_, k) => item(s + k)));
  // the same rows, pre-serialized, straight into the same table shape with the same pragmas
  const bodies = batches.map((b, bi) => b.map((it, k) => JSON.stringify({ id: '01890000-0000-7000-8000-000000000000', seq: bi * BATCH + k + 1, ...it })));
  const baselinePath = process.env.BENCH_OUTBOX_BASELINE;
  const Baseline = baselinePath ? (await import(pathToFileURL(path.resolve(baselinePath)).href)).Outbox as OutboxClass : undefined;
  let n = 0;
  const outboxRun = (O: OutboxClass, rows = ROWS) => {
    const outbox = new O(path.join(dir, `outbox-${n++}.db`), { capBytes: 8 * 1024 ** 3 });
    const t = performance.now();
    for (let i = 0; i < rows / BATCH; i++) outbox.append(batches[i]);
    const rate = rows / ((performance.now() - t) / 1000);
    outbox.close();
    return rate;
  };
  const rawRun = (rows = ROWS) => {
    const db = new Database(path.join(dir, `raw-${n++}.db`));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec('CREATE TABLE outbox (seq INTEGER PRIMARY KEY, prio INTEGER NOT NULL, channel TEXT NOT NULL, body TEXT NOT NULL, bytes INTEGER NOT NULL, created INTEGER NOT NULL); CREATE INDEX outbox_prio_seq ON outbox(prio, seq);');
    const ins = db.prepare('INSERT INTO outbox (seq, prio, channel, body, bytes, created) VALUES (?, ?, ?, ?, ?, ?)');
    const tx = db.transaction((rows: string[], base: number) => { for (let k = 0; k < rows.length; k++) ins.run(base + k + 1, 3, 'telemetry', rows[k], rows[k].length, Date.now()); });
    const t = performance.now();
    for (let bi = 0; bi < rows / BATCH; bi++) tx(bodies[bi], bi * BATCH);
    const rate = rows / ((performance.now() - t) / 1000);
    db.close();
    return rate;
  };
  // warm-up (JIT, page cache), then alternate
  outboxRun(Outbox, ROWS / 10);
  if (Baseline) outboxRun(Baseline, ROWS / 10);
  rawRun(ROWS / 10);
  const rates = { outbox: [] as number[], raw: [] as number[], baseline: [] as number[] };
  for (let r = 0; r < ROUNDS; r++) {
    rates.raw.push(rawRun());
    rates.outbox.push(outboxRun(Outbox));
    if (Baseline) rates.baseline.push(outboxRun(Baseline));
  }
  return { outbox: median(rates.outbox), raw: median(rates.raw), baseline: Baseline ? median(rates.baseline) : undefined };
}

async function drainVsLive(): Promise<{ live: number; drain: number; backlog: number; seconds: number }> {
  const BACKLOG = Math.min(ROWS, 100_000);
  const LIVE = 100; // readings/s of a busy site (cameras' stats, sensors, docks)
  const port = await freePort();
  const edge = await startEdge(edgeConfig({ site: 'bench-drain', password: 'bench-password-3', url: `mqtt://127.0.0.1:${port}`, outbox: { cap: '4GiB' } }));
  for (let s = 0; s < BACKLOG; s += 1000) edge.outbox.append(Array.from({ length: 1000 }, (_, k) => item(s + k)));
  const cloud = await startCloud({ broker: { port } });
  await cloud.ctx.devices.add('bench-drain', 'bench-password-3');
  while (!edge.uplink.stats().connected) await new Promise((r) => setTimeout(r, 5));
  const t = performance.now();
  let liveSent = 0;
  const timer = setInterval(() => { edge.emit(Array.from({ length: LIVE / 10 }, (_, k) => ({ ...item(k), ts: Date.now() }))); liveSent += LIVE / 10; }, 100);
  while (edge.uplink.stats().backlogItemsSent < BACKLOG || edge.outbox.size > LIVE) await new Promise((r) => setTimeout(r, 5));
  const seconds = (performance.now() - t) / 1000;
  clearInterval(timer);
  await edge.stop();
  await cloud.stop();
  return { live: liveSent / seconds, drain: BACKLOG / seconds, backlog: BACKLOG, seconds };
}

export async function run(): Promise<Record<string, unknown>> {
  const a = await appendRates();
  // BENCH_OUTBOX_ONLY=append: the append rates alone (for profiling); the JSON line then has no drain figures
  const d = process.env.BENCH_OUTBOX_ONLY === 'append' ? { live: NaN, drain: NaN, backlog: 0, seconds: NaN } : await drainVsLive();
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US').padStart(10);
  console.log(`outbox, ${ROWS.toLocaleString('en-US')} rows in batches of ${BATCH}, median of ${ROUNDS} alternating rounds`);
  console.log(`  raw better-sqlite3 batched insert      ${fmt(a.raw)} rows/s`);
  console.log(`  Outbox.append                          ${fmt(a.outbox)} rows/s   ${(a.outbox / a.raw).toFixed(2)}× raw`);
  if (a.baseline) console.log(`  baseline Outbox.append                 ${fmt(a.baseline)} rows/s   ${(a.baseline / a.raw).toFixed(2)}× raw (${process.env.BENCH_OUTBOX_BASELINE})`);
  console.log(`  backlog of ${d.backlog.toLocaleString('en-US')} drained in ${d.seconds.toFixed(1)} s beside live data at ${Math.round(d.live)}/s`);
  console.log(`  drain ${fmt(d.drain)} items/s = ${(d.drain / d.live).toFixed(0)}× the live rate (a day offline drains in ${(24 / (d.drain / d.live)).toFixed(2)} h)`);
  const result = {
    bench: 'outbox', rows: ROWS,
    append_rows_per_s: Math.round(a.outbox), raw_insert_rows_per_s: Math.round(a.raw), ratio_append_vs_raw: +(a.outbox / a.raw).toFixed(3),
    ...(a.baseline ? { baseline_append_rows_per_s: Math.round(a.baseline), baseline_ratio_append_vs_raw: +(a.baseline / a.raw).toFixed(3) } : {}),
    drain_items_per_s: Math.round(d.drain), live_items_per_s: Math.round(d.live), ratio_drain_vs_live: +(d.drain / d.live).toFixed(1),
  };
  console.log(JSON.stringify(result));
  return result;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await run();
