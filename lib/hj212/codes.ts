/**
 * Code tables of HJ 212 (2017 and 2025 revisions) and the stable error codes of
 * this adapter.
 */

/** Error codes (stable; see README). */
export const HJ212_ERRORS = {
  BAD_FRAME: 'HJ212_BAD_FRAME', // no "##" header, missing CRLF, not text
  BAD_LENGTH: 'HJ212_BAD_LENGTH', // length field not 4 digits, or disagrees with the data segment
  BAD_CRC: 'HJ212_BAD_CRC',
  TOO_LARGE: 'HJ212_TOO_LARGE', // frame exceeds the configured bound
  BAD_FIELD: 'HJ212_BAD_FIELD', // a header/CP field is malformed (Flag, PNUM/PNO, RF, DataTime, CP structure)
  AUTH: 'HJ212_AUTH', // unknown MN or wrong PW
  DECRYPT: 'HJ212_DECRYPT', // SM4 data area cannot be decrypted (bad {0x..} form, wrong key)
  NO_KEY: 'HJ212_NO_KEY', // encrypted CP but no SM4 key configured for the MN
  TIMEOUT: 'HJ212_TIMEOUT', // idle or slow connection closed
} as const;
export type Hj212ErrorCode = (typeof HJ212_ERRORS)[keyof typeof HJ212_ERRORS];

export type Revision = '2005' | '2017' | '2025' | 'unknown';

/**
 * Flag field (HJ 212-2017 §6.3.3 Table 3; HJ 212-2025 §6.3.3 Table 3):
 * bits V5..V0 (bits 7..2) = standard version, bit 1 = packet split present
 * (PNUM/PNO; the standard calls it D in 2017 and A in 2025), bit 0 = command needs
 * a reply (A in 2017, D in 2025 — the letters swapped between revisions, the bit
 * positions did not). Version 0 = HJ/T 212-2005, 1 = HJ 212-2017 (Flag 4..7),
 * 2 = HJ 212-2025 (Flag 8..11; the 2025 text: "Flag=9 ... 00001001 ... 版本号为本次修订，
 * 需要应答且数据段不包含拆分包"; Appendix C only uses 8/9/10/11).
 */
export interface FlagBits {
  raw: number;
  version: number;
  revision: Revision;
  /** Bit 1: the frame carries PNUM/PNO. */
  split: boolean;
  /** Bit 0: the sender asks for a reply (data ack 9014 / request reply 9011). */
  needsAck: boolean;
}

export function parseFlag(raw: number): FlagBits {
  const version = (raw >> 2) & 0x3f;
  const revision: Revision = version === 0 ? '2005' : version === 1 ? '2017' : version === 2 ? '2025' : 'unknown';
  return { raw, version, revision, split: (raw & 2) !== 0, needsAck: (raw & 1) !== 0 };
}

export function buildFlag(revision: Revision, opts: { split?: boolean; needsAck?: boolean } = {}): number {
  const version = revision === '2025' ? 2 : revision === '2017' ? 1 : 0;
  return (version << 2) | (opts.split ? 2 : 0) | (opts.needsAck ? 1 : 0);
}

/** Command codes used here (HJ 212-2017 Table 6 / HJ 212-2025 Table 12). */
export const CN = {
  REALTIME: '2011',
  STATUS: '2021',
  DAILY: '2031',
  MINUTE: '2051',
  HOURLY: '2061',
  RESTART: '2081',
  REQUEST_REPLY: '9011',
  EXEC_RESULT: '9012',
  NOTIFY_REPLY: '9013',
  DATA_ACK: '9014',
  HEARTBEAT: '9015', // HJ 212-2025 Table 12 "心跳包" (also used by many 2017-era loggers)
} as const;

export const CN_NAMES: Record<string, string> = {
  '1011': 'get logger time', '1012': 'set logger time', '1013': 'time calibration request',
  '1061': 'get real-time interval', '1062': 'set real-time interval',
  '2011': 'real-time data', '2013': 'raw monitoring data (2025)', '2021': 'equipment status', '2031': 'daily data', '2041': 'equipment run time',
  '2051': 'minute data', '2061': 'hourly data', '2081': 'logger restart time',
  '3020': 'field unit information', '9011': 'request reply', '9012': 'execution result',
  '9013': 'notification reply', '9014': 'data ack', '9015': 'heartbeat',
};

/** Data period of an upload command. */
export function periodOf(cn: string): 'rt' | 'min' | 'hour' | 'day' | undefined {
  return cn === '2011' ? 'rt' : cn === '2051' ? 'min' : cn === '2061' ? 'hour' : cn === '2031' ? 'day' : undefined;
}

/**
 * Instrument data flags (HJ 212-2017 §6.6.x Table "数据标记"; carried unchanged in 2025):
 * N normal, F stopped, M maintenance, S manual input/setting, D fault, C calibration,
 * T over the measuring range, B communication failure. Unknown flags are passed
 * through as-is (never dropped) and marked `known: false`.
 */
export const DATA_FLAGS: Record<string, string> = {
  N: 'normal',
  F: 'stopped',
  M: 'maintenance',
  S: 'manual',
  D: 'fault',
  C: 'calibration',
  T: 'over range',
  B: 'communication failure',
};

/**
 * QnRtn codes of the request reply CN 9011 (HJ 212-2017 §6.6.x Table "请求命令返回表"):
 * 1 ready to execute, 2 rejected, 3 PW error, 4 MN error, 5 ST error, 6 Flag error,
 * 7 QN error, 8 CN error, 9 CRC error, 100 unknown.
 */
export const QN_RTN = { READY: 1, REJECTED: 2, PW_ERROR: 3, MN_ERROR: 4, ST_ERROR: 5, FLAG_ERROR: 6, QN_ERROR: 7, CN_ERROR: 8, CRC_ERROR: 9, UNKNOWN: 100 } as const;

/** System codes ST (HJ 212-2017 Table 5). */
export const ST_NAMES: Record<string, string> = {
  '21': 'surface water', '22': 'ambient air', '23': 'noise', '31': 'air pollution source', '32': 'water pollution source',
  '91': 'system interaction',
};

/**
 * HJ 212-2025 §6.4.4: data commands 2000..2999, 1014 and 3020 are the ones whose CP
 * is SM4-encrypted on the Internet.
 */
export function cnIsEncryptable(cn: string): boolean {
  return /^2\d{3}$/.test(cn) || cn === '1014' || cn === '3020';
}
