import { CodedError } from '../../lib/errors.ts';

/** One point of a time series: measurement + tags identify the series, `time` is the observed time (ms). */
export interface Point {
  measurement: string;
  tags: Record<string, string>;
  fields: Record<string, number | string | boolean>;
  time: number;
}

export type Aggregation = 'mean' | 'min' | 'max' | 'sum' | 'count' | 'last' | 'first';
export const AGGREGATIONS: Aggregation[] = ['mean', 'min', 'max', 'sum', 'count', 'last', 'first'];

export interface SeriesQuery {
  measurement: string;
  fields: string[];
  /** Inclusive start, exclusive end, ms. */
  from: number;
  to: number;
  site?: string;
  /** Extra tag equality filters. */
  tags?: Record<string, string>;
  /** Aggregate into windows of this many ms (with `agg`, default mean). */
  windowMs?: number;
  agg?: Aggregation;
  /** Tag keys to split the result by. */
  groupBy?: string[];
  limit?: number;
}

export type Value = number | string | boolean | null;

export interface SeriesResult {
  series: Array<{ tags: Record<string, string>; columns: string[]; values: Value[][] }>;
}

/**
 * A series store (Telegraf output shape: connect / write(batch) / close, plus query).
 * Writes must be idempotent: the same point written twice is one point
 * (same measurement, tags and time → overwritten), which is what makes ingest
 * effectively-once after an at-least-once uplink.
 */
export interface SeriesStore {
  readonly kind: string;
  init(): Promise<void>;
  write(points: Point[]): Promise<void>;
  /**
   * Optional: write points already serialized in the store's own wire format (InfluxDB: line
   * protocol, `influxLine`), as ingest worker threads make them. `points` gives the same points as
   * objects, only when needed (to name refused points). Same idempotence and errors as `write`.
   */
  writeLines?(lines: string[], points: () => Point[]): Promise<void>;
  query(q: SeriesQuery): Promise<SeriesResult>;
  /** True when the store answers. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export const NAME_RE = /^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$/;

/** One point of a write that the store refused for good, by its index in that write. */
export interface Refusal { index: number; reason: string }

/**
 * A write the store refuses for good (`STORE_REFUSED`, `permanent: true`): retrying the same
 * points cannot succeed (InfluxDB answers 400: a field type conflict, a name or tag value it cannot
 * parse…). Transient failures (5xx, timeouts, connection refused, a locked file) are any other error.
 *
 * - `refused`: the points the store positively refused, each with the store's own reason. They
 *   were not stored. Points not named may or may not have been stored (InfluxDB writes the rest of
 *   a batch it partially refuses): the caller writes them again, which is idempotent.
 * - `suspects`: when the store cannot say exactly which points it refused, the ones its answer
 *   points at (e.g. every string value of the field InfluxDB named in a type conflict); a hint for
 *   splitting the batch, not a verdict.
 *
 * The shape is what ingest looks for in any sink error (`permanent`, `refused`, `suspects`),
 * so the series sink passes it on unchanged (its items and the store's points share indices).
 */
export class StoreRefusedError extends CodedError {
  readonly permanent = true;
  constructor(message: string, readonly refused: Refusal[], readonly suspects: number[] = []) {
    super('STORE_REFUSED', message, { refused: refused.length, suspects: suspects.length });
    this.name = 'StoreRefusedError';
  }
}

/**
 * The checks both stores make on every point before writing it: what InfluxDB 1.x refuses, so the
 * embedded store refuses the same (cloud/store/contract.int.test.ts runs them against both).
 * Returns the reason, or undefined when the point is fine. Field types are checked by each store.
 */
export function pointProblem(p: Point): string | undefined {
  if (!NAME_RE.test(p.measurement)) return `measurement name ${JSON.stringify(p.measurement)} is not allowed (letters, digits, _ . -; max 64)`;
  for (const k in p.tags) {
    if (!NAME_RE.test(k)) return `tag name ${JSON.stringify(k)} is not allowed (letters, digits, _ . -; max 64)`;
    if (k === 'time') return `invalid tag key: input tag "time" on measurement "${p.measurement}" is invalid`;
    const v = p.tags[k];
    if (v.endsWith('\\')) return `invalid tag format: the value of tag "${k}" on measurement "${p.measurement}" ends with a backslash, which line protocol cannot carry`;
  }
  for (const k in p.fields) {
    if (!NAME_RE.test(k)) return `field name ${JSON.stringify(k)} is not allowed (letters, digits, _ . -; max 64)`;
    if (k === 'time') return `invalid field name: input field "time" on measurement "${p.measurement}" is invalid`;
    const v = p.fields[k];
    if (typeof v === 'number' && !Number.isFinite(v)) return `field value ${v} of "${k}" on measurement "${p.measurement}" cannot be stored (InfluxDB has no NaN or infinity)`;
  }
  return undefined;
}

export type FieldType = 'float' | 'string' | 'boolean';
/** InfluxDB's type of a field value: numbers are always floats here (no `i` suffix is written). */
export function fieldType(v: number | string | boolean): FieldType {
  return typeof v === 'number' ? 'float' : typeof v === 'string' ? 'string' : 'boolean';
}

/** InfluxDB's own words for a field type conflict, so both stores give the same reason. */
export function typeConflict(measurement: string, field: string, type: FieldType, existing: FieldType): string {
  return `field type conflict: input field "${field}" on measurement "${measurement}" is type ${type}, already exists as type ${existing}`;
}
