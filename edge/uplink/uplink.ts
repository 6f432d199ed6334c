import fs from 'node:fs';
import { EventEmitter } from 'node:events';
import mqtt, { type MqttClient, type IClientOptions } from 'mqtt';
import type { Logger } from '../../lib/log.ts';
import { checkers, type Command } from '../../protocol/schemas.ts';
import { topics, parseTopic, type UpstreamChannel } from '../../protocol/topics.ts';
import { PRIORITY_COUNT, type Outbox, type OutboxRow } from '../outbox/outbox.ts';
import { Backoff } from './backoff.ts';
import { TokenBucket } from './token-bucket.ts';

export interface UplinkOptions {
  site: string;
  url: string;
  username?: string;
  password?: string;
  /** PEM CA file for a TLS broker (mqtts://). */
  caFile?: string;
  rejectUnauthorized?: boolean;
  /** MQTT messages awaiting PUBACK at once. */
  maxInflight: number;
  /** Items per MQTT message (one batch of one channel). */
  batchMaxItems: number;
  batchMaxBytes: number;
  /** Backlog items per second sent beside live data after a reconnect. */
  backlogRate: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  statusIntervalMs: number;
  keepaliveSec: number;
  health?: () => Record<string, unknown>;
}

export interface UplinkStats {
  connected: boolean;
  connects: number;
  sentMessages: number;
  sentItems: number;
  inflightMessages: number;
  liveBoundary: number;
  backlogItemsSent: number;
  lastError?: string;
}

interface Inflight { seqs: number[]; backlog: boolean }

/**
 * MQTT uplink of an edge site (mqtt.js, QoS 1).
 *
 * - A row leaves the outbox only after the broker's PUBACK for the message carrying it.
 * - On every (re)connect the current last sequence number becomes the live boundary:
 *   rows above it are live and go first; rows at or below it are backlog and drain
 *   beside live data through a token bucket (`backlogRate` items/s). Within each,
 *   priority order (alerts first) then oldest first.
 * - Reconnect uses full-jitter exponential backoff; each connection is a fresh client,
 *   so nothing of a dead connection is replayed behind our back.
 * - The status topic is retained; the last will (retained) says the site is offline.
 */
export class Uplink extends EventEmitter {
  private client?: MqttClient;
  private generation = 0;
  private stopped = true;
  private connected = false;
  private readonly backoff: Backoff;
  private readonly bucket: TokenBucket;
  private readonly inflight = new Map<number, Inflight>();
  /** Per priority: highest seq handed out this connection, live and backlog segments. */
  private liveCursor: number[] = [];
  private backlogCursor: number[] = [];
  private boundary = 0;
  private pumping = false;
  private pumpTimer?: NodeJS.Timeout;
  private reconnectTimer?: NodeJS.Timeout;
  private statusTimer?: NodeJS.Timeout;
  private msgCounter = 0;
  private failures = 0;
  private readonly stats_: UplinkStats = { connected: false, connects: 0, sentMessages: 0, sentItems: 0, inflightMessages: 0, liveBoundary: 0, backlogItemsSent: 0 };

  constructor(private readonly outbox: Outbox, private readonly opts: UplinkOptions, private readonly log: Logger) {
    super();
    this.backoff = new Backoff(opts.reconnectMinMs, opts.reconnectMaxMs);
    this.bucket = new TokenBucket(opts.backlogRate, Math.max(opts.backlogRate, opts.batchMaxItems));
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  /** Tell the uplink new rows were appended. */
  notify(): void {
    if (this.connected) this.schedulePump(0);
  }

  stats(): UplinkStats {
    return { ...this.stats_, connected: this.connected, inflightMessages: this.inflight.size, liveBoundary: this.boundary };
  }

  private connect(): void {
    const gen = ++this.generation;
    const o = this.opts;
    const options: IClientOptions = {
      clientId: o.username ?? o.site, // = the MQTT username: the broker refuses any other client id (cloud/broker/README.md)
      username: o.username ?? o.site,
      password: o.password,
      clean: true,
      keepalive: o.keepaliveSec,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      protocolVersion: 4,
      will: { topic: topics.status(o.site), payload: Buffer.from(JSON.stringify({ v: 1, site: o.site, online: false, ts: Date.now() })), qos: 1, retain: true },
    };
    if (o.caFile) {
      options.ca = fs.readFileSync(o.caFile);
      options.rejectUnauthorized = o.rejectUnauthorized ?? true;
    }
    const client = mqtt.connect(o.url, options);
    this.client = client;
    client.on('connect', () => {
      if (gen !== this.generation) return;
      this.onConnected(client);
    });
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    client.on('error', (err) => {
      if (gen !== this.generation) return;
      this.stats_.lastError = err.message;
      // Log once per burst of failures (1st, 10th, 100th, …), not every retry.
      this.failures++;
      if (Number.isInteger(Math.log10(this.failures))) this.log.warn({ err: err.message, failures: this.failures }, 'uplink error');
      this.onLost(gen);
    });
    client.on('close', () => {
      if (gen !== this.generation) return;
      this.onLost(gen);
    });
  }

  private onConnected(client: MqttClient): void {
    this.connected = true;
    this.stats_.connects++;
    this.backoff.reset();
    this.failures = 0;
    this.inflight.clear();
    this.boundary = this.outbox.lastSeq();
    this.liveCursor = new Array(PRIORITY_COUNT).fill(this.boundary);
    this.backlogCursor = new Array(PRIORITY_COUNT).fill(0);
    this.bucket.reset();
    this.log.info({ backlogRows: this.outbox.size, boundary: this.boundary }, 'uplink connected');
    client.subscribe(topics.commandFilter(this.opts.site), { qos: 1 }, (err) => {
      if (err) this.log.warn({ err: err.message }, 'command subscription refused');
    });
    this.publishStatus();
    this.statusTimer = setInterval(() => this.publishStatus(), this.opts.statusIntervalMs);
    this.statusTimer.unref();
    this.emit('connected');
    this.schedulePump(0);
  }

  private onLost(gen: number): void {
    if (gen !== this.generation) return;
    this.generation++; // ignore anything more from that client
    const wasConnected = this.connected;
    this.connected = false;
    this.inflight.clear();
    clearInterval(this.statusTimer);
    clearTimeout(this.pumpTimer);
    this.client?.removeAllListeners('message');
    this.client?.end(true);
    this.client = undefined;
    if (wasConnected) {
      this.log.warn('uplink lost; rows stay in the outbox');
      this.emit('disconnected');
    }
    if (this.stopped) return;
    const delay = this.backoff.next();
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  publishStatus(): void {
    if (!this.client || !this.connected) return;
    const payload = { v: 1, site: this.opts.site, online: true, ts: Date.now(), health: { outbox: this.outbox.stats(), uplink: this.stats(), ...(this.opts.health?.() ?? {}) } };
    this.client.publish(topics.status(this.opts.site), JSON.stringify(payload), { qos: 1, retain: true });
  }

  /** A command from the cloud: only our own, well-formed ones reach the handlers. */
  private onMessage(topic: string, payload: Buffer): void {
    const parsed = parseTopic(topic);
    if (!parsed || parsed.direction !== 'down' || parsed.site !== this.opts.site) return;
    let cmd: unknown;
    try { cmd = JSON.parse(payload.toString('utf8')); } catch { cmd = undefined; }
    if (!checkers.command.Check(cmd)) {
      this.log.warn({ topic }, 'ignored malformed command');
      this.emit('badCommand', topic);
      return;
    }
    this.emit('command', cmd as Command);
  }

  private schedulePump(ms: number): void {
    if (this.pumpTimer) {
      if (ms > 0) return;
      clearTimeout(this.pumpTimer);
    }
    this.pumpTimer = setTimeout(() => { this.pumpTimer = undefined; this.pump(); }, ms);
  }

  private pump(): void {
    if (this.pumping || !this.connected || !this.client) return;
    this.pumping = true;
    try {
      while (this.inflight.size < this.opts.maxInflight) {
        const live = this.nextBatch(this.liveCursor, Number.MAX_SAFE_INTEGER, this.opts.batchMaxItems);
        if (live) { this.send(live, false); continue; }
        const allowance = Math.min(this.opts.batchMaxItems, this.bucket.available());
        if (allowance < 1) {
          if (this.hasBacklog()) this.schedulePump(this.bucket.msUntil(1));
          break;
        }
        const back = this.nextBatch(this.backlogCursor, this.boundary, allowance);
        if (!back) break;
        this.bucket.take(back.length);
        this.stats_.backlogItemsSent += back.length;
        this.send(back, true);
      }
    } finally {
      this.pumping = false;
    }
  }

  private hasBacklog(): boolean {
    for (let p = 0; p < PRIORITY_COUNT; p++) if (this.outbox.take(p, this.backlogCursor[p], this.boundary, 1).length) return true;
    return false;
  }

  /** Next rows of the highest priority that has any, cut to one channel and the byte cap. */
  private nextBatch(cursor: number[], maxSeq: number, limit: number): OutboxRow[] | undefined {
    for (let p = 0; p < PRIORITY_COUNT; p++) {
      const rows = this.outbox.take(p, cursor[p], maxSeq, limit);
      if (!rows.length) continue;
      const channel = rows[0].channel;
      const out: OutboxRow[] = [];
      let bytes = 0;
      for (const r of rows) {
        if (r.channel !== channel) break;
        if (out.length && bytes + r.body.length > this.opts.batchMaxBytes) break;
        out.push(r);
        bytes += r.body.length;
      }
      cursor[p] = out[out.length - 1].seq;
      return out;
    }
    return undefined;
  }

  private send(rows: OutboxRow[], backlog: boolean): void {
    const client = this.client!;
    const gen = this.generation;
    const channel = rows[0].channel as UpstreamChannel;
    const body = `{"v":1,"site":${JSON.stringify(this.opts.site)},"stream":${JSON.stringify(this.outbox.streamId)},"sentAt":${Date.now()},"items":[${rows.map((r) => r.body).join(',')}]}`;
    const key = ++this.msgCounter;
    const seqs = rows.map((r) => r.seq);
    this.inflight.set(key, { seqs, backlog });
    client.publish(topics.channel(this.opts.site, channel), body, { qos: 1 }, (err) => {
      if (gen !== this.generation) return; // connection was replaced; rows will be resent
      if (err) {
        this.log.warn({ err: err.message }, 'publish failed');
        return;
      }
      this.inflight.delete(key);
      this.outbox.ack(seqs);
      this.stats_.sentMessages++;
      this.stats_.sentItems += seqs.length;
      this.emit('acked', seqs.length);
      this.schedulePump(0);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.pumpTimer);
    clearInterval(this.statusTimer);
    const client = this.client;
    this.generation++;
    this.connected = false;
    this.client = undefined;
    if (client) {
      // A clean stop says offline explicitly (the will only fires on an unclean loss).
      await new Promise<void>((resolve) => {
        client.publish(topics.status(this.opts.site), JSON.stringify({ v: 1, site: this.opts.site, online: false, ts: Date.now() }), { qos: 1, retain: true }, () => resolve());
        setTimeout(resolve, 1000).unref();
      });
      await client.endAsync(true).catch(() => undefined);
    }
  }
}
