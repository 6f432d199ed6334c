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
  query(q: SeriesQuery): Promise<SeriesResult>;
  /** True when the store answers. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export const NAME_RE = /^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$/;
