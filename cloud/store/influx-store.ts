import { InfluxDB, escape } from 'influx';
import { CodedError } from '../../lib/errors.ts';
import { NAME_RE, StoreRefusedError, fieldType, type Point, type Refusal, type SeriesQuery, type SeriesResult, type SeriesStore, type Value } from './types.ts';

const ident = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
const literal = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

function checkName(kind: string, s: string): void {
  if (!NAME_RE.test(s)) throw new CodedError('STORE_BAD_NAME', `${kind} name ${JSON.stringify(s)} is not allowed (letters, digits, _ . -; max 64)`);
}

/**
 * InfluxDB 1.x's answers that refuse points for good (HTTP 400): line protocol it cannot parse,
 * and the partial writes of points it drops (field type conflict, a field or tag named `time`,
 * max-values-per-tag, beyond the retention policy). Any other 400 (e.g. a missing database name)
 * and every 401, 403, 404, 5xx, timeout or connection error is transient: retried, never dead-lettered.
 */
const REFUSAL_RE = /unable to parse|partial write|field type conflict|invalid field name|invalid tag key|max-values-per-tag|beyond retention policy/;

/**
 * Turn what the `influx` client threw for a /write into a `StoreRefusedError` when InfluxDB refused
 * points for good, naming them where its answer allows: each line it could not parse is quoted in
 * the answer (exact); for a dropped point it names one reason (e.g. the field and measurement of a
 * type conflict) and a count, so the points matching that reason are suspects — and exactly the
 * refused ones when they are all the points of the write and all of them were dropped.
 * Otherwise returns the error unchanged (transient).
 */
export function classifyWriteError(err: unknown, points: Point[], lines: string[]): unknown {
  // RequestError (300 <= status < 500) carries the response; 5xx, timeouts and socket errors do not
  const status = (err as { res?: { statusCode?: number } } | null)?.res?.statusCode;
  if (typeof status !== 'number') return err;
  const text = err instanceof Error ? err.message : String(err);
  const raw = text.includes('error occurred: ') ? text.slice(text.indexOf('error occurred: ') + 'error occurred: '.length) : text;
  let body = raw;
  try { body = String((JSON.parse(raw) as { error?: unknown }).error ?? raw); } catch { /* not JSON */ }
  if (status === 413) return new StoreRefusedError(`InfluxDB refused the write as too large (413): ${body}`, []); // split, then each part fits
  if (status !== 400 || !REFUSAL_RE.test(body)) return err;
  const dropped = /\sdropped=(\d+)\s*$/.exec(body);
  const reasons = body.replace(/^partial write:\s*/, '').replace(/\s*dropped=\d+\s*$/, '').split('\n');
  const byLine = new Map<string, number[]>();
  lines.forEach((l, i) => { const at = byLine.get(l); if (at) at.push(i); else byLine.set(l, [i]); });
  const refused: Refusal[] = [];
  const other: string[] = [];
  for (const r of reasons) {
    let matched = false;
    if (r.startsWith("unable to parse '")) {
      const rest = r.slice("unable to parse '".length);
      for (let j = rest.indexOf("': "); j >= 0 && !matched; j = rest.indexOf("': ", j + 1)) {
        const at = byLine.get(rest.slice(0, j));
        if (at) { matched = true; for (const index of at) refused.push({ index, reason: r }); }
      }
    }
    if (!matched) other.push(r);
  }
  const suspects = new Set<number>();
  for (const r of other) {
    let m: RegExpExecArray | null;
    let match: ((p: Point) => boolean) | undefined;
    if ((m = /field type conflict: input field "([^"]+)" on measurement "([^"]+)" is type (\w+)/.exec(r))) {
      const [, f, meas, type] = m;
      match = (p) => p.measurement === meas && f in p.fields && fieldType(p.fields[f]) === type;
    } else if ((m = /invalid field name: input field "([^"]+)" on measurement "([^"]+)"/.exec(r))) {
      const [, f, meas] = m;
      match = (p) => p.measurement === meas && f in p.fields;
    } else if ((m = /invalid tag key: input tag "([^"]+)" on measurement "([^"]+)"/.exec(r))) {
      const [, k, meas] = m;
      match = (p) => p.measurement === meas && k in p.tags;
    } else if ((m = /max-values-per-tag limit exceeded \([^)]*\): measurement="([^"]+)" tag="([^"]+)" value="([^"]*)"/.exec(r))) {
      const [, meas, k, v] = m;
      match = (p) => p.measurement === meas && p.tags[k] === v;
    }
    if (match) points.forEach((p, i) => { if (match(p)) suspects.add(i); });
  }
  const message = `InfluxDB refused the write (${status}): ${body}`;
  // every point of this write was dropped, and each matches the one reason given: all refused, for it
  if (!refused.length && other.length === 1 && dropped && Number(dropped[1]) === points.length && suspects.size === points.length) {
    return new StoreRefusedError(message, points.map((_, index) => ({ index, reason: other[0] })));
  }
  const named = new Set(refused.map((r) => r.index));
  return new StoreRefusedError(message, refused, [...suspects].filter((i) => !named.has(i)));
}

/**
 * One point in InfluxDB line protocol (ms precision), or why it cannot be written. `safe` says
 * whether a name matches NAME_RE (callers cache it). Measurement, tag keys and field keys match
 * NAME_RE (no character line protocol escapes); tag values and string fields are free text and
 * are escaped. Tags are sorted by key, fields keep their order.
 */
export function influxLine(p: Point, safe: (name: string) => boolean = (n) => NAME_RE.test(n)): string | { reason: string } {
  if (!safe(p.measurement)) return { reason: `measurement name ${JSON.stringify(p.measurement)} is not allowed (letters, digits, _ . -; max 64)` };
  let line = p.measurement;
  for (const k of Object.keys(p.tags).sort()) {
    if (!safe(k)) return { reason: `tag name ${JSON.stringify(k)} is not allowed (letters, digits, _ . -; max 64)` };
    line += `,${k}=${escape.tag(p.tags[k])}`;
  }
  let first = true;
  for (const k in p.fields) {
    if (!safe(k)) return { reason: `field name ${JSON.stringify(k)} is not allowed (letters, digits, _ . -; max 64)` };
    const v = p.fields[k];
    // Numbers are always floats in InfluxDB (no `i` suffix), so a number never changes a field's type.
    if (typeof v === 'number' && !Number.isFinite(v)) return { reason: `field value ${v} of "${k}" on measurement "${p.measurement}" cannot be stored (InfluxDB has no NaN or infinity)` };
    line += `${first ? ' ' : ','}${k}=${typeof v === 'string' ? escape.quoted(v) : typeof v === 'boolean' ? (v ? 'T' : 'F') : String(v)}`;
    first = false;
  }
  return `${line} ${Math.trunc(p.time)}`;
}

/** InfluxDB 1.x through the `influx` package: the production series store. */
export class InfluxStore implements SeriesStore {
  readonly kind = 'influxdb';
  private readonly influx: InfluxDB;
  private readonly auth?: string;
  constructor(private readonly url: string, private readonly database: string) {
    const u = new URL(url);
    if (u.username) this.auth = `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`;
    this.influx = new InfluxDB({
      host: u.hostname,
      port: Number(u.port || (u.protocol === 'https:' ? 443 : 8086)),
      protocol: u.protocol === 'https:' ? 'https' : 'http',
      username: decodeURIComponent(u.username) || undefined,
      password: decodeURIComponent(u.password) || undefined,
      database,
    });
  }

  async init(): Promise<void> {
    // CREATE DATABASE is idempotent in InfluxDB 1.x.
    await this.influx.createDatabase(this.database);
  }

  /**
   * Points are serialized to line protocol here with the package's own escapers and sent
   * through its connection pool. `writePoints` re-checks and coerces every field
   * (`parsePoint`), which profiled at ~3 µs a point — more than all of validation, dedupe
   * and spooling; the protocol schema has already checked names and types.
   * A point this store cannot put into line protocol (a name outside NAME_RE: no escaping is
   * done for names; NaN or infinity) is refused before anything is sent; what InfluxDB itself
   * refuses comes back as a `StoreRefusedError` in InfluxDB's words (`classifyWriteError`).
   */
  async write(points: Point[]): Promise<void> {
    if (!points.length) return;
    const lines: string[] = new Array(points.length);
    const refused: Refusal[] = [];
    for (let i = 0; i < points.length; i++) {
      const line = this.line(points[i]);
      if (typeof line === 'string') lines[i] = line;
      else refused.push({ index: i, reason: line.reason });
    }
    if (refused.length) throw new StoreRefusedError(`refused before sending to InfluxDB: ${refused.length} of ${points.length} points (nothing written): ${refused[0].reason}`, refused);
    const body = `${lines.join('\n')}\n`;
    const pool = (this.influx as unknown as { _pool: { discard(o: unknown): Promise<void> } })._pool;
    try {
      await pool.discard({ method: 'POST', path: '/write', body, query: { db: this.database, precision: 'ms' }, auth: this.auth });
    } catch (err) {
      throw classifyWriteError(err, points, lines);
    }
  }

  /** One point in line protocol, or why it cannot be written. */
  private line(p: Point): string | { reason: string } {
    return influxLine(p, (n) => this.safe(n));
  }

  /**
   * Write points already in line protocol (`influxLine` of each, e.g. made by an ingest worker
   * thread); `points` gives the same points as objects, only needed to name what InfluxDB refuses.
   */
  async writeLines(lines: string[], points: () => Point[]): Promise<void> {
    if (!lines.length) return;
    const pool = (this.influx as unknown as { _pool: { discard(o: unknown): Promise<void> } })._pool;
    try {
      await pool.discard({ method: 'POST', path: '/write', body: `${lines.join('\n')}\n`, query: { db: this.database, precision: 'ms' }, auth: this.auth });
    } catch (err) {
      throw classifyWriteError(err, points(), lines);
    }
  }

  async query(q: SeriesQuery): Promise<SeriesResult> {
    checkName('measurement', q.measurement);
    q.fields.forEach((f) => checkName('field', f));
    (q.groupBy ?? []).forEach((t) => checkName('tag', t));
    const agg = q.windowMs ? (q.agg ?? 'mean') : undefined;
    const select = q.fields.map((f) => (agg ? `${agg}(${ident(f)}) AS ${ident(f)}` : ident(f))).join(', ');
    const where = [`time >= ${Math.floor(q.from)}ms`, `time < ${Math.floor(q.to)}ms`];
    if (q.site) where.push(`"site" = ${literal(q.site)}`);
    for (const [k, v] of Object.entries(q.tags ?? {})) { checkName('tag', k); where.push(`${ident(k)} = ${literal(v)}`); }
    const group: string[] = [];
    if (q.windowMs) group.push(`time(${Math.floor(q.windowMs)}ms)`);
    for (const t of q.groupBy ?? []) group.push(ident(t));
    let ql = `SELECT ${select} FROM ${ident(q.measurement)} WHERE ${where.join(' AND ')}`;
    if (group.length) ql += ` GROUP BY ${group.join(', ')}`;
    if (q.windowMs) ql += ' fill(none)';
    ql += ' ORDER BY time ASC';
    if (q.limit) ql += ` LIMIT ${Math.floor(q.limit)}`;
    const raw = await this.influx.queryRaw(ql, { precision: 'ms', database: this.database });
    const result = raw.results?.[0];
    if (result?.error) throw new CodedError('STORE_QUERY_FAILED', `InfluxDB refused the query: ${result.error}`);
    const series = (result?.series ?? []).map((s: { tags?: Record<string, string>; columns: string[]; values: Value[][] }) => ({
      tags: s.tags ?? {},
      columns: ['time', ...q.fields],
      values: s.values.map((row) => [row[0], ...q.fields.map((f) => row[s.columns.indexOf(f)] ?? null)]),
    }));
    return { series };
  }

  /** Names seen before are known to be safe; checking each once keeps the hot path cheap. */
  private readonly safeNames = new Set<string>();
  private safe(name: string): boolean {
    if (this.safeNames.has(name)) return true;
    if (!NAME_RE.test(name)) return false;
    if (this.safeNames.size < 100_000) this.safeNames.add(name);
    return true;
  }

  async ping(): Promise<boolean> {
    const hosts = await this.influx.ping(2000).catch(() => []);
    return hosts.some((h) => h.online);
  }

  async close(): Promise<void> {
    /* stateless HTTP client */
  }
}
