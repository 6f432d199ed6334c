import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { loadConfigFile, parseBytes, validateConfig } from '../lib/config.ts';
import { CodedError } from '../lib/errors.ts';
import { SITE_ID_PATTERN } from '../protocol/topics.ts';
import { sourceFactories } from './sources/registry.ts';
import type { SourceFactory } from '../lib/contract/source.ts';

export const EdgeConfigSchema = Type.Object({
  site: Type.String({ pattern: SITE_ID_PATTERN, description: 'site id; also the MQTT username' }),
  stateDir: Type.String({ default: './.cityedge/edge', description: 'outbox and other state; relative to the config file' }),
  mqtt: Type.Object({
    url: Type.Union([Type.String(), Type.Array(Type.String(), { minItems: 1, maxItems: 16 })], { description: 'mqtt://host:1883 or mqtts://host:8883; or a list of the addresses of one broker cluster, tried in order (failover)' }),
    username: Type.Optional(Type.String()),
    password: Type.Optional(Type.String({ description: 'use ${ENV_VAR} to keep it out of the file' })),
    caFile: Type.Optional(Type.String()),
    rejectUnauthorized: Type.Boolean({ default: true }),
    keepaliveSec: Type.Integer({ minimum: 5, maximum: 3600, default: 30 }),
  }, { additionalProperties: false }),
  outbox: Type.Object({
    cap: Type.Union([Type.String(), Type.Integer()], { default: '1GiB', description: 'disk cap of the outbox file' }),
    durability: Type.Union([Type.Literal('process'), Type.Literal('power')], { default: 'process' }),
  }, { additionalProperties: false, default: {} }),
  uplink: Type.Object({
    maxInflight: Type.Integer({ minimum: 1, maximum: 1000, default: 16 }),
    batchMaxItems: Type.Integer({ minimum: 1, maximum: 2000, default: 500 }),
    batchMaxBytes: Type.Integer({ minimum: 1024, maximum: 4 * 1024 * 1024, default: 256 * 1024, description: 'UTF-8 bytes per MQTT message, envelope included; must be ≤ the cloud ingest.maxMessageBytes (default 2 MiB). A larger item is refused at append (EDGE_ITEM_TOO_LARGE)' }),
    ackTimeoutMs: Type.Integer({ minimum: 100, default: 30_000, description: 'a message without PUBACK after this long frees its in-flight slot and its rows are sent again' }),
    confirm: Type.Union([Type.Literal('receipt'), Type.Literal('puback')], { default: 'receipt', description: 'receipt: a row leaves the outbox only when the cloud receipts it as spooled (safe on any broker); puback: on the broker PUBACK (safe only with the embedded broker)' }),
    receiptTimeoutMs: Type.Integer({ minimum: 100, default: 30_000, description: 'confirm receipt: rows acknowledged by the broker but not receipted after this long are sent again' }),
    backlogRate: Type.Number({ exclusiveMinimum: 0, default: 5000, description: 'backlog items/s drained beside live data' }),
    reconnectMinMs: Type.Integer({ minimum: 10, default: 500 }),
    reconnectMaxMs: Type.Integer({ minimum: 10, default: 30_000 }),
    statusIntervalMs: Type.Integer({ minimum: 100, default: 30_000 }),
  }, { additionalProperties: false, default: {} }),
  health: Type.Object({
    /** How often the edge emits its own `edge_health` telemetry item (outbox, uplink figures); 0 = never. */
    telemetryIntervalMs: Type.Integer({ minimum: 0, default: 60_000 }),
    /** Optional HTTP listener for Prometheus (`GET /metrics`) and supervisors (`GET /health`). */
    listen: Type.Optional(Type.Object({
      host: Type.String({ default: '127.0.0.1', description: 'address to listen on (0.0.0.0 to let a Prometheus on another host scrape it)' }),
      port: Type.Integer({ minimum: 0, maximum: 65535, default: 9464 }),
    }, { additionalProperties: false })),
  }, { additionalProperties: false, default: {} }),
  sources: Type.Array(Type.Object({ type: Type.String(), id: Type.String() }, { additionalProperties: true }), { default: [] }),
}, { additionalProperties: false });

export type EdgeConfig = Static<typeof EdgeConfigSchema> & { __dir: string };

/** Validate the whole edge config, including each source block against its type's schema, before any I/O. */
export async function validateEdgeConfig(raw: unknown, source: string, dir = process.cwd()): Promise<{ config: EdgeConfig; factories: Map<string, SourceFactory> }> {
  const base = validateConfig(EdgeConfigSchema, raw, source) as EdgeConfig;
  base.__dir ??= dir;
  const factories = new Map((await sourceFactories()).map((f) => [f.type, f]));
  const ids = new Set<string>();
  base.sources = base.sources.map((s, i) => {
    const f = factories.get(s.type);
    if (!f) throw new CodedError('CONFIG_INVALID', `${source}: /sources/${i}/type: unknown source type ${JSON.stringify(s.type)} (known: ${[...factories.keys()].join(', ')})`);
    if (ids.has(s.id)) throw new CodedError('CONFIG_INVALID', `${source}: /sources/${i}/id: duplicate source id ${JSON.stringify(s.id)}`);
    ids.add(s.id);
    const cfg = validateConfig(f.schema, s, `${source} /sources/${i}`) as { type: string; id: string };
    // The factory's own checks (what a schema cannot say, e.g. a register past address 65535) run
    // here too, so a bad source block stops the edge before the outbox or any source opens.
    // create() does no I/O by contract (lib/contract/source.ts); start() is where that happens.
    try {
      f.create(cfg);
    } catch (err) {
      if (err instanceof CodedError) throw new CodedError(err.code, `${source} /sources/${i} (${s.type} ${JSON.stringify(s.id)}): ${err.message}`, err.details, { cause: err });
      throw err;
    }
    return cfg;
  });
  parseBytes(base.outbox.cap);
  checkBrokerUrls(base.mqtt.url, source);
  return { config: base, factories };
}

const BROKER_PROTOCOLS = new Set(['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'tls:', 'ws:', 'wss:']);

/** Each broker address must be a URL the MQTT client can dial (caught here, not as retries forever). */
function checkBrokerUrls(url: string | string[], source: string): void {
  const list = Array.isArray(url) ? url : [url];
  list.forEach((u, i) => {
    const where = Array.isArray(url) ? `/mqtt/url/${i}` : '/mqtt/url';
    let parsed: URL;
    try { parsed = new URL(u); } catch {
      throw new CodedError('CONFIG_INVALID', `${source}: ${where}: ${JSON.stringify(u)} is not a URL; write mqtt://host:1883 or mqtts://host:8883`, { url: u });
    }
    if (!BROKER_PROTOCOLS.has(parsed.protocol) || !parsed.hostname) {
      throw new CodedError('CONFIG_INVALID', `${source}: ${where}: ${JSON.stringify(u)} is not a broker address (scheme mqtt, mqtts, ws or wss and a host); write mqtt://host:1883 or mqtts://host:8883`, { url: u });
    }
  });
  if (Array.isArray(url) && new Set(url).size !== url.length) throw new CodedError('CONFIG_INVALID', `${source}: /mqtt/url lists the same address twice`, { url });
}

export async function loadEdgeConfig(file: string) {
  const raw = loadConfigFile(Type.Unknown(), file);
  const { __dir, ...rest } = raw as Record<string, unknown> & { __dir: string };
  return validateEdgeConfig(rest, file, __dir);
}

export function resolveIn(dir: string, p: string): string {
  return path.isAbsolute(p) ? p : path.resolve(dir, p);
}
