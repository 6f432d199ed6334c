/**
 * DOCK/1 — the line protocol between a station's dock controller and the edge gateway.
 * Grammar and semantics: README.md in this folder (section numbers cited as §n).
 *
 * This file is pure: parse one line (without its terminator) into a typed message or throw a
 * CodedError with a stable DOCK_* code; format messages back to lines. No I/O.
 */
import { CodedError } from '../../lib/errors.ts';

export const DOCK_PROTO = 'DOCK/1';
/** §3: default maximum line length in bytes, terminator excluded. */
export const DEFAULT_MAX_LINE_BYTES = 512;
/** §5: most docks one controller may report (a station's full status fits in one line). */
export const MAX_DOCKS = 200;
export const MAX_SEQ = 4_294_967_295;

/** §5.7 dock state letters in a STATUS line. */
export const DOCK_STATE_CHARS = 'BEDdFf';
export type DockStateChar = 'B' | 'E' | 'D' | 'd' | 'F' | 'f';

export const DOCK_CODES = [
  'DOCK_BAD_LINE', 'DOCK_BAD_SEQ', 'DOCK_UNKNOWN_VERB', 'DOCK_BAD_FIELD', 'DOCK_TOO_LONG',
  'DOCK_NO_HELLO', 'DOCK_AUTH', 'DOCK_PROTO_VERSION', 'DOCK_UNKNOWN_STATION', 'DOCK_DOCK_RANGE',
  'DOCK_BUSY', 'DOCK_IDLE', 'DOCK_TOO_MANY_BAD', 'DOCK_REPLACED', 'DOCK_STORE',
] as const;
export type DockCode = (typeof DOCK_CODES)[number];

interface Base { seq: number; /** controller clock, epoch ms (§4 `t`), if sent */ t?: number }
export interface HelloMsg extends Base { verb: 'HELLO'; proto: string; station: string; docks: number; token?: string; boot?: string; fw?: string }
export interface DockedMsg extends Base { verb: 'DOCKED'; dock: number; bike: string }
export interface ReleasedMsg extends Base { verb: 'RELEASED'; dock: number; card: string; bike?: string }
export interface FaultMsg extends Base { verb: 'FAULT'; dock: number; code: string }
export interface DisabledMsg extends Base { verb: 'DISABLED'; dock: number; reason?: string }
export interface EnabledMsg extends Base { verb: 'ENABLED'; dock: number }
export interface HeartbeatMsg extends Base { verb: 'HB' }
export interface StatusMsg extends Base { verb: 'STATUS'; docks: string; installed: boolean; renting: boolean; returning: boolean }
export type DockMsg = HelloMsg | DockedMsg | ReleasedMsg | FaultMsg | DisabledMsg | EnabledMsg | HeartbeatMsg | StatusMsg;
export type DockVerb = DockMsg['verb'];
export const VERBS: readonly DockVerb[] = ['HELLO', 'DOCKED', 'RELEASED', 'FAULT', 'DISABLED', 'ENABLED', 'HB', 'STATUS'];

const STATION_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const BIKE_RE = /^[0-9A-F]{4,32}$/;
const CARD_RE = /^[0-9A-Za-z]{4,32}$/;
const TOKEN_RE = /^[\x21-\x7e]{1,128}$/;
const WORD_RE = /^[A-Za-z0-9_.\-/]{1,64}$/;
const CODE_RE = /^[A-Z0-9_]{1,32}$/;
const KEY_RE = /^[a-z][a-z0-9_]{0,15}$/;
const DIGITS_RE = /^[0-9]{1,13}$/;
const STATE_RE = /^[BEDdFf]{1,200}$/;

function bad(code: DockCode, message: string, details: Record<string, unknown> = {}): never {
  throw new CodedError(code, message, details);
}

type Fields = Map<string, string>;

function req(f: Fields, key: string, seq: number, verb: string): string {
  const v = f.get(key);
  if (v === undefined) bad('DOCK_BAD_FIELD', `${verb}: field ${key}= is required (README §5)`, { seq, field: key });
  return v;
}
function match(f: Fields, key: string, re: RegExp, seq: number, verb: string, required: true): string;
function match(f: Fields, key: string, re: RegExp, seq: number, verb: string, required: false): string | undefined;
function match(f: Fields, key: string, re: RegExp, seq: number, verb: string, required: boolean): string | undefined {
  const v = required ? req(f, key, seq, verb) : f.get(key);
  if (v !== undefined && !re.test(v)) bad('DOCK_BAD_FIELD', `${verb}: ${key}=${v.slice(0, 40)} does not match ${re.source}`, { seq, field: key });
  return v;
}
function int(f: Fields, key: string, min: number, max: number, seq: number, verb: string): number {
  const v = req(f, key, seq, verb);
  const n = DIGITS_RE.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) bad('DOCK_BAD_FIELD', `${verb}: ${key}=${v.slice(0, 40)} must be an integer in ${min}..${max}`, { seq, field: key });
  return n;
}
function flag(f: Fields, key: string, seq: number, verb: string): boolean {
  const v = f.get(key);
  if (v === undefined) return true;
  if (v !== '0' && v !== '1') bad('DOCK_BAD_FIELD', `${verb}: ${key}= must be 0 or 1`, { seq, field: key });
  return v === '1';
}

/**
 * Parse one line (terminator already stripped; a trailing CR is tolerated, §3).
 * Errors carry `details.seq` when the sequence number itself was readable, so the
 * server can still account for it (§6: a bad line still consumes its seq).
 */
export function parseLine(raw: string): DockMsg {
  const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
  // §3: printable US-ASCII and single spaces only.
  if (line.length === 0 || !/^[\x21-\x7e]+(?: [\x21-\x7e]+)*$/.test(line)) {
    bad('DOCK_BAD_LINE', 'line must be printable ASCII tokens separated by single spaces (README §3)');
  }
  const tokens = line.split(' ');
  const verb = tokens[0];
  if (tokens.length < 2) bad('DOCK_BAD_LINE', `line needs "<VERB> <seq> [key=value...]", got ${tokens.length} token`);
  const seqText = tokens[1];
  const seq = /^[0-9]{1,10}$/.test(seqText) ? Number(seqText) : NaN;
  if (!(seq >= 1 && seq <= MAX_SEQ)) bad('DOCK_BAD_SEQ', `sequence number ${seqText.slice(0, 20)} must be an integer in 1..${MAX_SEQ} (README §4)`);
  if (!(VERBS as readonly string[]).includes(verb)) bad('DOCK_UNKNOWN_VERB', `unknown verb ${verb.slice(0, 20)}; DOCK/1 verbs: ${VERBS.join(' ')}`, { seq });
  const f: Fields = new Map();
  for (let i = 2; i < tokens.length; i++) {
    const tok = tokens[i];
    const eq = tok.indexOf('=');
    const key = eq > 0 ? tok.slice(0, eq) : '';
    const value = eq > 0 ? tok.slice(eq + 1) : '';
    if (!KEY_RE.test(key) || value.length === 0) bad('DOCK_BAD_FIELD', `token ${tok.slice(0, 40)} is not key=value (README §3)`, { seq });
    if (f.has(key)) bad('DOCK_BAD_FIELD', `field ${key}= appears twice`, { seq, field: key });
    f.set(key, value);
  }
  const base: Base = { seq };
  if (f.has('t')) base.t = int(f, 't', 0, 9_999_999_999_999, seq, verb);
  switch (verb as DockVerb) {
    case 'HELLO': {
      const m: HelloMsg = { ...base, verb: 'HELLO', proto: match(f, 'proto', WORD_RE, seq, verb, true), station: match(f, 'station', STATION_RE, seq, verb, true), docks: int(f, 'docks', 1, MAX_DOCKS, seq, verb) };
      const token = match(f, 'token', TOKEN_RE, seq, verb, false);
      const boot = match(f, 'boot', WORD_RE, seq, verb, false);
      const fw = match(f, 'fw', WORD_RE, seq, verb, false);
      if (token !== undefined) m.token = token;
      if (boot !== undefined) m.boot = boot;
      if (fw !== undefined) m.fw = fw;
      return m;
    }
    case 'DOCKED':
      return { ...base, verb: 'DOCKED', dock: int(f, 'dock', 1, MAX_DOCKS, seq, verb), bike: match(f, 'bike', BIKE_RE, seq, verb, true) };
    case 'RELEASED': {
      const m: ReleasedMsg = { ...base, verb: 'RELEASED', dock: int(f, 'dock', 1, MAX_DOCKS, seq, verb), card: match(f, 'card', CARD_RE, seq, verb, true) };
      const bike = match(f, 'bike', BIKE_RE, seq, verb, false);
      if (bike !== undefined) m.bike = bike;
      return m;
    }
    case 'FAULT':
      return { ...base, verb: 'FAULT', dock: int(f, 'dock', 1, MAX_DOCKS, seq, verb), code: match(f, 'code', CODE_RE, seq, verb, true) };
    case 'DISABLED': {
      const m: DisabledMsg = { ...base, verb: 'DISABLED', dock: int(f, 'dock', 1, MAX_DOCKS, seq, verb) };
      const reason = match(f, 'reason', WORD_RE, seq, verb, false);
      if (reason !== undefined) m.reason = reason;
      return m;
    }
    case 'ENABLED':
      return { ...base, verb: 'ENABLED', dock: int(f, 'dock', 1, MAX_DOCKS, seq, verb) };
    case 'HB':
      return { ...base, verb: 'HB' };
    case 'STATUS':
      return {
        ...base, verb: 'STATUS', docks: match(f, 'docks', STATE_RE, seq, verb, true),
        installed: flag(f, 'installed', seq, verb), renting: flag(f, 'renting', seq, verb), returning: flag(f, 'returning', seq, verb),
      };
  }
}

/** Format a controller message as a DOCK/1 line (no terminator). Inverse of parseLine. */
export function formatLine(m: DockMsg): string {
  const parts: string[] = [m.verb, String(m.seq)];
  const add = (k: string, v: string | number | boolean | undefined): void => {
    if (v === undefined) return;
    parts.push(`${k}=${typeof v === 'boolean' ? (v ? 1 : 0) : v}`);
  };
  if (m.t !== undefined) add('t', m.t);
  switch (m.verb) {
    case 'HELLO': add('proto', m.proto); add('station', m.station); add('docks', m.docks); add('token', m.token); add('boot', m.boot); add('fw', m.fw); break;
    case 'DOCKED': add('dock', m.dock); add('bike', m.bike); break;
    case 'RELEASED': add('dock', m.dock); add('card', m.card); add('bike', m.bike); break;
    case 'FAULT': add('dock', m.dock); add('code', m.code); break;
    case 'DISABLED': add('dock', m.dock); add('reason', m.reason); break;
    case 'ENABLED': add('dock', m.dock); break;
    case 'HB': break;
    case 'STATUS': add('docks', m.docks); add('installed', m.installed); add('renting', m.renting); add('returning', m.returning); break;
  }
  return parts.join(' ');
}

/** §7 server → controller lines. */
export type ServerLine =
  | { verb: 'WELCOME'; seq: number; last: number; hb: number }
  | { verb: 'ACK'; seq: number; dup?: boolean }
  | { verb: 'NAK'; seq: number; code: string; text: string }
  | { verb: 'POLL' }
  | { verb: 'BYE'; code: string; text: string };

const clean = (s: string): string => s.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);

export function formatServerLine(s: ServerLine): string {
  switch (s.verb) {
    case 'WELCOME': return `WELCOME ${s.seq} proto=${DOCK_PROTO} last=${s.last} hb=${s.hb}`;
    case 'ACK': return `ACK ${s.seq}${s.dup ? ' dup=1' : ''}`;
    case 'NAK': return `NAK ${s.seq} ${s.code} ${clean(s.text)}`;
    case 'POLL': return 'POLL 0';
    case 'BYE': return `BYE 0 ${s.code} ${clean(s.text)}`;
  }
}

/** Parse a server line (used by the simulator). Returns undefined for anything unrecognised. */
export function parseServerLine(line: string): ServerLine | undefined {
  const [verb, seqText, a, ...rest] = line.replace(/\r$/, '').split(' ');
  const seq = Number(seqText);
  if (!Number.isInteger(seq)) return undefined;
  switch (verb) {
    case 'WELCOME': {
      const kv = Object.fromEntries([a, ...rest].filter(Boolean).map((t) => t.split('=') as [string, string]));
      return { verb, seq, last: Number(kv.last ?? 0), hb: Number(kv.hb ?? 0) };
    }
    case 'ACK': return { verb, seq, dup: a === 'dup=1' };
    case 'NAK': return { verb, seq, code: a ?? '', text: rest.join(' ') };
    case 'POLL': return { verb };
    case 'BYE': return { verb, code: a ?? '', text: rest.join(' ') };
    default: return undefined;
  }
}
