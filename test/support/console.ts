import { Cloud } from '../../cloud/cloud.ts';
import { CloudConfigSchema } from '../../cloud/config.ts';
import { allCloudFeatures } from '../../cloud/features.ts';
import { UserStore } from '../../cloud/api/users.ts';
import { validateConfig } from '../../lib/config.ts';
import { newMessageId } from '../../protocol/ids.ts';
import type { Item } from '../../protocol/schemas.ts';
import { osloFiles } from '../../edge/bikes/replay.ts';
import { tempDir } from '../peers/ports.ts';
import type { Role } from '../../cloud/api/tokens.ts';

export const PASSWORD = 'correct horse battery';

/**
 * A real cloud (embedded broker on a free port, SQLite series store, HTTP API on loopback) with
 * every feature the console shows: alerts, GBFS (Oslo stations), models. One console user per
 * role (`viewer-1`, `env-1`, `ops-1`, `admin-1`, password PASSWORD) and one API token per role.
 */
export async function startConsoleCloud(o: { console?: Record<string, unknown>; dataDir?: string } = {}): Promise<{ cloud: Cloud; tokens: Record<Role, string>; users: UserStore }> {
  const config = validateConfig(CloudConfigSchema, {
    dataDir: o.dataDir ?? tempDir('cloud-console-'),
    broker: { host: '127.0.0.1', port: 0, revocationPollMs: 200 },
    http: { host: '127.0.0.1', port: 0 },
    alerts: {},
    gbfs: { stationInformationFile: osloFiles().informationFile, system: { system_id: 'test-bikes', name: 'test bikes', timezone: 'Europe/Oslo', feed_contact_email: 'ops@example.org', language: 'en' } },
    models: { rollout: { tickMs: 200, observeMs: 60_000 } },
    console: { streamPollMs: 100, ...(o.console ?? {}) },
  }, 'test cloud');
  const cloud = await new Cloud(config, await allCloudFeatures(config)).start();
  const users = new UserStore(cloud.ctx.db);
  const tokens = {} as Record<Role, string>;
  for (const role of ['viewer', 'env', 'ops', 'admin'] as const) {
    tokens[role] = cloud.ctx.tokens.create(`${role}-token`, role).token;
    if (!users.get(`${role}-1`)) await users.add(`${role}-1`, role, PASSWORD);
  }
  return { cloud, tokens, users };
}

let seq = 0;
/** Items as an edge sends them (id and seq stamped), through the cloud's real ingest. */
export async function ingest(cloud: Cloud, site: string, channel: 'telemetry' | 'events' | 'alerts' | 'snapshots', items: Array<Record<string, unknown>>, stream = 'consoletest01'): Promise<Item[]> {
  const stamped = items.map((i) => ({ id: newMessageId(), seq: ++seq, ts: Date.now(), ...i })) as Item[];
  const r = cloud.ctx.ingest.accept(`ce/v1/${site}/${channel}`, Buffer.from(JSON.stringify({ v: 1, site, stream, sentAt: Date.now(), items: stamped })), site);
  if (!r.ok || r.rejected) throw new Error(`ingest refused: ${JSON.stringify(r)}`);
  await cloud.ctx.ingest.flush();
  return stamped;
}

/** A site status as the edge publishes it (retained, on ce/v1/<site>/status), through ingest. */
export function status(cloud: Cloud, site: string, online: boolean, health: Record<string, unknown> = {}): void {
  const r = cloud.ctx.ingest.accept(`ce/v1/${site}/status`, Buffer.from(JSON.stringify({ v: 1, site, online, ts: Date.now(), health })), site);
  if (!r.ok) throw new Error(`status refused: ${JSON.stringify(r)}`);
}
