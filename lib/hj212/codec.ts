import { CodedError } from '../errors.ts';
import { crc16, crcHex } from './crc.ts';
import { HJ212_ERRORS as E, parseFlag, type FlagBits, type Revision } from './codes.ts';
import { decryptRegion, encryptRegion, looksEncrypted } from './sm4.ts';

/**
 * Frame codec (HJ 212-2017 §6.3.2 Table 2 / HJ 212-2025 §6.3.2 Table 2):
 *   "##" + 4-digit data segment length + data segment + 4-hex CRC + CR LF
 * Data segment (Table 3): QN=..;ST=..;CN=..;PW=..;MN=..;Flag=..;[PNUM=..;PNO=..;][RF=1;]CP=&&..&&
 * CP data area (§6.3.4): items `key=value` separated by ',' within a group, groups by ';';
 * factor items are `<code>-<Rtd|Avg|Min|Max|Cou|Flag|...>=value`.
 * The length counts the bytes of the data segment (not "##", not the CRC, not CRLF);
 * the CRC is taken over the data segment only (see crc.ts). HJ 212-2025 frames with an
 * SM4-encrypted CP keep the *plaintext* length and CRC (Appendix A.2 examples); the
 * decoder also accepts the wire length, since Table 2's literal wording allows it.
 */

export const DEFAULT_MAX_FRAME_BYTES = 8192; // 2025 §8.1.2: segments > 1024 chars are split; an encrypted 1024-char CP is ~5.2 kB on the wire

export interface Hj212Frame {
  revision: Revision;
  /** Declared length (field LLLL). */
  length: number;
  crc: string;
  qn?: string;
  st?: string;
  cn: string;
  pw?: string;
  mn?: string;
  flag?: number;
  flagBits?: FlagBits;
  pnum?: number;
  pno?: number;
  /** RF=1: re-sent (back-filled) data, HJ 212-2025 Table 3 ("非补传时，无本字段"). */
  resent: boolean;
  /** CP arrived SM4-encrypted (HJ 212-2025 §6.4.2) and was decrypted. */
  encrypted: boolean;
  /** Non-factor CP items (DataTime, QnRtn, RestartTime, ...). */
  cp: Record<string, string>;
  /** Factor items: code -> { Rtd: '35', Flag: 'N', ... }, in arrival order. */
  factors: Record<string, Record<string, string>>;
  /** The plaintext CP data area. */
  cpText: string;
}

export interface DecodeOptions {
  maxFrameBytes?: number;
  /** SM4 key of a station (by MN); needed only for encrypted CPs. */
  keyFor?: (mn: string) => Buffer | undefined;
  /** Reject frames without the CR LF terminator (default false: the deframer strips it). */
  requireCrlf?: boolean;
}

function fail(code: string, message: string, details: Record<string, unknown> = {}): never {
  throw new CodedError(code, message, details);
}

const HASH = 0x23;
const isDigit = (b: number) => b >= 0x30 && b <= 0x39;
const isHex = (b: number) => isDigit(b) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);

/** Decode one complete frame (with or without its CR LF). Throws CodedError on any defect. */
export function decodeFrame(input: Buffer | string, opts: DecodeOptions = {}): Hj212Frame {
  const buf = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const max = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  if (buf.length > max) fail(E.TOO_LARGE, `frame of ${buf.length} bytes exceeds the ${max}-byte bound`, { bytes: buf.length, max });
  let end = buf.length;
  if (end >= 2 && buf[end - 2] === 0x0d && buf[end - 1] === 0x0a) end -= 2;
  else if (opts.requireCrlf) fail(E.BAD_FRAME, 'frame does not end with CR LF (HJ 212 §6.3.2 Table 2)');
  if (end < 2 || buf[0] !== HASH || buf[1] !== HASH) fail(E.BAD_FRAME, 'frame does not start with "##" (HJ 212 §6.3.2 Table 2)');
  if (end < 10) fail(E.BAD_FRAME, `frame too short (${end} bytes): needs "##", 4-digit length, data segment and 4-hex CRC`);
  for (let i = 2; i < 6; i++) if (!isDigit(buf[i])) fail(E.BAD_LENGTH, 'length field is not 4 decimal digits', { field: buf.subarray(2, 6).toString('latin1') });
  const declared = (buf[2] - 48) * 1000 + (buf[3] - 48) * 100 + (buf[4] - 48) * 10 + (buf[5] - 48);
  const segStart = 6;
  const segEnd = end - 4;
  for (let i = segEnd; i < end; i++) if (!isHex(buf[i])) fail(E.BAD_FRAME, 'CRC field is not 4 hex digits (or the frame is cut short)', { crc: buf.subarray(segEnd, end).toString('latin1') });
  const crc = buf.subarray(segEnd, end).toString('latin1').toUpperCase();
  const wireLen = segEnd - segStart;
  const segment = buf.toString('utf8', segStart, segEnd);

  // Header fields before CP=&&
  const cpAt = segment.indexOf('CP=&&');
  if (cpAt < 0) fail(E.BAD_FIELD, 'data segment has no "CP=&&" (HJ 212 §6.3.3 Table 3)');
  if (!segment.endsWith('&&') || segment.length < cpAt + 7) fail(E.BAD_FIELD, 'CP data area is not closed by "&&"');
  const head = segment.slice(0, cpAt);
  let region = segment.slice(cpAt + 5, segment.length - 2);
  const hdr: Record<string, string> = {};
  for (const part of head.split(';')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    if (eq <= 0) fail(E.BAD_FIELD, `header field without "=": ${JSON.stringify(part.slice(0, 32))}`);
    const k = part.slice(0, eq);
    if (k in hdr) fail(E.BAD_FIELD, `duplicate header field ${k}`);
    hdr[k] = part.slice(eq + 1);
  }
  const cn = hdr.CN;
  if (!cn || !/^\d{4}$/.test(cn)) fail(E.BAD_FIELD, `CN must be 4 digits (got ${JSON.stringify(cn ?? null)})`);

  let flagBits: FlagBits | undefined;
  if (hdr.Flag !== undefined) {
    if (!/^\d{1,3}$/.test(hdr.Flag) || Number(hdr.Flag) > 255) fail(E.BAD_FIELD, `Flag must be an integer 0..255 (got ${JSON.stringify(hdr.Flag)})`);
    flagBits = parseFlag(Number(hdr.Flag));
  }
  let pnum: number | undefined;
  let pno: number | undefined;
  if ((hdr.PNUM === undefined) !== (hdr.PNO === undefined)) fail(E.BAD_FIELD, 'PNUM and PNO must appear together (Table 3)');
  if (hdr.PNUM !== undefined) {
    if (!/^\d{1,4}$/.test(hdr.PNUM) || !/^\d{1,4}$/.test(hdr.PNO)) fail(E.BAD_FIELD, 'PNUM/PNO must be integers');
    pnum = Number(hdr.PNUM);
    pno = Number(hdr.PNO);
    if (pnum < 1 || pno < 1 || pno > pnum) fail(E.BAD_FIELD, `packet number PNO=${pno} outside 1..PNUM=${pnum}`);
  }
  if (hdr.RF !== undefined && hdr.RF !== '1') fail(E.BAD_FIELD, `RF only takes the value 1 (HJ 212-2025 Table 3), got ${JSON.stringify(hdr.RF)}`);

  // SM4 (HJ 212-2025 §6.4.2): decrypt before the CRC, which is over the plaintext.
  let encrypted = false;
  if (looksEncrypted(region)) {
    const key = hdr.MN !== undefined ? opts.keyFor?.(hdr.MN) : undefined;
    if (!key) fail(E.NO_KEY, `CP is SM4-encrypted but no key is configured for MN ${hdr.MN ?? '(none)'}`, { mn: hdr.MN });
    region = decryptRegion(region, key);
    encrypted = true;
  }
  const plainSeg = encrypted ? `${head}CP=&&${region}&&` : segment;
  const plainBytes = encrypted ? Buffer.from(plainSeg, 'utf8') : undefined;
  const plainLen = plainBytes ? plainBytes.length : wireLen;
  if (declared !== wireLen && declared !== plainLen) {
    if (encrypted) fail(E.DECRYPT, `decrypted data segment has ${plainLen} bytes, length field says ${declared}: wrong SM4 key for MN ${hdr.MN} or corrupted frame`, { mn: hdr.MN });
    fail(E.BAD_LENGTH, `length field says ${declared} but the data segment has ${wireLen} bytes${encrypted ? ` (${plainLen} decrypted)` : ''}`, { declared, actual: wireLen });
  }
  const computed = crcHex(plainBytes ? crc16(plainBytes) : crc16(buf, segStart, segEnd));
  if (computed !== crc) {
    if (encrypted) fail(E.DECRYPT, `CRC over the decrypted data segment is ${computed}, frame says ${crc}: wrong SM4 key for MN ${hdr.MN} or corrupted frame`, { mn: hdr.MN });
    fail(E.BAD_CRC, `CRC mismatch: frame says ${crc}, data segment gives ${computed}`, { expected: crc, computed });
  }

  const cp: Record<string, string> = {};
  const factors: Record<string, Record<string, string>> = {};
  for (const group of region.split(';')) {
    if (!group) continue;
    for (const item of group.split(',')) {
      if (!item) continue;
      const eq = item.indexOf('=');
      if (eq <= 0) fail(E.BAD_FIELD, `CP item without "=": ${JSON.stringify(item.slice(0, 32))}`);
      const key = item.slice(0, eq);
      const value = item.slice(eq + 1);
      const dash = key.indexOf('-');
      if (dash > 0) {
        const code = key.slice(0, dash);
        (factors[code] ??= {})[key.slice(dash + 1)] = value;
      } else cp[key] = value;
    }
  }
  if (cp.DataTime !== undefined && !/^\d{14}(\d{3})?$/.test(cp.DataTime)) fail(E.BAD_FIELD, `DataTime must be YYYYMMDDhhmmss[zzz] (got ${JSON.stringify(cp.DataTime.slice(0, 20))})`);

  const revision: Revision = flagBits ? flagBits.revision : '2005';
  const frame: Hj212Frame = { revision, length: declared, crc, cn, resent: hdr.RF === '1', encrypted, cp, factors, cpText: region };
  if (hdr.QN !== undefined) frame.qn = hdr.QN;
  if (hdr.ST !== undefined) frame.st = hdr.ST;
  if (hdr.PW !== undefined) frame.pw = hdr.PW;
  if (hdr.MN !== undefined) frame.mn = hdr.MN;
  if (flagBits) { frame.flag = flagBits.raw; frame.flagBits = flagBits; }
  if (pnum !== undefined) { frame.pnum = pnum; frame.pno = pno; }
  return frame;
}

export interface EncodeInput {
  qn?: string;
  st?: string;
  cn: string;
  pw?: string;
  mn?: string;
  flag?: number;
  pnum?: number;
  pno?: number;
  resent?: boolean;
  /** CP data area text (without the && delimiters). */
  cp: string;
}

export interface EncodeOptions {
  /** Encrypt the CP with this SM4 key (HJ 212-2025 §6.4.2). */
  sm4Key?: Buffer;
  /** Length field of an encrypted frame: 'plaintext' as the 2025 Appendix A.2 examples (default) or 'wire'. */
  lengthOf?: 'plaintext' | 'wire';
}

/** Build a complete frame including CR LF. Field order per Table 3. */
export function encodeFrame(f: EncodeInput, opts: EncodeOptions = {}): string {
  let head = '';
  if (f.qn !== undefined) head += `QN=${f.qn};`;
  if (f.st !== undefined) head += `ST=${f.st};`;
  head += `CN=${f.cn};`;
  if (f.pw !== undefined) head += `PW=${f.pw};`;
  if (f.mn !== undefined) head += `MN=${f.mn};`;
  if (f.flag !== undefined) head += `Flag=${f.flag};`;
  if (f.pnum !== undefined) head += `PNUM=${f.pnum};PNO=${f.pno};`;
  if (f.resent) head += 'RF=1;';
  const plain = `${head}CP=&&${f.cp}&&`;
  const plainBytes = Buffer.from(plain, 'utf8');
  const crc = crcHex(crc16(plainBytes));
  if (!opts.sm4Key) return `##${String(plainBytes.length).padStart(4, '0')}${plain}${crc}\r\n`;
  const wire = `${head}CP=&&${encryptRegion(f.cp, opts.sm4Key)}&&`;
  const len = opts.lengthOf === 'wire' ? Buffer.byteLength(wire) : plainBytes.length;
  return `##${String(len).padStart(4, '0')}${wire}${crc}\r\n`;
}

/** CP text from plain items and factor items: "DataTime=..;a34004-Avg=1,a34004-Flag=N;..." (§6.3.4). */
export function buildCp(items: Record<string, string | number>, factors: Array<{ code: string; fields: Record<string, string | number> }> = []): string {
  const groups: string[] = [];
  for (const [k, v] of Object.entries(items)) groups.push(`${k}=${v}`);
  for (const f of factors) groups.push(Object.entries(f.fields).map(([k, v]) => `${f.code}-${k}=${v}`).join(','));
  return groups.join(';');
}

/** QN: request number, YYYYMMDDhhmmsszzz (Table 3), in the logger's local time (UTC+8 by default). */
export function makeQn(ms = Date.now(), offsetMinutes = 480): string {
  const d = new Date(ms + offsetMinutes * 60_000);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}${p(d.getUTCMilliseconds(), 3)}`;
}

/** DataTime (YYYYMMDDhhmmss[zzz], local time at `offsetMinutes`) -> epoch ms. */
export function parseDataTime(s: string, offsetMinutes = 480): number {
  const n = (a: number, b: number) => Number(s.slice(a, b));
  const ms = Date.UTC(n(0, 4), n(4, 6) - 1, n(6, 8), n(8, 10), n(10, 12), n(12, 14), s.length >= 17 ? n(14, 17) : 0);
  return ms - offsetMinutes * 60_000;
}

export function formatDataTime(ms: number, offsetMinutes = 480): string {
  return makeQn(ms, offsetMinutes).slice(0, 14);
}
