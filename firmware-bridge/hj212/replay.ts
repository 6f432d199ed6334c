import fs from 'node:fs';
import readline from 'node:readline';
import { dataFile } from '../../lib/data-dir.ts';
import type { FactorValues } from './client.ts';

/**
 * Replay helper: rows of the Beijing Multi-Site Air-Quality CSV (UCI 501, hourly,
 * Beijing local time) -> hourly data (CN 2061) of an ambient station (ST=22).
 * Units: the CSV has every pollutant in µg/m³ including CO, HJ 212 ambient frames
 * carry CO in mg/m³ (a21005), so CO is divided by 1000; PRES hPa -> kPa. A missing
 * value ("NA") omits that factor from the frame (nothing is invented).
 */
export interface HourRow {
  /** Epoch ms of the hour (Beijing time, UTC+8). */
  time: number;
  factors: FactorValues[];
}

const WD: Record<string, number> = { N: 0, NNE: 22.5, NE: 45, ENE: 67.5, E: 90, ESE: 112.5, SE: 135, SSE: 157.5, S: 180, SSW: 202.5, SW: 225, WSW: 247.5, W: 270, WNW: 292.5, NW: 315, NNW: 337.5 };

const COLUMNS: Array<[column: string, code: string, scale: number]> = [
  ['PM2.5', 'a34004', 1], ['PM10', 'a34002', 1], ['SO2', 'a21026', 1], ['NO2', 'a21004', 1],
  ['CO', 'a21005', 0.001], ['O3', 'a05024', 1], ['TEMP', 'a01001', 1], ['PRES', 'a01006', 0.1], ['WSPM', 'a01007', 1],
];

export function beijingCsvPath(): string {
  return dataFile('air_quality', 'PRSA_Data_Aotizhongxin_20130301-20170228.csv');
}

function round(v: number): string {
  return String(Math.round(v * 1000) / 1000);
}

export function rowToHour(header: string[], cells: string[]): HourRow | undefined {
  const get = (name: string) => cells[header.indexOf(name)]?.replace(/"/g, '');
  const y = Number(get('year')), m = Number(get('month')), d = Number(get('day')), h = Number(get('hour'));
  if (![y, m, d, h].every(Number.isFinite)) return undefined;
  const time = Date.UTC(y, m - 1, d, h) - 8 * 3600_000;
  const factors: FactorValues[] = [];
  for (const [col, code, scale] of COLUMNS) {
    const raw = get(col);
    if (raw === undefined || raw === 'NA' || raw === '') continue;
    const v = Number(raw);
    if (!Number.isFinite(v)) continue;
    factors.push({ code, fields: { Avg: round(v * scale), Flag: 'N' } });
  }
  const wd = get('wd');
  if (wd && wd in WD) factors.push({ code: 'a01008', fields: { Avg: WD[wd], Flag: 'N' } });
  return { time, factors };
}

/** Hourly rows from the CSV, starting at row `skip`, at most `limit`. */
export async function* beijingHours(opts: { file?: string; skip?: number; limit?: number } = {}): AsyncGenerator<HourRow> {
  const rl = readline.createInterface({ input: fs.createReadStream(opts.file ?? beijingCsvPath()), crlfDelay: Infinity });
  let header: string[] | undefined;
  let i = 0;
  let n = 0;
  for await (const line of rl) {
    if (!header) { header = line.split(',').map((s) => s.replace(/"/g, '')); continue; }
    if (i++ < (opts.skip ?? 0)) continue;
    const row = rowToHour(header, line.split(','));
    if (!row) continue;
    yield row;
    if (++n >= (opts.limit ?? Infinity)) break;
  }
  rl.close();
}
