import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { CodedError } from '../lib/errors.ts';

/**
 * The cloud's own SQLite database (devices, API tokens, ingest spool and dedupe state,
 * dead letters, site status). Later features add their tables through `migrations`.
 * Schema versions are applied in order and recorded in `user_version`.
 */
const migrations: string[] = [
  `CREATE TABLE devices (
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
   CREATE INDEX events_type_ts ON events(type, ts);`,
];

export type CloudDb = Database.Database;

export function openCloudDb(file: string): CloudDb {
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
  const version = db.pragma('user_version', { simple: true }) as number;
  for (let v = version; v < migrations.length; v++) {
    db.transaction(() => {
      db.exec(migrations[v]);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  return db;
}
