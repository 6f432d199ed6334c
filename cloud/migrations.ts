import type Database from 'better-sqlite3';
import { CodedError, errMessage } from '../lib/errors.ts';

/**
 * Versioned schema migrations for the cloud's SQLite files, one mechanism for every table
 * (the Rails/Knex/Flyway way). Each component (`core`, `alerts`, `models`, `series`, …)
 * declares its own numbered, ordered migrations; which ones a database has are recorded in
 * one table:
 *
 *   schema_migrations(component, version, name, applied_at)
 *
 * `migrate(db, components)` applies every migration not recorded yet, in version order, all
 * inside ONE `BEGIN IMMEDIATE` transaction (another process opening the same file waits):
 * if any step fails, nothing of this run stays — the database is exactly as it was, and
 * startup stops with `CLOUD_MIGRATION_FAILED` naming the component and version.
 * A database that records a version of a component higher than the code knows was written
 * by newer code and is refused (`CLOUD_SCHEMA_TOO_NEW`) before anything is touched.
 * Components recorded in the file but not passed in (a feature that is switched off) are
 * left alone.
 *
 * A migration is never edited once released: change the schema with a new version.
 */
export interface Migration {
  /** 1, 2, 3, … strictly ascending within a component. */
  readonly version: number;
  /** Short description, recorded with the version. */
  readonly name: string;
  /** SQL (may hold several statements) or a function for steps SQL alone cannot express. */
  readonly up: string | ((db: Database.Database) => void);
}

export interface SchemaComponent {
  /** Name in schema_migrations: [a-z][a-z0-9-]*. */
  readonly component: string;
  readonly migrations: readonly Migration[];
  /**
   * For files written before schema_migrations existed: the version such a database is at
   * already, detected from the file (e.g. PRAGMA user_version). Those versions are recorded
   * without running. Only asked when the file has no record of this component at all.
   */
  readonly legacyVersion?: (db: Database.Database) => number;
}

export interface MigrationRun {
  /** Migrations run now, in order. */
  applied: Array<{ component: string; version: number; name: string }>;
  /** Versions recorded without running because the file already had them (legacyVersion). */
  adopted: Array<{ component: string; version: number }>;
}

const COMPONENT_RE = /^[a-z][a-z0-9-]{0,63}$/;

const BOOTSTRAP = `CREATE TABLE IF NOT EXISTS schema_migrations (
  component TEXT NOT NULL,
  version INTEGER NOT NULL,
  name TEXT NOT NULL,
  applied_at INTEGER NOT NULL,
  PRIMARY KEY (component, version)
)`;

/** Refuse malformed declarations (a programming error, caught by the first test run). */
function checkDeclared(c: SchemaComponent): void {
  if (!COMPONENT_RE.test(c.component)) throw new CodedError('CLOUD_MIGRATION_INVALID', `schema component name ${JSON.stringify(c.component)} must match ${COMPONENT_RE}`);
  let last = 0;
  for (const m of c.migrations) {
    if (!Number.isInteger(m.version) || m.version !== last + 1) {
      throw new CodedError('CLOUD_MIGRATION_INVALID', `schema component ${c.component}: migration versions must be 1, 2, 3, … in order; found ${m.version} after ${last}`);
    }
    last = m.version;
  }
}

/** Versions recorded per component (empty when the file has no schema_migrations table). */
export function recordedVersions(db: Database.Database): Map<string, Set<number>> {
  const out = new Map<string, Set<number>>();
  const has = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
  if (!has) return out;
  for (const r of db.prepare('SELECT component, version FROM schema_migrations').all() as Array<{ component: string; version: number }>) {
    let s = out.get(r.component);
    if (!s) out.set(r.component, (s = new Set()));
    s.add(r.version);
  }
  return out;
}

/** The highest recorded version of each component. */
export function schemaVersions(db: Database.Database): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [c, vs] of recordedVersions(db)) out[c] = Math.max(...vs);
  return out;
}

/**
 * Bring `db` to the newest version of every component given. Idempotent: a database that is
 * current is only read. Throws CodedError `CLOUD_SCHEMA_TOO_NEW`, `CLOUD_MIGRATION_FAILED`
 * (details: component, version, name) or `CLOUD_MIGRATION_INVALID`; after a throw the file is
 * unchanged.
 */
export function migrate(db: Database.Database, components: readonly SchemaComponent[], file = db.name, now: () => number = Date.now): MigrationRun {
  const seen = new Set<string>();
  for (const c of components) {
    checkDeclared(c);
    if (seen.has(c.component)) throw new CodedError('CLOUD_MIGRATION_INVALID', `schema component ${c.component} is declared twice`);
    seen.add(c.component);
  }
  const run: MigrationRun = { applied: [], adopted: [] };
  // Read-only fast path: nothing to do (no write lock taken, so opening a current database
  // never waits for a writer).
  const before = recordedVersions(db);
  const pending = (rec: Map<string, Set<number>>) => components.some((c) => c.migrations.some((m) => !rec.get(c.component)?.has(m.version)));
  tooNew(before, components, file);
  if (!pending(before)) return run;

  const tx = db.transaction(() => {
    db.exec(BOOTSTRAP);
    // Read again under the write lock: another process may have migrated meanwhile.
    const rec = recordedVersions(db);
    tooNew(rec, components, file);
    const record = db.prepare('INSERT INTO schema_migrations (component, version, name, applied_at) VALUES (?, ?, ?, ?)');
    for (const c of components) {
      let have = rec.get(c.component) ?? new Set<number>();
      if (!have.size && c.legacyVersion) {
        const legacy = c.legacyVersion(db);
        const known = c.migrations.length;
        if (legacy > known) {
          throw new CodedError('CLOUD_SCHEMA_TOO_NEW', `${file}: component ${c.component} is at schema version ${legacy} (from before schema_migrations), this code knows up to ${known}; it was written by a newer cityedge — run that version, or restore a backup made for this one`, { component: c.component, version: legacy, known });
        }
        for (const m of c.migrations.slice(0, legacy)) {
          record.run(c.component, m.version, m.name, now());
          run.adopted.push({ component: c.component, version: m.version });
        }
        have = new Set(c.migrations.slice(0, legacy).map((m) => m.version));
      }
      for (const m of c.migrations) {
        if (have.has(m.version)) continue;
        try {
          if (typeof m.up === 'string') db.exec(m.up);
          else m.up(db);
        } catch (err) {
          throw new CodedError('CLOUD_MIGRATION_FAILED', `${file}: migration ${c.component} v${m.version} (${m.name}) failed: ${errMessage(err)}. Nothing was changed (the whole upgrade was rolled back); the cloud does not start on a half-migrated database`, { component: c.component, version: m.version, name: m.name }, { cause: err });
        }
        record.run(c.component, m.version, m.name, now());
        run.applied.push({ component: c.component, version: m.version, name: m.name });
      }
    }
  });
  try {
    tx.immediate();
  } catch (err) {
    if (err instanceof CodedError) throw err;
    throw new CodedError('CLOUD_MIGRATION_FAILED', `${file}: schema upgrade failed: ${errMessage(err)}; nothing was changed`, undefined, { cause: err });
  }
  return run;
}

function tooNew(rec: Map<string, Set<number>>, components: readonly SchemaComponent[], file: string): void {
  for (const c of components) {
    const have = rec.get(c.component);
    if (!have) continue;
    const known = c.migrations.length;
    const unknown = [...have].filter((v) => v > known).sort((a, b) => a - b);
    if (unknown.length) {
      throw new CodedError('CLOUD_SCHEMA_TOO_NEW', `${file}: component ${c.component} is at schema version ${unknown[unknown.length - 1]}, this code knows up to ${known}; it was written by a newer cityedge — run that version, or restore a backup made for this one`, { component: c.component, version: unknown[unknown.length - 1], known });
    }
  }
}
