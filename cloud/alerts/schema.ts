import type { SchemaComponent } from '../migrations.ts';

/**
 * Tables of the alerts feature, as the `alerts` component of the cloud's migrations
 * (cloud/migrations.ts; applied by the cloud at start and by AlertStore/Notifier when built).
 *
 * v1 is the schema the feature used to create on first use, before it had migrations. It keeps
 * `IF NOT EXISTS` on purpose — for exactly that reason: a cloud.db written by that code has these
 * tables but no record of them, and v1 must then adopt them unchanged (rows kept) instead of
 * failing. Every later version is plain DDL and runs exactly once.
 */
export const ALERTS_SCHEMA: SchemaComponent = {
  component: 'alerts',
  migrations: [
    {
      version: 1,
      name: 'alerts, history, applied item ids, notification queue',
      up: `
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
CREATE TABLE IF NOT EXISTS alert_notifications (
  id TEXT PRIMARY KEY, target TEXT NOT NULL, alert_id INTEGER NOT NULL, event TEXT NOT NULL, body TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL,
  created INTEGER NOT NULL, done_at INTEGER, last_error TEXT
);
CREATE INDEX IF NOT EXISTS alert_notifications_due ON alert_notifications (state, next_at);
`,
    },
    {
      version: 2,
      name: 'newest observation per (site, rule, source): alert state follows observed order',
      up: `
CREATE TABLE alert_keys (
  site TEXT NOT NULL, rule TEXT NOT NULL, source TEXT NOT NULL,
  last_ts INTEGER NOT NULL, last_seq INTEGER NOT NULL,
  PRIMARY KEY (site, rule, source)
) WITHOUT ROWID;
INSERT INTO alert_keys (site, rule, source, last_ts, last_seq)
  SELECT site, rule, source, max(coalesce(cleared_ts, last_ts)), 0 FROM alerts GROUP BY site, rule, source;
`,
    },
      {
      version: 3,
      name: 'assignment, comment count, change feed (alert_changes via triggers) for the console stream',
      up: `
ALTER TABLE alerts ADD COLUMN assignee TEXT;
ALTER TABLE alerts ADD COLUMN comment_count INTEGER NOT NULL DEFAULT 0;
CREATE INDEX alerts_assignee ON alerts (assignee, id) WHERE assignee IS NOT NULL;
CREATE INDEX alerts_open_id ON alerts (id) WHERE state != 'resolved';
CREATE TABLE alert_changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, alert_id INTEGER NOT NULL, at INTEGER NOT NULL);
CREATE TRIGGER alert_changes_insert AFTER INSERT ON alerts BEGIN
  INSERT INTO alert_changes (alert_id, at) VALUES (NEW.id, NEW.updated_at);
END;
CREATE TRIGGER alert_changes_update AFTER UPDATE ON alerts BEGIN
  INSERT INTO alert_changes (alert_id, at) VALUES (NEW.id, NEW.updated_at);
END;
`,
    },
    {
      version: 4,
      name: 'the stream of the newest observation: within one outbox stream its sequence decides (edge clock steps), across streams its observed time',
      up: `ALTER TABLE alert_keys ADD COLUMN last_stream TEXT;`,
    },
  ],
};
