import { CodedError } from '../../../lib/errors.ts';
import { EPA_2024, EPA_CATEGORIES, HJ_CATEGORIES, HJ_IAQI, HJ_TABLES, MOLAR_MASS, POLLUTANTS, type Averaging, type Pollutant, type StandardId } from './tables.ts';

/**
 * Air quality index: Chinese AQI per HJ 633 (2012 or 2026 tables) or the US EPA AQI.
 *
 * HJ 633-2012 §4 (and unchanged in 2026): IAQI_P = (IAQI_Hi − IAQI_Lo)/(BP_Hi − BP_Lo)·(C_P − BP_Lo) + IAQI_Lo;
 * AQI = max(IAQI_P); results are rounded *up* to integers ("全部进位取整数"); the primary
 * pollutant(s) are those whose IAQI equals the AQI, only when AQI > 50; exceeding
 * pollutants are those with IAQI > 100. Special rules (Table 1 notes 2 and 3): a
 * 1-hour SO2 above 800 µg/m³ takes the 24-hour SO2 IAQI, an 8-hour O3 above 800 µg/m³
 * takes the 1-hour O3 IAQI. When that substitute value is not among the inputs, the
 * IAQI falls back to the top of the column (200 for SO2 1 h, 300 for O3 8 h) and the
 * entry is marked `fallback: true`. Concentrations beyond the last breakpoint get IAQI
 * 500 and `beyondTable: true`.
 */
export const AQI_ERRORS = {
  UNKNOWN_POLLUTANT: 'AQI_UNKNOWN_POLLUTANT',
  BAD_VALUE: 'AQI_BAD_VALUE', // NaN, infinite, negative
  UNIT_MISMATCH: 'AQI_UNIT_MISMATCH',
  BAD_AVERAGING: 'AQI_BAD_AVERAGING',
  UNKNOWN_STANDARD: 'AQI_UNKNOWN_STANDARD',
  NO_INPUT: 'AQI_NO_INPUT',
} as const;

export interface AqiInput {
  pollutant: string;
  averaging: string;
  value: number;
  unit: string;
}

export interface IaqiEntry {
  pollutant: Pollutant;
  averaging: Averaging;
  value: number;
  unit: string;
  iaqi: number;
  beyondTable?: boolean;
  fallback?: boolean;
  note?: string;
}

export interface AqiResult {
  standard: StandardId;
  aqi: number;
  level: number;
  category: string;
  categoryZh?: string;
  color: string;
  primary: Pollutant[];
  exceeding: Pollutant[];
  iaqi: IaqiEntry[];
}

export interface AqiOptions {
  /** A standard id, or 'auto' (default): the HJ 633 revision in force at `time`. */
  standard?: StandardId | 'auto';
  /** Observation time (epoch ms) used by 'auto'; default now. */
  time?: number;
}

const POLLUTANT_ALIASES: Record<string, Pollutant> = {
  'PM2.5': 'PM2.5', PM25: 'PM2.5', PM2_5: 'PM2.5', 'PM10': 'PM10', SO2: 'SO2', NO2: 'NO2', CO: 'CO', O3: 'O3',
  A34004: 'PM2.5', A34002: 'PM10', A21026: 'SO2', A21004: 'NO2', A21005: 'CO', A05024: 'O3',
};

export function normalisePollutant(p: string): Pollutant {
  const key = String(p).trim().toUpperCase().replace(/₂/g, '2').replace(/₃/g, '3').replace(/Μ/g, 'U');
  const found = POLLUTANT_ALIASES[key];
  if (!found) throw new CodedError(AQI_ERRORS.UNKNOWN_POLLUTANT, `unknown pollutant ${JSON.stringify(p)}; expected one of ${POLLUTANTS.join(', ')}`, { pollutant: p });
  return found;
}

export function normaliseUnit(u: string): string {
  return String(u).trim().toLowerCase().replace(/µ|μ/g, 'u').replace(/³/g, '3').replace(/\s+/g, '').replace('/m^3', '/m3');
}

export function normaliseAveraging(a: string): Averaging {
  const s = String(a).trim().toLowerCase().replace(/hours?|hr/, 'h');
  if (s === '1h' || s === '8h' || s === '24h') return s;
  if (s === '1d' || s === 'day' || s === 'daily') return '24h';
  throw new CodedError(AQI_ERRORS.BAD_AVERAGING, `unknown averaging period ${JSON.stringify(a)}; use 1h, 8h or 24h`, { averaging: a });
}

/** The HJ 633 revision in force at `time` (2026 tables from 2026-03-01 00:00 China time). */
export function standardInForce(time: number): 'HJ633-2012' | 'HJ633-2026' {
  return time >= HJ_TABLES['HJ633-2026'].effectiveFrom ? 'HJ633-2026' : 'HJ633-2012';
}

/** Convert a mass concentration or a mixing ratio to `target` (mass units exactly; ppm/ppb at 25 °C). */
function convert(value: number, from: string, target: string, p: Pollutant): number {
  const f = normaliseUnit(from);
  if (f === target) return value;
  const mass: Record<string, number> = { 'ug/m3': 1, 'mg/m3': 1000 };
  const mix: Record<string, number> = { ppb: 1, ppm: 1000 };
  if (f in mass && target in mass) return (value * mass[f]) / mass[target];
  if (f in mix && target in mix) return (value * mix[f]) / mix[target];
  const mw = MOLAR_MASS[p];
  if (mw && f in mix && target in mass) return (value * mix[f] * mw) / 24.45 / mass[target]; // ppb -> µg/m³
  if (mw && f in mass && target in mix) return ((value * mass[f] * 24.45) / mw) / mix[target];
  throw new CodedError(AQI_ERRORS.UNIT_MISMATCH, `${p} given in ${JSON.stringify(from)} cannot be converted to ${target}`, { pollutant: p, unit: from, expected: target });
}

function validate(inp: AqiInput): { p: Pollutant; a: Averaging } {
  const p = normalisePollutant(inp.pollutant);
  const a = normaliseAveraging(inp.averaging);
  if (typeof inp.value !== 'number' || !Number.isFinite(inp.value) || inp.value < 0) {
    throw new CodedError(AQI_ERRORS.BAD_VALUE, `${p} ${a}: concentration must be a finite number >= 0 (got ${String(inp.value)})`, { pollutant: p, value: String(inp.value) });
  }
  return { p, a };
}

const ceil = (x: number) => Math.ceil(x - 1e-9) + 0; // +0 turns -0 into 0

function hjIaqi(bp: number[], c: number): { iaqi: number; beyond: boolean } {
  for (let i = 1; i < bp.length; i++) {
    if (c <= bp[i]) return { iaqi: ceil(((HJ_IAQI[i] - HJ_IAQI[i - 1]) / (bp[i] - bp[i - 1])) * (c - bp[i - 1]) + HJ_IAQI[i - 1]), beyond: false };
  }
  return { iaqi: HJ_IAQI[bp.length - 1] === 500 ? 500 : HJ_IAQI[bp.length - 1], beyond: true };
}

function computeHj(id: 'HJ633-2012' | 'HJ633-2026', inputs: AqiInput[]): IaqiEntry[] {
  const table = HJ_TABLES[id];
  const parsed = inputs.map((inp) => {
    const { p, a } = validate(inp);
    const unit = table.units[p];
    return { p, a, c: convert(inp.value, inp.unit, unit, p), unit, raw: inp };
  });
  const iaqiOf = (p: Pollutant, a: Averaging): number | undefined => {
    const x = parsed.find((e) => e.p === p && e.a === a);
    if (!x) return undefined;
    const col = table.columns[`${p}/${a === '1h' && (p === 'PM2.5' || p === 'PM10') ? '24h' : a}`];
    return col ? hjIaqi(col, x.c).iaqi : undefined;
  };
  return parsed.map(({ p, a, c, unit }) => {
    const pm = p === 'PM2.5' || p === 'PM10';
    const col = table.columns[`${p}/${pm && a === '1h' ? '24h' : a}`];
    if (!col) throw new CodedError(AQI_ERRORS.BAD_AVERAGING, `${id} has no ${a} breakpoints for ${p}`, { pollutant: p, averaging: a });
    const e: IaqiEntry = { pollutant: p, averaging: a, value: c, unit, iaqi: 0 };
    if (p === 'SO2' && a === '1h' && c > 800) {
      const sub = iaqiOf('SO2', '24h');
      if (sub !== undefined) { e.iaqi = sub; e.note = '1-hour SO2 > 800 µg/m³: reported with the 24-hour SO2 IAQI (HJ 633 Table 1 note 2)'; }
      else { e.iaqi = 200; e.fallback = true; e.note = '1-hour SO2 > 800 µg/m³ and no 24-hour SO2 given: top of the 1-hour column (200)'; }
      return e;
    }
    if (p === 'O3' && a === '8h' && c > 800) {
      const sub = iaqiOf('O3', '1h');
      if (sub !== undefined) { e.iaqi = sub; e.note = '8-hour O3 > 800 µg/m³: reported with the 1-hour O3 IAQI (HJ 633 Table 1 note 3)'; }
      else { e.iaqi = 300; e.fallback = true; e.note = '8-hour O3 > 800 µg/m³ and no 1-hour O3 given: top of the 8-hour column (300)'; }
      return e;
    }
    const r = hjIaqi(col, c);
    e.iaqi = r.iaqi;
    if (r.beyond) e.beyondTable = true;
    if (pm && a === '1h') e.note = '1-hour PM against the 24-hour column (HJ 633 real-time report)';
    return e;
  });
}

function truncate(x: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.floor(x * f + 1e-9) / f;
}

function computeEpa(inputs: AqiInput[]): IaqiEntry[] {
  return inputs.map((inp) => {
    const { p, a } = validate(inp);
    let key = `${p}/${a}` as const;
    let col = EPA_2024[key];
    if (!col) throw new CodedError(AQI_ERRORS.BAD_AVERAGING, `US EPA AQI has no ${a} breakpoints for ${p}`, { pollutant: p, averaging: a });
    const c = truncate(convert(inp.value, inp.unit, col.unit, p), col.decimals);
    const e: IaqiEntry = { pollutant: p, averaging: a, value: c, unit: col.unit, iaqi: 0 };
    // EPA rules: SO2 1-h >= 305 ppb uses the 24-h rows; O3 1-h below 0.125 ppm has no index (use 8-h).
    if (key === 'SO2/1h' && c >= 305) { key = 'SO2/24h'; col = EPA_2024[key]!; e.note = '1-hour SO2 >= 305 ppb: 24-hour rows (EPA TAD)'; }
    const row = col.rows.find(([lo, hi]) => c >= lo && c <= hi);
    if (!row) {
      const last = col.rows[col.rows.length - 1];
      if (c > last[1]) { e.iaqi = 500; e.beyondTable = true; return e; }
      e.iaqi = 0; e.note = 'below the lowest breakpoint of this averaging period (e.g. 1-hour O3 < 0.125 ppm): use the 8-hour value';
      return e;
    }
    e.iaqi = Math.round(((row[3] - row[2]) / (row[1] - row[0])) * (c - row[0]) + row[2]);
    return e;
  });
}

export function computeAqi(inputs: AqiInput[], opts: AqiOptions = {}): AqiResult {
  if (!inputs.length) throw new CodedError(AQI_ERRORS.NO_INPUT, 'no pollutant concentrations given');
  const requested = opts.standard ?? 'auto';
  if (requested !== 'auto' && requested !== 'US-EPA-2024' && !(requested in HJ_TABLES)) {
    throw new CodedError(AQI_ERRORS.UNKNOWN_STANDARD, `unknown standard ${JSON.stringify(requested)}; use auto, HJ633-2012, HJ633-2026 or US-EPA-2024`);
  }
  const standard: StandardId = requested === 'auto' ? standardInForce(opts.time ?? Date.now()) : requested;
  const iaqi = standard === 'US-EPA-2024' ? computeEpa(inputs) : computeHj(standard, inputs);
  const aqi = Math.max(...iaqi.map((e) => e.iaqi));
  const cats = standard === 'US-EPA-2024' ? EPA_CATEGORIES : HJ_CATEGORIES;
  const cat = cats.find((c) => aqi <= c.max)!;
  const byPollutant = new Map<Pollutant, number>();
  for (const e of iaqi) byPollutant.set(e.pollutant, Math.max(byPollutant.get(e.pollutant) ?? 0, e.iaqi));
  const primary = aqi > 50 ? [...byPollutant].filter(([, v]) => v === aqi).map(([p]) => p) : [];
  const exceeding = [...byPollutant].filter(([, v]) => v > 100).map(([p]) => p);
  const res: AqiResult = { standard, aqi, level: cat.level, category: cat.en, color: cat.color, primary, exceeding, iaqi };
  if ('zh' in cat) res.categoryZh = cat.zh as string;
  return res;
}
