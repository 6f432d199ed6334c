import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import Database from 'better-sqlite3';
import { CodedError } from '../../lib/errors.ts';
import { newMessageId } from '../../protocol/ids.ts';
import { CHANNEL_OF_KIND, PRIORITY_NAMES, PRIORITY_OF_KIND, type Item, type NewItem } from '../../protocol/schemas.ts';
import type { UpstreamChannel } from '../../protocol/topics.ts';
import { validateItem } from '../../protocol/validate.ts';
import { RateMeter } from './rate-meter.ts';

export interface OutboxOptions {
  /** Disk cap for the outbox files: database + WAL + SHM, bytes, at every moment. At least 256 KiB. */
  capBytes: number;
  /** `process`: survives kill -9 (WAL, synchronous=NORMAL). `power`: also survives power loss (synchronous=FULL). */
  durability?: 'process' | 'power';
  /**
   * Largest item (its JSON, UTF-8 bytes) the outbox accepts; a larger one is refused with
   * EDGE_ITEM_TOO_LARGE. The edge sets it to what one MQTT batch can carry
   * (`uplink.batchMaxBytes` less the batch envelope). Default: no limit of its own.
   */
  maxItemBytes?: number;
  now?: () => number;
}

export interface OutboxRow {
  seq: number;
  prio: number;
  channel: UpstreamChannel;
  body: string;
  /** UTF-8 bytes of `body` (rows written by versions before 0.2 hold an estimate). */
  bytes: number;
}

export interface EvictionCounts {
  rows: number;
  bytes: number;
}

export interface OutboxDisk {
  /** Sizes of the three files now. */
  dbBytes: number;
  walBytes: number;
  shmBytes: number;
  /** The database file never grows past this (cap − WAL reserve − SHM reserve). */
  dbLimitBytes: number;
  /** Room kept for the WAL: the checkpoint threshold plus the largest transaction. */
  walReserveBytes: number;
  shmReserveBytes: number;
  /** Pages holding data now (page_count − freelist_count) × page size. */
  usedBytes: number;
  /** Measured b-tree cost: bytes of pages per byte of (payload + per-row overhead). */
  fill: number;
  /** Appends re-planned (rolled back and redone with more room) because the estimate fell short of SQLite's page count. */
  replans: number;
  /** WAL checkpoints (TRUNCATE) the outbox ran so that a transaction would fit its reserve. */
  walTruncates: number;
}

export interface OutboxStats {
  rows: number;
  /** UTF-8 bytes of the stored items' JSON. */
  payloadBytes: number;
  /** Payload that fits under the cap at the measured b-tree cost. */
  budgetBytes: number;
  capBytes: number;
  /** Database + WAL + SHM on disk now; never above `capBytes`. */
  fileBytes: number;
  disk: OutboxDisk;
  rowsByPriority: Record<string, number>;
  /** Stored rows deleted to make room for newer ones of the same or a higher priority. */
  evicted: Record<string, EvictionCounts>;
  /** Items never stored: no room left but rows of higher priority, or larger than the whole outbox. */
  dropped: Record<string, EvictionCounts>;
  /** Items refused with EDGE_ITEM_TOO_LARGE (larger than one MQTT batch can carry). */
  tooLarge: Record<string, EvictionCounts>;
  /** Bytes/hour appended, measured over the last hour. */
  appendRateBytesPerHour: number;
  /** Hours until the cap forces evictions if the uplink stayed down at the measured rate. */
  autonomyHours: number | null;
}

export const PRIORITY_COUNT = PRIORITY_NAMES.length;
export const MIN_CAP_BYTES = 256 * 1024;

/** WAL file: 32-byte header, then frames of a 24-byte header + one page. */
const WAL_HEADER = 32;
const FRAME_HEADER = 24;
/** The wal-index (-shm) grows in 32 KiB blocks; the first covers 4062 frames, each further one 4096. */
const SHM_BLOCK = 32 * 1024;
/** At most this much of the cap is kept for the WAL (bigger caps checkpoint at 1000 pages, as SQLite does). */
const MAX_WAL_RESERVE = 24 * 1024 * 1024;
const MAX_CHECKPOINT_FRAMES = 1000;
/** Pages that are not outbox rows: page 1 (schema), the roots of the tables and the index. */
const BASE_PAGES = 7;
/**
 * B-tree bytes of one row besides its body: cell header, rowid, prio/channel/bytes/created
 * columns, cell pointer, and the (prio, seq) index entry. Only the shape of the estimate:
 * `fill`, measured from page counts, scales it to what the file really costs.
 */
const ROW_OVERHEAD = 40;
/** Pages a write transaction touches besides its rows: page 1, meta, checkpoint, counters, interior pages. */
const TX_FIXED_PAGES = 8;
/** Rows per INSERT statement, largest first (the last must be 1). */
const INSERT_CHUNKS = [32, 8, 1];

/** What one append does: which items go in (`admit` undefined: all of them), pages to evict per priority, WAL frames it may write. */
type Plan = { admit?: boolean[]; evict?: number[]; frames: number; pcBefore: number };
type Prepared = { item: Item; body: string; bytes: number; prio: number; channel: UpstreamChannel };
type Counts = { rows: number[]; bytes: number[] };
const zeros = (): number[] => new Array(PRIORITY_COUNT).fill(0);
const counts = (): Counts => ({ rows: zeros(), bytes: zeros() });

/** Thrown inside an append transaction when the database would grow past its limit: rolls back, retried with more room. */
class Overshoot extends Error {
  constructor(readonly pages: number) { super(`outbox would grow ${pages} pages past its limit`); }
}

/**
 * Durable store-and-forward buffer of one edge site (better-sqlite3, WAL).
 *
 * Every append is one SQLite transaction: the caller's items are stamped with a
 * UUIDv7 id and the next per-stream sequence number, stored, and an optional
 * source checkpoint is committed atomically with them. When `append` returns, the
 * rows survive kill -9 at any instant (WAL + synchronous=NORMAL; FULL for power loss).
 *
 * Rows are deleted only by `ack` (after the broker's PUBACK) or by eviction under the
 * disk cap. The cap holds for database + WAL + SHM at every moment: the database file
 * may grow to `cap − WAL reserve − SHM reserve` pages (checked inside each append
 * transaction against SQLite's own page count), and the WAL is checkpointed before a
 * transaction could pass its reserve. An incoming item evicts only rows of the same or a
 * lower priority (snapshot lowest … alert highest), lowest priority and oldest first; when
 * that is not enough it is dropped instead. Evictions and drops are counted per priority
 * and persisted. Sizes are UTF-8 bytes.
 */
export class Outbox {
  readonly path: string;
  readonly streamId: string;
  readonly capBytes: number;
  readonly maxItemBytes: number;
  private readonly db: Database.Database;
  private readonly now: () => number;
  private readonly pageSize: number;
  private readonly frameBytes: number;
  private readonly dbLimitPages: number;
  private readonly walReserveFrames: number;
  private readonly txFrames: number;
  private readonly shmReserve: number;
  private nextSeq: number;
  /** Per priority, rows and payload bytes stored; changed only after a commit. */
  private readonly stored: Counts = counts();
  private rowCount = 0;
  private payloadBytes = 0;
  /** Measured bytes of pages per byte of (payload + ROW_OVERHEAD per row). */
  private fill = 1.25;
  private replans = 0;
  private walTruncates = 0;
  /** Page counts as of the last append's commit; undefined after anything else wrote (ack, counters). */
  private pagesAfterCommit?: { pc: number; fl: number };
  /** Upper bound of the WAL file size, from the last stat plus what was written since. */
  private walBound = Number.POSITIVE_INFINITY;
  private readonly rate: RateMeter;
  private readonly st: ReturnType<Outbox['prepare']>;
  /** The append transaction, made once (better-sqlite3 builds four wrappers per `transaction()` call). */
  private readonly appendTx: (...args: Parameters<Outbox['execute']>) => ReturnType<Outbox['execute']>;

  constructor(file: string, opts: OutboxOptions) {
    if (!(opts.capBytes >= MIN_CAP_BYTES)) throw new CodedError('EDGE_OUTBOX_CONFIG', `outbox capBytes must be at least ${MIN_CAP_BYTES} (256 KiB: database, WAL and SHM must fit) (got ${opts.capBytes})`);
    this.path = file;
    this.capBytes = opts.capBytes;
    this.maxItemBytes = opts.maxItemBytes ?? Number.POSITIVE_INFINITY;
    this.now = opts.now ?? Date.now;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    try {
      this.db = new Database(file);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${opts.durability === 'power' ? 'FULL' : 'NORMAL'}`);
      this.pageSize = this.db.pragma('page_size', { simple: true }) as number;
    } catch (err) {
      throw new CodedError('EDGE_OUTBOX_OPEN', `cannot open outbox ${file}: ${(err as Error).message}`, undefined, { cause: err });
    }
    // The cap splits into: the WAL reserve (a quarter of the cap, at most 24 MiB) = the
    // autocheckpoint threshold + the largest transaction; the SHM it needs; the rest is the database.
    this.frameBytes = this.pageSize + FRAME_HEADER;
    this.walReserveFrames = Math.floor(Math.min(this.capBytes / 4, MAX_WAL_RESERVE) / this.frameBytes);
    const checkpointFrames = Math.max(4, Math.min(MAX_CHECKPOINT_FRAMES, Math.floor(this.walReserveFrames / 4)));
    this.txFrames = this.walReserveFrames - checkpointFrames;
    this.shmReserve = SHM_BLOCK * (1 + Math.ceil(Math.max(0, this.walReserveFrames + 1 - 4062) / 4096));
    this.dbLimitPages = Math.floor((this.capBytes - WAL_HEADER - this.walReserveFrames * this.frameBytes - this.shmReserve) / this.pageSize);
    if (this.dbLimitPages < BASE_PAGES + 16) {
      this.db.close();
      throw new CodedError('EDGE_OUTBOX_CONFIG', `outbox cap ${this.capBytes} leaves ${this.dbLimitPages} pages of ${this.pageSize} bytes for the database after the WAL and SHM reserves; raise outbox.cap`);
    }
    try {
      this.db.pragma(`wal_autocheckpoint = ${checkpointFrames}`);
      // after a checkpoint resets the WAL, the next commit truncates the file to this
      this.db.pragma(`journal_size_limit = ${WAL_HEADER + checkpointFrames * this.frameBytes}`);
      this.db.exec(`
        CREATE TABLE IF NOT EXISTS outbox (
          seq INTEGER PRIMARY KEY,
          prio INTEGER NOT NULL,
          channel TEXT NOT NULL,
          body TEXT NOT NULL,
          bytes INTEGER NOT NULL,
          created INTEGER NOT NULL
        );
        CREATE INDEX IF NOT EXISTS outbox_prio_seq ON outbox(prio, seq);
        CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS checkpoints (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS evictions (prio INTEGER PRIMARY KEY, rows INTEGER NOT NULL, bytes INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS drops (prio INTEGER NOT NULL, reason TEXT NOT NULL, rows INTEGER NOT NULL, bytes INTEGER NOT NULL, PRIMARY KEY (prio, reason)) WITHOUT ROWID;
      `);
      this.db.pragma('quick_check');
    } catch (err) {
      if (this.db.open) this.db.close();
      throw new CodedError('EDGE_OUTBOX_OPEN', `cannot open outbox ${file}: ${(err as Error).message}`, undefined, { cause: err });
    }
    this.st = this.prepare();
    this.appendTx = this.db.transaction((...args: Parameters<Outbox['execute']>) => this.execute(...args));
    let stream = (this.st.getMeta.get('stream') as { v: string } | undefined)?.v;
    if (!stream) {
      stream = crypto.randomBytes(12).toString('base64url');
      this.st.setMeta.run('stream', stream);
    }
    this.streamId = stream;
    const maxSeq = (this.db.prepare('SELECT max(seq) AS m FROM outbox').get() as { m: number | null }).m ?? 0;
    const metaSeq = Number((this.st.getMeta.get('next_seq') as { v: string } | undefined)?.v ?? 1);
    this.nextSeq = Math.max(metaSeq, maxSeq + 1);
    this.recount();
    this.measureFill();
    this.rate = new RateMeter(3600_000, 60, this.now);
  }

  private prepare() {
    const db = this.db;
    return {
      getMeta: db.prepare('SELECT v FROM meta WHERE k = ?'),
      setMeta: db.prepare('INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v'),
      // multi-row inserts: one statement step per INSERT_CHUNKS[i] rows (fewer native calls than one per row)
      inserts: INSERT_CHUNKS.map((n) => ({ n, stmt: db.prepare(`INSERT INTO outbox (seq, prio, channel, body, bytes, created) VALUES ${new Array(n).fill('(?, ?, ?, ?, ?, ?)').join(', ')}`), args: new Array<unknown>(n * 6) })),
      setCheckpoint: db.prepare('INSERT INTO checkpoints (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v'),
      getCheckpoint: db.prepare('SELECT v FROM checkpoints WHERE k = ?'),
      take: db.prepare('SELECT seq, prio, channel, body, bytes FROM outbox WHERE prio = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?'),
      rows: db.prepare('SELECT seq, prio, channel, body, bytes FROM outbox WHERE seq IN (SELECT value FROM json_each(?)) ORDER BY seq'),
      delMany: db.prepare('DELETE FROM outbox WHERE seq IN (SELECT value FROM json_each(?)) RETURNING prio, bytes'),
      victims: db.prepare('SELECT seq, bytes FROM outbox WHERE prio = ? ORDER BY seq LIMIT ?'),
      delUpTo: db.prepare('DELETE FROM outbox WHERE prio = ? AND seq <= ?'),
      countEvict: db.prepare('INSERT INTO evictions (prio, rows, bytes) VALUES (?, ?, ?) ON CONFLICT(prio) DO UPDATE SET rows = rows + excluded.rows, bytes = bytes + excluded.bytes'),
      evictions: db.prepare('SELECT prio, rows, bytes FROM evictions'),
      countDrop: db.prepare('INSERT INTO drops (prio, reason, rows, bytes) VALUES (?, ?, ?, ?) ON CONFLICT(prio, reason) DO UPDATE SET rows = rows + excluded.rows, bytes = bytes + excluded.bytes'),
      drops: db.prepare('SELECT prio, reason, rows, bytes FROM drops'),
      byPrio: db.prepare('SELECT prio, count(*) AS n, coalesce(sum(bytes), 0) AS b FROM outbox GROUP BY prio'),
      pages: db.prepare('SELECT (SELECT page_count FROM pragma_page_count()) AS pc, (SELECT freelist_count FROM pragma_freelist_count()) AS fl'),
    };
  }

  /** Counters from the database (at open; they then change only after commits). */
  private recount(): void {
    const c = counts();
    for (const r of this.st.byPrio.all() as Array<{ prio: number; n: number; b: number }>) { c.rows[r.prio] = r.n; c.bytes[r.prio] = r.b; }
    for (let p = 0; p < PRIORITY_COUNT; p++) { this.stored.rows[p] = c.rows[p]; this.stored.bytes[p] = c.bytes[p]; }
    this.rowCount = c.rows.reduce((a, b) => a + b, 0);
    this.payloadBytes = c.bytes.reduce((a, b) => a + b, 0);
  }

  private pages(): { pc: number; fl: number } {
    return this.st.pages.get() as { pc: number; fl: number };
  }

  /** Re-measure what a stored byte costs in pages, from SQLite's page counts. */
  private measureFill(pages = this.pages()): void {
    const logical = this.payloadBytes + this.rowCount * ROW_OVERHEAD;
    if (logical < 8 * this.pageSize) return; // too little to measure; keep the last value
    const used = pages.pc - pages.fl - BASE_PAGES;
    this.fill = Math.min(4, Math.max(0.5, (used * this.pageSize) / logical));
  }

  /** Pages `bytes` of payload in `rows` rows are estimated to take (with a small margin). */
  private pagesFor(bytes: number, rows: number): number {
    return ((bytes + rows * ROW_OVERHEAD) * this.fill * 1.02) / this.pageSize;
  }

  /**
   * Stamp, validate and durably append items (one transaction, with an optional checkpoint).
   * Returns the stored items (stamped with id and seq), in order; an item left out was
   * dropped for lack of room and counted in `stats().dropped` (its seq stays unused).
   * Throws EDGE_ITEM_INVALID for an item that breaks the protocol schema and
   * EDGE_ITEM_TOO_LARGE for one larger than `maxItemBytes`; nothing of that call is stored then.
   */
  append(items: NewItem[], checkpoint?: { key: string; value: string }): Item[] {
    const t = this.now();
    const prepared: Prepared[] = [];
    let seq = this.nextSeq;
    let totalBytes = 0;
    let tooLarge: Prepared[] | undefined;
    for (const ni of items) {
      const item = { id: newMessageId(), seq: seq++, ...ni } as Item;
      try {
        validateItem(item);
      } catch (err) {
        throw new CodedError('EDGE_ITEM_INVALID', `refused to store an invalid ${ni.kind} item: ${(err as Error).message}`, { source: (ni as { source?: string }).source });
      }
      const body = JSON.stringify(item);
      const bytes = Buffer.byteLength(body);
      totalBytes += bytes;
      const p: Prepared = { item, body, bytes, prio: PRIORITY_OF_KIND[item.kind], channel: CHANNEL_OF_KIND[item.kind] };
      prepared.push(p);
      if (bytes > this.maxItemBytes) (tooLarge ??= []).push(p);
    }
    if (tooLarge) {
      this.pagesAfterCommit = undefined;
      this.ensureWalRoom(TX_FIXED_PAGES);
      this.db.transaction(() => { for (const p of tooLarge) this.st.countDrop.run(p.prio, 'too-large', 1, p.bytes); })();
      const p = tooLarge[0];
      throw new CodedError('EDGE_ITEM_TOO_LARGE',
        `refused a ${p.item.kind} item of ${p.bytes} bytes: the limit is ${this.maxItemBytes} bytes, what one MQTT message can carry (uplink.batchMaxBytes less the batch envelope); shrink it at the source or raise uplink.batchMaxBytes (at most the cloud's ingest.maxMessageBytes)${tooLarge.length > 1 ? ` (${tooLarge.length} items of this call were too large)` : ''}; nothing of this call was stored`,
        { kind: p.item.kind, bytes: p.bytes, limit: this.maxItemBytes, source: (p.item as { source?: string }).source });
    }

    let extraPages = 0;
    for (let attempt = 0; ; attempt++) {
      const plan = this.plan(prepared, totalBytes, extraPages);
      this.ensureWalRoom(plan.frames);
      const delta = counts();
      const dropped = counts();
      this.pagesAfterCommit = undefined;
      try {
        this.pagesAfterCommit = this.appendTx(prepared, plan, delta, dropped, seq, t, checkpoint);
      } catch (err) {
        this.pagesAfterCommit = undefined;
        // rolled back: nothing of it happened, the counters were not touched
        if (err instanceof Overshoot && attempt < 12) { this.replans++; extraPages = Math.max(extraPages * 2, err.pages + 2); continue; }
        if (err instanceof Overshoot) throw new CodedError('EDGE_OUTBOX_FULL', `the outbox cannot make room for this append under its cap of ${this.capBytes} bytes: ${err.message}`);
        throw err;
      }
      // committed: only now the in-memory counters follow
      this.nextSeq = seq;
      for (let p = 0; p < PRIORITY_COUNT; p++) {
        this.stored.rows[p] += delta.rows[p];
        this.stored.bytes[p] += delta.bytes[p];
        this.rowCount += delta.rows[p];
        this.payloadBytes += delta.bytes[p];
      }
      const admit = plan.admit;
      if (!admit) {
        this.rate.add(totalBytes);
        if (attempt > 0) this.measureFill(this.pagesAfterCommit);
        return prepared.map((p) => p.item);
      }
      let added = 0;
      for (let i = 0; i < prepared.length; i++) if (admit[i]) added += prepared[i].bytes;
      this.rate.add(added);
      this.measureFill(this.pagesAfterCommit);
      return prepared.filter((_, i) => admit[i]).map((p) => p.item);
    }
  }

  /**
   * Which items go in and how much of each priority must be evicted for them, from SQLite's
   * page counts and the measured fill: higher priority first, newest first within one; an item
   * may evict only rows of its own or a lower priority, lowest first; one that still does not
   * fit (or would make the transaction larger than the WAL reserve) is dropped.
   */
  private plan(prepared: Prepared[], totalBytes: number, extraPages: number): Plan {
    const { pc, fl } = this.pagesAfterCommit ?? this.pages();
    let room = this.dbLimitPages - (pc - fl) - 2 - extraPages;
    const total = this.pagesFor(totalBytes, prepared.length);
    if (total <= room && total + TX_FIXED_PAGES <= this.txFrames) return { frames: Math.ceil(total) + TX_FIXED_PAGES, pcBefore: pc };
    const admit = new Array<boolean>(prepared.length).fill(false);
    const evict = zeros();
    const order = [...prepared.keys()].sort((a, b) => prepared[a].prio - prepared[b].prio || b - a);
    const availRows = [...this.stored.rows];
    const availBytes = [...this.stored.bytes];
    let frames = TX_FIXED_PAGES;
    for (const i of order) {
      const p = prepared[i];
      const need = this.pagesFor(p.bytes, 1);
      if (need <= room) {
        if (frames + need > this.txFrames) continue; // dropped: larger than one transaction may be
        room -= need;
        frames += need;
        admit[i] = true;
        continue;
      }
      // evict what the item needs beyond the room left (and what the database is over its limit, if it is)
      let deficit = need - room;
      let canFree = 0;
      for (let q = PRIORITY_COUNT - 1; q >= p.prio; q--) canFree += this.pagesFor(availBytes[q], availRows[q]);
      if (canFree < deficit || frames + need + deficit > this.txFrames) continue; // dropped
      frames += need + deficit;
      for (let q = PRIORITY_COUNT - 1; q >= p.prio && deficit > 0; q--) {
        const have = this.pagesFor(availBytes[q], availRows[q]);
        if (have <= 0) continue;
        const take = Math.min(have, deficit);
        const share = take / have;
        evict[q] += take;
        availBytes[q] -= availBytes[q] * share;
        availRows[q] -= availRows[q] * share;
        deficit -= take;
      }
      room = 0; // what it freed went to it
      admit[i] = true;
    }
    return { admit, evict, frames: Math.ceil(frames), pcBefore: pc };
  }

  /** Runs inside the append transaction. Throws Overshoot if the database would pass its page limit; returns the page counts. */
  private execute(prepared: Prepared[], plan: Plan, delta: Counts, dropped: Counts, nextSeq: number, t: number, checkpoint?: { key: string; value: string }): { pc: number; fl: number } {
    const { admit, evict } = plan;
    if (evict) for (let q = PRIORITY_COUNT - 1; q >= 0; q--) if (evict[q] > 0) this.evict(q, evict[q], delta);
    const rows = admit ? [] : prepared;
    for (let i = 0; i < prepared.length; i++) {
      const p = prepared[i];
      if (!admit || admit[i]) {
        if (admit) rows.push(p);
        delta.rows[p.prio]++;
        delta.bytes[p.prio] += p.bytes;
      } else {
        dropped.rows[p.prio]++;
        dropped.bytes[p.prio] += p.bytes;
      }
    }
    this.insert(rows, t);
    for (let q = 0; q < PRIORITY_COUNT; q++) if (dropped.rows[q]) this.st.countDrop.run(q, 'full', dropped.rows[q], dropped.bytes[q]);
    if (prepared.length) this.st.setMeta.run('next_seq', String(nextSeq));
    if (checkpoint) this.st.setCheckpoint.run(checkpoint.key, checkpoint.value);
    // SQLite's own page count: the file may not grow past the limit (a file already bigger, from
    // an older version or a lowered cap, may not grow at all)
    const pages = this.pages();
    const limit = Math.max(this.dbLimitPages, plan.pcBefore);
    if (pages.pc > limit) throw new Overshoot(pages.pc - limit);
    return pages;
  }

  /** Insert rows in seq order, as few statements as INSERT_CHUNKS allow. */
  private insert(rows: Prepared[], t: number): void {
    let i = 0;
    for (const { n, stmt, args } of this.st.inserts) {
      while (rows.length - i >= n) {
        for (let j = 0; j < n; j++, i++) {
          const p = rows[i];
          const o = j * 6;
          args[o] = p.item.seq; args[o + 1] = p.prio; args[o + 2] = p.channel; args[o + 3] = p.body; args[o + 4] = p.bytes; args[o + 5] = t;
        }
        stmt.run(args);
      }
    }
  }

  /** Delete the oldest rows of one priority worth `pages` estimated pages, inside the append transaction. */
  private evict(prio: number, pages: number, delta: Counts): void {
    let need = pages * this.pageSize;
    let rows = 0;
    let bytes = 0;
    while (need > 0) {
      const victims = this.st.victims.all(prio, 512) as Array<{ seq: number; bytes: number }>;
      if (!victims.length) break;
      let cut = -1;
      for (const v of victims) {
        rows++;
        bytes += v.bytes;
        need -= (v.bytes + ROW_OVERHEAD) * this.fill;
        cut = v.seq;
        if (need <= 0) break;
      }
      this.st.delUpTo.run(prio, cut);
    }
    if (rows) {
      this.st.countEvict.run(prio, rows, bytes);
      delta.rows[prio] -= rows;
      delta.bytes[prio] -= bytes;
    }
  }

  /**
   * Checkpoint (and truncate) the WAL first if a transaction of `frames` pages could push it past
   * its reserve. The file is stat'ed only when the bound kept in memory (its size at the last stat
   * plus every transaction since) gets near the reserve.
   */
  private ensureWalRoom(frames: number): void {
    const reserve = WAL_HEADER + this.walReserveFrames * this.frameBytes;
    const tx = frames * this.frameBytes;
    if (this.walBound + tx > reserve) {
      let wal = 0;
      try { wal = fs.statSync(`${this.path}-wal`).size; } catch { /* absent */ }
      if (wal + tx > reserve) {
        this.db.pragma('wal_checkpoint(TRUNCATE)');
        this.walTruncates++;
        wal = 0;
      }
      this.walBound = wal;
    }
    this.walBound += tx;
  }

  /** Rows of one priority with afterSeq < seq <= maxSeq, oldest first. */
  take(prio: number, afterSeq: number, maxSeq: number, limit: number): OutboxRow[] {
    return this.st.take.all(prio, afterSeq, maxSeq, limit) as OutboxRow[];
  }

  /** The rows among `seqs` still stored (not acknowledged or evicted since), oldest first. */
  rows(seqs: number[]): OutboxRow[] {
    return this.st.rows.all(JSON.stringify(seqs)) as OutboxRow[];
  }

  /**
   * Delete rows the broker acknowledged. Unknown (already evicted) seqs are ignored. Large acks
   * are split so that no transaction outgrows the WAL reserve.
   */
  ack(seqs: number[]): void {
    const perRow = this.rowCount ? this.pagesFor(this.payloadBytes / this.rowCount, 1) : 1;
    const chunk = Math.max(1, Math.floor((this.txFrames - TX_FIXED_PAGES) / Math.max(perRow, 0.01)));
    for (let i = 0; i < seqs.length; i += chunk) {
      const part = seqs.length <= chunk ? seqs : seqs.slice(i, i + chunk);
      this.ensureWalRoom(Math.ceil(part.length * perRow) + TX_FIXED_PAGES);
      this.pagesAfterCommit = undefined;
      const gone = this.st.delMany.all(JSON.stringify(part)) as Array<{ prio: number; bytes: number }>;
      for (const r of gone) {
        this.stored.rows[r.prio]--;
        this.stored.bytes[r.prio] -= r.bytes;
        this.rowCount--;
        this.payloadBytes -= r.bytes;
      }
    }
  }

  /** When the oldest row still waiting was appended (epoch ms), undefined when empty: the row of the lowest seq. */
  oldestCreated(): number | undefined {
    const r = this.db.prepare('SELECT created FROM outbox ORDER BY seq LIMIT 1').get() as { created: number } | undefined;
    return r?.created;
  }

  /** Highest sequence number handed out so far. */
  lastSeq(): number {
    return this.nextSeq - 1;
  }

  get size(): number {
    return this.rowCount;
  }

  checkpoint(key: string): string | undefined {
    return (this.st.getCheckpoint.get(key) as { v: string } | undefined)?.v;
  }

  private fileSizes(): { db: number; wal: number; shm: number } {
    const size = (suffix: string) => { try { return fs.statSync(this.path + suffix).size; } catch { return 0; } };
    return { db: size(''), wal: size('-wal'), shm: size('-shm') };
  }

  /** Database + WAL + SHM on disk now. */
  fileBytes(): number {
    const f = this.fileSizes();
    return f.db + f.wal + f.shm;
  }

  evictions(): Record<string, EvictionCounts> {
    const out: Record<string, EvictionCounts> = {};
    for (const name of PRIORITY_NAMES) out[name] = { rows: 0, bytes: 0 };
    for (const r of this.st.evictions.all() as Array<{ prio: number; rows: number; bytes: number }>) out[PRIORITY_NAMES[r.prio]] = { rows: r.rows, bytes: r.bytes };
    return out;
  }

  /** Items never stored, per priority: `full` (no room) and `too-large` (EDGE_ITEM_TOO_LARGE). */
  drops(): { dropped: Record<string, EvictionCounts>; tooLarge: Record<string, EvictionCounts> } {
    const dropped: Record<string, EvictionCounts> = {};
    const tooLarge: Record<string, EvictionCounts> = {};
    for (const name of PRIORITY_NAMES) { dropped[name] = { rows: 0, bytes: 0 }; tooLarge[name] = { rows: 0, bytes: 0 }; }
    for (const r of this.st.drops.all() as Array<{ prio: number; reason: string; rows: number; bytes: number }>) {
      (r.reason === 'too-large' ? tooLarge : dropped)[PRIORITY_NAMES[r.prio]] = { rows: r.rows, bytes: r.bytes };
    }
    return { dropped, tooLarge };
  }

  stats(): OutboxStats {
    const rowsByPriority: Record<string, number> = {};
    for (let p = 0; p < PRIORITY_COUNT; p++) rowsByPriority[PRIORITY_NAMES[p]] = this.stored.rows[p];
    const perHour = this.rate.perWindow();
    const { pc, fl } = this.pages();
    this.measureFill({ pc, fl });
    const budget = this.budgetBytes;
    const free = Math.max(0, budget - this.payloadBytes);
    const f = this.fileSizes();
    return {
      rows: this.rowCount,
      payloadBytes: this.payloadBytes,
      budgetBytes: budget,
      capBytes: this.capBytes,
      fileBytes: f.db + f.wal + f.shm,
      disk: {
        dbBytes: f.db, walBytes: f.wal, shmBytes: f.shm,
        dbLimitBytes: this.dbLimitPages * this.pageSize,
        walReserveBytes: WAL_HEADER + this.walReserveFrames * this.frameBytes,
        shmReserveBytes: this.shmReserve,
        usedBytes: (pc - fl) * this.pageSize,
        fill: Math.round(this.fill * 1000) / 1000,
        replans: this.replans,
        walTruncates: this.walTruncates,
      },
      rowsByPriority,
      evicted: this.evictions(),
      ...this.drops(),
      appendRateBytesPerHour: Math.round(perHour),
      autonomyHours: perHour > 0 ? Math.round((free / perHour) * 100) / 100 : null,
    };
  }

  /** Payload bytes that fit under the cap at the measured fill, with the rows stored now. */
  get budgetBytes(): number {
    return Math.max(0, Math.floor(((this.dbLimitPages - BASE_PAGES) * this.pageSize) / this.fill - this.rowCount * ROW_OVERHEAD));
  }

  close(): void {
    if (this.db.open) {
      try { this.db.pragma('wal_checkpoint(TRUNCATE)'); } catch { /* best effort */ }
      this.db.close();
    }
  }
}
