import { prsaRows, type PrsaRow } from '../../lib/prsa-csv.ts';
import type { FactorValues } from './simulator.ts';

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

function round(v: number): string {
  return String(Math.round(v * 1000) / 1000);
}

/** One row of the data set as the factors of an hourly (CN 2061) frame. */
export function rowToHour(row: PrsaRow): HourRow {
  const factors: FactorValues[] = [];
  for (const [col, code, scale] of COLUMNS) {
    const v = row.values[col];
    if (v !== undefined) factors.push({ code, fields: { Avg: round(v * scale), Flag: 'N' } });
  }
  const wd = row.text.wd;
  if (wd && wd in WD) factors.push({ code: 'a01008', fields: { Avg: WD[wd], Flag: 'N' } });
  return { time: row.ts, factors };
}

/** Hourly rows from the CSV, starting at row `skip`, at most `limit`. */
export async function* beijingHours(opts: { file?: string; skip?: number; limit?: number } = {}): AsyncGenerator<HourRow> {
  for await (const row of prsaRows(opts.file, opts)) yield rowToHour(row);
}
