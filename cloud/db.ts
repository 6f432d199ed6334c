import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { CodedError } from '../lib/errors.ts';
import { migrate, type Migration, type SchemaComponent } from './migrations.ts';

/**
 * The cloud's own SQLite database (devices, API tokens, ingest spool and dedupe state,
 * dead letters, site status, events). These core tables are the `core` component of the
 * one migration mechanism (cloud/migrations.ts); features (alerts, models, …) declare their
 * own components and the cloud applies them all at start, in one transaction.
 */
const coreMigrations: Migration[] = [
  { version: 1, name: 'devices, tokens, spool, dedupe, dead letters, site status, events', up: `CREATE TABLE devices (
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
   CREATE INDEX events_type_ts ON events(type, ts);` },
];

/**
 * The core schema. Before schema_migrations existed, core versions were counted in
 * `PRAGMA user_version` (1 = the migration above); such a file is DETECTED through it and
 * its versions are recorded without running (v1 has plain CREATE TABLE, so running it again
 * would fail). user_version is still kept equal to the core version, for older binaries.
 */
export const CORE_SCHEMA: SchemaComponent = {
  component: 'core',
  migrations: coreMigrations.map((m) => ({
    ...m,
    up: (db: Database.Database) => { db.exec(m.up as string); db.pragma(`user_version = ${m.version}`); },
  })),
  legacyVersion: (db) => db.pragma('user_version', { simple: true }) as number,
};

export type CloudDb = Database.Database;

/**
 * Open (creating it if needed) the cloud database and bring the core schema and the given
 * feature schemas up to date. Throws CodedError CLOUD_DB_OPEN, CLOUD_MIGRATION_FAILED or
 * CLOUD_SCHEMA_TOO_NEW (the database is left as it was and closed).
 */
export function openCloudDb(file: string, features: readonly SchemaComponent[] = []): CloudDb {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  let db: Database.Database;
  try {
    db = new Database(file);
  } catch (err) {
    throw new CodedError('CLOUD_DB_OPEN', `cannot open cloud database ${file}: ${(err as Error).message}`);
  }
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  try {
    migrate(db, [CORE_SCHEMA, ...features], file);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}
