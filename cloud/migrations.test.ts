import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { legacyCloudDb, legacySeriesDb } from '../test/support/legacy-schema.ts';
import { tempDir } from '../test/peers/ports.ts';
import { ALERTS_SCHEMA } from './alerts/schema.ts';
import { AlertStore } from './alerts/store.ts';
import { Cloud } from './cloud.ts';
import { CloudConfigSchema } from './config.ts';
import { CORE_SCHEMA, openCloudDb } from './db.ts';
import { validateConfig } from '../lib/config.ts';
import { migrate, schemaVersions, type SchemaComponent } from './migrations.ts';
import { MODELS_SCHEMA } from './models/schema.ts';
import { SERIES_SCHEMA, SqliteStore } from './store/sqlite-store.ts';

const FEATURES = [ALERTS_SCHEMA, MODELS_SCHEMA];
const CLOUD_TABLES = ['devices', 'api_tokens', 'ingest_spool', 'ingest_seen', 'dead_letters', 'site_status', 'events',
  'alerts', 'alert_history', 'alert_items_seen', 'alert_notifications',
  'model_bundles', 'model_rollouts', 'model_rollout_sites', 'model_download_tokens', 'model_site_stats'];

const file = (name = 'cloud.db') => path.join(tempDir('migrations-'), name);

/** Every table, index and trigger with its SQL (whitespace normalised), without schema_migrations. */
function schemaOf(db: Database.Database): Record<string, string> {
  const rows = db.prepare("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name != 'schema_migrations' ORDER BY name").all() as Array<{ type: string; name: string; sql: string | null }>;
  return Object.fromEntries(rows.map((r) => [`${r.type} ${r.name}`, (r.sql ?? '').replace(/\s+/g, ' ').trim()]));
}

/** Schema + every row of every table: what "the database as it was" means. */
function snapshot(f: string): { schema: Record<string, string>; rows: Record<string, unknown[]>; userVersion: number } {
  const db = new Database(f, { readonly: true });
  try {
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as Array<{ name: string }>).map((t) => t.name);
    const rows: Record<string, unknown[]> = {};
    for (const t of tables) rows[t] = db.prepare(`SELECT * FROM "${t}" ORDER BY 1`).all();
    const all = db.prepare("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name").all() as Array<{ type: string; name: string; sql: string | null }>;
    return { schema: Object.fromEntries(all.map((r) => [`${r.type} ${r.name}`, r.sql ?? ''])), rows, userVersion: db.pragma('user_version', { simple: true }) as number };
  } finally {
    db.close();
  }
}

const tablesOf = (db: Database.Database) => (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>).map((r) => r.name);
/** The alerts component's next (not yet written) version, for tests of adding and failing steps. */
const NEXT = ALERTS_SCHEMA.migrations.length + 1;
const ALL_MIGRATIONS = ALERTS_SCHEMA.migrations.length + CORE_SCHEMA.migrations.length + MODELS_SCHEMA.migrations.length;
const records = (db: Database.Database) => db.prepare('SELECT component, version, name FROM schema_migrations ORDER BY component, version').all();

describe('schema migrations (one mechanism for cloud.db and series.db)', () => {
  it('a fresh cloud.db gets every core and feature table, each version recorded once', () => {
    const db = openCloudDb(file(), FEATURES);
    expect(tablesOf(db)).toEqual(expect.arrayContaining([...CLOUD_TABLES, 'schema_migrations']));
    expect(records(db)).toEqual([ALERTS_SCHEMA, CORE_SCHEMA, MODELS_SCHEMA].flatMap((c) => c.migrations.map((m) => ({ component: c.component, version: m.version, name: m.name }))));
    expect(schemaVersions(db)).toEqual({ alerts: ALERTS_SCHEMA.migrations.length, core: 1, models: 1 });
    expect(db.pragma('user_version', { simple: true })).toBe(1); // kept equal to the core version for older binaries
    db.close();
  });

  it('the migrations build exactly the schema the old code built (v1 is the old DDL)', () => {
    const old = legacyCloudDb(file());
    const now = openCloudDb(file(), FEATURES.map((c) => ({ ...c, migrations: c.migrations.filter((m) => m.version === 1) })));
    expect(schemaOf(now)).toEqual(schemaOf(old));
    old.close();
    now.close();
    const oldSeries = legacySeriesDb(file('series.db'));
    const newSeries = new Database(file('series.db'));
    migrate(newSeries, [SERIES_SCHEMA]);
    expect(schemaOf(newSeries)).toEqual(schemaOf(oldSeries));
    oldSeries.close();
    newSeries.close();
  });

  it('a cloud.db made by the old code path upgrades in place and keeps its rows', async () => {
    const f = file();
    const old = legacyCloudDb(f);
    old.prepare('INSERT INTO devices (site, salt, hash, created) VALUES (?, ?, ?, ?)').run('street-north', Buffer.alloc(16, 1), Buffer.alloc(32, 2), 1);
    old.prepare('INSERT INTO events (id, site, kind, type, source, ts, received, body) VALUES (?,?,?,?,?,?,?,?)').run('e1', 'street-north', 'event', 'crowd', 'cam', 10, 11, '{}');
    old.prepare("INSERT INTO alerts (site, rule, source, state, severity, raised_severity, message, data, first_ts, last_ts, opened_at, updated_at) VALUES ('env-a', 'pm25', 's1/PM2.5', 'open', 'critical', 'critical', 'high', '{}', 1, 1, 2, 2)").run();
    old.prepare("INSERT INTO alert_notifications (id, target, alert_id, event, body, next_at, created) VALUES ('n1', 'webhook:duty', 1, 'raised', '{}', 3, 3)").run();
    old.prepare("INSERT INTO model_bundles VALUES ('nanodet', '1.0.0', 'abc', 10, 'k1', 'nanodet', 50, '{}', 4, 'ops')").run();
    old.prepare("INSERT INTO model_site_stats VALUES ('cam-a', 'nanodet', '1.0.0', 5, 100, 0, 30, 20, 5, 60000)").run();
    old.close();
    const before = snapshot(f);

    const db = openCloudDb(f, FEATURES);
    // core was detected through user_version (its v1 is plain CREATE TABLE and would fail if run
    // again); the features' v1 ran with IF NOT EXISTS over the tables already there.
    expect(records(db)).toHaveLength(ALL_MIGRATIONS);
    const after = snapshot(f);
    // (alerts v3 added two columns, null and 0 on the old rows)
    const withoutV3 = (rows: unknown[]) => rows.map((r) => { const { assignee: _a, comment_count: _c, ...rest } = r as Record<string, unknown>; return rest; });
    for (const [t, rows] of Object.entries(before.rows)) expect(t === 'alerts' ? withoutV3(after.rows[t]) : after.rows[t], t).toEqual(rows);
    expect(after.rows.alerts).toMatchObject([{ assignee: null, comment_count: 0 }]);
    // the schema is the old one plus the record table and what later versions added
    const { 'table schema_migrations': recordTable, 'table alert_keys': alertKeys, ...rest } = after.schema;
    expect(recordTable).toMatch(/CREATE TABLE schema_migrations/);
    expect(alertKeys).toMatch(/CREATE TABLE alert_keys/);
    // alerts v3: two columns on alerts, the change feed and its triggers, two indexes
    const { 'table alerts': alertsTable, 'table alert_changes': changes, 'trigger alert_changes_insert': onInsert, 'trigger alert_changes_update': onUpdate, 'index alerts_assignee': byAssignee, 'index alerts_open_id': openIds, ...unchanged } = rest;
    const { 'table alerts': oldAlerts, ...oldRest } = before.schema;
    expect(alertsTable.startsWith(oldAlerts.replace(/\s*\)\s*$/, ''))).toBe(true);
    expect(alertsTable).toMatch(/assignee TEXT.*comment_count INTEGER NOT NULL DEFAULT 0/s);
    expect([changes, onInsert, onUpdate, byAssignee, openIds].every(Boolean)).toBe(true);
    expect(unchanged).toEqual(oldRest);
    // alerts v2 backfilled the newest observation of each (site, rule, source) from the old rows
    expect(db.prepare('SELECT site, rule, source, last_ts FROM alert_keys').all()).toEqual([{ site: 'env-a', rule: 'pm25', source: 's1/PM2.5', last_ts: 1 }]);
    // and the feature code works on it: the old open alert is still the one open alert of its key
    const store = new AlertStore(db, () => {}, () => 100);
    expect(store.list({ state: 'open' })).toMatchObject([{ id: 1, site: 'env-a', rule: 'pm25' }]);
    db.close();

    // the old series.db too
    const sf = file('series.db');
    const oldSeries = legacySeriesDb(sf);
    oldSeries.prepare("INSERT INTO series (id, measurement, key, tags) VALUES (1, 'air', 'air|site=a', '{\"site\":\"a\"}')").run();
    oldSeries.prepare("INSERT INTO samples VALUES (1, 'pm25', 1000, 42, 0)").run();
    oldSeries.close();
    const series = new SqliteStore(sf);
    await series.init();
    expect((await series.query({ measurement: 'air', fields: ['pm25'], from: 0, to: 2000 })).series[0].values).toEqual([[1000, 42]]);
    await series.close();
    const s = new Database(sf, { readonly: true });
    expect(records(s)).toEqual([{ component: 'series', version: 1, name: 'series and samples' }]);
    s.close();
  });

  it('an old cloud.db on which a feature never ran gets that feature’s tables', () => {
    const f = file();
    legacyCloudDb(f, []).close();
    const db = openCloudDb(f, FEATURES);
    expect(tablesOf(db)).toEqual(expect.arrayContaining(CLOUD_TABLES));
    db.close();
  });

  it('re-running is a no-op: nothing applied, nothing written, the file is unchanged', () => {
    const f = file();
    openCloudDb(f, FEATURES).close();
    const first = snapshot(f);
    const db = openCloudDb(f, FEATURES);
    expect(migrate(db, [CORE_SCHEMA, ...FEATURES])).toEqual({ applied: [], adopted: [] });
    // the stores' own migrate() calls are no-ops as well
    new AlertStore(db);
    db.close();
    expect(snapshot(f)).toEqual(first);
  });

  it('adds a later version once, in order, with only that version run', () => {
    const f = file();
    openCloudDb(f, FEATURES).close();
    const v2: SchemaComponent = { ...ALERTS_SCHEMA, migrations: [...ALERTS_SCHEMA.migrations, { version: NEXT, name: 'alert tags', up: 'ALTER TABLE alerts ADD COLUMN tags TEXT' }] };
    const db = openCloudDb(f, [v2, MODELS_SCHEMA]);
    expect(schemaVersions(db)).toEqual({ alerts: NEXT, core: 1, models: 1 });
    expect((db.prepare('PRAGMA table_info(alerts)').all() as Array<{ name: string }>).map((c) => c.name)).toContain('tags');
    expect(migrate(db, [v2])).toEqual({ applied: [], adopted: [] });
    db.close();
  });

  it('a failing migration rolls everything back, names component and version, and stops startup', async () => {
    // an old database with rows, upgraded by code whose alerts v2 fails half-way
    const f = file();
    const old = legacyCloudDb(f);
    old.prepare('INSERT INTO devices (site, salt, hash, created) VALUES (?, ?, ?, ?)').run('street-north', Buffer.alloc(16), Buffer.alloc(32), 1);
    old.close();
    const before = snapshot(f);
    const broken: SchemaComponent = {
      ...ALERTS_SCHEMA,
      migrations: [...ALERTS_SCHEMA.migrations, { version: NEXT, name: 'split history', up: 'CREATE TABLE alert_history2 (id INTEGER); INSERT INTO alert_history2 SELECT nope FROM alert_history;' }],
    };
    let err: any;
    try { openCloudDb(f, [broken, MODELS_SCHEMA]); } catch (e) { err = e; }
    expect(err).toMatchObject({ code: 'CLOUD_MIGRATION_FAILED', details: { component: 'alerts', version: NEXT, name: 'split history' } });
    expect(err.message).toMatch(new RegExp(`alerts v${NEXT} \\(split history\\) failed`));
    expect(err.message).toMatch(/failed: .*no such column: nope.*rolled back/);
    // not even the earlier steps of this run (core and feature adoption, alerts v1, the record table) stayed
    expect(snapshot(f)).toEqual(before);

    // a fresh file stays empty
    const g = file();
    expect(() => openCloudDb(g, [broken])).toThrow(expect.objectContaining({ code: 'CLOUD_MIGRATION_FAILED' }));
    expect(snapshot(g).schema).toEqual({});

    // through the cloud: start() rejects before the broker or the API listen
    const dataDir = tempDir('migrations-cloud-');
    const config = validateConfig(CloudConfigSchema, { dataDir, broker: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 } }, 'test cloud');
    const cloud = new Cloud(config, [{ schema: [broken] }]);
    await expect(cloud.start()).rejects.toMatchObject({ code: 'CLOUD_MIGRATION_FAILED', details: { component: 'alerts', version: NEXT } });
    expect(cloud.httpUrl).toBe('');
    expect(snapshot(path.join(dataDir, 'cloud.db')).schema).toEqual({});
  });

  it('refuses a database newer than the code, before touching it', () => {
    const f = file();
    const db = openCloudDb(f, FEATURES);
    db.prepare("INSERT INTO schema_migrations (component, version, name, applied_at) VALUES ('models', 2, 'from the future', 0)").run();
    db.close();
    const before = snapshot(f);
    expect(() => openCloudDb(f, FEATURES)).toThrow(expect.objectContaining({ code: 'CLOUD_SCHEMA_TOO_NEW', details: { component: 'models', version: 2, known: 1 } }));
    expect(() => openCloudDb(f, FEATURES)).toThrow(/component models is at schema version 2, this code knows up to 1; it was written by a newer cityedge/);
    expect(snapshot(f)).toEqual(before);
    // a tool that does not use that feature (the CLI: core only) still opens it
    openCloudDb(f).close();

    // an old-style file whose user_version is beyond the known core versions
    const g = file();
    const x = new Database(g);
    x.pragma('user_version = 7');
    x.close();
    expect(() => openCloudDb(g)).toThrow(expect.objectContaining({ code: 'CLOUD_SCHEMA_TOO_NEW', details: { component: 'core', version: 7, known: 1 } }));

    // and series.db
    const s = file('series.db');
    const sdb = new Database(s);
    migrate(sdb, [{ ...SERIES_SCHEMA, migrations: [...SERIES_SCHEMA.migrations, { version: 2, name: 'future', up: 'SELECT 1' }] }]);
    sdb.close();
    return expect(new SqliteStore(s).init()).rejects.toMatchObject({ code: 'CLOUD_SCHEMA_TOO_NEW', details: { component: 'series', version: 2 } });
  });

  it('refuses malformed declarations', () => {
    const db = new Database(':memory:');
    expect(() => migrate(db, [{ component: 'x', migrations: [{ version: 2, name: 'gap', up: '' }] }])).toThrow(expect.objectContaining({ code: 'CLOUD_MIGRATION_INVALID' }));
    expect(() => migrate(db, [{ component: 'Bad Name', migrations: [] }])).toThrow(expect.objectContaining({ code: 'CLOUD_MIGRATION_INVALID' }));
    expect(() => migrate(db, [ALERTS_SCHEMA, ALERTS_SCHEMA])).toThrow(expect.objectContaining({ code: 'CLOUD_MIGRATION_INVALID' }));
  });
});
