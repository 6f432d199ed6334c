import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { CodedError } from '../../lib/errors.ts';
import { migrate, type SchemaComponent } from '../migrations.ts';
import { NAME_RE, StoreRefusedError, fieldType, pointProblem, typeConflict, type FieldType, type Point, type Refusal, type SeriesQuery, type SeriesResult, type SeriesStore, type Value } from './types.ts';

/**
 * The schema of series.db as the `series` component of the cloud's one migration mechanism
 * (cloud/migrations.ts), recorded in series.db's own schema_migrations table.
 * v1 is the schema this store created before it had migrations and keeps `IF NOT EXISTS` for
 * that reason: a series.db written by that code has the tables but no record, and v1 adopts
 * them unchanged. Later versions are plain DDL.
 */
export const SERIES_SCHEMA: SchemaComponent = {
  component: 'series',
  migrations: [{
    version: 1,
    name: 'series and samples',
    up: `
      CREATE TABLE IF NOT EXISTS series (
        id INTEGER PRIMARY KEY,
        measurement TEXT NOT NULL,
        key TEXT NOT NULL UNIQUE,
        tags TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS series_measurement ON series(measurement);
      CREATE TABLE IF NOT EXISTS samples (
        series INTEGER NOT NULL,
        field TEXT NOT NULL,
        time INTEGER NOT NULL,
        value,
        bool INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (series, field, time)
      ) WITHOUT ROWID;`,
  }],
};

/**
 * Embedded series store on SQLite: the default when no InfluxDB URL is configured,
 * so one machine runs the whole system with nothing else installed. A narrow table
 * (one row per series, field and time) with the same idempotent overwrite semantics
 * as InfluxDB; aggregation windows are computed in SQL.
 *
 * It refuses what InfluxDB refuses, the way InfluxDB does (a partial write: the other points are
 * written, then a `StoreRefusedError` names the refused ones with the reason):
 * the checks of `pointProblem`, and a field value whose type differs from the type the field
 * has in its measurement — the first type written wins, as InfluxDB does per shard (this store
 * keeps it for good, it has no shards). The type of a field already stored is read from its
 * samples (any one: this store never lets a second type in), then cached.
 */
export class SqliteStore implements SeriesStore {
  readonly kind = 'sqlite';
  private db!: Database.Database;
  private seriesIds = new Map<string, number>();
  private st!: {
    insertSeries: Database.Statement;
    upsert: Database.Statement;
    fieldType: Database.Statement;
  };
  /** `measurement \0 field` → the field's type there (only types committed to the file). */
  private readonly fieldTypes = new Map<string, FieldType>();

  constructor(private readonly file: string) {}

  async init(): Promise<void> {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    this.db = new Database(this.file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    try {
      migrate(this.db, [SERIES_SCHEMA], this.file);
    } catch (err) {
      this.db.close();
      throw err;
    }
    this.st = {
      insertSeries: this.db.prepare('INSERT INTO series (measurement, key, tags) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET key = key RETURNING id'),
      upsert: this.db.prepare('INSERT INTO samples (series, field, time, value, bool) VALUES (?, ?, ?, ?, ?) ON CONFLICT(series, field, time) DO UPDATE SET value = excluded.value, bool = excluded.bool'),
      fieldType: this.db.prepare("SELECT CASE WHEN x.bool THEN 'boolean' WHEN typeof(x.value) = 'text' THEN 'string' ELSE 'float' END AS type FROM series s JOIN samples x ON x.series = s.id AND x.field = ? WHERE s.measurement = ? LIMIT 1").pluck(),
    };
  }

  private seriesId(p: Point, added: string[]): number {
    const tagKeys = Object.keys(p.tags).sort();
    const key = `${p.measurement}|${tagKeys.map((k) => `${k}=${p.tags[k]}`).join(',')}`;
    let id = this.seriesIds.get(key);
    if (id === undefined) {
      const sorted: Record<string, string> = {};
      for (const k of tagKeys) sorted[k] = p.tags[k];
      id = (this.st.insertSeries.get(p.measurement, key, JSON.stringify(sorted)) as { id: number }).id;
      this.seriesIds.set(key, id);
      added.push(key);
    }
    return id;
  }

  /** The type `field` has in `measurement` in the file, if it has one. */
  private storedType(key: string, measurement: string, field: string): FieldType | undefined {
    let t = this.fieldTypes.get(key);
    if (t === undefined) {
      t = this.st.fieldType.get(field, measurement) as FieldType | undefined;
      if (t !== undefined) this.fieldTypes.set(key, t);
    }
    return t;
  }

  /**
   * What InfluxDB would refuse in this write, point by point. A field new to its measurement takes
   * the type of its first point in the write (`batch`), as in InfluxDB; a refused point sets none.
   */
  private refusals(points: Point[], batch: Map<string, FieldType>): Refusal[] {
    const refused: Refusal[] = [];
    for (let i = 0; i < points.length; i++) {
      const p = points[i];
      let reason = pointProblem(p);
      const fresh: Array<[string, FieldType]> = [];
      if (!reason) {
        for (const f in p.fields) {
          const key = `${p.measurement}\u0000${f}`;
          const type = fieldType(p.fields[f]);
          const known = batch.get(key) ?? this.storedType(key, p.measurement, f);
          if (known === undefined) fresh.push([key, type]);
          else if (known !== type) { reason = typeConflict(p.measurement, f, type, known); break; }
        }
      }
      if (reason) refused.push({ index: i, reason });
      else for (const [key, type] of fresh) batch.set(key, type);
    }
    return refused;
  }

  async write(points: Point[]): Promise<void> {
    const batch = new Map<string, FieldType>();
    const refused = this.refusals(points, batch);
    // Like InfluxDB's partial write: the other points are written, then the refused ones are named.
    const out = new Set(refused.map((r) => r.index));
    const ok = out.size ? points.filter((_, i) => !out.has(i)) : points;
    // Series ids cached during a write are valid only if it commits: after a rollback their rows
    // are gone, and a retry must not write samples under ids that no series (or another one) has.
    const added: string[] = [];
    try {
      this.db.transaction(() => {
        for (const p of ok) {
          const sid = this.seriesId(p, added);
          for (const [f, v] of Object.entries(p.fields)) this.st.upsert.run(sid, f, p.time, typeof v === 'boolean' ? (v ? 1 : 0) : v, typeof v === 'boolean' ? 1 : 0);
        }
      })();
    } catch (err) {
      for (const key of added) this.seriesIds.delete(key);
      throw err;
    }
    // committed: the types this write gave new fields are the fields' types now
    for (const [key, type] of batch) this.fieldTypes.set(key, type);
    if (refused.length) throw new StoreRefusedError(`the embedded series store refused ${refused.length} of ${points.length} points (the others were written): ${refused[0].reason}`, refused);
  }

  async query(q: SeriesQuery): Promise<SeriesResult> {
    for (const n of [q.measurement, ...q.fields, ...(q.groupBy ?? []), ...Object.keys(q.tags ?? {})]) {
      if (!NAME_RE.test(n)) throw new CodedError('STORE_BAD_NAME', `name ${JSON.stringify(n)} is not allowed (letters, digits, _ . -; max 64)`);
    }
    const conds = ['measurement = ?'];
    const args: unknown[] = [q.measurement];
    const filters = { ...(q.tags ?? {}), ...(q.site ? { site: q.site } : {}) };
    for (const [k, v] of Object.entries(filters)) { conds.push(`json_extract(tags, ?) = ?`); args.push(`$."${k}"`, v); }
    const series = this.db.prepare(`SELECT id, tags FROM series WHERE ${conds.join(' AND ')}`).all(...args) as Array<{ id: number; tags: string }>;
    // Split matching series into result groups by the groupBy tags.
    const groups = new Map<string, { tags: Record<string, string>; ids: number[] }>();
    for (const s of series) {
      const tags = JSON.parse(s.tags) as Record<string, string>;
      const gt: Record<string, string> = {};
      for (const k of q.groupBy ?? []) gt[k] = tags[k] ?? '';
      const gk = JSON.stringify(gt);
      const g = groups.get(gk) ?? { tags: gt, ids: [] };
      g.ids.push(s.id);
      groups.set(gk, g);
    }
    const out: SeriesResult = { series: [] };
    for (const g of [...groups.values()].sort((a, b) => JSON.stringify(a.tags).localeCompare(JSON.stringify(b.tags)))) {
      const values = q.windowMs ? this.aggregate(g.ids, q) : this.raw(g.ids, q);
      if (values.length) out.series.push({ tags: g.tags, columns: ['time', ...q.fields], values });
    }
    return out;
  }

  private raw(ids: number[], q: SeriesQuery): Value[][] {
    const rows = this.db
      .prepare(`SELECT time, field, value, bool FROM samples WHERE series IN (${ids.map(() => '?').join(',')}) AND field IN (${q.fields.map(() => '?').join(',')}) AND time >= ? AND time < ? ORDER BY time`)
      .all(...ids, ...q.fields, q.from, q.to) as Array<{ time: number; field: string; value: Value; bool: number }>;
    for (const r of rows) if (r.bool) r.value = r.value === 1;
    return this.pivot(rows, q);
  }

  private aggregate(ids: number[], q: SeriesQuery): Value[][] {
    const w = Math.floor(q.windowMs!);
    const agg = q.agg ?? 'mean';
    const expr: Record<string, string> = {
      mean: 'avg(value)', min: 'min(value)', max: 'max(value)', sum: 'sum(value)', count: 'count(value)',
      // SQLite: a bare column next to max()/min() takes the value of that row.
      last: 'value', first: 'value',
    };
    const pick = agg === 'last' ? ', max(time)' : agg === 'first' ? ', min(time)' : '';
    const rows = this.db
      .prepare(`SELECT (time / ${w}) * ${w} AS bucket, field, ${expr[agg]} AS value${pick} FROM samples WHERE series IN (${ids.map(() => '?').join(',')}) AND field IN (${q.fields.map(() => '?').join(',')}) AND time >= ? AND time < ? GROUP BY bucket, field ORDER BY bucket`)
      .all(...ids, ...q.fields, q.from, q.to) as Array<{ bucket: number; field: string; value: Value }>;
    return this.pivot(rows.map((r) => ({ time: r.bucket, field: r.field, value: r.value })), q);
  }

  private pivot(rows: Array<{ time: number; field: string; value: Value }>, q: SeriesQuery): Value[][] {
    const byTime = new Map<number, Value[]>();
    for (const r of rows) {
      let row = byTime.get(r.time);
      if (!row) { row = [r.time, ...q.fields.map(() => null)]; byTime.set(r.time, row); }
      row[1 + q.fields.indexOf(r.field)] = r.value;
    }
    const values = [...byTime.values()].sort((a, b) => (a[0] as number) - (b[0] as number));
    return q.limit ? values.slice(0, q.limit) : values;
  }

  async ping(): Promise<boolean> {
    return this.db?.open ?? false;
  }

  async close(): Promise<void> {
    if (this.db?.open) this.db.close();
  }
}
