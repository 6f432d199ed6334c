import fs from 'node:fs';
import { EventEmitter } from 'node:events';
import mqtt, { type MqttClient, type IClientOptions } from 'mqtt';
import type { Logger } from '../../lib/log.ts';
import { checkers, type Command, type Receipt } from '../../protocol/schemas.ts';
import { RECEIPT_COMMAND, topics, parseTopic, type UpstreamChannel } from '../../protocol/topics.ts';
import { PRIORITY_COUNT, type Outbox, type OutboxRow } from '../outbox/outbox.ts';
import { Backoff } from './backoff.ts';
import { TokenBucket } from './token-bucket.ts';
import { CodedError } from '../../lib/errors.ts';

export interface UplinkOptions {
  site: string;
  /**
   * The broker, or several addresses of one broker cluster (EMQX nodes, bridged mosquittos)
   * tried in order: a failed connect or a lost connection moves to the next address at once;
   * after every address failed in a row, the reconnect backoff applies. The uplink stays on the
   * address that works (no flapping back to the first).
   */
  url: string | string[];
  username?: string;
  password?: string;
  /** PEM CA file for a TLS broker (mqtts://). */
  caFile?: string;
  rejectUnauthorized?: boolean;
  /** MQTT messages awaiting PUBACK at once. */
  maxInflight: number;
  /** Items per MQTT message (one batch of one channel). */
  batchMaxItems: number;
  /**
   * UTF-8 bytes per MQTT message payload, envelope included; must be ≤ the cloud's
   * `ingest.maxMessageBytes` (default 2 MiB) or the cloud dead-letters the message whole.
   * An item that alone does not fit is refused at append (EDGE_ITEM_TOO_LARGE, see `maxItemBytes`).
   */
  batchMaxBytes: number;
  /**
   * A message whose PUBACK has not come after this long is given up: its in-flight slot is freed
   * and its rows are sent again (a duplicate is admitted once by the cloud). Default 30000.
   */
  ackTimeoutMs?: number;
  /**
   * When a row may leave the outbox. `receipt` (default): only when the cloud's receipt says it is
   * safely in the cloud's spool (ce/v1/<site>/cmd/_receipt) — delivery then does not depend on any
   * broker's persistence (a mosquitto that PUBACKs and dies loses nothing). `puback`: on the
   * broker's PUBACK, safe only with the cloud's embedded broker, where ingest spools before the
   * PUBACK; it deletes rows ~50 ms sooner and sends no receipts.
   */
  confirm?: 'receipt' | 'puback';
  /** With `confirm: receipt`: rows PUBACKed but not receipted after this long are sent again. Default 30000. */
  receiptTimeoutMs?: number;
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
  /** Messages whose publish failed or whose PUBACK did not come within ackTimeoutMs. */
  failedMessages: number;
  /** Messages sent again from those rows on the same connection. */
  resentMessages: number;
  /** `confirm: receipt`: receipts taken, rows they deleted, rows waiting for one, messages whose receipt timed out. */
  receipts: number;
  receiptedRows: number;
  awaitingReceipt: number;
  receiptTimeouts: number;
  /** The broker address in use (or being tried), without credentials. */
  broker: string;
  /** Times the uplink moved to another broker address. */
  failovers: number;
  lastError?: string;
}

interface Inflight { seqs: number[]; backlog: boolean; timer?: NodeJS.Timeout }
/** A PUBACKed message whose rows wait for the cloud's receipt (confirm: receipt). */
interface Awaiting { seqs: Set<number>; backlog: boolean; timer: NodeJS.Timeout }

/** Widest stream id the protocol allows (Batch.stream) and the widest sentAt (Millis). */
const ENVELOPE_STREAM = 'x'.repeat(40);
const ENVELOPE_SENT_AT = 32_503_680_000_000;

/** UTF-8 bytes of a batch message of site `site` without its items (`{"v":1,…,"items":[]}`), at its widest. */
export function batchEnvelopeBytes(site: string): number {
  return Buffer.byteLength(batchBody(site, ENVELOPE_STREAM, ENVELOPE_SENT_AT, []));
}

/** The largest item (its JSON, UTF-8 bytes) one message of `batchMaxBytes` can carry for `site`. */
export function maxItemBytes(batchMaxBytes: number, site: string): number {
  return batchMaxBytes - batchEnvelopeBytes(site);
}

function batchBody(site: string, stream: string, sentAt: number, bodies: string[]): string {
  return `{"v":1,"site":${JSON.stringify(site)},"stream":${JSON.stringify(stream)},"sentAt":${sentAt},"items":[${bodies.join(',')}]}`;
}

/**
 * MQTT uplink of an edge site (mqtt.js, QoS 1).
 *
 * - A row leaves the outbox only after the cloud's receipt for it (`confirm: receipt`, default),
 *   or the broker's PUBACK for the message carrying it (`confirm: puback`).
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
  /** Rows of failed or given-up messages, to send again before anything new (this connection). */
  private retry: Inflight[] = [];
  private readonly ackTimeoutMs: number;
  private warnedOversize = false;
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
  private readonly stats_: UplinkStats = { connected: false, connects: 0, sentMessages: 0, sentItems: 0, inflightMessages: 0, liveBoundary: 0, backlogItemsSent: 0, failedMessages: 0, resentMessages: 0, receipts: 0, receiptedRows: 0, awaitingReceipt: 0, receiptTimeouts: 0, broker: '', failovers: 0 };
  private readonly urls: string[];
  private urlIndex = 0;
  /** Addresses that failed since the last successful connect (a full round → backoff). */
  private failedInRow = 0;
  private readonly confirm: 'receipt' | 'puback';
  private readonly receiptTimeoutMs: number;
  /** seq → its PUBACKed message waiting for a receipt (this connection). */
  private readonly awaiting = new Map<number, Awaiting>();

  constructor(private readonly outbox: Outbox, private readonly opts: UplinkOptions, private readonly log: Logger) {
    super();
    this.backoff = new Backoff(opts.reconnectMinMs, opts.reconnectMaxMs);
    this.bucket = new TokenBucket(opts.backlogRate, Math.max(opts.backlogRate, opts.batchMaxItems));
    this.ackTimeoutMs = opts.ackTimeoutMs ?? 30_000;
    this.confirm = opts.confirm ?? 'receipt';
    this.receiptTimeoutMs = opts.receiptTimeoutMs ?? 30_000;
    this.urls = Array.isArray(opts.url) ? [...opts.url] : [opts.url];
    if (!this.urls.length) throw new CodedError('CONFIG_INVALID', 'uplink: mqtt.url lists no broker address');
    this.stats_.broker = redactUrl(this.urls[0]);
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
    return { ...this.stats_, connected: this.connected, inflightMessages: this.inflight.size, liveBoundary: this.boundary, awaitingReceipt: this.awaiting.size };
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
    const url = this.urls[this.urlIndex];
    this.stats_.broker = redactUrl(url);
    const client = mqtt.connect(url, options);
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
    this.failedInRow = 0;
    this.dropInflight();
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
    // Every row in flight is still in the outbox; the next connection starts its cursors
    // from the outbox again (backlog from seq 0), so they are all sent again.
    this.dropInflight();
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
    let delay: number;
    if (this.urls.length > 1) {
      // the next address of the cluster at once; a whole round of failures → back off
      const from = this.stats_.broker;
      this.urlIndex = (this.urlIndex + 1) % this.urls.length;
      this.stats_.failovers++;
      this.failedInRow++;
      delay = this.failedInRow % this.urls.length === 0 ? this.backoff.next() : this.opts.reconnectMinMs;
      if (wasConnected || this.failedInRow <= this.urls.length) this.log.warn({ from, to: redactUrl(this.urls[this.urlIndex]), delayMs: delay }, 'uplink: trying the next broker address');
    } else {
      delay = this.backoff.next();
    }
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  publishStatus(): void {
    if (!this.client || !this.connected) return;
    const payload = { v: 1, site: this.opts.site, online: true, ts: Date.now(), health: { outbox: this.outbox.stats(), uplink: this.stats(), ...(this.opts.health?.() ?? {}) } };
    this.client.publish(topics.status(this.opts.site), JSON.stringify(payload), { qos: 1, retain: true });
  }

  /** A command or a receipt from the cloud: only our own, well-formed ones are taken. */
  private onMessage(topic: string, payload: Buffer): void {
    const parsed = parseTopic(topic);
    if (!parsed || parsed.direction !== 'down' || parsed.site !== this.opts.site) return;
    let cmd: unknown;
    try { cmd = JSON.parse(payload.toString('utf8')); } catch { cmd = undefined; }
    if (parsed.command === RECEIPT_COMMAND) {
      if (!checkers.receipt.Check(cmd)) {
        this.log.warn({ topic }, 'ignored malformed receipt');
        return;
      }
      this.onReceipt(cmd as Receipt);
      return;
    }
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

  /** Forget what was in flight on a connection that is gone (its rows stay in the outbox). */
  private dropInflight(): void {
    for (const f of this.inflight.values()) clearTimeout(f.timer);
    this.inflight.clear();
    this.retry = [];
    for (const w of new Set(this.awaiting.values())) clearTimeout(w.timer);
    this.awaiting.clear();
  }

  /**
   * The cloud has these seqs of our stream safely spooled: delete their rows. A receipt may come
   * for rows still in flight (their PUBACK is late) or sent on an earlier connection: it is the
   * cloud's word, so they go too. A receipt of another stream (an earlier outbox file) is ignored.
   */
  private onReceipt(r: Receipt): void {
    if (this.confirm !== 'receipt' || r.stream !== this.outbox.streamId) return;
    const done: number[] = [];
    for (const [from, to] of r.ranges) {
      if (to < from) continue;
      if (to - from + 1 <= 4 * this.awaiting.size + 64) {
        for (let s = from; s <= to; s++) done.push(s);
      } else {
        for (const s of this.awaiting.keys()) if (s >= from && s <= to) done.push(s);
      }
    }
    for (const s of done) {
      const w = this.awaiting.get(s);
      if (!w) continue;
      this.awaiting.delete(s);
      w.seqs.delete(s);
      if (w.seqs.size === 0) clearTimeout(w.timer);
    }
    this.outbox.ack(done);
    this.stats_.receipts++;
    this.stats_.receiptedRows += done.length;
    this.emit('receipted', done.length);
  }

  /** PUBACKed rows of one message now wait for the cloud's receipt; without one in time they go again. */
  private awaitReceipt(seqs: number[], backlog: boolean, gen: number): void {
    const w: Awaiting = { seqs: new Set(seqs), backlog, timer: undefined as unknown as NodeJS.Timeout };
    w.timer = setTimeout(() => {
      if (gen !== this.generation || w.seqs.size === 0) return;
      const left = [...w.seqs];
      for (const s of left) this.awaiting.delete(s);
      w.seqs.clear();
      this.stats_.receiptTimeouts++;
      this.log.warn({ rows: left.length, receiptTimeoutMs: this.receiptTimeoutMs }, 'no receipt for rows the broker acknowledged; they go again');
      this.retry.push({ seqs: left, backlog });
      this.schedulePump(0);
    }, this.receiptTimeoutMs);
    w.timer.unref();
    for (const s of seqs) this.awaiting.set(s, w);
  }

  private pump(): void {
    if (this.pumping || !this.connected || !this.client) return;
    this.pumping = true;
    try {
      // rows of a failed message go again first, on this connection, without waiting for a reconnect
      // (only those queued before this run: one failing again at once waits for the next run)
      let retries = this.retry.length;
      while (this.inflight.size < this.opts.maxInflight) {
        const again = retries-- > 0 ? this.retry.shift() : undefined;
        if (again) {
          const rows = this.outbox.rows(again.seqs);
          if (rows.length) { this.stats_.resentMessages++; this.send(rows, again.backlog); }
          continue;
        }
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

  /**
   * Next rows of the highest priority that has any, cut to one channel and to `batchMaxBytes`
   * real (UTF-8) bytes of message, envelope included.
   */
  private nextBatch(cursor: number[], maxSeq: number, limit: number): OutboxRow[] | undefined {
    const room = this.opts.batchMaxBytes - batchEnvelopeBytes(this.opts.site);
    for (let p = 0; p < PRIORITY_COUNT; p++) {
      const rows = this.outbox.take(p, cursor[p], maxSeq, limit);
      if (!rows.length) continue;
      const channel = rows[0].channel;
      const out: OutboxRow[] = [];
      let bytes = 0;
      for (const r of rows) {
        if (r.channel !== channel) break;
        const b = Buffer.byteLength(r.body) + (out.length ? 1 : 0); // the comma between items
        if (out.length && bytes + b > room) break;
        out.push(r);
        bytes += b;
      }
      if (bytes > room && !this.warnedOversize) {
        // only a row stored before EDGE_ITEM_TOO_LARGE existed, or under a larger batchMaxBytes
        this.warnedOversize = true;
        this.log.warn({ seq: out[0].seq, bytes, batchMaxBytes: this.opts.batchMaxBytes }, 'an outbox row is larger than one batch; sent alone');
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
    const body = batchBody(this.opts.site, this.outbox.streamId, Date.now(), rows.map((r) => r.body));
    const key = ++this.msgCounter;
    const seqs = rows.map((r) => r.seq);
    const entry: Inflight = { seqs, backlog };
    this.inflight.set(key, entry);
    // A PUBACK that does not come (lost on a connection that stays up) must not hold the slot forever.
    entry.timer = setTimeout(() => this.failed(key, gen, new Error(`no PUBACK within ${this.ackTimeoutMs} ms`)), this.ackTimeoutMs);
    entry.timer.unref();
    client.publish(topics.channel(this.opts.site, channel), body, { qos: 1 }, (err) => {
      clearTimeout(entry.timer);
      if (gen !== this.generation) return; // connection was replaced; rows will be resent
      if (err) {
        this.failed(key, gen, err);
        return;
      }
      // A PUBACK that comes after the message was given up still means the broker has these rows.
      this.inflight.delete(key);
      // puback: the broker's PUBACK is the end (embedded broker: ingest spooled it before); receipt:
      // the rows stay until the cloud's receipt says they are in its spool.
      if (this.confirm === 'puback') this.outbox.ack(seqs);
      else this.awaitReceipt(seqs, backlog, gen);
      this.stats_.sentMessages++;
      this.stats_.sentItems += seqs.length;
      this.emit('acked', seqs.length);
      this.schedulePump(0);
    });
  }

  /** A publish failed (error callback) or its PUBACK is overdue: free its slot, send its rows again. */
  private failed(key: number, gen: number, err: Error): void {
    if (gen !== this.generation) return;
    const entry = this.inflight.get(key);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.inflight.delete(key);
    this.stats_.failedMessages++;
    this.stats_.lastError = err.message;
    this.log.warn({ err: err.message, items: entry.seqs.length }, 'publish failed; its rows go again');
    this.retry.push({ seqs: entry.seqs, backlog: entry.backlog });
    // a client that fails every publish at once (e.g. disconnecting) must not spin the pump
    this.schedulePump(this.retry.length > this.opts.maxInflight ? 100 : 0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.pumpTimer);
    clearInterval(this.statusTimer);
    this.dropInflight();
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

/** A broker URL for logs and status: user and password removed. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//');
  }
}
