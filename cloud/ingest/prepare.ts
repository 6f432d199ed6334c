/**
 * The part of accepting a message that needs no database: topic, size, JSON, schema and item
 * validation, and each item's InfluxDB line. Pure, so an ingest worker thread runs it
 * (prepare-worker.ts) while the main thread speaks MQTT and commits the spool.
 *
 * Only the common case is prepared: a telemetry-channel batch whose every item is valid.
 * Anything else (status, other channels, a rejection of the message or of any item) answers
 * `{ t: 'main' }`, and the main thread runs the full synchronous `accept` path on it, which
 * dead-letters with the same codes and reasons as always.
 */
import { checkers, type TelemetryItem } from '../../protocol/schemas.ts';
import { parseTopic } from '../../protocol/topics.ts';
import { validateItem } from '../../protocol/validate.ts';
import { NAME_RE } from '../store/types.ts';
import { escape } from 'influx';

export interface PrepareLimits { maxMessageBytes: number; maxFutureMs: number }

/**
 * A prepared telemetry batch, compact for postMessage: per item its seq, observed time, kind
 * (0 telemetry, 1 aggregate), id (all UUIDs are 36 characters: one string), measurement (an index
 * into `ms`) and InfluxDB line with the `site` tag and the `received_ms` field (one string with
 * `lineEnds`; an empty line = this store cannot write the point, the main thread finds out why).
 */
export interface PreparedBatch {
  t: 'batch';
  site: string;
  stream: string;
  n: number;
  seqs: Float64Array;
  ts: Float64Array;
  kinds: Uint8Array;
  ids: string;
  ms: string[];
  mIndex: Uint16Array;
  lines: string;
  lineEnds: Uint32Array;
}
export type Prepared = PreparedBatch | { t: 'main' };

const ID_LENGTH = 36;
const safeNames = new Set<string>();
function safe(name: string): boolean {
  if (safeNames.has(name)) return true;
  if (!NAME_RE.test(name)) return false;
  if (safeNames.size < 100_000) safeNames.add(name);
  return true;
}

/** `received` is the time the message was received (the spool row's, and the points' `received_ms`). */
export function prepareMessage(topic: string, payload: Uint8Array, authSite: string | undefined, received: number, limits: PrepareLimits): Prepared {
  const main = { t: 'main' } as const;
  if (payload.length > limits.maxMessageBytes) return main;
  const parsed = parseTopic(topic);
  if (!parsed || parsed.direction !== 'up' || parsed.channel !== 'telemetry') return main;
  if (authSite && authSite !== parsed.site) return main;
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8'));
  } catch {
    return main;
  }
  if (!checkers.batch.Check(body)) return main;
  const batch = body as { site: string; stream: string; items: unknown[] };
  if (batch.site !== parsed.site) return main;
  const n = batch.items.length;
  const seqs = new Float64Array(n);
  const ts = new Float64Array(n);
  const kinds = new Uint8Array(n);
  const mIndex = new Uint16Array(n);
  const lineEnds = new Uint32Array(n);
  const ms: string[] = [];
  const mOf = new Map<string, number>();
  let ids = '';
  let lines = '';
  const limit = received + limits.maxFutureMs;
  for (let i = 0; i < n; i++) {
    let item: TelemetryItem;
    try {
      item = validateItem(batch.items[i], 'telemetry') as TelemetryItem;
    } catch {
      return main;
    }
    if (item.ts > limit || item.id.length !== ID_LENGTH || !Number.isSafeInteger(item.seq)) return main;
    seqs[i] = item.seq;
    ts[i] = item.ts;
    kinds[i] = item.kind === 'aggregate' ? 1 : 0;
    let mi = mOf.get(item.m);
    if (mi === undefined) {
      if (ms.length >= 65_535) return main;
      mi = ms.length;
      ms.push(item.m);
      mOf.set(item.m, mi);
    }
    mIndex[i] = mi;
    ids += item.id;
    const line = telemetryLine(item, parsed.site, received);
    if (line) lines += line;
    lineEnds[i] = lines.length;
  }
  return { t: 'batch', site: parsed.site, stream: batch.stream, n, seqs, ts, kinds, ids, ms, mIndex, lines, lineEnds };
}

/**
 * What seriesSink makes of a telemetry item — the site as the tag `site`, the received time as
 * the field `received_ms` — in line protocol: the same text as `influxLine` of that point,
 * without building it. '' when the store cannot write it (InfluxStore.write then says why).
 */
export function telemetryLine(item: TelemetryItem, site: string, received: number): string {
  if (!safe(item.m)) return '';
  const tags = item.tags;
  const keys = Object.keys(tags);
  if (!Object.hasOwn(tags, 'site')) keys.push('site');
  if (keys.length > 1) keys.sort();
  let line = item.m;
  for (const k of keys) {
    if (!safe(k)) return '';
    line += `,${k}=${escape.tag(k === 'site' ? site : tags[k])}`;
  }
  let first = true;
  let receivedSeen = false;
  const fields = item.fields;
  for (const k in fields) {
    if (!safe(k)) return '';
    let v = fields[k];
    if (k === 'received_ms') { v = received; receivedSeen = true; }
    if (typeof v === 'number' && !Number.isFinite(v)) return '';
    line += `${first ? ' ' : ','}${k}=${typeof v === 'string' ? escape.quoted(v) : typeof v === 'boolean' ? (v ? 'T' : 'F') : String(v)}`;
    first = false;
  }
  if (!receivedSeen) line += `${first ? ' ' : ','}received_ms=${received}`;
  return `${line} ${Math.trunc(item.ts)}`;
}

/** The id of item `i` of a prepared batch. */
export function preparedId(p: PreparedBatch, i: number): string {
  return p.ids.slice(i * ID_LENGTH, (i + 1) * ID_LENGTH);
}

/** The line of item `i` of a prepared batch ('' when the store cannot write it). */
export function preparedLine(p: PreparedBatch, i: number): string {
  return p.lines.slice(i ? p.lineEnds[i - 1] : 0, p.lineEnds[i]);
}
