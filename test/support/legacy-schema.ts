/**
 * Databases as the cloud wrote them BEFORE versioned migrations (commit 6693634): cloud/db.ts
 * counted its one core migration in PRAGMA user_version, and the alerts and models features ran
 * `CREATE TABLE IF NOT EXISTS` on first use. Frozen copies of that SQL, so upgrade tests start
 * from exactly what an existing installation has on disk. Never edit these.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

const CORE_V1 = `CREATE TABLE devices (
     site TEXT PRIMARY KEY,
     salt BLOB NOT NULL,
     hash BLOB NOT NULL,
     created INTEGER NOT NULL,
     revoked INTEGER
   );
   CREATE TABLE api_tokens (
     id INTEGER PRIMARY KEY,
     name TEXT NOT NULL,
     role TEXT NOT NULL,
     hash TEXT NOT NULL UNIQUE,
     created INTEGER NOT NULL,
     revoked INTEGER
   );
   CREATE TABLE ingest_spool (
     rowid INTEGER PRIMARY KEY,
     site TEXT NOT NULL,
     received INTEGER NOT NULL,
     items INTEGER NOT NULL,
     body BLOB NOT NULL
   );
   CREATE TABLE ingest_seen (
     site TEXT NOT NULL,
     stream TEXT NOT NULL,
     lo INTEGER NOT NULL,
     hi INTEGER NOT NULL,
     PRIMARY KEY (site, stream, lo)
   ) WITHOUT ROWID;
   CREATE TABLE dead_letters (
     id INTEGER PRIMARY KEY,
     at INTEGER NOT NULL,
     topic TEXT NOT NULL,
     site TEXT,
     code TEXT NOT NULL,
     reason TEXT NOT NULL,
     payload BLOB
   );
   CREATE INDEX dead_letters_code ON dead_letters(code, at);
   CREATE TABLE site_status (
     site TEXT PRIMARY KEY,
     online INTEGER NOT NULL,
     ts INTEGER NOT NULL,
     received INTEGER NOT NULL,
     health TEXT
   );
   CREATE TABLE events (
     id TEXT PRIMARY KEY,
     site TEXT NOT NULL,
     kind TEXT NOT NULL,
     type TEXT NOT NULL,
     source TEXT NOT NULL,
     ts INTEGER NOT NULL,
     received INTEGER NOT NULL,
     body TEXT NOT NULL
   );
   CREATE INDEX events_site_ts ON events(site, ts);
   CREATE INDEX events_type_ts ON events(type, ts);`;

/** cloud/alerts/store.ts DDL. */
const ALERT_STORE = `
CREATE TABLE IF NOT EXISTS alerts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  site TEXT NOT NULL, rule TEXT NOT NULL, source TEXT NOT NULL,
  state TEXT NOT NULL, severity TEXT NOT NULL, raised_severity TEXT NOT NULL,
  message TEXT NOT NULL, data TEXT NOT NULL,
  first_ts INTEGER NOT NULL, last_ts INTEGER NOT NULL, cleared_ts INTEGER,
  opened_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
  raise_count INTEGER NOT NULL DEFAULT 1, escalation_level INTEGER NOT NULL DEFAULT 0, escalated_at INTEGER,
  acked_by TEXT, acked_at INTEGER, ack_note TEXT,
  resolution TEXT, resolved_by TEXT, resolved_at INTEGER, resolve_note TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS alerts_one_open ON alerts (site, rule, source) WHERE state != 'resolved';
CREATE INDEX IF NOT EXISTS alerts_state ON alerts (state, opened_at);
CREATE TABLE IF NOT EXISTS alert_history (
  id INTEGER PRIMARY KEY AUTOINCREMENT, alert_id INTEGER NOT NULL, at INTEGER NOT NULL,
  action TEXT NOT NULL, actor TEXT, note TEXT, item_id TEXT, data TEXT
);
CREATE INDEX IF NOT EXISTS alert_history_alert ON alert_history (alert_id, id);
CREATE TABLE IF NOT EXISTS alert_items_seen (id TEXT PRIMARY KEY, received INTEGER NOT NULL);
`;

/** cloud/alerts/notifier.ts DDL. */
const NOTIFIER = `
CREATE TABLE IF NOT EXISTS alert_notifications (
  id TEXT PRIMARY KEY, target TEXT NOT NULL, alert_id INTEGER NOT NULL, event TEXT NOT NULL, body TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL,
  created INTEGER NOT NULL, done_at INTEGER, last_error TEXT
);
CREATE INDEX IF NOT EXISTS alert_notifications_due ON alert_notifications (state, next_at);
`;

/** cloud/models/registry.ts DDL. */
const REGISTRY = `CREATE TABLE IF NOT EXISTS model_bundles (
      name TEXT NOT NULL, version TEXT NOT NULL, digest TEXT NOT NULL, size INTEGER NOT NULL, key_id TEXT NOT NULL,
      family TEXT NOT NULL, budget REAL NOT NULL, card TEXT NOT NULL, created INTEGER NOT NULL, uploaded_by TEXT NOT NULL,
      PRIMARY KEY (name, version))`;

/** cloud/models/rollout-store.ts initRolloutTables DDL. */
const ROLLOUTS = `
    CREATE TABLE IF NOT EXISTS model_rollouts (
      id TEXT PRIMARY KEY, name TEXT NOT NULL, version TEXT NOT NULL, digest TEXT NOT NULL, size INTEGER NOT NULL, budget REAL NOT NULL,
      state TEXT NOT NULL, resume_to TEXT, reason TEXT, spec TEXT NOT NULL, created INTEGER NOT NULL, updated INTEGER NOT NULL, by TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS model_rollout_sites (
      rollout TEXT NOT NULL, site TEXT NOT NULL, stage TEXT NOT NULL, state TEXT NOT NULL, cmd_id TEXT, cmd TEXT,
      sent_at INTEGER, last_sent INTEGER, deployed_at INTEGER, prev TEXT, result TEXT, gates TEXT, updated INTEGER NOT NULL,
      PRIMARY KEY (rollout, site));
    CREATE INDEX IF NOT EXISTS model_rollout_sites_cmd ON model_rollout_sites(cmd_id);
    CREATE TABLE IF NOT EXISTS model_download_tokens (hash TEXT PRIMARY KEY, site TEXT NOT NULL, digest TEXT NOT NULL, expires INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS model_site_stats (
      site TEXT NOT NULL, model TEXT NOT NULL, version TEXT NOT NULL, ts INTEGER NOT NULL, frames INTEGER NOT NULL, errors INTEGER NOT NULL,
      detections INTEGER NOT NULL, p95 REAL NOT NULL, fps REAL NOT NULL, window_ms INTEGER NOT NULL);
    CREATE UNIQUE INDEX IF NOT EXISTS model_site_stats_k ON model_site_stats(site, model, version, ts);`;

/** cloud/store/sqlite-store.ts init() DDL. */
const SERIES = `
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
      ) WITHOUT ROWID;
    `;

function open(file: string): Database.Database {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  return db;
}

/**
 * A cloud.db as the old code left it: core v1 counted in user_version, and — for each feature
 * named — that feature's tables created on first use. Returns the open handle (close it).
 */
export function legacyCloudDb(file: string, features: Array<'alerts' | 'models'> = ['alerts', 'models']): Database.Database {
  const db = open(file);
  db.transaction(() => { db.exec(CORE_V1); db.pragma('user_version = 1'); })();
  if (features.includes('models')) { db.exec(REGISTRY); db.exec(ROLLOUTS); }
  if (features.includes('alerts')) { db.exec(NOTIFIER); db.exec(ALERT_STORE); }
  return db;
}

/** A series.db as the old SqliteStore left it. */
export function legacySeriesDb(file: string): Database.Database {
  const db = open(file);
  db.exec(SERIES);
  return db;
}
