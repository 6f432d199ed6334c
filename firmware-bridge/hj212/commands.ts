import { CodedError } from '../../lib/errors.ts';
import { formatDataTime } from './codec.ts';
import { classifyFrame, TIME_FIELD } from './classify.ts';

/**
 * Arguments of the edge command `hj212.request` (a remote command, 反控, to a data logger):
 *   { mn: string, cn: string, cp?: Record<string, string>, timeoutMs?: number }
 * checked before anything is sent; every refusal is HJ212_BAD_COMMAND with the reason.
 *
 * | cn | what | cp |
 * |---|---|---|
 * | 1011 | read the logger's clock | — (answer: 1011 SystemTime) |
 * | 1012 | set the logger's clock (校时) | SystemTime=YYYYMMDDhhmmss (default: the edge's clock now, in the logger's local time) |
 * | 1061 / 1062 | read / set the real-time data interval | 1062: RtdInterval = seconds, 30..3600 (2017 CP table) |
 * | 1063 / 1064 | read / set the minute data interval | 1064: MinInterval = minutes, one of 1 2 3 4 5 6 10 12 15 20 30 |
 * | 2051 / 2061 / 2031 | minute / hourly / daily history | BeginTime, EndTime = YYYYMMDDhhmmss, BeginTime ≤ EndTime |
 */
export const REQUEST_CNS = ['1011', '1012', '1061', '1062', '1063', '1064', '2051', '2061', '2031'] as const;
export const BAD_COMMAND = 'HJ212_BAD_COMMAND';
const MIN_INTERVALS = [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30];
const KEY = /^[A-Za-z][A-Za-z0-9]{0,31}$/;
/** CP values may not carry the CP's own separators (or line breaks): no frame injection. */
const VALUE = /^[^;,&=\r\n]{0,64}$/;

export interface RequestArgs { mn: string; cn: string; cp: Record<string, string>; timeoutMs?: number }

function bad(message: string): never {
  throw new CodedError(BAD_COMMAND, `hj212.request: ${message}`);
}

export function parseRequestArgs(args: unknown, opts: { now?: number; offsetMinutes?: number; maxTimeoutMs?: number } = {}): RequestArgs {
  if (!args || typeof args !== 'object' || Array.isArray(args)) bad('args must be an object { mn, cn, cp?, timeoutMs? }');
  const a = args as Record<string, unknown>;
  for (const k of Object.keys(a)) if (!['mn', 'cn', 'cp', 'timeoutMs'].includes(k)) bad(`unknown argument ${JSON.stringify(k)}`);
  if (typeof a.mn !== 'string' || !a.mn || a.mn.length > 64 || !VALUE.test(a.mn)) bad('mn must be the logger MN (1..64 characters)');
  if (typeof a.cn !== 'string' || !(REQUEST_CNS as readonly string[]).includes(a.cn)) bad(`cn must be one of ${REQUEST_CNS.join(', ')} (got ${JSON.stringify(a.cn)})`);
  const cn = a.cn;
  const cp: Record<string, string> = {};
  if (a.cp !== undefined) {
    if (!a.cp || typeof a.cp !== 'object' || Array.isArray(a.cp)) bad('cp must be an object of strings');
    for (const [k, v] of Object.entries(a.cp as Record<string, unknown>)) {
      if (!KEY.test(k)) bad(`cp key ${JSON.stringify(k.slice(0, 40))} is not a CP field name`);
      const s = typeof v === 'number' && Number.isFinite(v) ? String(v) : v;
      if (typeof s !== 'string' || !VALUE.test(s)) bad(`cp.${k} must be a string without ; , & = or line breaks (≤ 64 characters)`);
      cp[k] = s;
    }
  }
  let timeoutMs: number | undefined;
  if (a.timeoutMs !== undefined) {
    const max = opts.maxTimeoutMs ?? 600_000;
    if (typeof a.timeoutMs !== 'number' || !Number.isInteger(a.timeoutMs) || a.timeoutMs < 100 || a.timeoutMs > max) bad(`timeoutMs must be an integer 100..${max}`);
    timeoutMs = a.timeoutMs;
  }
  const time = (k: string) => { if (cp[k] !== undefined && !TIME_FIELD.test(cp[k])) bad(`cp.${k} must be YYYYMMDDhhmmss`); };
  switch (cn) {
    case '1012':
      cp.SystemTime ??= formatDataTime(opts.now ?? Date.now(), opts.offsetMinutes ?? 480);
      time('SystemTime');
      break;
    case '1062': {
      const n = Number(cp.RtdInterval);
      if (!/^\d+$/.test(cp.RtdInterval ?? '') || n < 30 || n > 3600) bad('1062 needs cp.RtdInterval = seconds, 30..3600');
      break;
    }
    case '1064':
      if (!/^\d+$/.test(cp.MinInterval ?? '') || !MIN_INTERVALS.includes(Number(cp.MinInterval))) bad(`1064 needs cp.MinInterval = minutes, one of ${MIN_INTERVALS.join(' ')}`);
      break;
    case '2051': case '2061': case '2031':
      if (cp.BeginTime === undefined || cp.EndTime === undefined) bad(`${cn} needs cp.BeginTime and cp.EndTime (YYYYMMDDhhmmss)`);
      time('BeginTime');
      time('EndTime');
      if (cp.BeginTime.slice(0, 14) > cp.EndTime.slice(0, 14)) bad('BeginTime is after EndTime');
      break;
    default:
      break;
  }
  // what goes out must be a request (e.g. 1011 with SystemTime would be the logger's answer)
  let kind: string;
  try { kind = classifyFrame({ cn, cp, factors: {} }).kind; } catch (err) { bad((err as Error).message); }
  if (kind !== 'request') bad(`CN ${cn} with these cp fields is not a request (it reads as ${kind})`);
  return { mn: a.mn, cn, cp, ...(timeoutMs !== undefined ? { timeoutMs } : {}) };
}
