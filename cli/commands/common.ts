import path from 'node:path';
import type { CloudConfig } from '../../cloud/config.ts';

// Every command module imports this file at CLI start (`cityedge --help` too): keep its static
// imports light. The config schema (TypeBox, yaml) is loaded only when a command resolves a config.

export interface CloudCliOptions { config?: string; dataDir?: string; httpPort?: string; mqttPort?: string; influxUrl?: string }

/** Cloud config from --config (optional), then env (INFLUX_URL, CITYEDGE_CLOUD_DATA), then flags. */
export async function resolveCloudConfig(opts: CloudCliOptions): Promise<CloudConfig> {
  const { Type } = await import('@sinclair/typebox');
  const { loadConfigFile, validateConfig } = await import('../../lib/config.ts');
  const { CloudConfigSchema } = await import('../../cloud/config.ts');
  let raw: Record<string, any> = {};
  let dir = process.cwd();
  if (opts.config) {
    const loaded = loadConfigFile(Type.Unknown(), opts.config) as Record<string, any> & { __dir: string };
    dir = loaded.__dir;
    const { __dir: _d, ...rest } = loaded;
    raw = rest;
  }
  raw.broker ??= {};
  raw.http ??= {};
  raw.influx ??= {};
  if (process.env.INFLUX_URL && !raw.influx.url) raw.influx.url = process.env.INFLUX_URL;
  if (process.env.CITYEDGE_CLOUD_DATA && !raw.dataDir) raw.dataDir = process.env.CITYEDGE_CLOUD_DATA;
  if (opts.dataDir) raw.dataDir = opts.dataDir;
  if (opts.httpPort) raw.http.port = Number(opts.httpPort);
  if (opts.mqttPort) raw.broker.port = Number(opts.mqttPort);
  if (opts.influxUrl !== undefined) raw.influx.url = opts.influxUrl;
  const cfg = validateConfig(CloudConfigSchema, raw, opts.config ?? 'cloud options');
  cfg.dataDir = path.resolve(dir, cfg.dataDir);
  return cfg;
}

/** Run until SIGINT/SIGTERM, then stop cleanly (a second signal exits at once). */
export function untilSignal(stop: () => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (sig: string) => {
      if (stopping) process.exit(130);
      stopping = true;
      process.stderr.write(`\n${sig}: stopping…\n`);
      stop().then(resolve, (err) => { console.error(err); process.exit(1); });
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
}
