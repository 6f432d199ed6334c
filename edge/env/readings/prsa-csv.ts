import fs from 'node:fs';
import { CodedError } from '../../../lib/errors.ts';
import type { Reading } from './reading.ts';

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

export interface PrsaOptions {
  /** Inclusive start / exclusive end, epoch ms. */
  from?: number;
  to?: number;
  pollutants?: readonly string[];
  source?: string;
}

export function readPrsaCsv(file: string, opts: PrsaOptions = {}): Reading[] {
  const lines = fs.readFileSync(file, 'utf8').split(/\r?\n/);
  const header = lines[0].split(',').map((h) => h.replace(/"/g, ''));
  const col = (name: string) => {
    const i = header.indexOf(name);
    if (i < 0) throw new CodedError('PRSA_BAD_HEADER', `${file}: no column "${name}" in the header`);
    return i;
  };
  const [iy, im, id, ih, ist] = ['year', 'month', 'day', 'hour', 'station'].map(col);
  const wanted = (opts.pollutants ?? PRSA_POLLUTANTS).map((p) => [p, col(p)] as const);
  const out: Reading[] = [];
  for (let n = 1; n < lines.length; n++) {
    const line = lines[n];
    if (!line) continue;
    const c = line.split(',');
    const t = beijingTime(+c[iy], +c[im], +c[id], +c[ih]);
    if (opts.from !== undefined && t < opts.from) continue;
    if (opts.to !== undefined && t >= opts.to) break;
    const station = c[ist].replace(/"/g, '');
    for (const [p, i] of wanted) {
      if (c[i] === 'NA' || c[i] === '') continue;
      out.push({ station, pollutant: p, value: Number(c[i]), unit: 'ug/m3', observedAt: t, flag: 'N', source: opts.source ?? 'prsa-csv' });
    }
  }
  return out;
}
