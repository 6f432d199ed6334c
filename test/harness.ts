import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { Cloud } from '../cloud/cloud.ts';
import { CloudConfigSchema } from '../cloud/config.ts';
import { allCloudFeatures } from '../cloud/features.ts';
import { validateConfig } from '../lib/config.ts';
import { validateEdgeConfig } from '../edge/config.ts';
import { Edge } from '../edge/edge.ts';
import { projectPath } from '../lib/data-dir.ts';
import { freePort, tempDir } from './peers/ports.ts';
import { OwnedProcess } from './peers/process.ts';

/** A cloud in this process on free loopback ports with a temp data dir. */
/** A cloud in this process on free loopback ports with a temp data dir, with the features its config enables. */
export async function startCloud(over: Record<string, unknown> = {}, dataDir = tempDir('cloud-')): Promise<Cloud> {
  const broker = (over.broker ?? {}) as Record<string, unknown>;
  const config = validateConfig(CloudConfigSchema, {
    dataDir,
    ...over,
    broker: { host: '127.0.0.1', port: 0, revocationPollMs: 200, ...broker },
    http: { host: '127.0.0.1', port: 0 },
  }, 'test cloud');
  return new Cloud(config, await allCloudFeatures(config)).start();
}

export function edgeConfig(o: { site: string; password?: string; url: string; stateDir?: string; sources?: unknown[]; outbox?: Record<string, unknown>; uplink?: Record<string, unknown> }): Record<string, unknown> {
  return {
    site: o.site,
    stateDir: o.stateDir ?? tempDir(`edge-${o.site}-`),
    mqtt: { url: o.url, password: o.password, keepaliveSec: 5 },
    outbox: { cap: '256MiB', ...(o.outbox ?? {}) },
    uplink: { reconnectMinMs: 100, reconnectMaxMs: 1000, statusIntervalMs: 1000, ...(o.uplink ?? {}) },
    sources: o.sources ?? [],
  };
}

export async function startEdge(raw: Record<string, unknown>): Promise<Edge> {
  const { config, factories } = await validateEdgeConfig(raw, 'test edge');
  return new Edge(config, factories).start();
}

/** An edge as its own OS process (`cityedge edge --config`), for kill -9 tests. */
export function spawnEdge(raw: Record<string, unknown>, dir = tempDir('edgecfg-')): { proc: OwnedProcess; file: string; respawn: () => OwnedProcess } {
  const file = path.join(dir, 'edge.yaml');
  fs.writeFileSync(file, YAML.stringify(raw));
  const run = () => new OwnedProcess(process.execPath, [projectPath('bin', 'cityedge.mjs'), 'edge', '--config', file], { env: { ...process.env, LOG_LEVEL: 'warn' } });
  return { proc: run(), file, respawn: run };
}

/** A cloud as its own OS process, stopped and restarted by PID. */
export async function spawnCloud(raw: Record<string, unknown>): Promise<{ proc: OwnedProcess; file: string; httpPort: number; mqttPort: number; respawn: () => OwnedProcess }> {
  const dir = tempDir('cloudcfg-');
  const httpPort = await freePort();
  const mqttPort = await freePort();
  const file = path.join(dir, 'cloud.yaml');
  const broker = (raw.broker ?? {}) as Record<string, unknown>;
  fs.writeFileSync(file, YAML.stringify({ dataDir: path.join(dir, 'data'), ...raw, broker: { host: '127.0.0.1', port: mqttPort, revocationPollMs: 200, ...broker }, http: { host: '127.0.0.1', port: httpPort } }));
  const run = () => new OwnedProcess(process.execPath, [projectPath('bin', 'cityedge.mjs'), 'cloud', '--config', file], { env: { ...process.env, LOG_LEVEL: 'warn' } });
  return { proc: run(), file, httpPort, mqttPort, respawn: run };
}
