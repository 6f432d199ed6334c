import { pino, type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

/**
 * Logging. Every line names its component by a dotted path (`c`: `edge.uplink`,
 * `edge.camera.plaza-1`, `cloud.ingest`); components take a sub-logger with
 * `component(parent, 'name', fields)`, never `parent.child({ c })` (pino would write the key
 * once per level of nesting).
 *
 * Format: one readable line per event on a terminal
 *   `21:40:01.123 WARN  edge.camera.plaza-1  camera offline  code=CAMERA_UNREADABLE retryInMs=2000`
 * and JSON lines (one object per line, each key once) when stdout is not a terminal or
 * LOG_FORMAT=json. LOG_LEVEL sets the level (default info; tests default to warn).
 */
export type LogFormat = 'pretty' | 'json';

const BASE_KEYS = new Set(['level', 'time', 'pid', 'hostname', 'name', 'c', 'msg']);

/** `k=v` pairs of the fields of one log object, strings quoted only when they need it. */
export function formatFields(log: Record<string, unknown>): string {
  const out: string[] = [];
  for (const [k, v] of Object.entries(log)) {
    if (BASE_KEYS.has(k) || v === undefined) continue;
    out.push(`${k}=${formatValue(v)}`);
  }
  return out.join(' ');
}

function formatValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  if (v && typeof v === 'object' && 'message' in v && 'type' in v) {
    // a serialized error: its code and message, not the stack
    const e = v as { code?: string; message: string };
    return JSON.stringify(e.code ? `${e.code}: ${e.message}` : e.message);
  }
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 240 ? `${s.slice(0, 237)}...` : s;
}

export function logFormat(env: NodeJS.ProcessEnv = process.env, isTTY = !!process.stdout.isTTY): LogFormat {
  if (env.LOG_FORMAT === 'json') return 'json';
  if (env.LOG_FORMAT === 'pretty') return 'pretty';
  return isTTY ? 'pretty' : 'json';
}

function prettyStream(destination: number | NodeJS.WritableStream, colorize: boolean): DestinationStream {
  return pretty({
    destination: destination as never,
    sync: true,
    colorize,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,name,c',
    hideObject: true, // the fields are in the message line (messageFormat), one line per event
    messageFormat: (log, messageKey) => {
      const c = typeof log.c === 'string' ? log.c : String(log.name ?? '');
      const fields = formatFields(log as Record<string, unknown>);
      return `${c}  ${String(log[messageKey] ?? '')}${fields ? `  ${fields}` : ''}`;
    },
  });
}

export interface LoggerOptions {
  name?: string;
  level?: string;
  format?: LogFormat;
  /** Where lines go (default stdout). */
  destination?: NodeJS.WritableStream;
}

const roots = new WeakMap<Logger, Logger>();

/**
 * pino writes a key once per binding and again per call: a call-site field that repeats a bound
 * key (the same value) is dropped; with a different value it is written as `<key>2`.
 */
function dropBoundKeys(this: Logger, args: unknown[], method: (...a: unknown[]) => void): void {
  const first = args[0];
  if (first && typeof first === 'object' && !(first instanceof Error) && !Array.isArray(first)) {
    const bound = this.bindings() as Record<string, unknown>;
    let obj: Record<string, unknown> | undefined;
    for (const k of Object.keys(first)) {
      if (!(k in bound)) continue;
      obj ??= { ...(first as Record<string, unknown>) };
      const v = obj[k];
      delete obj[k];
      if (JSON.stringify(v) !== JSON.stringify(bound[k])) obj[`${k}2`] = v;
    }
    if (obj) args = [obj, ...args.slice(1)];
  }
  method.apply(this, args);
}

export function createLogger(options: LoggerOptions | string = {}): Logger {
  const opts = typeof options === 'string' ? { name: options } : options;
  const level = opts.level ?? process.env.LOG_LEVEL ?? (process.env.VITEST ? 'warn' : 'info');
  const format = opts.format ?? logFormat();
  const base = { name: opts.name ?? 'cityedge', level, redact: ['password', '*.password', 'token', '*.token'] };
  const stream = format === 'pretty'
    ? prettyStream(opts.destination ?? 1, !opts.destination && !!process.stdout.isTTY && !process.env.NO_COLOR)
    : opts.destination ?? pino.destination({ dest: 1, sync: true });
  const log = pino({ ...base, hooks: { logMethod: dropBoundKeys } }, stream as DestinationStream);
  roots.set(log, log);
  return log;
}

/**
 * A sub-logger for component `name` under `parent`: its path is the parent's path plus `.name`
 * (or `name` itself when it already starts with the parent's path), and `fields` are bound to
 * it. Every key is written once: the child is made from the root with the parent's bindings
 * merged in, not nested on the parent.
 */
export function component(parent: Logger, name: string, fields: Record<string, unknown> = {}): Logger {
  const { name: _name, ...bound } = parent.bindings() as Record<string, unknown>;
  const base = typeof bound.c === 'string' ? bound.c : '';
  const c = !base || name === base || name.startsWith(`${base}.`) ? name : `${base}.${name}`;
  const root = roots.get(parent);
  if (!root) return parent.child({ ...fields, c }); // a logger made elsewhere (a library's, a test's)
  const child = root.child({ ...bound, ...fields, c }, { level: parent.level });
  roots.set(child, root);
  return child;
}

export const rootLogger: Logger = createLogger();
