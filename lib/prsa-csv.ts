import fs from 'node:fs';
import readline from 'node:readline';
import { dataFile } from './data-dir.ts';
import { CodedError } from './errors.ts';
import type { Reading } from './contract/reading.ts';

/**
 * Reader for the Beijing Multi-Site Air-Quality CSV (PRSA_Data_<station>_*.csv): hourly rows
 * `No,year,month,day,hour,PM2.5,PM10,SO2,NO2,CO,O3,TEMP,...,station`, times in Beijing time
 * (UTC+8), concentrations in µg/m³, `NA` = missing (no reading is produced for a missing value).
 */
export const PRSA_POLLUTANTS = ['PM2.5', 'PM10', 'SO2', 'NO2', 'CO', 'O3'] as const;
const BEIJING_OFFSET_MS = 8 * 3_600_000;

/** Epoch ms of a Beijing-local wall time. */
export function beijingTime(y: number, mo: number, d: number, h = 0): number {
  return Date.UTC(y, mo - 1, d, h) - BEIJING_OFFSET_MS;
}

/** The station file the demo, tests and benches replay (CITYEDGE_DATA/air_quality/…). */
export function prsaCsvPath(): string {
  return dataFile('air_quality', 'PRSA_Data_Aotizhongxin_20130301-20170228.csv');
}

/** One parsed row: Beijing-local hour as epoch ms, station, numeric columns (NA omitted), text columns (e.g. wd). */
export interface PrsaRow {
  index: number;
  ts: number;
  station: string;
  values: Record<string, number>;
  text: Record<string, string>;
}

const TIME_COLUMNS = new Set(['No', 'year', 'month', 'day', 'hour', 'station']);

export function parsePrsaHeader(line: string): string[] {
  return line.split(',').map((h) => h.replace(/"/g, ''));
}

/** Parse one data line; undefined for a line that is not a row of the data set. */
export function parsePrsaRow(header: string[], line: string, index: number): PrsaRow | undefined {
  const cells = line.split(',');
  if (cells.length !== header.length) return undefined;
  const row: PrsaRow = { index, ts: 0, station: '', values: {}, text: {} };
  let y = NaN, mo = NaN, d = NaN, h = NaN;
  for (let i = 0; i < header.length; i++) {
    const name = header[i];
    const raw = cells[i].replace(/"/g, '');
    if (name === 'year') y = Number(raw);
    else if (name === 'month') mo = Number(raw);
    else if (name === 'day') d = Number(raw);
    else if (name === 'hour') h = Number(raw);
    else if (name === 'station') row.station = raw;
    else if (!TIME_COLUMNS.has(name) && raw !== 'NA' && raw !== '') {
      const v = Number(raw);
      if (Number.isFinite(v)) row.values[name] = v;
      else row.text[name] = raw;
    }
  }
  if (![y, mo, d, h].every(Number.isFinite)) return undefined;
  row.ts = beijingTime(y, mo, d, h);
  return row;
}

/** Stream the rows of a PRSA CSV from row `skip` (0-based), at most `limit`. */
export async function* prsaRows(file: string = prsaCsvPath(), opts: { skip?: number; limit?: number } = {}): AsyncGenerator<PrsaRow> {
  const rl = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
  let header: string[] | undefined;
  let index = -1;
  let n = 0;
  try {
    for await (const line of rl) {
      if (!header) { header = parsePrsaHeader(line); continue; }
      index++;
      if (index < (opts.skip ?? 0)) continue;
      const row = parsePrsaRow(header, line, index);
      if (!row) continue;
      yield row;
      if (++n >= (opts.limit ?? Infinity)) break;
    }
  } finally {
    rl.close();
  }
}

export interface PrsaOptions {
  /** Inclusive start / exclusive end, epoch ms. */
  from?: number;
  to?: number;
  pollutants?: readonly string[];
  source?: string;
}

export function readPrsaCsv(file: string, opts: PrsaOptions = {}): Reading[] {
  const lines = fs.readFileSync(file, 'utf8').split(/\r?\n/);
  const header = parsePrsaHeader(lines[0]);
  for (const name of ['year', 'month', 'day', 'hour', 'station', ...(opts.pollutants ?? PRSA_POLLUTANTS)]) {
    if (!header.includes(name)) throw new CodedError('PRSA_BAD_HEADER', `${file}: no column "${name}" in the header`);
  }
  const wanted = opts.pollutants ?? PRSA_POLLUTANTS;
  const out: Reading[] = [];
  for (let n = 1; n < lines.length; n++) {
    if (!lines[n]) continue;
    const row = parsePrsaRow(header, lines[n], n - 1);
    if (!row) continue;
    if (opts.from !== undefined && row.ts < opts.from) continue;
    if (opts.to !== undefined && row.ts >= opts.to) break;
    for (const p of wanted) {
      const v = row.values[p];
      if (v !== undefined) out.push({ station: row.station, pollutant: p, value: v, unit: 'ug/m3', observedAt: row.ts, flag: 'N', source: opts.source ?? 'prsa-csv' });
    }
  }
  return out;
}
