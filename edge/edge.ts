import path from 'node:path';
import { Registry, Counter } from 'prom-client';
import { CodedError, errMessage } from '../lib/errors.ts';
import { rootLogger, type Logger, component } from '../lib/log.ts';
import type { Command, Item, NewItem } from '../protocol/schemas.ts';
import { parseBytes } from '../lib/config.ts';
import { resolveIn, type EdgeConfig } from './config.ts';
import { healthItem, registerHealthMetrics, startHealthServer, type HealthInputs } from './health/health.ts';
import { Outbox } from './outbox/outbox.ts';
import type { Source, SourceContext, SourceFactory } from '../lib/contract/source.ts';
import { maxItemBytes, Uplink } from './uplink/uplink.ts';

export type CommandHandler = (cmd: Command, edge: Edge) => Promise<Record<string, unknown>>;

/**
 * One street site's runtime: outbox → uplink, sources feeding the outbox, commands
 * from the cloud answered with cmdres items (which travel through the outbox too).
 */
export class Edge {
  readonly log: Logger;
  readonly metrics = new Registry();
  outbox!: Outbox;
  uplink!: Uplink;
  private readonly sources: Source[] = [];
  private readonly commands = new Map<string, CommandHandler>();
  private readonly rejected: Counter;
  private readonly stateDir: string;
  private healthTimer?: NodeJS.Timeout;
  private healthServer?: { port: number; close: () => Promise<void> };

  constructor(readonly config: EdgeConfig, private readonly factories: Map<string, SourceFactory>, log?: Logger) {
    this.log = log ?? component(rootLogger, 'edge', { site: config.site });
    this.stateDir = resolveIn(config.__dir, config.stateDir);
    this.rejected = new Counter({ name: 'cityedge_edge_items_rejected_total', help: 'items a source produced that the outbox refused: broke the protocol schema, or too large for one MQTT message', labelNames: ['source'], registers: [this.metrics] });
    this.registerCommand('ping', async () => ({ pong: Date.now() }));
    this.registerCommand('status', async () => { this.uplink.publishStatus(); return { outbox: this.outbox.stats() }; });
  }

  registerCommand(name: string, handler: CommandHandler): void {
    this.commands.set(name, handler);
  }

  async start(): Promise<this> {
    const c = this.config;
    // An item larger than one batch could carry would be dead-lettered by the cloud: the outbox refuses it.
    this.outbox = new Outbox(path.join(this.stateDir, 'outbox.db'), { capBytes: parseBytes(c.outbox.cap), durability: c.outbox.durability, maxItemBytes: maxItemBytes(c.uplink.batchMaxBytes, c.site) });
    this.uplink = new Uplink(this.outbox, {
      site: c.site, url: c.mqtt.url, username: c.mqtt.username, password: c.mqtt.password,
      caFile: c.mqtt.caFile ? resolveIn(c.__dir, c.mqtt.caFile) : undefined, rejectUnauthorized: c.mqtt.rejectUnauthorized,
      keepaliveSec: c.mqtt.keepaliveSec, ...c.uplink,
      health: () => ({ sources: Object.fromEntries(this.sources.map((s) => [s.id, s.health?.() ?? {}])) }),
    }, component(this.log, 'uplink'));
    this.uplink.on('command', (cmd: Command) => void this.runCommand(cmd));
    this.uplink.start();
    for (const sc of c.sources as Array<{ type: string; id: string }>) {
      try {
        const source = this.factories.get(sc.type)!.create(sc);
        this.sources.push(source);
        await source.start(this.sourceContext(sc.type, source.id));
      } catch (err) {
        // One broken source must not take the site down: log with its code and go on.
        this.log.error({ source: sc.id, code: (err as CodedError).code, err: errMessage(err) }, 'source failed to start');
      }
    }
    const health: HealthInputs = { site: c.site, outbox: () => this.outbox, uplink: () => this.uplink, sources: () => this.sources };
    registerHealthMetrics(this.metrics, health);
    // edge_health telemetry: the gateway's own figures travel like any reading (Grafana "Edge health")
    if (c.health.telemetryIntervalMs > 0) {
      this.healthTimer = setInterval(() => {
        try { this.emit([healthItem(this.outbox.stats(), this.uplink.stats())]); } catch (err) { this.log.warn({ err: errMessage(err) }, 'edge_health not stored'); }
      }, c.health.telemetryIntervalMs);
      this.healthTimer.unref();
    }
    if (c.health.listen) this.healthServer = await startHealthServer(this.metrics, health, c.health.listen, component(this.log, 'health'));
    this.log.info({ sources: this.sources.map((s) => s.id), outboxRows: this.outbox.size }, 'edge running');
    return this;
  }

  /** Append items to the outbox (for sources and built-ins) and wake the uplink. */
  emit(items: NewItem[], checkpoint?: { key: string; value: string }): Item[] {
    const stamped = this.outbox.append(items, checkpoint);
    this.uplink.notify();
    return stamped;
  }

  private sourceContext(type: string, id: string): SourceContext {
    return {
      site: this.config.site,
      log: component(this.log, `${type}.${id}`),
      metrics: this.metrics,
      stateDir: this.stateDir,
      configDir: this.config.__dir,
      emit: (items, checkpoint) => {
        try {
          return this.emit(items, checkpoint);
        } catch (err) {
          if (err instanceof CodedError && (err.code === 'EDGE_ITEM_INVALID' || err.code === 'EDGE_ITEM_TOO_LARGE')) this.rejected.inc({ source: id });
          throw err;
        }
      },
      checkpoint: (key) => this.outbox.checkpoint(key),
      registerCommand: (name, handler) => this.registerCommand(name, (cmd) => handler(cmd)),
    };
  }

  private async runCommand(cmd: Command): Promise<void> {
    const handler = this.commands.get(cmd.name);
    let ok = false;
    let result: Record<string, unknown>;
    if (cmd.expiresAt && cmd.expiresAt < Date.now()) result = { code: 'EDGE_COMMAND_EXPIRED', message: `command ${cmd.id} expired before it arrived` };
    else if (!handler) result = { code: 'EDGE_UNKNOWN_COMMAND', message: `this site has no command ${JSON.stringify(cmd.name)} (known: ${[...this.commands.keys()].join(', ')})` };
    else {
      try {
        result = await handler(cmd, this);
        ok = true;
      } catch (err) {
        result = { code: (err as CodedError).code ?? 'EDGE_COMMAND_FAILED', message: errMessage(err) };
      }
    }
    this.emit([{ kind: 'cmdres', ts: Date.now(), cmdId: cmd.id, ok, result }]);
  }

  /** Port of the metrics/health listener when `metrics` is configured. */
  get healthPort(): number | undefined {
    return this.healthServer?.port;
  }

  async stop(): Promise<void> {
    clearInterval(this.healthTimer);
    await this.healthServer?.close();
    for (const s of [...this.sources].reverse()) await s.stop().catch((err) => this.log.warn({ source: s.id, err: errMessage(err) }, 'source stop failed'));
    await this.uplink?.stop();
    this.outbox?.close();
  }
}
