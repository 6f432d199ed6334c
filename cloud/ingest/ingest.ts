import { ReceiptBook, type ReceiptSender } from './receipts.ts';
import { EventEmitter } from 'node:events';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { parseBytes } from '../../lib/config.ts';
import { CodedError, errMessage, isCoded } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { CHANNEL_OF_KIND, checkers, type Item } from '../../protocol/schemas.ts';
import { parseTopic, topics } from '../../protocol/topics.ts';
import { schemaError, validateItem } from '../../protocol/validate.ts';
import type { CloudDb } from '../db.ts';
import { DeadLetters } from './dead-letters.ts';
import { preparedLine, type Prepared, type PreparedBatch } from './prepare.ts';
import { PreparedRow } from './prepared-row.ts';
import { SeenRanges } from './seen-ranges.ts';
import { autoWorkers, PreparePool } from './workers.ts';

export interface IngestOptions {
  maxMessageBytes: number;
  /** Items whose observed time is further in the future than this are rejected (device clocks lie). */
  maxFutureMs: number;
  /** Spool rows per sink call. */
  writeBatch: number;
  /** How long new rows may wait to fill a batch, ms. */
  lingerMs: number;
  /**
   * When a message counts as stored (`ingest.durability`): `process` (default) — WAL +
   * synchronous=NORMAL, survives kill -9 of the cloud; `power` — synchronous=FULL, the WAL is
   * fsynced at every commit, so a PUBACK never precedes stable storage (survives power loss).
   * Set on the cloud.db connection, so it holds for every table of it.
   */
  durability?: 'process' | 'power';
  /** End-to-end receipts to the sites (what is safely spooled), see receipts.ts. */
  receipts?: { enabled: boolean; lingerMs: number; maxRanges: number };
  /**
   * The spool's bound (`ingest.spoolCap`): at `bytes` spooled payload bytes or `items` spooled
   * items (0 = no bound of that kind) new messages are refused, not acknowledged, until the sinks
   * took enough — nothing spooled is ever deleted for room. `holdMs`: how long `admit` lets a
   * publish that finds the spool full wait for room before refusing it.
   */
  spoolCap?: { bytes?: number | string; items?: number; holdMs?: number };
  /**
   * Worker threads that prepare telemetry messages for `admit` (parse, validate, InfluxDB line;
   * prepare.ts) off the thread that speaks MQTT. `auto` = one per core beside it (2–4);
   * 0 or absent = all on the main thread. Either way `admit` group-commits: the messages that are
   * ready in one turn of the event loop share one spool transaction, each acknowledged after it.
   */
  workers?: number | 'auto';
}

export const DEFAULT_SPOOL_CAP = { bytes: '2GiB', items: 10_000_000, holdMs: 2000 } as const;

/** An admitted item as sinks get it; `stream` is the outbox stream it came in (absent for rows spooled before it was kept). */
export interface SpooledItem {
  site: string;
  received: number;
  item: Item;
  stream?: string;
  /**
   * The item as one InfluxDB line (`influxLine` of what seriesSink makes of it: the `site` tag,
   * the `received_ms` field), when an ingest worker prepared it; a store with `writeLines` sends
   * it as it is. Absent otherwise.
   */
  line?: string;
}

/**
 * A consumer of admitted items of some kinds. Must be idempotent: a crash between write and
 * spool delete repeats it (test/support/sink-conformance.ts is the suite every sink passes).
 */
export interface IngestSink {
  readonly name: string;
  readonly kinds: ReadonlyArray<Item['kind']>;
  /**
   * True when the sink's state does not depend on the order batches reach it (keyed upserts,
   * insert-or-ignore): a batch may then be written while an earlier one is still in flight, or
   * after a later one when the earlier one failed. Otherwise (the default) the sink gets batches
   * strictly in spool order, and after a failed write no later batch until that one was retried.
   */
  readonly anyOrder?: boolean;
  /**
   * Take the items. Reject to keep them spooled: they are retried (with backoff) — unless the
   * error is a `PermanentWriteError`, which says some items can never be taken.
   */
  write(items: SpooledItem[]): Promise<void>;
}

/**
 * What a sink throws when retrying cannot help: its backing store refuses some items for good
 * (`StoreRefusedError` from cloud/store has this shape). Ingest then isolates the refused items —
 * those named in `refused` (indices into the items of that write) at once, else by writing the
 * `suspects` apart (anyOrder sinks only), else by halving the batch — dead-letters each with code
 * INGEST_STORE_REFUSED and the sink's reason, and writes the rest. Every other error is transient.
 */
export interface PermanentWriteError extends Error {
  readonly permanent: true;
  readonly refused?: ReadonlyArray<{ index: number; reason: string }>;
  readonly suspects?: readonly number[];
}
export function isPermanentWriteError(err: unknown): err is PermanentWriteError {
  return err instanceof Error && (err as { permanent?: unknown }).permanent === true;
}

type Row = { rowid: number; site: string; received: number; items: number; bytes: number };
type RowItem = SpooledItem & { rowid: number };
interface Refused { item: RowItem; reason: string }

/** Per sink (by index): did a batch's write reach it, in order? Later batches of a drain wait on it. */
type Outcomes = Array<Promise<boolean>>;
interface Outcome { promise: Promise<boolean>; resolve(v: boolean | Promise<boolean>): void }
function outcome(): Outcome {
  let resolve!: Outcome['resolve'];
  const promise = new Promise<boolean>((r) => { resolve = r; });
  return { promise, resolve };
}

const MAX_PARSED_IN_MEMORY = 200_000;

/** A message `admit` took: prepared (by a worker, or `{t:'main'}`: on this thread) then committed in arrival order. */
interface AdmitSlot { topic: string; payload: Buffer; site?: string; received: number; done: (err?: Error) => void; prep?: Prepared }
const ON_MAIN: Prepared = { t: 'main' };

export type AcceptResult = { ok: true; accepted: number; duplicates: number; rejected: number } | { ok: false; code: string; reason: string };

/**
 * Cloud ingest. `accept` is synchronous and runs where the broker can still withhold
 * the PUBACK: it validates, dedupes by (site, stream, seq) and appends admitted items
 * to a durable spool in one SQLite transaction — or dead-letters what is bad (bad
 * input is acknowledged too, so a poison message is not redelivered forever).
 * A drain loop then hands spooled items to the sinks (series store, events, …) in
 * batches and deletes them only after every sink took them; while a sink is down the
 * spool grows and drains when it is back.
 */
export class Ingest extends EventEmitter {
  readonly deadLetters: DeadLetters;
  readonly seen: SeenRanges;
  private readonly sinks: IngestSink[] = [];
  private readonly st;
  private drainTimer?: NodeJS.Timeout;
  private draining = false;
  /** Nothing drains before start(): sinks are registered first. */
  private stopped = true;
  private failures = 0;
  private sinkHealthy = true;
  private readonly m;
  /**
   * Items of recently spooled rows, already parsed (rowid → items), so the drain need not parse
   * them again. An entry is added only once its spool transaction committed (`pendingParsed`
   * holds it until then): a rolled-back row's rowid is given to the next row, which must never
   * be served the rolled-back row's items.
   */
  private readonly parsed = new Map<number, { stream?: string; items?: Item[]; row?: PreparedRow }>();
  private parsedCount = 0;
  private pendingParsed?: { rowid: number; stream: string; items?: Item[]; row?: PreparedRow; n: number; bytes: number };
  /** Messages `admit` took, in arrival order: committed (in groups) in this order, whatever order their workers answer in. */
  private readonly admitQueue: AdmitSlot[] = [];
  private commitScheduled = false;
  private pool?: PreparePool;
  private readonly workerCount: number;
  /** Group commits and messages in them (metrics and tests). */
  readonly groups = { commits: 0, messages: 0, prepared: 0 };
  /** The seqs of the message being accepted, receipted once its transaction commits. */
  private pendingReceipt?: { site: string; stream: string; seqs: number[] };
  /** Receipts to the sites; set by the cloud once a broker can carry them (attachReceipts). */
  private receipts?: ReceiptBook;
  /** What the spool holds (payload bytes, items): counted at start, then kept as rows come and go. */
  private spooled = { bytes: 0, items: 0 };
  private readonly cap: { bytes: number; items: number; holdMs: number };
  /** `admit` calls waiting for room in a full spool. */
  private readonly roomWaiters = new Set<() => void>();
  private fullSince = 0;

  constructor(private readonly db: CloudDb, private readonly opts: IngestOptions, private readonly log: Logger, registry: Registry) {
    super();
    this.deadLetters = new DeadLetters(db);
    this.seen = new SeenRanges(db);
    // synchronous is per connection: one setting for everything cloud.db holds (WAL is set on open)
    db.pragma(`synchronous = ${opts.durability === 'power' ? 'FULL' : 'NORMAL'}`);
    this.workerCount = opts.workers === 'auto' ? autoWorkers() : Math.max(0, Math.floor(opts.workers ?? 0));
    const cap = { ...DEFAULT_SPOOL_CAP, ...opts.spoolCap };
    this.cap = { bytes: parseBytes(cap.bytes), items: cap.items, holdMs: cap.holdMs };
    this.st = {
      spool: db.prepare('INSERT INTO ingest_spool (site, received, items, body) VALUES (?, ?, ?, ?)'),
      peek: db.prepare('SELECT rowid, site, received, items, length(body) AS bytes FROM ingest_spool WHERE rowid > ? ORDER BY rowid LIMIT 256'),
      body: db.prepare('SELECT body FROM ingest_spool WHERE rowid = ?').pluck(),
      del: db.prepare('DELETE FROM ingest_spool WHERE rowid = ?'),
      depth: db.prepare('SELECT coalesce(sum(items), 0) AS n FROM ingest_spool'),
      size: db.prepare('SELECT coalesce(sum(length(body)), 0) AS bytes, coalesce(sum(items), 0) AS items FROM ingest_spool'),
      // Status is ordered by arrival: a last will carries the time the site connected, not when it dropped.
      status: db.prepare('INSERT INTO site_status (site, online, ts, received, health) VALUES (?, ?, ?, ?, ?) ON CONFLICT(site) DO UPDATE SET online = excluded.online, ts = excluded.ts, received = excluded.received, health = coalesce(excluded.health, health)'),
    };
    const reg = [registry];
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    this.m = {
      messages: new Counter({ name: 'cityedge_ingest_messages_total', help: 'MQTT messages seen by ingest', labelNames: ['result'], registers: reg }),
      items: new Counter({ name: 'cityedge_ingest_items_total', help: 'items by outcome (accepted, duplicate, rejected)', labelNames: ['result'], registers: reg }),
      rejected: new Counter({ name: 'cityedge_ingest_rejected_total', help: 'rejections by error code', labelNames: ['code'], registers: reg }),
      written: new Counter({ name: 'cityedge_ingest_written_total', help: 'items handed to sinks', labelNames: ['sink'], registers: reg }),
      sinkErrors: new Counter({ name: 'cityedge_ingest_sink_errors_total', help: 'failed sink writes (retried)', labelNames: ['sink'], registers: reg }),
      receipts: new Gauge({
        name: 'cityedge_ingest_receipts', help: 'end-to-end receipts to sites since start: sent messages, seqs noted, sends failed (those rows are sent again by the site)', labelNames: ['what'], registers: reg,
        collect: () => { const c = this.receipts?.counts; if (c) for (const k of ['receipts', 'seqs', 'failed'] as const) this.m.receipts.set({ what: k }, c[k]); },
      }),
      spool: new Gauge({ name: 'cityedge_ingest_spool_items', help: 'items waiting in the durable spool', registers: reg, collect() { this.set(self.spoolDepth()); } }),
      spoolBytes: new Gauge({ name: 'cityedge_ingest_spool_bytes', help: 'payload bytes waiting in the durable spool (ingest.spoolCap.bytes bounds it)', registers: reg, collect() { this.set(self.spoolBytes()); } }),
      spoolFull: new Gauge({ name: 'cityedge_ingest_spool_full', help: '1 while the spool is at its cap and new messages are refused', registers: reg, collect() { this.set(self.spoolFull() ? 1 : 0); } }),
      refused: new Counter({ name: 'cityedge_ingest_refused_total', help: 'publishes refused, not acknowledged (the edge keeps them and retries), by reason: spool_full, spool_failed', labelNames: ['reason'], registers: reg }),
      writeSeconds: new Histogram({ name: 'cityedge_ingest_sink_write_seconds', help: 'sink write latency', labelNames: ['sink'], buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5], registers: reg }),
    };
    this.countSpool();
  }

  private countSpool(): void {
    const r = this.st.size.get() as { bytes: number; items: number };
    this.spooled = { bytes: r.bytes, items: r.items };
  }

  addSink(sink: IngestSink): void {
    this.sinks.push(sink);
  }

  spoolDepth(): number {
    return (this.st.depth.get() as { n: number }).n;
  }

  /** Payload bytes in the spool. */
  spoolBytes(): number {
    return this.spooled.bytes;
  }

  /** True while the spool is at its cap (`ingest.spoolCap`): new messages are refused. */
  spoolFull(): boolean {
    return (this.cap.bytes > 0 && this.spooled.bytes >= this.cap.bytes) || (this.cap.items > 0 && this.spooled.items >= this.cap.items);
  }

  /** Why the spool refuses messages now, in words; undefined when it does not. */
  spoolFullReason(): string | undefined {
    if (!this.spoolFull()) return undefined;
    const { bytes, items } = this.spooled;
    const since = this.fullSince ? ` since ${new Date(this.fullSince).toISOString()}` : '';
    return `spool full (${bytes} bytes of ${this.cap.bytes || 'unbounded'}, ${items} items of ${this.cap.items || 'unbounded'})${since}: new messages are refused, not acknowledged (the sites keep them), until the sinks take what is spooled`;
  }

  get healthy(): boolean {
    return this.sinkHealthy;
  }

  /** Counters of outcomes, for tests and the API. */
  async counts(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const c of [this.m.items, this.m.rejected]) {
      for (const v of (await c.get()).values) out[`${c === this.m.items ? 'items' : 'rejected'}.${Object.values(v.labels)[0]}`] = v.value;
    }
    return out;
  }

  private reject(topic: string, site: string | null, code: string, reason: string, payload?: Buffer | string): AcceptResult {
    this.deadLetters.add(topic, site, code, reason, payload);
    this.m.rejected.inc({ code });
    this.m.messages.inc({ result: 'rejected' });
    return { ok: false, code, reason };
  }

  /**
   * Admit one MQTT message. Synchronous and durable: when it returns, admitted items
   * are in the spool and rejections are in the dead-letter table. Throws only when
   * the database itself fails (then the caller must not acknowledge).
   * `authSite` is the site the broker authenticated, when known.
   */
  /**
   * Send receipts through `send` (the broker's command publish): from now on every accepted
   * message's (stream, seqs) is receipted to its site after `receipts.lingerMs`.
   */
  attachReceipts(send: ReceiptSender): void {
    const r = this.opts.receipts;
    if (!r?.enabled) return;
    this.receipts = new ReceiptBook(send, { lingerMs: r.lingerMs, maxRanges: r.maxRanges }, this.log);
  }

  /** Receipt counters (sent, ranges, seqs, failed) for metrics and tests. */
  receiptCounts(): ReceiptBook['counts'] | undefined {
    return this.receipts?.counts;
  }

  accept(topic: string, payload: Buffer, authSite?: string): AcceptResult {
    try {
      return this.tryAccept(topic, payload, authSite);
    } catch (err) {
      this.m.refused.inc({ reason: isCoded(err, 'INGEST_SPOOL_FULL') ? 'spool_full' : 'spool_failed' });
      throw err;
    }
  }

  /**
   * `accept` for a broker that can hold a publish before answering it: when the spool is full,
   * wait up to `spoolCap.holdMs` for room (the drain frees it) and try once more. `done(err)`
   * with the error that refuses the publish (then there must be no PUBACK), or `done()` when the
   * message is spooled or dead-lettered — always after the transaction that stored it committed,
   * never synchronously: the message is prepared (by a worker thread for telemetry, see
   * `ingest.workers`) and committed with the others ready in the same turn (group commit), in
   * arrival order.
   */
  admit(topic: string, payload: Buffer, authSite: string | undefined, done: (err?: Error) => void): void {
    // At the cap, refuse before any work (status messages do not grow the spool and are still taken).
    const full = () => this.spoolFull() && !topic.endsWith('/status');
    if (!full()) return this.enqueue(topic, payload, authSite, done);
    const refuse = () => {
      this.m.refused.inc({ reason: 'spool_full' });
      done(this.spoolFullError());
    };
    if (this.cap.holdMs <= 0) return refuse();
    this.spoolFullError(); // logs the episode once
    void this.waitForRoom(this.cap.holdMs).then(() => (full() ? refuse() : this.enqueue(topic, payload, authSite, done)));
  }

  /** The INGEST_SPOOL_FULL refusal; logs the start of a full episode once. */
  private spoolFullError(): CodedError {
    if (!this.fullSince) {
      this.fullSince = Date.now();
      this.log.warn({ code: 'INGEST_SPOOL_FULL', bytes: this.spooled.bytes, items: this.spooled.items, cap: this.cap }, 'spool full: refusing new messages (not acknowledged, the sites keep them) until the sinks take what is spooled');
    }
    return new CodedError('INGEST_SPOOL_FULL', this.spoolFullReason() ?? 'spool full');
  }

  /**
   * Take a message into the admit queue: a telemetry message goes to a worker thread to be
   * prepared (when there are workers), anything else is ready at once. Ready messages at the head
   * of the queue are committed together, in arrival order, in one spool transaction (group
   * commit), and each is answered (`done`: PUBACK) only after that transaction committed.
   */
  private enqueue(topic: string, payload: Buffer, authSite: string | undefined, done: (err?: Error) => void): void {
    const slot: AdmitSlot = { topic, payload, site: authSite, received: Date.now(), done };
    this.admitQueue.push(slot);
    if (this.workerCount > 0 && topic.endsWith('/telemetry') && payload.length <= this.opts.maxMessageBytes) {
      void this.startPool().prepare(topic, payload, authSite, slot.received).then((p) => { slot.prep = p; this.scheduleCommit(); });
    } else {
      slot.prep = ON_MAIN;
      this.scheduleCommit();
    }
  }

  private startPool(): PreparePool {
    return (this.pool ??= new PreparePool(this.workerCount, { maxMessageBytes: this.opts.maxMessageBytes, maxFutureMs: this.opts.maxFutureMs }, this.log));
  }

  /** Commit what is ready once this turn of the event loop is over, so messages ready together share a commit. */
  private scheduleCommit(): void {
    if (this.commitScheduled) return;
    this.commitScheduled = true;
    setImmediate(() => {
      this.commitScheduled = false;
      let k = 0;
      while (k < this.admitQueue.length && this.admitQueue[k].prep) k++;
      if (k) this.commitGroup(this.admitQueue.splice(0, k));
    });
  }

  /** Messages `admit` took that are not answered yet. */
  get admitting(): number {
    return this.admitQueue.length;
  }

  /** The worker pool, for tests (undefined until the first telemetry message with workers on). */
  get workerPool(): PreparePool | undefined {
    return this.pool;
  }

  /**
   * One spool transaction for the whole group; each message's outcome counts only after it
   * committed. If it fails, each message is tried again in a transaction of its own, so one that
   * cannot be stored refuses only itself (INGEST_SPOOL_FAILED, no PUBACK).
   */
  private commitGroup(group: AdmitSlot[]): void {
    type Out = { slot: AdmitSlot; result: AcceptResult; parsed?: Ingest['pendingParsed']; receipt?: Ingest['pendingReceipt'] };
    const outs: Out[] = [];
    try {
      this.db.transaction(() => {
        for (const slot of group) {
          this.pendingParsed = undefined;
          this.pendingReceipt = undefined;
          const result = slot.prep!.t === 'batch' ? this.applyPrepared(slot, slot.prep as PreparedBatch) : this.acceptTx(slot.topic, slot.payload, slot.site);
          outs.push({ slot, result, parsed: this.pendingParsed, receipt: this.pendingReceipt });
        }
        this.seen.flush();
      })();
    } catch (err) {
      this.seen.reset();
      this.pendingParsed = undefined;
      this.pendingReceipt = undefined;
      if (group.length > 1) {
        for (const slot of group) this.commitGroup([slot]);
        return;
      }
      this.m.refused.inc({ reason: 'spool_failed' });
      this.log.error({ err: errMessage(err) }, 'ingest spool failed; refusing publish');
      group[0].done(new CodedError('INGEST_SPOOL_FAILED', `could not store message durably: ${errMessage(err)}`));
      return;
    }
    this.pendingParsed = undefined;
    this.pendingReceipt = undefined;
    this.groups.commits++;
    this.groups.messages += group.length;
    let drain = false;
    for (const o of outs) {
      this.committed(o.parsed, o.receipt);
      if (o.result.ok && o.result.accepted > 0) drain = true;
    }
    if (drain) this.scheduleDrain();
    for (const o of outs) o.slot.done();
  }

  /** After a commit: count the spooled row, keep its items for the drain (bounded), note the receipt. */
  private committed(p: Ingest['pendingParsed'], rc: Ingest['pendingReceipt']): void {
    if (p) {
      this.spooled.bytes += p.bytes;
      this.spooled.items += p.n;
      // committed: hand the items to the drain in memory (bounded); after a restart it parses the spool
      if (this.parsedCount + p.n <= MAX_PARSED_IN_MEMORY) {
        this.parsed.set(p.rowid, { stream: p.stream, items: p.items, row: p.row });
        this.parsedCount += p.n;
      }
    }
    if (rc && this.receipts) this.receipts.note(rc.site, rc.stream, rc.seqs);
  }

  /**
   * A worker-prepared telemetry batch, inside the group transaction: every item is valid (the
   * worker checked what acceptTx checks), so what is left is dedupe and the spool row.
   */
  private applyPrepared(slot: AdmitSlot, p: PreparedBatch): AcceptResult {
    this.groups.prepared++;
    const seqs = p.seqs;
    let admittedMask: Uint8Array | undefined;
    let duplicates = 0;
    for (let i = 0; i < p.n; i++) {
      if (this.seen.admit(p.site, p.stream, seqs[i])) continue;
      duplicates++;
      admittedMask ??= new Uint8Array(p.n).fill(1);
      admittedMask[i] = 0;
    }
    const accepted = p.n - duplicates;
    if (p.n) this.pendingReceipt = { site: p.site, stream: p.stream, seqs: Array.from(seqs) };
    if (accepted) {
      if (!admittedMask) {
        const r = this.st.spool.run(p.site, slot.received, accepted, slot.payload);
        this.pendingParsed = { rowid: Number(r.lastInsertRowid), stream: p.stream, row: new PreparedRow(p, slot.payload), n: accepted, bytes: slot.payload.length };
      } else {
        // some were duplicates: store the admitted ones (parsed here; resends are rare)
        const all = (JSON.parse(slot.payload.toString('utf8')) as { items: Item[] }).items;
        const admitted = all.filter((_, i) => admittedMask[i]);
        const body = Buffer.from(JSON.stringify({ stream: p.stream, items: admitted }));
        const r = this.st.spool.run(p.site, slot.received, accepted, body);
        this.pendingParsed = { rowid: Number(r.lastInsertRowid), stream: p.stream, items: admitted, n: accepted, bytes: body.length };
      }
    }
    this.m.items.inc({ result: 'accepted' }, accepted);
    if (duplicates) this.m.items.inc({ result: 'duplicate' }, duplicates);
    this.m.messages.inc({ result: 'ok' });
    return { ok: true, accepted, duplicates, rejected: 0 };
  }

  private waitForRoom(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => { clearTimeout(timer); this.roomWaiters.delete(wake); resolve(); };
      const timer = setTimeout(wake, ms);
      timer.unref?.();
      this.roomWaiters.add(wake);
    });
  }

  private tryAccept(topic: string, payload: Buffer, authSite?: string): AcceptResult {
    // At the cap, refuse before any work: nothing is admitted, the site keeps the message and
    // sends it again. Status messages do not grow the spool and are still taken.
    if (this.spoolFull() && !topic.endsWith('/status')) throw this.spoolFullError();
    let result!: AcceptResult;
    this.pendingParsed = undefined;
    this.pendingReceipt = undefined;
    try {
      this.db.transaction(() => { result = this.acceptTx(topic, payload, authSite); this.seen.flush(); })();
    } catch (err) {
      this.seen.reset();
      this.pendingParsed = undefined; // its rowid was rolled back with the row
      this.pendingReceipt = undefined; // nothing of it is stored: no receipt, the site sends it again
      throw new CodedError('INGEST_SPOOL_FAILED', `could not store message durably: ${errMessage(err)}`);
    }
    const p = this.pendingParsed;
    const rc = this.pendingReceipt;
    this.pendingParsed = undefined;
    this.pendingReceipt = undefined;
    this.committed(p, rc);
    if (result.ok && result.accepted > 0) this.scheduleDrain();
    return result;
  }

  private acceptTx(topic: string, payload: Buffer, authSite?: string): AcceptResult {
    const now = Date.now();
    const parsed = parseTopic(topic);
    const site = parsed?.site ?? null;
    if (payload.length > this.opts.maxMessageBytes) {
      return this.reject(topic, site, 'INGEST_TOO_LARGE', `message of ${payload.length} bytes exceeds the limit of ${this.opts.maxMessageBytes}`, payload);
    }
    if (!parsed || parsed.direction !== 'up') return this.reject(topic, site, 'INGEST_UNKNOWN_TOPIC', `topic ${JSON.stringify(topic)} is not an upstream topic of protocol v1 (ce/v1/<site>/<telemetry|events|alerts|snapshots|status|cmdres>)`, payload);
    if (authSite && authSite !== parsed.site) return this.reject(topic, site, 'INGEST_SITE_MISMATCH', `authenticated as ${authSite} but published for ${parsed.site}`, payload);
    let body: unknown;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch (err) {
      return this.reject(topic, site, 'INGEST_BAD_JSON', `payload is not JSON: ${errMessage(err)}`, payload);
    }
    if (parsed.channel === 'status') {
      if (!checkers.status.Check(body)) return this.reject(topic, site, 'INGEST_BAD_SCHEMA', `status: ${schemaError(checkers.status, body)}`, payload);
      const s = body as { site: string; online: boolean; ts: number; health?: unknown };
      if (s.site !== parsed.site) return this.reject(topic, site, 'INGEST_SITE_MISMATCH', `status for ${s.site} on ${parsed.site}'s topic`, payload);
      this.st.status.run(s.site, s.online ? 1 : 0, s.ts, now, s.health ? JSON.stringify(s.health) : null);
      this.m.messages.inc({ result: 'status' });
      this.emit('status', s);
      return { ok: true, accepted: 0, duplicates: 0, rejected: 0 };
    }
    if (!checkers.batch.Check(body)) return this.reject(topic, site, 'INGEST_BAD_SCHEMA', `batch: ${schemaError(checkers.batch, body)}`, payload);
    const batch = body as { site: string; stream: string; items: unknown[] };
    if (batch.site !== parsed.site) return this.reject(topic, site, 'INGEST_SITE_MISMATCH', `batch for ${batch.site} on ${parsed.site}'s topic`, payload);
    let duplicates = 0;
    let rejected = 0;
    const admitted: Item[] = [];
    // Every item whose outcome is durable once this transaction commits — admitted, a known
    // duplicate, or dead-lettered for good — is receipted to the site, which may then delete it.
    const done: number[] = [];
    for (const raw of batch.items) {
      const seq = (raw as { seq?: unknown } | null)?.seq;
      if (Number.isSafeInteger(seq) && (seq as number) > 0) done.push(seq as number);
      let item: Item;
      try {
        item = validateItem(raw, parsed.channel);
      } catch (err) {
        rejected++;
        const code = err instanceof CodedError ? `INGEST_${err.code}` : 'INGEST_BAD_ITEM';
        this.deadLetters.add(topic, site, code, errMessage(err), JSON.stringify(raw));
        this.m.rejected.inc({ code });
        continue;
      }
      if (item.ts > now + this.opts.maxFutureMs) {
        rejected++;
        this.deadLetters.add(topic, site, 'INGEST_FUTURE_TIMESTAMP', `observed time ${new Date(item.ts).toISOString()} is more than ${Math.round(this.opts.maxFutureMs / 1000)} s after the received time ${new Date(now).toISOString()} (check the device clock)`, JSON.stringify(raw));
        this.m.rejected.inc({ code: 'INGEST_FUTURE_TIMESTAMP' });
        continue;
      }
      if (!this.seen.admit(parsed.site, batch.stream, item.seq)) { duplicates++; continue; }
      admitted.push(item);
    }
    const accepted = admitted.length;
    if (done.length) this.pendingReceipt = { site: parsed.site, stream: batch.stream, seqs: done };
    // One spool row per message; when every item was admitted the payload is stored as it came.
    if (accepted) {
      // Stored as the bytes that came (a BLOB: no UTF-8 round trip through a JS string).
      const body = accepted === batch.items.length ? payload : Buffer.from(JSON.stringify({ stream: batch.stream, items: admitted }));
      const r = this.st.spool.run(parsed.site, now, accepted, body);
      this.pendingParsed = { rowid: Number(r.lastInsertRowid), stream: batch.stream, items: admitted, n: admitted.length, bytes: body.length };
    }
    this.m.items.inc({ result: 'accepted' }, accepted);
    if (duplicates) this.m.items.inc({ result: 'duplicate' }, duplicates);
    if (rejected) this.m.items.inc({ result: 'rejected' }, rejected);
    this.m.messages.inc({ result: rejected ? 'partial' : 'ok' });
    return { ok: true, accepted, duplicates, rejected };
  }

  start(): void {
    this.stopped = false;
    // workers start with the cloud, not on its first message (a thread takes a moment to load)
    if (this.workerCount > 0) this.startPool().warm();
    this.scheduleDrain(0);
  }

  private scheduleDrain(ms = this.opts.lingerMs): void {
    if (this.stopped || this.drainTimer) return;
    this.drainTimer = setTimeout(() => {
      this.drainTimer = undefined;
      void this.drain();
    }, ms);
  }

  /**
   * Hand spooled items to the sinks until the spool is empty or a sink fails. Up to
   * two batches are in flight at once (one being written while the next is read), the
   * way a client saturates InfluxDB; rows are deleted only after their batch succeeded.
   */
  private async drain(): Promise<void> {
    if (this.draining || this.stopped) return;
    this.draining = true;
    let cursor = 0;
    const inflight = new Set<Promise<boolean>>();
    let failed = false;
    let prev: Outcomes | undefined;
    try {
      for (;;) {
        if (this.stopped || failed) break;
        const rows = this.nextBatch(cursor);
        if (!rows.length) break;
        cursor = rows[rows.length - 1].rowid;
        const outcomes = this.sinks.map(outcome);
        const p: Promise<boolean> = this.deliver(rows, prev, outcomes).then((ok) => { inflight.delete(p); if (!ok) failed = true; return ok; });
        prev = outcomes.map((o) => o.promise);
        inflight.add(p);
        if (inflight.size >= 2) await Promise.race(inflight);
      }
      await Promise.all(inflight);
      if (failed) {
        this.failures++;
        const backoff = Math.min(5000, 100 * 2 ** Math.min(this.failures, 6));
        if (!this.stopped) this.drainTimer = setTimeout(() => { this.drainTimer = undefined; void this.drain(); }, backoff);
        return;
      }
      this.failures = 0;
      this.emit('drained');
    } finally {
      this.draining = false;
    }
    // More may have arrived while the last batch was written.
    if (!failed && this.spoolDepth() > 0) this.scheduleDrain(0);
  }

  /** Spool rows after `cursor` holding about `writeBatch` items. */
  private nextBatch(cursor: number): Row[] {
    const rows = this.st.peek.all(cursor) as Row[];
    let n = 0;
    let k = 0;
    while (k < rows.length && (k === 0 || n + rows[k].items <= this.opts.writeBatch)) n += rows[k++].items;
    return rows.slice(0, k);
  }

  /**
   * Write one batch to every sink and delete its spool rows that all their sinks took.
   * `prev` are the outcomes of the batch before it in this drain: a sink that is not `anyOrder`
   * waits for its write of that batch first, and skips this one (its rows stay) if that failed,
   * so it sees batches in spool order even while two are in flight or one is retried.
   * Resolves `outcomes[k]` for every sink, whatever happens.
   */
  private async deliver(rows: Row[], prev: Outcomes | undefined, outcomes: Outcome[]): Promise<boolean> {
    try {
      return await this.deliverTo(rows, prev, outcomes);
    } finally {
      for (const o of outcomes) o.resolve(false); // no-op for those already resolved
    }
  }

  private async deliverTo(rows: Row[], prev: Outcomes | undefined, outcomes: Outcome[]): Promise<boolean> {
    const items: RowItem[] = [];
    for (const r of rows) {
      const cached = this.parsed.get(r.rowid);
      if (cached?.row) {
        // prepared by a worker: the items' lines are made, their objects are parsed only if a sink looks inside
        const p = cached.row.p;
        const views = cached.row.views();
        for (let i = 0; i < views.length; i++) {
          const line = preparedLine(p, i);
          const it: RowItem = { rowid: r.rowid, site: r.site, received: r.received, item: views[i], stream: p.stream };
          if (line) it.line = line;
          items.push(it);
        }
        continue;
      }
      const { stream, items: list } = cached?.items ? { stream: cached.stream, items: cached.items } : this.spooledItems(r.rowid);
      for (const item of list) items.push({ rowid: r.rowid, site: r.site, received: r.received, item, ...(stream ? { stream } : {}) });
    }
    const keep = new Set<number>();
    const refused: Refused[] = [];
    let allOk = true;
    for (const [k, sink] of this.sinks.entries()) {
      const mine = items.filter((i) => sink.kinds.includes(i.item.kind));
      if (sink.anyOrder) {
        outcomes[k].resolve(true);
      } else if (!mine.length) {
        // nothing for it here: pass the earlier batch's outcome on to the next one
        outcomes[k].resolve(prev ? prev[k] : true);
        continue;
      } else if (prev && !(await prev[k])) {
        // an earlier batch failed in this sink and will be retried first: this one waits its turn
        allOk = false;
        for (const i of mine) keep.add(i.rowid);
        outcomes[k].resolve(false);
        continue;
      }
      if (!mine.length) continue;
      const end = this.m.writeSeconds.startTimer({ sink: sink.name });
      try {
        const out = await this.writeIsolating(sink, mine);
        end();
        this.m.written.inc({ sink: sink.name }, mine.length - out.length);
        if (out.length) {
          refused.push(...out);
          this.log.warn({ sink: sink.name, refused: out.length, of: mine.length, code: 'INGEST_STORE_REFUSED', reason: out[0].reason, site: out[0].item.site }, 'items refused for good by a sink; dead-lettered, the rest written');
        }
        outcomes[k].resolve(true);
      } catch (err) {
        end();
        allOk = false;
        outcomes[k].resolve(false);
        this.m.sinkErrors.inc({ sink: sink.name });
        if (this.sinkHealthy || this.failures % 20 === 0) this.log.warn({ sink: sink.name, err: errMessage(err), waiting: this.spoolDepth() }, 'sink write failed; items stay spooled and are retried');
        // Messages with items for this sink stay (sinks are idempotent, so the others may see them again).
        for (const i of mine) keep.add(i.rowid);
      }
    }
    this.sinkHealthy = allOk;
    this.db.transaction(() => {
      // Refused items of rows that stay are refused again when their row is retried.
      const bodies = new Map<number, Item[]>();
      for (const { item: r, reason } of refused) {
        if (keep.has(r.rowid)) continue;
        // the item as the site sent it (the spool row's copy: sinks may have extended the parsed one)
        let list = bodies.get(r.rowid);
        if (!list) { list = this.spooledItems(r.rowid).items; bodies.set(r.rowid, list); }
        const original = list.find((i) => i.id === r.item.id && i.seq === r.item.seq) ?? r.item;
        this.deadLetters.add(topics.channel(r.site, CHANNEL_OF_KIND[r.item.kind]), r.site, 'INGEST_STORE_REFUSED', reason, JSON.stringify(original));
        this.m.rejected.inc({ code: 'INGEST_STORE_REFUSED' });
      }
      for (const r of rows) {
        if (keep.has(r.rowid)) continue;
        this.st.del.run(r.rowid);
      }
    })();
    // committed: forget the rows' parsed items and count the room they leave
    let freed = false;
    for (const r of rows) {
      if (keep.has(r.rowid)) continue;
      const cached = this.parsed.get(r.rowid);
      if (cached) { this.parsedCount -= cached.items?.length ?? cached.row?.p.n ?? 0; this.parsed.delete(r.rowid); }
      this.spooled.bytes -= r.bytes;
      this.spooled.items -= r.items;
      freed = true;
    }
    if (freed && !this.spoolFull()) this.roomFreed();
    if (allOk) this.emit('written', items.length);
    return allOk;
  }

  /** The spool has room (again): wake held publishes. */
  private roomFreed(): void {
    if (this.fullSince) {
      this.log.info({ bytes: this.spooled.bytes, items: this.spooled.items, fullForMs: Date.now() - this.fullSince }, 'spool has room again: taking new messages');
      this.fullSince = 0;
    }
    for (const wake of [...this.roomWaiters]) wake();
  }

  /** The items of a spool row and their stream, parsed from its stored body (the batch as it came, or `{stream, items}`). */
  private spooledItems(rowid: number): { stream?: string; items: Item[] } {
    const b = JSON.parse((this.st.body.get(rowid) as Buffer).toString('utf8')) as { stream?: string; items: Item[] };
    return { stream: typeof b.stream === 'string' ? b.stream : undefined, items: b.items };
  }

  /**
   * Write `items` to the sink; when it refuses some for good (`PermanentWriteError`), find exactly
   * which and write the others. Resolves to the refused items with the sink's reasons; rejects
   * (all items stay spooled) on a transient error. Items named in `refused` are taken at their
   * word; otherwise the batch is split — the `suspects` apart from the rest for an anyOrder sink,
   * else in halves, in spool order — until each refused item stands alone.
   */
  private async writeIsolating(sink: IngestSink, items: RowItem[]): Promise<Refused[]> {
    try {
      await sink.write(items);
      return [];
    } catch (err) {
      if (!isPermanentWriteError(err)) throw err;
      const named = new Map<number, string>();
      for (const r of err.refused ?? []) if (Number.isInteger(r.index) && r.index >= 0 && r.index < items.length) named.set(r.index, String(r.reason));
      if (items.length === 1) return [{ item: items[0], reason: named.get(0) ?? errMessage(err) }];
      if (named.size) {
        const out: Refused[] = [...named].map(([i, reason]) => ({ item: items[i], reason }));
        const rest = items.filter((_, i) => !named.has(i));
        return rest.length ? out.concat(await this.writeIsolating(sink, rest)) : out;
      }
      const suspects = new Set(sink.anyOrder ? (err.suspects ?? []).filter((i) => Number.isInteger(i) && i >= 0 && i < items.length) : []);
      const parts = suspects.size > 0 && suspects.size < items.length
        ? [items.filter((_, i) => !suspects.has(i)), items.filter((_, i) => suspects.has(i))]
        : [items.slice(0, items.length >> 1), items.slice(items.length >> 1)];
      const out: Refused[] = [];
      for (const part of parts) out.push(...(await this.writeIsolating(sink, part)));
      return out;
    }
  }

  /** Send the receipts noted so far now (before the broker closes at shutdown). */
  async flushReceipts(): Promise<void> {
    await this.receipts?.flush();
  }

  async stop(): Promise<void> {
    // answer the messages admit took (their workers answer, or the main thread prepares them)
    for (let waited = 0; this.admitQueue.length && waited < 10_000; waited += 5) await new Promise((r) => setTimeout(r, 5));
    await this.pool?.close();
    this.pool = undefined;
    this.stopped = true;
    for (const wake of [...this.roomWaiters]) wake(); // held publishes are answered (refused if still full)
    clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
    while (this.draining) await new Promise((r) => setTimeout(r, 10));
  }

  /** Drain what is spooled now (used on shutdown and in tests). */
  async flush(): Promise<void> {
    const wasStopped = this.stopped;
    this.stopped = false;
    while (this.draining) await new Promise((r) => setTimeout(r, 10));
    await this.drain();
    this.stopped = wasStopped;
  }
}
