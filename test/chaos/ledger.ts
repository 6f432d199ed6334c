/**
 * What the chaos run's sources produce, computed the same way by the device simulators (which
 * record what they got acknowledged) and by the harness (which knows the data): the air-replay
 * rows, the HJ 212 loggers' frames, the dock stations, the alert rules and their expected
 * outcome. Everything here is deterministic in (seed, options).
 */
import fs from 'node:fs';
import path from 'node:path';
import { airFields } from '../../edge/sources/air-replay.ts';
import { prsaCsvPath, prsaRows } from '../../lib/prsa-csv.ts';
import { rowToHour } from '../../firmware-bridge/hj212/replay.ts';
import type { FactorValues } from '../../firmware-bridge/hj212/simulator.ts';
import { buildCp, decodeFrame, encodeFrame, formatDataTime } from '../../lib/hj212/codec.ts';
import { buildFlag } from '../../lib/hj212/codes.ts';
import { frameValues } from '../../firmware-bridge/hj212/values.ts';
import { fromHj212 } from '../../firmware-bridge/hj212/to-readings.ts';
import { EnvPipeline, parsePipelineConfig } from '../../edge/env/pipeline.ts';
import type { AlertItem } from '../../protocol/schemas.ts';
import { rng } from '../../firmware-bridge/dock/simulator.ts';

export const SITES = { air: 'chaos-air', env: 'chaos-env', bikes: 'chaos-bikes', fuzz: 'chaos-fuzz' } as const;
export type EdgeName = 'air' | 'env' | 'bikes';
export const EDGE_NAMES: EdgeName[] = ['air', 'env', 'bikes'];

/** Deterministic PRNG: the dock simulator's (mulberry32), one implementation for the simulators and the schedule. */
export const prng = rng;

/** A seed for a named part, derived from the run seed, so parts do not share a stream. */
export function subSeed(seed: number, part: string): number {
  let h = seed >>> 0;
  for (let i = 0; i < part.length; i++) h = Math.imul(h ^ part.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export function appendJsonl(file: string, obj: unknown): void {
  fs.appendFileSync(file, JSON.stringify(obj) + '\n');
}

export function readJsonl<T>(file: string): T[] {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).flatMap((l) => {
    try { return [JSON.parse(l) as T]; } catch { return []; } // a line cut by a crash of the writer
  });
}

// ───────────────────────────── air replay ─────────────────────────────

/**
 * The air site replays a slice of the real Beijing CSV written into the run dir (header + rows
 * [startRow, startRow + rows)), so the rows it will emit are known exactly: one `air` point per
 * row that has at least one value, at the row's own (Beijing) hour (`time: original`).
 */
export function writeAirSlice(file: string, startRow: number, rows: number, src = prsaCsvPath()): void {
  const lines = fs.readFileSync(src, 'utf8').split('\n');
  const out = [lines[0], ...lines.slice(1 + startRow, 1 + startRow + rows).filter((l) => l.trim())];
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, out.join('\n') + '\n');
}

export interface AirExpected { ts: number; station: string; fields: Record<string, number> }

export async function airExpected(file: string): Promise<AirExpected[]> {
  const out: AirExpected[] = [];
  for await (const row of prsaRows(file)) {
    const fields = airFields(row);
    if (Object.keys(fields).length) out.push({ ts: row.ts, station: row.station, fields });
  }
  return out;
}

// ───────────────────────────── HJ 212 loggers ─────────────────────────────

export interface LoggerSpec {
  mn: string;
  password: string;
  revision: '2017' | '2025';
  st: string;
  /** First CSV row this logger replays. */
  skip: number;
  sm4Key?: string;
  /** Every `calibrationEvery` rows, `calibrationRows` rows carry PM2.5 flagged C (analyser in calibration). */
  calibrationEvery?: number;
  calibrationRows?: number;
}

/** Two ambient loggers on the same real station data, different years: 2017 plain, 2025 with SM4. */
export function loggerSpecs(seed: number): LoggerSpec[] {
  const r = prng(subSeed(seed, 'hj212-keys'));
  const hex = (n: number) => Array.from({ length: n }, () => Math.floor(r() * 16).toString(16)).join('');
  return [
    // 2013-03-05 00:00: PM2.5 > 150 for 3 h at 03-05 15:00, cleared 03-08 18:00 (edge/env README)
    { mn: 'AIR0001AOTIZHONGXIN2017', password: `pw-${hex(8)}`, revision: '2017', st: '22', skip: 4 * 24 },
    { mn: 'AIR0002AOTIZHONGXIN2025', password: `pw-${hex(8)}`, revision: '2025', st: '22', skip: 8760 + 4 * 24, sm4Key: hex(32), calibrationEvery: 61, calibrationRows: 3 },
  ];
}

/** The factors of one row as this logger sends them (the 2025 analyser is in calibration on some rows). */
export function loggerFactors(spec: LoggerSpec, rowIndex: number, factors: FactorValues[]): FactorValues[] {
  if (!spec.calibrationEvery) return factors;
  const k = (rowIndex - spec.skip) % spec.calibrationEvery;
  if (k < spec.calibrationEvery - (spec.calibrationRows ?? 0)) return factors;
  return factors.map((f) => (f.code === 'a34004' ? { ...f, fields: { ...f.fields, Flag: 'C' } } : f));
}

export interface HjRow { index: number; time: number; factors: FactorValues[] }

/** Rows [spec.skip, spec.skip + n) that have at least one factor, as the logger sends them. */
export async function loggerRows(spec: LoggerSpec, n: number, file = prsaCsvPath()): Promise<HjRow[]> {
  const out: HjRow[] = [];
  for await (const row of prsaRows(file, { skip: spec.skip, limit: n })) {
    const h = rowToHour(row);
    const factors = loggerFactors(spec, row.index, h.factors);
    if (factors.length) out.push({ index: row.index, time: h.time, factors });
  }
  return out;
}

/** Alert rules of the HJ 212 site: the demo's PM2.5 rules (real Beijing exceedances) and an analyser rule. */
export const HJ212_RULES = [
  { id: 'pm25-1h', kind: 'limit', match: { pollutant: 'PM2.5' }, limit: 150, clearAt: 115, consecutive: 3, clearConsecutive: 2, description: 'PM2.5 > 150 µg/m³ for 3 h (demo alert level)' },
  { id: 'pm25-24h', kind: 'limit', match: { pollutant: 'PM2.5' }, limit: 75, average: { windowMinutes: 1440, minSamples: 18 }, severity: 'warning', description: 'GB 3095-2012 grade II 24-h PM2.5 limit' },
  { id: 'so2-1h', kind: 'limit', match: { pollutant: 'SO2' }, limit: 100, clearAt: 80, consecutive: 2, clearConsecutive: 2, description: 'illustrative SO2 level' },
  { id: 'analyser', kind: 'instrument', match: {}, severity: 'warning' },
];

/** One ledger line of the HJ 212 logger process: a frame the edge acknowledged (9014). */
export interface HjAcked { t: 'acked'; mn: string; row: number; time: number; attempts: number }

/**
 * The alert items the edge's rules produce for these frames, each frame seen exactly once, in
 * the order each logger sent them: through the same decode → readings → pipeline chain as the
 * edge (encoded and decoded as a frame, rules from HJ212_RULES), with no restart and no re-send.
 */
export function expectedAlertItems(frames: Array<{ spec: LoggerSpec; row: HjRow }>): Array<Omit<AlertItem, 'id' | 'seq'>> {
  const pipeline = new EnvPipeline(parsePipelineConfig({ raw: false, aggregate: false, alerts: HJ212_RULES }));
  const out: Array<Omit<AlertItem, 'id' | 'seq'>> = [];
  for (const { spec, row } of frames) {
    const cp = buildCp({ DataTime: formatDataTime(row.time, 480) }, row.factors);
    const frame = decodeFrame(encodeFrame({ qn: '20000101000000000', st: spec.st, cn: '2061', pw: spec.password, mn: spec.mn, flag: buildFlag(spec.revision, { needsAck: true }), cp }));
    const readings = fromHj212(frameValues(frame, { offsetMinutes: 480 }));
    for (const it of pipeline.push(readings)) if (it.kind === 'alert') out.push(it as Omit<AlertItem, 'id' | 'seq'>);
  }
  return out;
}

// ───────────────────────────── bike docks ─────────────────────────────

export interface DockLedgerLine {
  t: 'acked' | 'unacked' | 'nak';
  type: 'bike.rental' | 'bike.return';
  station: string;
  dock: number;
  ts: number;
  seq: number;
  bike?: string;
}

export interface DockFinal { t: 'final'; states: Record<string, string> }

/** GBFS counts of a station from the controller's true dock letters (DOCK/1 §5.7). */
export function countsOf(states: string): { capacity: number; num_bikes_available: number; num_bikes_disabled: number; num_docks_available: number; num_docks_disabled: number } {
  const n = (cs: string) => [...states].filter((c) => cs.includes(c)).length;
  return { capacity: states.length, num_bikes_available: n('B'), num_bikes_disabled: n('df'), num_docks_available: n('E'), num_docks_disabled: n('DF') };
}

// ───────────────────────────── alert episodes ─────────────────────────────

export interface Episode { firstTs: number; clearedTs: number | null }

/** Raise/clear items → episodes per `rule|source` (a raise while open refreshes, a clear while closed is ignored). */
export function episodesOf(items: Array<{ rule: string; source: string; state: 'raise' | 'clear'; ts: number }>): Map<string, Episode[]> {
  const out = new Map<string, Episode[]>();
  for (const it of items) {
    const key = `${it.rule}|${it.source}`;
    const list = out.get(key) ?? [];
    out.set(key, list);
    const last = list[list.length - 1];
    if (it.state === 'raise') {
      if (!last || last.clearedTs !== null) list.push({ firstTs: it.ts, clearedTs: null });
    } else if (last && last.clearedTs === null) last.clearedTs = it.ts;
  }
  return out;
}
