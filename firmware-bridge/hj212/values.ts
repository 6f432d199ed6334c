import { CodedError } from '../../lib/errors.ts';
import { type Hj212Frame, parseDataTime } from './codec.ts';
import { DATA_FLAGS, HJ212_ERRORS, periodOf } from './codes.ts';
import { factorInfo } from './factors.ts';

/**
 * Normalised readings from a decoded data frame (CN 2011 real-time, 2051 minute,
 * 2061 hourly, 2031 daily). One reading per factor per statistic; the instrument
 * flag (`<code>-Flag`, HJ 212-2017 data flags N/F/M/S/D/C/T/B) is copied onto every
 * reading of that factor and never dropped — an unknown flag letter passes through
 * with `flagKnown: false`. A value outside the factor's plausible range is kept and
 * marked `qc: 'out_of_range'`; a non-numeric value is kept with `value: null` and
 * `qc: 'not_numeric'`.
 */
export type Statistic = 'rtd' | 'avg' | 'min' | 'max' | 'cou';
const STAT_KEYS: Record<string, Statistic> = { Rtd: 'rtd', Avg: 'avg', Min: 'min', Max: 'max', Cou: 'cou' };

export interface FactorValue {
  station: string;
  /** Canonical pollutant name (PM2.5, SO2, COD, ...) or the raw code when unknown. */
  pollutant: string;
  code: string;
  known: boolean;
  statistic: Statistic;
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
  /** Re-sent data (RF=1). */
  resent: boolean;
  /** Other per-factor fields (SampleTime, EFlag, ZsRtd, ...). */
  extra?: Record<string, string>;
}

export interface ValueOptions {
  /** Offset of DataTime from UTC in minutes (HJ 212 loggers use Beijing time: 480). */
  offsetMinutes?: number;
  /** Unit overrides by factor code. */
  units?: Record<string, string>;
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

export function isDataFrame(frame: Hj212Frame): boolean {
  return periodOf(frame.cn) !== undefined;
}

export function frameValues(frame: Hj212Frame, opts: ValueOptions = {}): FactorValue[] {
  const period = periodOf(frame.cn);
  if (!period) return [];
  const dt = frame.cp.DataTime;
  if (!dt) throw new CodedError(HJ212_ERRORS.BAD_FIELD, `data frame CN=${frame.cn} has no DataTime`, { cn: frame.cn, mn: frame.mn });
  const observedAt = parseDataTime(dt, opts.offsetMinutes ?? 480);
  if (!Number.isFinite(observedAt)) throw new CodedError(HJ212_ERRORS.BAD_FIELD, `DataTime ${dt} is not a valid date`);
  const ambient = frame.st === '22';
  const out: FactorValue[] = [];
  for (const [code, fields] of Object.entries(frame.factors)) {
    const info = factorInfo(code);
    const unit = opts.units?.[code] ?? (ambient ? info?.ambientUnit ?? info?.unit : info?.unit);
    const flag = fields.Flag;
    const extra: Record<string, string> = {};
    for (const [k, v] of Object.entries(fields)) if (!(k in STAT_KEYS) && k !== 'Flag') extra[k] = v;
    for (const [k, stat] of Object.entries(STAT_KEYS)) {
      const raw = fields[k];
      if (raw === undefined) continue;
      const numeric = NUMBER.test(raw.trim());
      const value = numeric ? Number(raw) : null;
      let qc: FactorValue['qc'] = numeric ? 'ok' : 'not_numeric';
      if (value !== null && info?.range && stat !== 'cou' && (value < info.range[0] || value > info.range[1])) qc = 'out_of_range';
      const r: FactorValue = {
        station: frame.mn ?? '',
        pollutant: info?.pollutant ?? code,
        code,
        known: !!info,
        statistic: stat,
        period,
        value,
        observedAt,
        qc,
        resent: frame.resent,
      };
      if (unit && stat !== 'cou') r.unit = unit;
      if (flag !== undefined) {
        r.flag = flag;
        r.flagKnown = flag in DATA_FLAGS;
        if (r.flagKnown) r.flagMeaning = DATA_FLAGS[flag];
      }
      if (Object.keys(extra).length) r.extra = extra;
      out.push(r);
    }
    // a factor with only a Flag (no value) still reports its status
    if (!Object.keys(STAT_KEYS).some((k) => fields[k] !== undefined) && flag !== undefined) {
      out.push({ station: frame.mn ?? '', pollutant: info?.pollutant ?? code, code, known: !!info, statistic: period === 'rt' ? 'rtd' : 'avg', period, value: null, observedAt, qc: 'not_numeric', resent: frame.resent, flag, flagKnown: flag in DATA_FLAGS, ...(flag in DATA_FLAGS ? { flagMeaning: DATA_FLAGS[flag] } : {}) });
    }
  }
  return out;
}
