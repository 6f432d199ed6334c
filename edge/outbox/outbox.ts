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
  /** Disk cap for the outbox file (database + WAL), bytes. */
  capBytes: number;
  /** `process`: survives kill -9 (WAL, synchronous=NORMAL). `power`: also survives power loss (synchronous=FULL). */
  durability?: 'process' | 'power';
  /** Share of the cap that row payloads may fill; the rest is b-tree, index and WAL overhead. */
  fillRatio?: number;
  now?: () => number;
}

export interface OutboxRow {
  seq: number;
  prio: number;
  channel: UpstreamChannel;
  body: string;
  bytes: number;
}

export interface EvictionCounts {
  rows: number;
  bytes: number;
}

export interface OutboxStats {
  rows: number;
  payloadBytes: number;
  budgetBytes: number;
  capBytes: number;
  fileBytes: number;
  rowsByPriority: Record<string, number>;
  evicted: Record<string, EvictionCounts>;
  /** Bytes/hour appended, measured over the last hour. */
  appendRateBytesPerHour: number;
  /** Hours until the cap forces evictions if the uplink stayed down at the measured rate. */
  autonomyHours: number | null;
}

/** Per-row overhead estimate (rowid, prio, channel, created, index entry). */
const ROW_OVERHEAD = 48;
export const PRIORITY_COUNT = PRIORITY_NAMES.length;

/**
 * Durable store-and-forward buffer of one edge site (better-sqlite3, WAL).
 *
 * Every append is one SQLite transaction: the caller's items are stamped with a
 * UUIDv7 id and the next per-stream sequence number, stored, and an optional
 * source checkpoint is committed atomically with them. When `append` returns, the
 * rows survive kill -9 at any instant (WAL + synchronous=NORMAL; FULL for power loss).
 *
 * Rows are deleted only by `ack` (after the broker's PUBACK) or by eviction when
 * the disk cap is reached: lowest priority first (snapshot, telemetry, aggregate,
 * event), oldest first, alerts last. Evictions are counted per priority and persisted.
 */
export class Outbox {
  readonly path: string;
  readonly streamId: string;
  readonly capBytes: number;
  readonly budgetBytes: number;
  private readonly db: Database.Database;
  private readonly now: () => number;
  private nextSeq: number;
  private payloadBytes: number;
  private rowCount: number;
  private readonly rate: RateMeter;
  private readonly st: ReturnType<Outbox['prepare']>;

  constructor(file: string, opts: OutboxOptions) {
    if (!(opts.capBytes >= 64 * 1024)) throw new CodedError('EDGE_OUTBOX_CONFIG', `outbox capBytes must be at least 65536 (got ${opts.capBytes})`);
    this.path = file;
    this.capBytes = opts.capBytes;
    this.budgetBytes = Math.floor(opts.capBytes * (opts.fillRatio ?? 0.6));
    this.now = opts.now ?? Date.now;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    try {
      this.db = new Database(file);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${opts.durability === 'power' ? 'FULL' : 'NORMAL'}`);
      // Keep the WAL small relative to the cap: checkpoint often, truncate after checkpoint.
      const walPages = Math.max(16, Math.min(1000, Math.floor(opts.capBytes / 4096 / 16)));
      this.db.pragma(`wal_autocheckpoint = ${walPages}`);
      this.db.pragma(`journal_size_limit = ${walPages * 4096}`);
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
      `);
      this.db.pragma('quick_check');
    } catch (err) {
      throw new CodedError('EDGE_OUTBOX_OPEN', `cannot open outbox ${file}: ${(err as Error).message}`, undefined, { cause: err });
    }
    this.st = this.prepare();
    let stream = (this.st.getMeta.get('stream') as { v: string } | undefined)?.v;
    if (!stream) {
      stream = crypto.randomBytes(12).toString('base64url');
      this.st.setMeta.run('stream', stream);
    }
    this.streamId = stream;
    const maxSeq = (this.db.prepare('SELECT max(seq) AS m FROM outbox').get() as { m: number | null }).m ?? 0;
    const metaSeq = Number((this.st.getMeta.get('next_seq') as { v: string } | undefined)?.v ?? 1);
    this.nextSeq = Math.max(metaSeq, maxSeq + 1);
    const agg = this.db.prepare('SELECT count(*) AS n, coalesce(sum(bytes),0) AS b FROM outbox').get() as { n: number; b: number };
    this.rowCount = agg.n;
    this.payloadBytes = agg.b;
    this.rate = new RateMeter(3600_000, 60, this.now);
  }

  private prepare() {
    const db = this.db;
    return {
      getMeta: db.prepare('SELECT v FROM meta WHERE k = ?'),
      setMeta: db.prepare('INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v'),
      insert: db.prepare('INSERT INTO outbox (seq, prio, channel, body, bytes, created) VALUES (?, ?, ?, ?, ?, ?)'),
      setCheckpoint: db.prepare('INSERT INTO checkpoints (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v'),
      getCheckpoint: db.prepare('SELECT v FROM checkpoints WHERE k = ?'),
      take: db.prepare('SELECT seq, prio, channel, body, bytes FROM outbox WHERE prio = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?'),
      del: db.prepare('DELETE FROM outbox WHERE seq = ? RETURNING bytes'),
      delMany: db.prepare('DELETE FROM outbox WHERE seq IN (SELECT value FROM json_each(?)) RETURNING bytes'),
      victims: db.prepare('SELECT seq, bytes FROM outbox WHERE prio = ? ORDER BY seq LIMIT ?'),
      countEvict: db.prepare('INSERT INTO evictions (prio, rows, bytes) VALUES (?, ?, ?) ON CONFLICT(prio) DO UPDATE SET rows = rows + excluded.rows, bytes = bytes + excluded.bytes'),
      evictions: db.prepare('SELECT prio, rows, bytes FROM evictions'),
      byPrio: db.prepare('SELECT prio, count(*) AS n FROM outbox GROUP BY prio'),
      hasPrioRows: db.prepare('SELECT 1 FROM outbox WHERE prio = ? LIMIT 1'),
    };
  }

  /**
   * Stamp, validate and durably append items (one transaction, with an optional
   * checkpoint). Throws EDGE_ITEM_INVALID for an item that breaks the protocol schema;
   * nothing of that call is stored then.
   */
  append(items: NewItem[], checkpoint?: { key: string; value: string }): Item[] {
    const t = this.now();
    const prepared: Array<{ item: Item; body: string; prio: number; channel: UpstreamChannel }> = [];
    let seq = this.nextSeq;
    let bytes = 0;
    for (const ni of items) {
      const item = { id: newMessageId(), seq: seq++, ...ni } as Item;
      try {
        validateItem(item);
      } catch (err) {
        throw new CodedError('EDGE_ITEM_INVALID', `refused to store an invalid ${ni.kind} item: ${(err as Error).message}`, { source: (ni as { source?: string }).source });
      }
      const body = JSON.stringify(item);
      bytes += body.length + ROW_OVERHEAD;
      prepared.push({ item, body, prio: PRIORITY_OF_KIND[item.kind], channel: CHANNEL_OF_KIND[item.kind] });
    }
    this.tx(() => {
      this.makeRoom(bytes);
      for (const p of prepared) this.st.insert.run(p.item.seq, p.prio, p.channel, p.body, p.body.length + ROW_OVERHEAD, t);
      if (prepared.length) this.st.setMeta.run('next_seq', String(seq));
      if (checkpoint) this.st.setCheckpoint.run(checkpoint.key, checkpoint.value);
    });
    this.nextSeq = seq;
    this.rowCount += prepared.length;
    this.payloadBytes += bytes;
    this.rate.add(bytes);
    return prepared.map((p) => p.item);
  }

  private tx(fn: () => void): void {
    this.db.transaction(fn)();
  }

  /** Evict lowest-priority, oldest rows until `incoming` more bytes fit the budget. Runs inside the append transaction. */
  private makeRoom(incoming: number): void {
    if (this.payloadBytes + incoming <= this.budgetBytes) return;
    // Alerts (prio 0) go last: only when nothing else is left.
    for (let prio = PRIORITY_COUNT - 1; prio >= 0 && this.payloadBytes + incoming > this.budgetBytes; prio--) {
      while (this.payloadBytes + incoming > this.budgetBytes) {
        const victims = this.st.victims.all(prio, 256) as Array<{ seq: number; bytes: number }>;
        if (!victims.length) break;
        let rows = 0;
        let freed = 0;
        for (const v of victims) {
          this.st.del.run(v.seq);
          rows++;
          freed += v.bytes;
          this.payloadBytes -= v.bytes;
          this.rowCount--;
          if (this.payloadBytes + incoming <= this.budgetBytes) break;
        }
        this.st.countEvict.run(prio, rows, freed);
      }
    }
  }

  /** Rows of one priority with afterSeq < seq <= maxSeq, oldest first. */
  take(prio: number, afterSeq: number, maxSeq: number, limit: number): OutboxRow[] {
    return this.st.take.all(prio, afterSeq, maxSeq, limit) as OutboxRow[];
  }

  /** Delete rows the broker acknowledged (one statement). Unknown (already evicted) seqs are ignored. */
  ack(seqs: number[]): void {
    const gone = this.st.delMany.all(JSON.stringify(seqs)) as Array<{ bytes: number }>;
    let freed = 0;
    for (const r of gone) freed += r.bytes;
    this.payloadBytes -= freed;
    this.rowCount -= gone.length;
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

  fileBytes(): number {
    let total = 0;
    for (const suffix of ['', '-wal', '-shm']) {
      try { total += fs.statSync(this.path + suffix).size; } catch { /* absent */ }
    }
    return total;
  }

  evictions(): Record<string, EvictionCounts> {
    const out: Record<string, EvictionCounts> = {};
    for (const name of PRIORITY_NAMES) out[name] = { rows: 0, bytes: 0 };
    for (const r of this.st.evictions.all() as Array<{ prio: number; rows: number; bytes: number }>) out[PRIORITY_NAMES[r.prio]] = { rows: r.rows, bytes: r.bytes };
    return out;
  }

  stats(): OutboxStats {
    const rowsByPriority: Record<string, number> = {};
    for (const name of PRIORITY_NAMES) rowsByPriority[name] = 0;
    for (const r of this.st.byPrio.all() as Array<{ prio: number; n: number }>) rowsByPriority[PRIORITY_NAMES[r.prio]] = r.n;
    const perHour = this.rate.perWindow();
    const free = Math.max(0, this.budgetBytes - this.payloadBytes);
    return {
      rows: this.rowCount,
      payloadBytes: this.payloadBytes,
      budgetBytes: this.budgetBytes,
      capBytes: this.capBytes,
      fileBytes: this.fileBytes(),
      rowsByPriority,
      evicted: this.evictions(),
      appendRateBytesPerHour: Math.round(perHour),
      autonomyHours: perHour > 0 ? Math.round((free / perHour) * 100) / 100 : null,
    };
  }

  close(): void {
    if (this.db.open) {
      try { this.db.pragma('wal_checkpoint(TRUNCATE)'); } catch { /* best effort */ }
      this.db.close();
    }
  }
}
