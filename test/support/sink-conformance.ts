/**
 * One conformance suite for ingest sinks (cloud/ingest/ingest.ts `IngestSink`), in the spirit of
 * the series-store contract (cloud/store/contract.int.test.ts) and aedes-persistence's abstract
 * suite. Ingest drains its durable spool into sinks and deletes a spool row only after every sink
 * took it, so after a crash or a failed write a sink sees items again. Every sink must therefore:
 *
 *  (a) be idempotent: the same batch twice, a batch overlapping an earlier one, and an earlier
 *      batch re-sent after a later one leave the state of one clean write;
 *  (b) survive partial failure: a write that fails part-way (the backing store throws at one item,
 *      is locked, loses the reply…) and is then retried, or a "crash" after part of the batch was
 *      written followed by a restart and a rewrite, yields each item exactly once;
 *  (c) not depend on batching: the items of one batch split over two (or n) writes, in order,
 *      give the same state; a sink that declares `anyOrder` (ingest may then write its batches
 *      concurrently or out of order) also in reverse order. Other sinks get batches in spool order.
 *
 * Faults are injected into the sink's real backing store (SQLite triggers and locks, a file in the
 * way, a proxy that drops InfluxDB's reply), never by replacing the sink.
 */
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IngestSink, SpooledItem } from '../../cloud/ingest/ingest.ts';
import { seriesSink } from '../../cloud/ingest/sinks.ts';
import type { SeriesStore } from '../../cloud/store/types.ts';
import type { Item, TelemetryItem } from '../../protocol/schemas.ts';
import { tempDir } from '../peers/ports.ts';

export interface SinkFault {
  /** What fails, in words (shown in the test name). */
  readonly name: string;
  /** Make the next write(s) fail until disarm(). The write must reject. */
  arm(): void | Promise<void>;
  disarm(): void | Promise<void>;
}

export interface SinkHarness {
  readonly sink: IngestSink;
  /** What the sink stored, in a canonical form: sorted, without wall-clock times or random ids. */
  read(): Promise<unknown>;
  readonly faults: readonly SinkFault[];
  /** Release the backing store (a "crash": nothing is flushed beyond what the sink committed). */
  close(): Promise<void>;
}

export interface SinkCase {
  readonly name: string;
  /**
   * The sink on a backing store kept in `dir`: empty for a new dir; for a dir used before, the
   * sink as it comes up after a restart (files kept, memory lost).
   */
  open(dir: string): Promise<SinkHarness>;
  /** The batch in spool order. Each write gets a deep copy (sinks may extend the items they get). */
  readonly items: readonly SpooledItem[];
  /**
   * Whether the sink declares `anyOrder` (ingest may then write its batches concurrently or out of
   * order). Stated here as well, so the suite knows which tests apply when it defines them; the
   * suite checks that the sink says the same.
   */
  readonly anyOrder?: boolean;
}

/** How ingest retries a failed write: again after a backoff, until it succeeds. */
async function writeUntilOk(h: SinkHarness, items: SpooledItem[], attempts = 40): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      await h.sink.write(items);
      return;
    } catch (err) {
      if (i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, Math.min(500, 25 * 2 ** i)));
    }
  }
}

export function sinkConformance(c: SinkCase): void {
  const copy = (from = 0, to = c.items.length): SpooledItem[] => structuredClone(c.items.slice(from, to)) as SpooledItem[];
  const n = c.items.length;

  describe(`IngestSink conformance: ${c.name}`, () => {
    let reference: unknown;
    const open: SinkHarness[] = [];
    const fresh = async (dir = tempDir('sink-')): Promise<SinkHarness> => {
      const h = await c.open(dir);
      open.push(h);
      return h;
    };
    const done = async (h: SinkHarness) => { open.splice(open.indexOf(h), 1); await h.close(); };

    beforeAll(async () => {
      expect(n, 'a case needs a batch of at least 4 items').toBeGreaterThanOrEqual(4);
      const h = await fresh();
      const empty = await h.read();
      await h.sink.write(copy());
      reference = await h.read();
      // not vacuous: the batch changes the state, and the sink takes only kinds it declares
      expect(reference).not.toEqual(empty);
      for (const { item } of c.items) expect(h.sink.kinds, `${item.kind} item in the batch of a sink for ${h.sink.kinds.join(', ')}`).toContain(item.kind);
      await done(h);
    });
    afterAll(async () => { for (const h of [...open]) await h.close(); });

    it('(a) the same batch written twice leaves the state of one write', async () => {
      const h = await fresh();
      await h.sink.write(copy());
      await h.sink.write(copy());
      expect(await h.read()).toEqual(reference);
      await done(h);
    });

    it('(a) a batch overlapping the previous one, and an earlier batch re-sent after a later one', async () => {
      const h = await fresh();
      const third = Math.floor(n / 3);
      await h.sink.write(copy(0, n - third));
      await h.sink.write(copy(third, n));
      expect(await h.read()).toEqual(reference);
      await h.sink.write(copy(0, Math.ceil(n / 2)));
      expect(await h.read()).toEqual(reference);
      await done(h);
    });

    it('(b) a restart after part of the batch was written, then the whole batch again, stores each item once', async () => {
      const dir = tempDir('sink-');
      const h = await fresh(dir);
      await h.sink.write(copy(0, Math.ceil(n / 2)));
      await done(h); // the spool still holds the batch: its rows were never deleted
      const again = await fresh(dir);
      await again.sink.write(copy());
      expect(await again.read()).toEqual(reference);
      await done(again);
    });

    it('has at least one fault of its backing store to inject', async () => {
      const h = await fresh();
      expect(h.faults.length).toBeGreaterThan(0);
      await done(h);
    });

    it('(b) a write failing part-way in the backing store, then retried, stores each item once', async () => {
      // One fresh store per fault; each fault must make the write reject (else it tests nothing).
      const probe = await fresh();
      const names = probe.faults.map((f) => f.name);
      await done(probe);
      for (const [k, name] of names.entries()) {
        const h = await fresh();
        const fault = h.faults[k];
        await fault.arm();
        await expect(h.sink.write(copy()), name).rejects.toThrow();
        await fault.disarm();
        await writeUntilOk(h, copy());
        expect(await h.read(), name).toEqual(reference);
        await done(h);
      }
    });

    it('(b) a failure in the second of two writes, retried with both, stores each item once', async () => {
      const probe = await fresh();
      const names = probe.faults.map((f) => f.name);
      await done(probe);
      for (const [k, name] of names.entries()) {
        const h = await fresh();
        const half = Math.floor(n / 2);
        await h.sink.write(copy(0, half));
        await h.faults[k].arm();
        await expect(h.sink.write(copy(half, n)), name).rejects.toThrow();
        await h.faults[k].disarm();
        // ingest keeps every row of the failed write; rows of the successful one may come again too
        await writeUntilOk(h, copy(half, n));
        await h.sink.write(copy(0, half));
        expect(await h.read(), name).toEqual(reference);
        await done(h);
      }
    });

    it(`(c) the batch split over two writes, at any point, in order, gives the same state; the sink ${c.anyOrder ? 'declares' : 'does not declare'} anyOrder`, async () => {
      for (const at of [1, Math.floor(n / 2), n - 1]) {
        const h = await fresh();
        expect(!!h.sink.anyOrder, 'the sink declares anyOrder as its case says').toBe(!!c.anyOrder);
        await h.sink.write(copy(0, at));
        await h.sink.write(copy(at, n));
        expect(await h.read(), `split at ${at}`).toEqual(reference);
        await done(h);
      }
    });

    // only for anyOrder sinks: ingest gives the others their batches in spool order
    if (c.anyOrder) it('(c) the sink declares anyOrder: the batches in reverse order give the same state', async () => {
      const h = await fresh();
      const third = Math.ceil(n / 3);
      await h.sink.write(copy(2 * third, n));
      await h.sink.write(copy(third, 2 * third));
      await h.sink.write(copy(0, third));
      expect(await h.read()).toEqual(reference);
      await done(h);
    });

    it('(c) one item per write gives the same state', async () => {
      const h = await fresh();
      for (let i = 0; i < n; i++) await h.sink.write(copy(i, i + 1));
      expect(await h.read()).toEqual(reference);
      await done(h);
    });
  });
}

// ---- helpers shared by the case files ----------------------------------------------------------


/** A fault of a SQLite file: a trigger (created by another connection) that aborts a statement. */
export function triggerFault(file: string, name: string, trigger: string): SinkFault {
  const id = `conformance_fault_${Math.random().toString(36).slice(2, 8)}`;
  const run = (sql: string) => { const db = new Database(file); try { db.exec(sql); } finally { db.close(); } };
  return {
    name,
    arm: () => run(`CREATE TRIGGER ${id} ${trigger} BEGIN SELECT RAISE(ABORT, 'injected fault: ${name.replace(/'/g, '')}'); END`),
    disarm: () => run(`DROP TRIGGER IF EXISTS ${id}`),
  };
}

/** A fault of a SQLite file: another process holds the write lock (the sink's busy timeout runs out). */
export function lockFault(file: string, name = 'the database is locked by another process'): SinkFault {
  let other: Database.Database | undefined;
  return {
    name,
    arm: () => { other = new Database(file); other.exec('BEGIN IMMEDIATE'); },
    disarm: () => { if (other?.inTransaction) other.exec('ROLLBACK'); other?.close(); other = undefined; },
  };
}

/** Items in spool order, with ids and seqs stamped the way the outbox does. */
export function spooled(site: string, received: number, items: Array<Record<string, unknown>>, seq0 = 1): SpooledItem[] {
  return items.map((it, i) => ({ site, received: received + i, item: { id: uuid7ish(seq0 + i), seq: seq0 + i, ...it } as unknown as Item }));
}

/** A valid, deterministic, time-ordered message id (UUIDv7 layout) so every run builds the same batch. */
export function uuid7ish(n: number): string {
  const hex = n.toString(16).padStart(12, '0');
  return `0190c0de-0000-7000-8000-${hex}`;
}

/**
 * The series sink on any SeriesStore: telemetry and aggregates across series, fields of every type.
 * The case file supplies the store on `dir` and the store's faults.
 */
export function seriesSinkCase(name: string, store: (dir: string) => Promise<{ store: SeriesStore; faults: SinkFault[]; close?: () => Promise<void> }>, t0 = Date.UTC(2024, 4, 1, 8)): SinkCase {
  const raw: Array<Record<string, unknown>> = [];
  for (let i = 0; i < 4; i++) {
    for (const station of ['s1', 's2']) raw.push({ kind: 'telemetry', ts: t0 + i * 60_000, m: 'air', tags: { station }, fields: { pm25: 10 + i + (station === 's2' ? 100 : 0), flag: i % 2 ? 'N' : 'H', valid: i !== 2 } });
  }
  raw.push({ kind: 'aggregate', ts: t0, m: 'air_1m', tags: { station: 's1', stat: 'avg' }, fields: { pm25: 11.5, n: 4 } });
  raw.push({ kind: 'telemetry', ts: t0 + 30_000, m: 'air', tags: { station: 's3' }, fields: { pm25: 7, flag: 'N', valid: true } });
  const items = [...spooled('street-north', t0 + 1000, raw), ...spooled('street-south', t0 + 2000, [{ kind: 'telemetry', ts: t0, m: 'air', tags: { station: 's1' }, fields: { pm25: 99, flag: 'N', valid: true } }], 100)];
  const shapes = new Map<string, Set<string>>();
  for (const { item } of items) {
    const t = item as TelemetryItem;
    const f = shapes.get(t.m) ?? new Set(['received_ms']);
    for (const k of Object.keys(t.fields)) f.add(k);
    shapes.set(t.m, f);
  }
  return {
    name,
    items,
    anyOrder: true, // seriesSink: points are keyed by series and time, so order does not matter
    async open(dir) {
      const s = await store(dir);
      await s.store.init();
      return {
        sink: seriesSink(s.store),
        faults: s.faults,
        async read() {
          const out: unknown[] = [];
          for (const [m, fields] of [...shapes].sort()) {
            const r = await s.store.query({ measurement: m, fields: [...fields].sort(), from: t0 - 3600_000, to: t0 + 3600_000, groupBy: ['site', 'station', 'stat'] });
            for (const series of r.series) out.push({ m, tags: series.tags, values: series.values });
          }
          return out.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
        },
        async close() { await s.store.close(); await s.close?.(); },
      };
    },
  };
}
