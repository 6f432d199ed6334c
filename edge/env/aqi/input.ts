import { CodedError } from '../../../lib/errors.ts';
import { computeAqi, type AqiInput, type AqiResult } from './aqi.ts';
import type { StandardId } from './tables.ts';

/**
 * Row input for `cityedge aqi`:
 *  - CSV with a header naming each pollutant column with its unit and averaging period:
 *      time,PM2.5[ug/m3;24h],PM10[ug/m3;24h],CO[mg/m3;1h],O3[ug/m3;8h]
 *    `time` is optional (ISO 8601; without an offset it is read as China time, UTC+8;
 *    or epoch ms). Empty and NA cells are skipped.
 *  - JSON lines: {"time": "2026-03-05T10:00:00+08:00", "readings": [{"pollutant": "PM2.5",
 *    "averaging": "24h", "value": 80, "unit": "ug/m3"}], "standard"?: "HJ633-2012"}
 * Each row yields a result or a coded error; a bad row never stops the others.
 */
export interface RowOutput {
  row: number;
  time?: string;
  result?: AqiResult;
  error?: { code: string; message: string };
}

interface Column { index: number; pollutant: string; unit: string; averaging: string }

const HEADER_RE = /^\s*([^[\]]+?)\s*\[\s*([^;\]]+?)\s*;\s*([^\]]+?)\s*\]\s*$/;

export function parseCsvHeader(line: string): { timeIndex: number; columns: Column[] } {
  const cells = line.split(',');
  let timeIndex = -1;
  const columns: Column[] = [];
  cells.forEach((cell, index) => {
    const c = cell.trim();
    if (/^time$/i.test(c)) { timeIndex = index; return; }
    const m = HEADER_RE.exec(c);
    if (!m) throw new CodedError('AQI_BAD_HEADER', `CSV header column ${JSON.stringify(c)} is not "time" or NAME[unit;averaging], e.g. PM2.5[ug/m3;24h]`, { column: c });
    columns.push({ index, pollutant: m[1], unit: m[2], averaging: m[3] });
  });
  if (!columns.length) throw new CodedError('AQI_BAD_HEADER', 'CSV header names no pollutant column');
  return { timeIndex, columns };
}

export function parseTime(s: string): number {
  const t = s.trim();
  if (/^\d{12,}$/.test(t)) return Number(t);
  const iso = /[zZ]|[+-]\d{2}:?\d{2}$/.test(t) ? t : `${t.replace(' ', 'T')}+08:00`;
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) throw new CodedError('AQI_BAD_TIME', `time ${JSON.stringify(s)} is not ISO 8601 or epoch ms`, { time: s });
  return ms;
}

function evaluate(row: number, inputs: AqiInput[], time: string | undefined, standard: StandardId | 'auto'): RowOutput {
  const out: RowOutput = { row };
  if (time !== undefined) out.time = time;
  try {
    out.result = computeAqi(inputs, { standard, ...(time !== undefined ? { time: parseTime(time) } : {}) });
  } catch (err) {
    if (!(err instanceof CodedError)) throw err;
    out.error = { code: err.code, message: err.message };
  }
  return out;
}

/** Evaluate all rows of a CSV or JSON-lines text. */
export function evaluateText(text: string, standard: StandardId | 'auto' = 'auto'): RowOutput[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (!lines.length) return [];
  const outs: RowOutput[] = [];
  if (lines[0].trimStart().startsWith('{')) {
    lines.forEach((line, i) => {
      let obj: any;
      try { obj = JSON.parse(line); } catch { outs.push({ row: i + 1, error: { code: 'AQI_BAD_JSON', message: `line ${i + 1} is not JSON` } }); return; }
      if (!obj || !Array.isArray(obj.readings)) { outs.push({ row: i + 1, error: { code: 'AQI_BAD_JSON', message: 'expected {"readings": [{pollutant, averaging, value, unit}], "time"?}' } }); return; }
      const inputs: AqiInput[] = obj.readings.map((r: any) => ({ pollutant: String(r?.pollutant ?? ''), averaging: String(r?.averaging ?? ''), value: typeof r?.value === 'number' ? r.value : Number.NaN, unit: String(r?.unit ?? '') }));
      outs.push(evaluate(i + 1, inputs, obj.time === undefined ? undefined : String(obj.time), obj.standard ?? standard));
    });
    return outs;
  }
  let header: ReturnType<typeof parseCsvHeader>;
  try {
    header = parseCsvHeader(lines[0]);
  } catch (err) {
    if (!(err instanceof CodedError)) throw err;
    return [{ row: 0, error: { code: err.code, message: err.message } }];
  }
  lines.slice(1).forEach((line, i) => {
    const cells = line.split(',');
    const inputs: AqiInput[] = [];
    for (const c of header.columns) {
      const raw = (cells[c.index] ?? '').trim();
      if (raw === '' || /^na$/i.test(raw)) continue;
      inputs.push({ pollutant: c.pollutant, averaging: c.averaging, unit: c.unit, value: /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(raw) ? Number(raw) : Number.NaN });
    }
    const time = header.timeIndex >= 0 ? cells[header.timeIndex]?.trim() : undefined;
    outs.push(evaluate(i + 1, inputs, time || undefined, standard));
  });
  return outs;
}
