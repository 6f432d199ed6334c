/**
 * HJ 212 frames between the cloud and an upstream platform (the cloud plays the field unit /
 * 现场机 side toward it), built with the shared codec (lib/hj212):
 *
 * - data uploads CN 2011 / 2051 / 2061 / 2031 by period (HJ 212-2017 Table 6, 2025 Table 12),
 *   `DataTime=…;<code>-Rtd|Avg|Min|Max|Cou|ZsRtd|ZsAvg|ZsMin|ZsMax|Flag=…,<code>-<named field>=…`;
 * - replies to the platform's requests: CN 9011 request reply `QnRtn` and CN 9012 execution result
 *   `ExeRtn` (2017 "请求命令返回表" / "执行结果定义表"), ST=91, the request's QN, no reply requested.
 *
 * `classifyUpstreamFrame` is the parsing path for everything a platform sends; it never throws.
 */
import { buildCp, decodeFrame, encodeFrame, formatDataTime, parseDataTime, type Hj212Frame } from '../../lib/hj212/codec.ts';
import { buildFlag, CN, QN_RTN } from '../../lib/hj212/codes.ts';
import { CodedError, isCoded } from '../../lib/errors.ts';
import type { Period } from './config.ts';

export const CN_OF_PERIOD: Record<Period, string> = { rt: CN.REALTIME, min: CN.MINUTE, hour: CN.HOURLY, day: CN.DAILY };
export const PERIOD_OF_CN: Record<string, Period> = { [CN.REALTIME]: 'rt', [CN.MINUTE]: 'min', [CN.HOURLY]: 'hour', [CN.DAILY]: 'day' };
/** ExeRtn codes (HJ 212-2017 "执行结果定义表"): 1 success, 2 failed (unknown reason), 100 no data. */
export const EXE_RTN = { SUCCESS: 1, FAILED: 2, NO_DATA: 100 } as const;

/** Item field → CP field name (HJ 212 §6.3.4 factor items). */
const CP_NAMES: Record<string, string> = { rtd: 'Rtd', avg: 'Avg', min: 'Min', max: 'Max', cou: 'Cou', zsRtd: 'ZsRtd', zsAvg: 'ZsAvg', zsMin: 'ZsMin', zsMax: 'ZsMax' };
/** Item fields that are not factor values on the wire (edge metadata; O₂ travels as its own factor). */
const NOT_ON_WIRE = new Set(['flag', 'unit', 'qc', 'resent', 'o2', 'zsSource', 'received_ms']);
const CP_NAME_RE = /^[A-Za-z][A-Za-z0-9]{0,15}$/;

/** The CP items of one factor: statistics, then other named numeric fields (Ia, Ua, Pt…), then Flag. */
export function factorCp(fields: Record<string, unknown>, flag: string | undefined): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const [k, name] of Object.entries(CP_NAMES)) if (typeof fields[k] === 'number' && Number.isFinite(fields[k])) out[name] = fields[k] as number;
  for (const [k, v] of Object.entries(fields)) {
    if (k in CP_NAMES || NOT_ON_WIRE.has(k) || typeof v !== 'number' || !Number.isFinite(v) || !CP_NAME_RE.test(k)) continue;
    out[k] = v;
  }
  if (flag) out.Flag = flag;
  return out;
}

/** The longest data segment HJ 212 allows (2017 §8.1.2: 0 ≤ length ≤ 1024); longer records go out as split packets. */
export const MAX_DATA_SEGMENT = 1024;

export interface FrameTarget { revision: '2017' | '2025'; password: string; mn: string; st: string; key?: Buffer }
export type RecordFactor = { code: string; fields: Record<string, unknown>; flag?: string };

/**
 * One record as data uploads (CN 20x1) to the platform: one frame when its data segment fits in
 * 1024 characters, else split packets (Table 3 PNUM/PNO, Flag bit 1) of one QN, each with the
 * record's DataTime and whole factor groups (codes sorted, so equal records encode equally), in
 * as few packets as fit. Only the last packet asks for the 9014 ack: a platform that acks every
 * packet that asks and one that acks the communication once both answer once, after the rest
 * arrived on the same connection. RF=1 only exists in HJ 212-2025 (2017 re-sends unchanged) and
 * marks every packet. The bound is on the plain segment, which is what the length field states
 * (SM4 frames too, as the 2025 Appendix A.2 examples count it).
 */
export function dataFrames(t: FrameTarget, cn: string, ts: number, factors: RecordFactor[], offsetMinutes: number, o: { qn: string; needsAck: boolean; resent?: boolean }): string[] {
  const dataTime = `DataTime=${formatDataTime(ts, offsetMinutes)}`;
  const groups = [...factors].sort((a, b) => a.code.localeCompare(b.code)).map((f) => buildCp({}, [{ code: f.code, fields: factorCp(f.fields, f.flag) }])).filter((g) => g !== '');
  const resent = !!o.resent && t.revision === '2025';
  const encode = (cp: string, needsAck: boolean, split?: { pnum: number; pno: number }) => encodeFrame(
    { qn: o.qn, st: t.st, cn, pw: t.password, mn: t.mn, flag: buildFlag(t.revision, { needsAck, split: !!split }), ...(split ?? {}), resent, cp },
    t.key && t.revision === '2025' ? { sm4Key: t.key } : {},
  );
  const cpOf = (gs: string[]) => [dataTime, ...gs].join(';');
  const whole = encode(cpOf(groups), o.needsAck);
  if (segmentLength(whole) <= MAX_DATA_SEGMENT) return [whole];

  // pack with the widest packet header this record can need (PNUM=PNO=the group count), then encode for real
  const widest = { pnum: groups.length, pno: groups.length };
  const packets: string[][] = [];
  let current: string[] = [];
  for (const g of groups) {
    if (current.length && segmentLength(encode(cpOf([...current, g]), true, widest)) > MAX_DATA_SEGMENT) { packets.push(current); current = []; }
    current.push(g);
    if (segmentLength(encode(cpOf(current), true, widest)) > MAX_DATA_SEGMENT) {
      throw new CodedError('HJ212_TOO_LARGE', `factor ${g.slice(0, g.indexOf('-'))} alone needs more than the ${MAX_DATA_SEGMENT}-character data segment; the record cannot be sent`, { max: MAX_DATA_SEGMENT });
    }
  }
  packets.push(current);
  return packets.map((gs, i) => encode(cpOf(gs), o.needsAck && i === packets.length - 1, { pnum: packets.length, pno: i + 1 }));
}

/** The data segment's length as a frame's 4-digit length field states it. */
function segmentLength(frame: string): number {
  return Number(frame.slice(2, 6));
}

/** A reply to a platform request: CN 9011 (QnRtn) or 9012 (ExeRtn), ST=91, never encrypted (2025 §6.4.4). */
export function replyFrame(t: Pick<FrameTarget, 'revision' | 'password'>, cn: string, qn: string | undefined, mn: string | undefined, cp: string): string {
  return encodeFrame({ ...(qn ? { qn } : {}), st: '91', cn, pw: t.password, ...(mn ? { mn } : {}), flag: buildFlag(t.revision), cp });
}

export type UpstreamMessage =
  | { kind: 'ack'; qn: string }
  | { kind: 'history'; qn?: string; cn: string; period: Period; mn: string; begin: number; end: number }
  | { kind: 'realtime'; qn?: string; mn: string }
  | { kind: 'refuse'; qn?: string; mn?: string; qnRtn: number; reason: string }
  | { kind: 'ignore'; reason: string; code?: string };

export interface ClassifyOptions {
  password: string;
  /** Whether the platform's MN is one this link forwards. */
  knowsMn(mn: string): boolean;
  offsetMinutes: number;
  maxHistoryDays: number;
  key?: Buffer;
  maxFrameBytes?: number;
}

const TIME_RE = /^\d{14}$/;

/**
 * What a platform frame asks for. Data acks (CN 9014) by QN; history requests CN 2051/2061/2031
 * with BeginTime/EndTime (inclusive, local time); a real-time request CN 2011 with no DataTime
 * (the platform asking, not uploading). Refusals carry the 9011 QnRtn to answer with: 3 wrong PW,
 * 4 unknown MN, 2 a malformed or too long window, 8 an unsupported command. Frames that cannot be
 * decoded, and notifications the cloud has no answer for, are ignored (a bad CRC gets no reply).
 */
export function classifyUpstreamFrame(input: Buffer | string | Hj212Frame, o: ClassifyOptions): UpstreamMessage {
  let f: Hj212Frame;
  if (typeof input === 'string' || Buffer.isBuffer(input)) {
    try {
      f = decodeFrame(input, { keyFor: () => o.key, maxFrameBytes: o.maxFrameBytes });
    } catch (err) {
      return { kind: 'ignore', reason: (err as Error).message, code: isCoded(err) ? err.code : 'HJ212_BAD_FRAME' };
    }
  } else f = input;
  if (f.cn === CN.DATA_ACK) return f.qn ? { kind: 'ack', qn: f.qn } : { kind: 'ignore', reason: 'data ack without QN' };
  if (f.cn === CN.HEARTBEAT || f.cn === CN.NOTIFY_REPLY || f.cn === CN.REQUEST_REPLY || f.cn === CN.EXEC_RESULT) return { kind: 'ignore', reason: `CN ${f.cn} needs no answer` };
  const base = { ...(f.qn ? { qn: f.qn } : {}), ...(f.mn ? { mn: f.mn } : {}) };
  if (f.pw === undefined || f.pw !== o.password) return { kind: 'refuse', ...base, qnRtn: QN_RTN.PW_ERROR, reason: 'wrong password (PW)' };
  if (!f.mn || !o.knowsMn(f.mn)) return { kind: 'refuse', ...base, qnRtn: QN_RTN.MN_ERROR, reason: `unknown MN ${f.mn ?? '(none)'}` };
  const period = PERIOD_OF_CN[f.cn];
  if (!period) return { kind: 'refuse', ...base, qnRtn: QN_RTN.CN_ERROR, reason: `CN ${f.cn} is not answered by this platform link` };
  if (period === 'rt') {
    if (f.cp.DataTime !== undefined) return { kind: 'ignore', reason: 'a real-time data upload from the platform' };
    return { kind: 'realtime', ...(f.qn ? { qn: f.qn } : {}), mn: f.mn };
  }
  const b = f.cp.BeginTime, e = f.cp.EndTime;
  if (!b || !e || !TIME_RE.test(b) || !TIME_RE.test(e)) return { kind: 'refuse', ...base, qnRtn: QN_RTN.REJECTED, reason: 'BeginTime and EndTime must be YYYYMMDDhhmmss' };
  const begin = parseDataTime(b, o.offsetMinutes), end = parseDataTime(e, o.offsetMinutes);
  if (!Number.isFinite(begin) || !Number.isFinite(end) || end < begin) return { kind: 'refuse', ...base, qnRtn: QN_RTN.REJECTED, reason: 'EndTime before BeginTime' };
  if (end - begin > o.maxHistoryDays * 86_400_000) return { kind: 'refuse', ...base, qnRtn: QN_RTN.REJECTED, reason: `window longer than ${o.maxHistoryDays} days` };
  return { kind: 'history', ...(f.qn ? { qn: f.qn } : {}), cn: f.cn, period, mn: f.mn, begin, end };
}
