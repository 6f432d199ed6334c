import { RECEIPT_COMMAND } from '../protocol/topics.ts';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { validateConfig } from '../lib/config.ts';
import { CodedError, isCoded } from '../lib/errors.ts';
import { rootLogger, type Logger, component } from '../lib/log.ts';
import { buildApi, type RoutePlugin } from './api/server.ts';
import { TokenStore } from './api/tokens.ts';
import { EmbeddedBroker } from './broker/broker.ts';
import { ExternalBrokerIngest } from './broker/external.ts';
import { CloudConfigSchema, type CloudConfig } from './config.ts';
import type { CloudContext, CommandBus } from './context.ts';
import { openCloudDb, type CloudDb } from './db.ts';
import { DeviceRegistry } from './devices/registry.ts';
import { Ingest, type IngestSink } from './ingest/ingest.ts';
import { eventsSink, seriesSink, snapshotSink } from './ingest/sinks.ts';
import type { SchemaComponent } from './migrations.ts';
import { createSeriesStore } from './store/create-store.ts';

export interface CloudFeature {
  /**
   * The feature's tables as versioned migrations (cloud/migrations.ts). The cloud applies them
   * with the core schema when it opens cloud.db, before anything else starts; a failed or
   * refused migration stops start() with CLOUD_MIGRATION_FAILED / CLOUD_SCHEMA_TOO_NEW.
   */
  schema?: SchemaComponent[];
  /** Extra ingest sinks, route plugins; `start`/`stop` for background work. */
  sinks?(ctx: CloudContext): IngestSink[];
  routes?: RoutePlugin[];
  start?(ctx: CloudContext): Promise<void> | void;
  stop?(): Promise<void> | void;
}

/** A running cloud: broker (embedded or attached), ingest, series store, HTTP API. */
export class Cloud {
  ctx!: CloudContext;
  api!: FastifyInstance;
  broker?: EmbeddedBroker;
  external?: ExternalBrokerIngest;
  httpUrl = '';
  mqttPort = 0;
  private db!: CloudDb;

  constructor(readonly config: CloudConfig, private readonly features: CloudFeature[] = [], private readonly log: Logger = component(rootLogger, 'cloud')) {}

  static fromRaw(raw: unknown, source = 'cloud config', features: CloudFeature[] = []): Cloud {
    return new Cloud(validateConfig(CloudConfigSchema, raw, source), features);
  }

  async start(): Promise<this> {
    const cfg = this.config;
    this.db = openCloudDb(path.join(cfg.dataDir, 'cloud.db'), this.features.flatMap((f) => f.schema ?? []));
    const metrics = new Registry();
    collectDefaultMetrics({ register: metrics, prefix: 'cityedge_cloud_' });
    const store = await createSeriesStore({ influxUrl: cfg.influx.url, influxDatabase: cfg.influx.database, dataDir: cfg.dataDir });
    // The store may be down at start: ingest keeps spooling and initialises it before its first write.
    let storeReady = await store.init().then(() => true, (err) => {
      // A series.db that cannot be migrated is not "down for a while": stop, like cloud.db does.
      if (isCoded(err) && (err.code.startsWith('CLOUD_MIGRATION') || err.code === 'CLOUD_SCHEMA_TOO_NEW')) {
        this.db.close();
        throw err;
      }
      this.log.warn({ err: (err as Error).message, store: store.kind }, 'series store not reachable at start; ingest will spool');
      return false;
    });
    const ingest = new Ingest(this.db, cfg.ingest, component(this.log, 'cloud.ingest'), metrics);
    const devices = new DeviceRegistry(this.db);
    const tokens = new TokenStore(this.db);
    const bus: CommandBus = { publishCommand: (site, name, payload) => (this.broker ?? this.external)!.publishCommand(site, name, payload) };
    // End-to-end receipts go to each site on its command topic, through whichever broker is attached.
    ingest.attachReceipts((site, receipt) => bus.publishCommand(site, RECEIPT_COMMAND, receipt));
    const publish: CloudContext['publish'] = (topic, payload, opts) => (this.broker ?? this.external)!.publish(topic, payload, opts);
    this.ctx = { db: this.db, store, ingest, devices, tokens, commands: bus, publish, metrics, log: this.log, dataDir: cfg.dataDir, readiness: new Map() };
    const series = seriesSink(store);
    ingest.addSink({
      ...series,
      write: async (items) => {
        if (!storeReady) { await store.init(); storeReady = true; }
        await series.write(items);
      },
    });
    ingest.addSink(eventsSink(this.db));
    ingest.addSink(snapshotSink(this.db, path.join(cfg.dataDir, 'snapshots')));
    for (const f of this.features) for (const s of f.sinks?.(this.ctx) ?? []) ingest.addSink(s);

    if (cfg.broker.mode === 'embedded') {
      this.broker = new EmbeddedBroker({ ...cfg.broker, authFailures: cfg.security.authFailures }, devices, ingest, component(this.log, 'cloud.broker'), metrics);
      await this.broker.listen();
      this.mqttPort = this.broker.port;
    } else {
      if (!cfg.broker.url) throw new CodedError('CONFIG_INVALID', 'broker.mode external needs broker.url');
      this.external = new ExternalBrokerIngest({ url: cfg.broker.url, username: cfg.broker.username, password: cfg.broker.password, clientId: cfg.broker.clientId, shareGroup: cfg.broker.shareGroup }, ingest, component(this.log, 'cloud.ingest.mqtt'));
      await this.external.start();
    }
    ingest.start();
    for (const f of this.features) await f.start?.(this.ctx);
    this.api = await buildApi(this.ctx, this.features.flatMap((f) => f.routes ?? []), { authFailures: cfg.security.authFailures, console: cfg.console });
    const address = await this.api.listen({ host: cfg.http.host, port: cfg.http.port });
    this.httpUrl = address.replace('0.0.0.0', '127.0.0.1').replace('[::]', '127.0.0.1');
    this.log.info({ http: this.httpUrl, mqtt: this.mqttPort || cfg.broker.url, store: store.kind }, 'cloud running');
    return this;
  }

  /** Stop in reverse order; spooled items stay on disk for the next start. */
  async stop(): Promise<void> {
    await this.api?.close();
    for (const f of [...this.features].reverse()) await f.stop?.();
    await this.ctx?.ingest.flushReceipts().catch(() => undefined);
    await this.broker?.close();
    await this.external?.stop();
    await this.ctx?.ingest.stop();
    await this.ctx?.store.close();
    if (this.db?.open) this.db.close();
  }
}
