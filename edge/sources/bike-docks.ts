/**
 * Edge source `bike-docks`: runs the DOCK/1 server for the stations of this site and
 * emits station telemetry, rental/return events and alerts through ctx.emit.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createHash, timingSafeEqual } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { CodedError, errMessage } from '../../lib/errors.ts';
import type { NewItem } from '../../protocol/schemas.ts';
import { DockServer } from '../../firmware-bridge/dock/server.ts';
import type { HelloMsg, DockCode } from '../../firmware-bridge/dock/protocol.ts';
import type { Source, SourceContext, SourceFactory } from '../../lib/contract/source.ts';
import { BikeSite } from '../bikes/site.ts';

export const BikeDocksConfig = Type.Object(
  {
    type: Type.Literal('bike-docks'),
    id: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' }),
    host: Type.String({ default: '0.0.0.0' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 7070 }),
    /** Shared controller token; `tokens` overrides it per station. Omit both for no auth (lab only). */
    token: Type.Optional(Type.String({ minLength: 8 })),
    tokens: Type.Optional(Type.Record(Type.String(), Type.String({ minLength: 8 }))),
    /** HMAC key for card pseudonyms: use ${BIKES_CARD_KEY}. */
    cardKey: Type.String({ minLength: 16 }),
    stations: Type.Optional(Type.Array(Type.Object({ id: Type.String(), docks: Type.Integer({ minimum: 1, maximum: 200 }) }, { additionalProperties: false }))),
    /** A GBFS station_information.json; `capacity` gives each station's docks. */
    stationsFile: Type.Optional(Type.String()),
    /** Only these station ids from stationsFile (default: all). */
    stationIds: Type.Optional(Type.Array(Type.String())),
    allowUnknownStations: Type.Boolean({ default: false }),
    flushMs: Type.Integer({ minimum: 50, default: 1000 }),
    statusEveryS: Type.Integer({ minimum: 1, default: 60 }),
    emptyAlertMin: Type.Number({ minimum: 0, default: 30 }),
    fullAlertMin: Type.Number({ minimum: 0, default: 30 }),
    noRideS: Type.Number({ minimum: 1, default: 60 }),
    silentS: Type.Number({ minimum: 1, default: 120 }),
    maxLineBytes: Type.Integer({ minimum: 64, maximum: 65536, default: 512 }),
    idleTimeoutS: Type.Number({ minimum: 1, default: 90 }),
    maxConnections: Type.Integer({ minimum: 1, default: 2000 }),
    maxBadLines: Type.Integer({ minimum: 1, default: 20 }),
    heartbeatS: Type.Integer({ minimum: 1, default: 30 }),
  },
  { additionalProperties: false },
);
export type BikeDocksConfig = Static<typeof BikeDocksConfig>;

/** Read a GBFS (2.x) station_information file into {id, docks}. */
export function stationsFromGbfs(file: string, only?: string[]): { id: string; docks: number }[] {
  let doc: { data?: { stations?: { station_id: string; capacity?: number }[] } };
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new CodedError('BIKES_STATIONS_FILE', `cannot read station_information ${file}: ${errMessage(err)}`);
  }
  const list = doc.data?.stations;
  if (!Array.isArray(list)) throw new CodedError('BIKES_STATIONS_FILE', `${file}: no data.stations array (expected GBFS station_information)`);
  const keep = only ? new Set(only) : undefined;
  return list.filter((s) => !keep || keep.has(s.station_id)).map((s) => ({ id: String(s.station_id), docks: Math.max(1, Math.min(200, s.capacity ?? 1)) }));
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export function makeAuthorizer(cfg: Pick<BikeDocksConfig, 'token' | 'tokens' | 'allowUnknownStations'>, known: Set<string> | undefined) {
  return (h: HelloMsg): { code: DockCode; text: string } | undefined => {
    if (known && !known.has(h.station) && !cfg.allowUnknownStations) return { code: 'DOCK_UNKNOWN_STATION', text: `station ${h.station} is not configured at this site` };
    const want = cfg.tokens?.[h.station] ?? cfg.token;
    if (want === undefined) return undefined;
    if (h.token === undefined || !timingSafeEqual(digest(h.token), digest(want))) return { code: 'DOCK_AUTH', text: 'token missing or wrong' };
    return undefined;
  };
}

export class BikeDockSource implements Source {
  readonly id: string;
  server?: DockServer;
  site?: BikeSite;
  private timer?: NodeJS.Timeout;
  private ctx?: SourceContext;
  port = 0;

  constructor(readonly cfg: BikeDocksConfig) {
    this.id = cfg.id;
  }

  async start(ctx: SourceContext): Promise<void> {
    this.ctx = ctx;
    const cfg = this.cfg;
    const stations = [...(cfg.stations ?? []), ...(cfg.stationsFile ? stationsFromGbfs(path.resolve(ctx.configDir, cfg.stationsFile), cfg.stationIds) : [])];
    const site = new BikeSite({
      cardKey: cfg.cardKey, stations, emptyAlertMs: cfg.emptyAlertMin * 60_000, fullAlertMs: cfg.fullAlertMin * 60_000,
      noRideMs: cfg.noRideS * 1000, silentMs: cfg.silentS * 1000, statusEveryMs: cfg.statusEveryS * 1000,
    });
    this.site = site;
    // the open alerts live in the outbox checkpoint, committed with the alert items that change them
    const saved = ctx.checkpoint(this.checkpointKey);
    if (saved) {
      try { site.restoreOpen(JSON.parse(saved) as Record<string, string[]>); } catch (err) { ctx.log.warn({ err: errMessage(err) }, 'ignoring an unreadable open-alert checkpoint'); }
    }
    const known = stations.length > 0 ? new Set(stations.map((s) => s.id)) : undefined;
    this.server = new DockServer(
      {
        ...site.handler,
        authorize: makeAuthorizer(cfg, known),
        // What a controller line means goes to the outbox before the server ACKs it: a throw here
        // (the commit failed) makes the server answer NAK, and the controller sends the line again.
        message: (station, msg, info) => {
          site.handler.message(station, msg, info);
          this.emit(site.drain());
        },
      },
      {
        host: cfg.host, port: cfg.port, maxLineBytes: cfg.maxLineBytes, idleTimeoutMs: cfg.idleTimeoutS * 1000,
        maxConnections: cfg.maxConnections, maxBadLines: cfg.maxBadLines, heartbeatS: cfg.heartbeatS, log: ctx.log,
      },
    );
    this.port = await this.server.listen();
    ctx.log.info({ source: this.id, port: this.port, stations: stations.length }, 'bike dock server listening');
    this.timer = setInterval(() => this.flush(), cfg.flushMs);
  }

  /** Run time rules (empty/full, silence) and hand what they queued to the outbox. */
  flush(): number {
    if (!this.site || !this.ctx) return 0;
    this.site.tick();
    const items = this.site.drain();
    if (items.length === 0) return 0;
    try {
      this.emit(items);
    } catch (err) {
      this.ctx.log.error({ err: errMessage(err), n: items.length }, 'bike-docks: emit failed');
    }
    return items.length;
  }

  private get checkpointKey(): string {
    return `bike-docks.alerts:${this.id}`;
  }

  /** Items to the outbox; when alerts are among them, the open-alert set commits in the same transaction. */
  private emit(items: NewItem[]): void {
    if (!items.length || !this.ctx || !this.site) return;
    const alerts = items.some((i) => i.kind === 'alert');
    this.ctx.emit(items, alerts ? { key: this.checkpointKey, value: JSON.stringify(this.site.openByStation()) } : undefined);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.server?.close();
    this.flush();
  }

  health(): Record<string, unknown> {
    return { port: this.port, server: this.server?.stats(), site: this.site?.stats() };
  }
}

export const bikeDockFactory: SourceFactory = {
  type: 'bike-docks',
  schema: BikeDocksConfig,
  create: (config: BikeDocksConfig) => new BikeDockSource(config),
};
