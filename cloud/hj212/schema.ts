import type { SchemaComponent } from '../migrations.ts';

/**
 * Tables of the hj212 feature, as the `hj212` component of the cloud's migrations
 * (cloud/migrations.ts; applied by the cloud when it opens cloud.db, before anything starts).
 * A schema change is a new version, never an edit of a released one.
 *
 * - hj212_records: one row per (MN, period, DataTime) — the unit rates count — with every
 *   factor's latest fields (the item with the highest id wins per factor code) as JSON, and
 *   whether every original flag is valid (orig_valid) so rates count with SQL.
 * - hj212_flag_corrections: the current manual flag of a record ('' code = every factor) or of
 *   one factor; the original stays in hj212_records. hj212_flag_audit: every change, kept.
 * - hj212_outbox: per upstream platform, the records still to forward (durable across restarts).
 * - hj212_commands: remote commands to loggers and their answers.
 * - hj212_upstream_requests: history requests from upstream platforms and how they were answered.
 */
export const HJ212_SCHEMA: SchemaComponent = {
  component: 'hj212',
  migrations: [
    {
      version: 1,
      name: 'records, flag corrections and audit, upstream outbox, commands, upstream requests',
      up: `
CREATE TABLE hj212_records (
  mn TEXT NOT NULL, period TEXT NOT NULL, ts INTEGER NOT NULL,
  site TEXT NOT NULL, factors TEXT NOT NULL, orig_valid INTEGER NOT NULL, first_received INTEGER NOT NULL,
  PRIMARY KEY (mn, period, ts)
) WITHOUT ROWID;
CREATE INDEX hj212_records_period_ts ON hj212_records (period, ts);
CREATE TABLE hj212_flag_corrections (
  mn TEXT NOT NULL, period TEXT NOT NULL, ts INTEGER NOT NULL, code TEXT NOT NULL,
  flag TEXT NOT NULL, reason TEXT NOT NULL, by TEXT NOT NULL, at INTEGER NOT NULL,
  PRIMARY KEY (mn, period, ts, code)
) WITHOUT ROWID;
CREATE TABLE hj212_flag_audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  mn TEXT NOT NULL, period TEXT NOT NULL, ts INTEGER NOT NULL, code TEXT NOT NULL,
  old_flag TEXT NOT NULL, new_flag TEXT NOT NULL, reason TEXT NOT NULL, by TEXT NOT NULL, at INTEGER NOT NULL
);
CREATE INDEX hj212_flag_audit_record ON hj212_flag_audit (mn, period, ts, id);
CREATE TABLE hj212_outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  upstream TEXT NOT NULL, mn TEXT NOT NULL, period TEXT NOT NULL, ts INTEGER NOT NULL,
  state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0, resent INTEGER NOT NULL DEFAULT 0,
  enqueued INTEGER NOT NULL, sent_at INTEGER, acked_at INTEGER, qn TEXT, last_error TEXT,
  UNIQUE (upstream, mn, period, ts)
);
CREATE INDEX hj212_outbox_due ON hj212_outbox (upstream, state, id);
CREATE TABLE hj212_commands (
  id TEXT PRIMARY KEY, mn TEXT NOT NULL, site TEXT NOT NULL, action TEXT NOT NULL, cn TEXT NOT NULL,
  cp TEXT NOT NULL, by TEXT NOT NULL, at INTEGER NOT NULL,
  state TEXT NOT NULL, ok INTEGER, result TEXT, answered_at INTEGER
);
CREATE INDEX hj212_commands_mn ON hj212_commands (mn, at);
CREATE TABLE hj212_upstream_requests (
  id INTEGER PRIMARY KEY AUTOINCREMENT, upstream TEXT NOT NULL, at INTEGER NOT NULL, qn TEXT, cn TEXT NOT NULL,
  mn TEXT, begin_ts INTEGER, end_ts INTEGER, qn_rtn INTEGER NOT NULL, exe_rtn INTEGER, frames INTEGER NOT NULL DEFAULT 0
);
`,
    },
  ],
};
