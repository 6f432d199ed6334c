import { CodedError } from '../errors.ts';
import type { Hj212Frame } from './codec.ts';
import { HJ212_ERRORS as E, periodOf } from './codes.ts';

/**
 * What a decoded HJ 212 frame is: its direction and kind (HJ 212-2017 §6.5 / HJ 212-2025 §6.5
 * communication flows, command tables 2017 Table 6 / 2025 Table 12). The same CN means different
 * things in each direction — CN 2061 from a logger is an hourly data upload, CN 2061 from a
 * platform with `BeginTime`/`EndTime` is a request for hourly history; CN 1011 from a platform asks
 * for the logger's clock, CN 1011 from the logger carries `SystemTime` — so the kind is read from
 * the CN **and** the CP:
 *
 * | kind | frames | direction |
 * |---|---|---|
 * | `data` | 2xxx uploads carrying `DataTime` or factor items (2011, 2021, 2031, 2041, 2051, 2061, 2081, …) | up (logger → platform) |
 * | `request` | platform commands: 1000, 1011/1061/1063 without values, 1012/1062/1064/1072 (set), 2xxx without `DataTime` and factors (2011 with an empty CP, 2051/2061/2031 with `BeginTime`/`EndTime`, 2012/2022 stop), 3xxx without `DataTime` | down |
 * | `answer` | 9011 request reply (`QnRtn`), 9012 execution result (`ExeRtn`), 9013 notification reply, 9014 data ack, and a logger's parameter answer (1011 with `SystemTime`, 1061 with `RtdInterval`, 1063 with `MinInterval`, 3xxx with `DataTime`) | 9011 either way, 9012/parameters up, 9013/9014 down |
 * | `notification` | 1013 time-calibration request (the platform replies 9013) | up |
 * | `heartbeat` | 9015 | up |
 * | `other` | any other CN (decoded, passed through) | either |
 *
 * Only `data` frames carry monitoring values. Malformed command fields are refused with
 * HJ212_BAD_FIELD (never a plain throw): BeginTime/EndTime/SystemTime not YYYYMMDDhhmmss[zzz],
 * BeginTime without EndTime or after it, a 2xxx frame with factor items but no DataTime, 9011
 * without an integer QnRtn, 9012 without an integer ExeRtn, RtdInterval/MinInterval not a positive
 * integer, 1012/1062/1064 without the value they set.
 */
export type FrameKind = 'data' | 'request' | 'answer' | 'notification' | 'heartbeat' | 'other';
export type FrameDirection = 'up' | 'down' | 'either';
export type AnswerKind = 'request-reply' | 'execution-result' | 'notification-reply' | 'data-ack' | 'parameters';
export type Period = 'rt' | 'min' | 'hour' | 'day';

export interface FrameClass {
  kind: FrameKind;
  direction: FrameDirection;
  /** Which answer (kind `answer`). */
  answer?: AnswerKind;
  /** Data period of a data upload or of a data/history request (2011 rt, 2051 min, 2061 hour, 2031 day). */
  period?: Period;
  /** Window of a history request, as sent (YYYYMMDDhhmmss, the logger's local time). */
  window?: { begin: string; end: string };
  /** 9011 QnRtn / 9012 ExeRtn as integers. */
  qnRtn?: number;
  exeRtn?: number;
  /** What the CN is called (2017 Table 6 / 2025 Table 12), or `CN xxxx`. */
  name: string;
}

/** Command names (2017 Table 6, 2025 Table 12). */
export const COMMAND_NAMES: Record<string, string> = {
  '1000': 'set timeout and retries', '1011': 'logger time', '1012': 'set logger time', '1013': 'time calibration request',
  '1061': 'real-time data interval', '1062': 'set real-time data interval', '1063': 'minute data interval', '1064': 'set minute data interval',
  '1072': 'set logger password',
  '2011': 'real-time data', '2012': 'stop real-time data', '2013': 'raw monitoring data (2025)', '2021': 'equipment status', '2022': 'stop equipment status',
  '2031': 'daily data', '2041': 'equipment run time (daily)', '2051': 'minute data', '2061': 'hourly data', '2081': 'logger restart time',
  '3011': 'zero/span calibration', '3012': 'take a sample now', '3013': 'start cleaning/back-flush', '3014': 'comparison sampling', '3015': 'keep an exceedance sample',
  '3016': 'set sampling period', '3017': 'sampling period', '3018': 'sample delivery time', '3019': 'equipment id', '3020': 'field unit information', '3021': 'set field unit parameters',
  '9011': 'request reply', '9012': 'execution result', '9013': 'notification reply', '9014': 'data ack', '9015': 'heartbeat',
};

/** Time fields of command CPs: YYYYMMDDhhmmss (Table 3 / CP field table), optionally with milliseconds. */
export const TIME_FIELD = /^\d{14}(\d{3})?$/;
const INT = /^\d{1,9}$/;

function bad(message: string, details: Record<string, unknown> = {}): never {
  throw new CodedError(E.BAD_FIELD, message, details);
}

function checkTime(cp: Record<string, string>, key: string, cn: string): void {
  const v = cp[key];
  if (v !== undefined && !TIME_FIELD.test(v)) bad(`CN ${cn}: ${key} must be YYYYMMDDhhmmss (got ${JSON.stringify(v.slice(0, 20))})`, { cn, field: key });
}

function checkInt(cp: Record<string, string>, key: string, cn: string, opts: { required?: boolean; positive?: boolean } = {}): number | undefined {
  const v = cp[key];
  if (v === undefined) {
    if (opts.required) bad(`CN ${cn} needs ${key}`, { cn, field: key });
    return undefined;
  }
  if (!INT.test(v) || (opts.positive && Number(v) < 1)) bad(`CN ${cn}: ${key} must be ${opts.positive ? 'a positive' : 'an'} integer (got ${JSON.stringify(v.slice(0, 20))})`, { cn, field: key });
  return Number(v);
}

/** Classify a decoded frame; throws HJ212_BAD_FIELD for a malformed command field (see above). */
export function classifyFrame(frame: Pick<Hj212Frame, 'cn' | 'cp' | 'factors'>): FrameClass {
  const { cn, cp } = frame;
  const name = COMMAND_NAMES[cn] ?? `CN ${cn}`;
  const hasFactors = Object.keys(frame.factors).length > 0;
  const hasData = cp.DataTime !== undefined || hasFactors;
  for (const k of ['DataTime', 'BeginTime', 'EndTime', 'SystemTime']) checkTime(cp, k, cn);
  const period = periodOf(cn);
  const p = period ? { period } : {};

  if (cn === '9011') return { kind: 'answer', direction: 'either', answer: 'request-reply', qnRtn: checkInt(cp, 'QnRtn', cn, { required: true })!, name };
  if (cn === '9012') return { kind: 'answer', direction: 'up', answer: 'execution-result', exeRtn: checkInt(cp, 'ExeRtn', cn, { required: true })!, name };
  if (cn === '9013') return { kind: 'answer', direction: 'down', answer: 'notification-reply', name };
  if (cn === '9014') return { kind: 'answer', direction: 'down', answer: 'data-ack', name };
  if (cn === '9015') return { kind: 'heartbeat', direction: 'up', name };
  if (cn === '1013') return { kind: 'notification', direction: 'up', name };

  if (cn[0] === '2') {
    if (hasData) {
      if (cp.DataTime === undefined) bad(`data frame CN=${cn} has factor items but no DataTime`, { cn });
      return { kind: 'data', direction: 'up', ...p, name };
    }
    const b = cp.BeginTime;
    const e = cp.EndTime;
    if ((b === undefined) !== (e === undefined)) bad(`request CN=${cn}: BeginTime and EndTime must appear together`, { cn });
    if (b !== undefined && e !== undefined) {
      if (b.slice(0, 14) > e.slice(0, 14)) bad(`request CN=${cn}: BeginTime ${b} is after EndTime ${e}`, { cn });
      return { kind: 'request', direction: 'down', ...p, window: { begin: b, end: e }, name };
    }
    return { kind: 'request', direction: 'down', ...p, name };
  }

  if (cn[0] === '1') {
    if (cn === '1011') return cp.SystemTime !== undefined ? { kind: 'answer', direction: 'up', answer: 'parameters', name } : { kind: 'request', direction: 'down', name };
    if (cn === '1012') {
      if (cp.SystemTime === undefined) bad('CN 1012 (set logger time) needs SystemTime', { cn, field: 'SystemTime' });
      return { kind: 'request', direction: 'down', name };
    }
    if (cn === '1061' || cn === '1062') {
      const v = checkInt(cp, 'RtdInterval', cn, { required: cn === '1062', positive: true });
      if (cn === '1062') return { kind: 'request', direction: 'down', name };
      return v !== undefined ? { kind: 'answer', direction: 'up', answer: 'parameters', name } : { kind: 'request', direction: 'down', name };
    }
    if (cn === '1063' || cn === '1064') {
      const v = checkInt(cp, 'MinInterval', cn, { required: cn === '1064', positive: true });
      if (cn === '1064') return { kind: 'request', direction: 'down', name };
      return v !== undefined ? { kind: 'answer', direction: 'up', answer: 'parameters', name } : { kind: 'request', direction: 'down', name };
    }
    if (cp.DataTime !== undefined) return { kind: 'answer', direction: 'up', answer: 'parameters', name };
    return { kind: 'request', direction: 'down', name };
  }

  if (cn[0] === '3') {
    return hasData ? { kind: 'answer', direction: 'up', answer: 'parameters', name } : { kind: 'request', direction: 'down', name };
  }
  return { kind: 'other', direction: 'either', name };
}

/** The history request CN of a data period (2051 minute, 2061 hourly, 2031 daily). */
export function historyCn(period: 'min' | 'hour' | 'day'): string {
  return period === 'min' ? '2051' : period === 'hour' ? '2061' : '2031';
}
