import type { SchemaComponent } from '../migrations.ts';

/**
 * Tables of the model registry and rollouts, as the `models` component of the cloud's
 * migrations (cloud/migrations.ts; applied by the cloud at start and by ModelRegistry /
 * RolloutEngine when built).
 *
 * v1 is the schema the feature used to create on first use, before it had migrations. It keeps
 * `IF NOT EXISTS` on purpose — for exactly that reason: a cloud.db written by that code has these
 * tables but no record of them, and v1 must then adopt them unchanged (rows kept) instead of
 * failing. Every later version is plain DDL and runs exactly once.
 */
export const MODELS_SCHEMA: SchemaComponent = {
  component: 'models',
  migrations: [
    {
      version: 1,
      name: 'bundles, rollouts, rollout sites, download tokens, site stats',
      up: `
CREATE TABLE IF NOT EXISTS model_bundles (
  name TEXT NOT NULL, version TEXT NOT NULL, digest TEXT NOT NULL, size INTEGER NOT NULL, key_id TEXT NOT NULL,
  family TEXT NOT NULL, budget REAL NOT NULL, card TEXT NOT NULL, created INTEGER NOT NULL, uploaded_by TEXT NOT NULL,
  PRIMARY KEY (name, version));
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
CREATE UNIQUE INDEX IF NOT EXISTS model_site_stats_k ON model_site_stats(site, model, version, ts);
`,
    },
  ],
};
