import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../lib/log.ts';
import { prepareMessage, type Prepared, type PrepareLimits } from './prepare.ts';
import type { PrepareJob } from './prepare-worker.ts';

/**
 * `ingest.workers: auto`: one per core beside the main thread, at least 2, at most 4. Preparing
 * is most of ingest's CPU (JSON, validation, line protocol: ~60 %), so one worker would be the
 * bottleneck even where the main thread has time left; two keep up with it on two cores.
 */
export function autoWorkers(): number {
  return Math.max(2, Math.min(4, (os.availableParallelism?.() ?? os.cpus().length) - 1));
}

interface Slot { worker: Worker; pending: Map<number, (p: Prepared) => void>; dead: boolean }
interface Job { topic: string; payload: Buffer; site?: string; received: number; resolve: (p: Prepared) => void }
/** Messages one worker has at a time; the rest wait here, where the main thread may take one when it has nothing else to do. */
const PER_WORKER = 2;

/**
 * Worker threads that prepare messages (prepare.ts). `prepare` always resolves: with the worker's
 * answer, or with `{ t: 'main' }` when its worker died or could not start (the main thread then
 * prepares the message itself — nothing is lost and nothing done twice, since workers keep no
 * state and the spool commit happens on the main thread only). A dead worker is replaced on
 * the next message. Workers are unref'd: they never keep the process alive.
 */
export class PreparePool {
  private readonly slots: Array<Slot | undefined>;
  private next = 0;
  private nextId = 1;
  private closed = false;
  private readonly queue: Job[] = [];
  private helping = false;
  crashes = 0;
  /** Messages the main thread prepared itself while it had nothing else to do (tests, metrics). */
  helped = 0;

  constructor(size: number, private readonly limits: PrepareLimits, private readonly log: Logger) {
    this.slots = new Array(size).fill(undefined);
  }

  get size(): number { return this.slots.length; }

  private spawn(k: number): Slot {
    const entry = import.meta.url.endsWith('.ts') ? './prepare-worker-entry.mjs' : './prepare-worker.js';
    const worker = new Worker(new URL(entry, import.meta.url), { workerData: this.limits });
    worker.unref();
    const slot: Slot = { worker, pending: new Map(), dead: false };
    worker.on('message', (m: { id: number; out: Prepared }) => {
      const resolve = slot.pending.get(m.id);
      if (!resolve) return;
      slot.pending.delete(m.id);
      resolve(m.out);
      this.dispatch();
    });
    const die = (why: string) => {
      if (slot.dead) return;
      slot.dead = true;
      if (this.slots[k] === slot) this.slots[k] = undefined;
      if (!this.closed) {
        this.crashes++;
        this.log.warn({ code: 'INGEST_WORKER_EXITED', pending: slot.pending.size, why }, 'ingest worker thread ended; the main thread prepares its messages, a new worker takes the next ones');
      }
      for (const resolve of slot.pending.values()) resolve({ t: 'main' });
      slot.pending.clear();
      // what waits is prepared here (a new worker starts with the next message, not in a loop)
      if (!this.closed && this.queue.length) this.help();
    };
    worker.on('error', (err) => die(err.message));
    worker.on('exit', (code) => die(`exit code ${code}`));
    return slot;
  }

  /** Start every worker now (they load their modules while nothing waits on them). */
  warm(): void {
    for (let k = 0; k < this.slots.length; k++) {
      if (this.slots[k] || this.closed) continue;
      try { this.slots[k] = this.spawn(k); } catch { /* spawned again on the next message */ }
    }
  }

  /**
   * Prepare a message: by a worker (at most PER_WORKER each at a time), or — while every worker
   * is busy and this thread has nothing else to do — by the main thread itself (the same function).
   */
  prepare(topic: string, payload: Buffer, site: string | undefined, received: number): Promise<Prepared> {
    if (this.closed) return Promise.resolve({ t: 'main' });
    return new Promise<Prepared>((resolve) => {
      this.queue.push({ topic, payload, site, received, resolve });
      this.dispatch();
      if (this.queue.length) this.help();
    });
  }

  /** Hand queued messages to workers with room. */
  private dispatch(): void {
    for (let tries = 0; this.queue.length && tries < this.slots.length; tries++) {
      const k = this.next;
      this.next = (this.next + 1) % this.slots.length;
      let slot = this.slots[k];
      if (!slot) {
        try {
          slot = this.slots[k] = this.spawn(k);
        } catch (err) {
          this.log.warn({ err: (err as Error).message }, 'ingest worker thread could not start; preparing on the main thread');
          continue;
        }
      }
      while (this.queue.length && slot.pending.size < PER_WORKER) {
        this.post(slot, this.queue.shift()!);
        tries = -1; // this worker took one: look at all of them again
      }
    }
  }

  private post(s: Slot, job: Job): void {
    const id = this.nextId++;
    s.pending.set(id, job.resolve);
    // a copy of just this message's bytes (the broker's buffer may be a slice of a larger one), moved to the worker
    const bytes = new Uint8Array(job.payload);
    const msg: PrepareJob = { id, topic: job.topic, payload: bytes, site: job.site, received: job.received };
    try {
      s.worker.postMessage(msg, [bytes.buffer]);
    } catch {
      s.pending.delete(id);
      job.resolve({ t: 'main' });
    }
  }

  /**
   * When this thread gets to it (after what is queued for it now: MQTT, commits, the drain), take
   * the oldest waiting message and prepare it here; again while messages wait.
   */
  private help(): void {
    if (this.helping) return;
    this.helping = true;
    setImmediate(() => {
      this.helping = false;
      const job = this.queue.shift();
      if (!job) return;
      this.helped++;
      let out: Prepared;
      try {
        out = prepareMessage(job.topic, job.payload, job.site, job.received, this.limits);
      } catch {
        out = { t: 'main' };
      }
      job.resolve(out);
      if (this.queue.length) this.help();
    });
  }

  /** For tests: end worker k as a crash would (its messages in flight are prepared on the main thread). */
  async crash(k = 0): Promise<void> {
    await this.slots[k]?.worker.terminate();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.resolve({ t: 'main' });
    const all = this.slots.filter((s): s is Slot => !!s);
    this.slots.fill(undefined);
    await Promise.all(all.map((s) => s.worker.terminate()));
  }
}
