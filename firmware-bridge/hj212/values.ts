import { CodedError } from '../../lib/errors.ts';
import { type Hj212Frame, parseDataTime } from './codec.ts';
import { DATA_FLAGS, HJ212_ERRORS } from './codes.ts';
import { classifyFrame } from './classify.ts';
import { factorInfo } from './factors.ts';

/**
 * Normalised values from a decoded **data** frame (CN 2011 real-time, 2051 minute, 2061 hourly,
 * 2031 daily; classified by `classifyFrame`, so a request such as CN 2011 with an empty CP or
 * CN 2061 with BeginTime/EndTime yields nothing instead of being refused). Per factor:
 *  - one value per statistic `Rtd|Avg|Min|Max|Cou` (statistic rtd/avg/min/max/cou);
 *  - one value per converted concentration the logger sent, `ZsRtd|ZsAvg|ZsMin|ZsMax`
 *    (HJ 212-2017 CP field table "折算…"; statistic rtd/avg/min/max, `basis: 'converted'`,
 *    `zsSource: 'logger'`);
 *  - one value per other named numeric field (statistic `named`, `field` = its standard name:
 *    electric-quantity factors send `Ia`, `Ua`, `Pt`… on one code), so none is lost;
 *  - non-numeric extra fields (SampleTime, EFlag, …) in `extra`.
 * The instrument flag (`<code>-Flag`, N/F/M/S/D/C/T/B) is copied onto every value of that factor
 * and never dropped — an unknown flag letter passes through with `flagKnown: false`. A raw value
 * outside the factor's plausible range is kept and marked `qc: 'out_of_range'`; a non-numeric
 * statistic is kept with `value: null` and `qc: 'not_numeric'`. A factor with only a Flag still
 * reports its status (one value, null).
 */
export type Statistic = 'rtd' | 'avg' | 'min' | 'max' | 'cou';
const STAT_KEYS: Record<string, Statistic> = { Rtd: 'rtd', Avg: 'avg', Min: 'min', Max: 'max', Cou: 'cou' };
const ZS_KEYS: Record<string, Statistic> = { ZsRtd: 'rtd', ZsAvg: 'avg', ZsMin: 'min', ZsMax: 'max' };
/** Per-factor fields that are not measurements (kept as text in `extra`). */
const NOT_MEASURED = new Set(['Flag', 'EFlag', 'SampleTime', 'DataTime']);
/** Names a telemetry item already uses for its own fields (a named field may not take them). */
export const RESERVED_FIELDS = new Set(['rtd', 'avg', 'min', 'max', 'cou', 'zsRtd', 'zsAvg', 'zsMin', 'zsMax', 'o2', 'zsSource', 'flag', 'unit', 'qc', 'resent']);
const FIELD_NAME = /^[A-Za-z][A-Za-z0-9_]{0,47}$/;

export interface FactorValue {
  station: string;
  /** Canonical pollutant name (PM2.5, SO2, COD, ...) or the raw code when unknown. */
  pollutant: string;
  code: string;
  known: boolean;
  /** rtd/avg/min/max/cou, or `named` for another numeric field (see `field`). */
  statistic: Statistic | 'named';
  /** The CP field name as sent: Rtd, Avg, ZsAvg, Ia, … (set by frameValues). */
  field?: string;
  period: 'rt' | 'min' | 'hour' | 'day';
  value: number | null;
  unit?: string;
  /** Observed time (epoch ms) from DataTime (local time, UTC+8 unless configured). */
  observedAt: number;
  /** Instrument data flag as sent (N, F, M, S, D, C, T, B, or other); undefined if the frame had none. */
  flag?: string;
  flagMeaning?: string;
  flagKnown?: boolean;
  qc: 'ok' | 'out_of_range' | 'not_numeric';
  /** Re-sent data (RF=1, or answering a history request). */
  resent: boolean;
  /** A converted concentration (HJ 75-2017 C = C′ × (21 − O₂ref) / (21 − O₂)); absent = as measured. */
  basis?: 'converted';
  /** Who converted it: the logger (Zs* fields) or the edge (convert.ts). */
  zsSource?: 'logger' | 'computed';
  /** The measured O₂ (%) a computed converted value used. */
  o2?: number;
  /** On a measured flue-gas concentration that has no converted value: why (convert.ts). */
  zsMissing?: 'o2_missing' | 'o2_not_below_21' | 'o2_invalid';
  /** Other per-factor fields that are not numbers (SampleTime, EFlag, ...). */
  extra?: Record<string, string>;
}

export interface ValueOptions {
  /** Offset of DataTime from UTC in minutes (HJ 212 loggers use Beijing time: 480). */
  offsetMinutes?: number;
  /** Unit overrides by factor code. */
  units?: Record<string, string>;
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const isNumber = (s: string) => NUMBER.test(s.trim()) && Number.isFinite(Number(s));

/** A data upload that carries values (CN 2011/2051/2061/2031 with DataTime). */
export function isDataFrame(frame: Hj212Frame): boolean {
  try {
    const c = classifyFrame(frame);
    return c.kind === 'data' && c.period !== undefined;
  } catch {
    return false;
  }
}

export function frameValues(frame: Hj212Frame, opts: ValueOptions = {}): FactorValue[] {
  const cls = classifyFrame(frame);
  const period = cls.period;
  if (cls.kind !== 'data' || !period) return [];
  const dt = frame.cp.DataTime!;
  const observedAt = parseDataTime(dt, opts.offsetMinutes ?? 480);
  if (!Number.isFinite(observedAt)) throw new CodedError(HJ212_ERRORS.BAD_FIELD, `DataTime ${dt} is not a valid date`);
  const ambient = frame.st === '22';
  const out: FactorValue[] = [];
  for (const [code, fields] of Object.entries(frame.factors)) {
    const info = factorInfo(code);
    const unit = opts.units?.[code] ?? (ambient ? info?.ambientUnit ?? info?.unit : info?.unit);
    const flag = fields.Flag;
    const base = { station: frame.mn ?? '', pollutant: info?.pollutant ?? code, code, known: !!info, period, observedAt, resent: frame.resent };
    const flagPart: Partial<FactorValue> = {};
    if (flag !== undefined) {
      flagPart.flag = flag;
      flagPart.flagKnown = flag in DATA_FLAGS;
      if (flagPart.flagKnown) flagPart.flagMeaning = DATA_FLAGS[flag];
    }
    const extra: Record<string, string> = {};
    const mine: FactorValue[] = [];
    for (const [k, raw] of Object.entries(fields)) {
      const stat = STAT_KEYS[k];
      const zs = ZS_KEYS[k];
      if (stat) {
        const numeric = isNumber(raw);
        const value = numeric ? Number(raw) : null;
        let qc: FactorValue['qc'] = numeric ? 'ok' : 'not_numeric';
        if (value !== null && info?.range && stat !== 'cou' && (value < info.range[0] || value > info.range[1])) qc = 'out_of_range';
        const r: FactorValue = { ...base, statistic: stat, field: k, value, qc, ...flagPart };
        if (unit && stat !== 'cou') r.unit = unit;
        mine.push(r);
      } else if (zs && isNumber(raw)) {
        mine.push({ ...base, statistic: zs, field: k, value: Number(raw), qc: 'ok', basis: 'converted', zsSource: 'logger', ...(unit ? { unit } : {}), ...flagPart });
      } else if (!NOT_MEASURED.has(k) && !zs && isNumber(raw) && FIELD_NAME.test(k) && !RESERVED_FIELDS.has(k)) {
        mine.push({ ...base, statistic: 'named', field: k, value: Number(raw), qc: 'ok', ...flagPart });
      } else if (k !== 'Flag') extra[k] = raw;
    }
    // a factor with only a Flag (no value) still reports its status
    if (!mine.length && flag !== undefined) {
      mine.push({ ...base, statistic: period === 'rt' ? 'rtd' : 'avg', value: null, qc: 'not_numeric', ...flagPart });
    }
    if (Object.keys(extra).length) for (const r of mine) r.extra = extra;
    out.push(...mine);
  }
  return out;
}
