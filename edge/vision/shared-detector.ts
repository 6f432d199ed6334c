/**
 * One detector shared by the cameras of an edge process: per model (card + weights + threads +
 * score floor) one pool of detector workers, each owning one onnxruntime session, grown on demand
 * up to `size` (default: the cores, at most 4). Cameras join a pool through a lane:
 *
 *  - each lane holds at most one frame waiting (the newest: a newer frame displaces it, and the
 *    camera counts the displaced one as dropped) and at most one in flight (its tracker needs the
 *    results in order), so a live camera never blocks the others and memory is bounded;
 *  - a free worker takes the next waiting frame in round-robin order over the lanes, so a camera
 *    that floods gets one turn per round like every other — it cannot starve them;
 *  - an optional per-camera budget (`inferFps`, a token bucket) caps what one camera may ask for.
 *
 * Per-lane counters (offered, inferred, displaced, over budget, wait/infer/total ms) stay with the
 * camera. A worker that crashes (DETECTOR_CRASHED) is dropped from the pool and replaced at the
 * next frame that needs it. The pool closes its workers when its last lane leaves.
 */
import os from 'node:os';
import { errMessage, isCoded } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import type { DetectResult, Frame } from './detector/types.ts';

/** What a pool runs frames on (DetectorWorker, or a model slot's current runtime). */
export interface DetectBackend {
  detect(frame: Frame): Promise<DetectResult>;
  close(): Promise<void>;
}

export interface LaneDone<F> {
  frame: F;
  result?: DetectResult;
  error?: unknown;
  /** Offer → dispatch to a worker (queueing behind other cameras). */
  waitMs: number;
  /** Offer → result back on the main thread. */
  totalMs: number;
}

export interface LaneCounters {
  offered: number;
  dispatched: number;
  displaced: number;
  overBudget: number;
  errors: number;
}

export type OfferResult<F> = { accepted: true; displaced?: F } | { accepted: false; reason: 'budget' | 'closed' };

export class DetectorLane<F extends Frame = Frame> {
  pending: F | undefined;
  private pendingAt = 0;
  inFlight: F | undefined;
  private tokens = 2;
  private tokensAt = 0;
  private closed = false;
  private drained: (() => void) | undefined;
  readonly counters: LaneCounters = { offered: 0, dispatched: 0, displaced: 0, overBudget: 0, errors: 0 };
  onDone: (d: LaneDone<F>) => void = () => undefined;

  constructor(readonly pool: SharedDetector, readonly id: string, private readonly inferFps?: number) {}

  /** A frame waiting or in flight. */
  get busy(): boolean {
    return this.pending !== undefined || this.inFlight !== undefined;
  }

  /**
   * Queue a frame for inference. Over the camera's budget: not accepted. Otherwise it becomes the
   * lane's waiting frame; a frame that was still waiting is returned as `displaced` (dropped).
   */
  offer(frame: F): OfferResult<F> {
    if (this.closed) return { accepted: false, reason: 'closed' };
    if (this.inferFps) {
      const now = performance.now();
      this.tokens = Math.min(2, this.tokens + ((now - this.tokensAt) / 1000) * this.inferFps);
      this.tokensAt = now;
      if (this.tokens < 1) { this.counters.overBudget++; return { accepted: false, reason: 'budget' }; }
      this.tokens -= 1;
    }
    this.counters.offered++;
    const displaced = this.pending;
    if (displaced) this.counters.displaced++;
    this.pending = frame;
    this.pendingAt = performance.now();
    this.pool.pump();
    return { accepted: true, displaced };
  }

  /** Called by the pool: hand the waiting frame to a worker. */
  take(): { frame: F; waitMs: number; offeredAt: number } {
    const frame = this.pending!;
    this.pending = undefined;
    this.inFlight = frame;
    this.counters.dispatched++;
    const now = performance.now();
    return { frame, waitMs: now - this.pendingAt, offeredAt: this.pendingAt };
  }

  /** Called by the pool when the frame in flight is done. */
  finish(d: LaneDone<F>): void {
    this.inFlight = undefined;
    if (d.error) this.counters.errors++;
    if (!this.closed) this.onDone(d);
    if (this.closed && this.drained) this.drained();
  }

  /** Leave the pool: the waiting frame is returned (not inferred); the one in flight finishes first. */
  async release(): Promise<F | undefined> {
    if (this.closed) return undefined;
    this.closed = true;
    const left = this.pending;
    this.pending = undefined;
    if (this.inFlight) await new Promise<void>((r) => { this.drained = r; });
    await this.pool.leave(this);
    return left;
  }
}

interface Slot {
  backend: DetectBackend;
  busy: boolean;
}

export interface PoolOptions {
  /** Workers (sessions) at most; they start one at a time, when frames wait and every worker is busy. */
  size: number;
  log?: Logger;
}

/** Cores to size a pool to (at most 4: beyond that, ffmpeg decoding needs the cores). */
export function defaultPoolSize(): number {
  const n = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, Math.min(4, n));
}

export class SharedDetector {
  private readonly slots: Slot[] = [];
  private readonly lanes: DetectorLane<any>[] = [];
  private cursor = 0;
  private starting = 0;
  private retryAt = 0;
  private closing = false;
  private readonly firstBackend: DetectBackend | undefined;
  /** Workers started (first + grown + replacements) and crashed, for health. */
  readonly counters = { started: 0, crashed: 0, startFailures: 0 };

  constructor(readonly key: string, private readonly start: () => Promise<DetectBackend>, readonly opts: PoolOptions, first?: DetectBackend) {
    this.firstBackend = first;
    if (first) { this.slots.push({ backend: first, busy: false }); this.counters.started++; }
  }

  get workers(): number {
    return this.slots.length;
  }

  /**
   * A worker of the pool, for what every worker of it shares (a DetectorWorker's `info`: labels,
   * the card's input geometry a camera's ffmpeg may prepare frames for). All of a pool's workers run
   * the same card, so any one answers for all.
   */
  get sample(): DetectBackend | undefined {
    return this.slots[0]?.backend ?? this.firstBackend;
  }

  get isClosing(): boolean {
    return this.closing;
  }

  get laneCount(): number {
    return this.lanes.length;
  }

  join<F extends Frame>(id: string, inferFps?: number): DetectorLane<F> {
    const lane = new DetectorLane<F>(this, id, inferFps);
    this.lanes.push(lane);
    return lane;
  }

  /** Next lane with a waiting frame and nothing in flight, round-robin from the cursor. */
  private nextLane(advance: boolean): DetectorLane<any> | undefined {
    const n = this.lanes.length;
    for (let i = 0; i < n; i++) {
      const k = (this.cursor + i) % n;
      const lane = this.lanes[k];
      if (lane.pending !== undefined && lane.inFlight === undefined) {
        if (advance) this.cursor = (k + 1) % n;
        return lane;
      }
    }
    return undefined;
  }

  /** Hand waiting frames to free workers; grow the pool when frames wait and every worker is busy. */
  pump(): void {
    if (this.closing) return;
    for (;;) {
      const slot = this.slots.find((s) => !s.busy);
      if (!slot) {
        if (this.nextLane(false)) this.grow();
        return;
      }
      const lane = this.nextLane(true);
      if (!lane) return;
      this.run(slot, lane);
    }
  }

  private run(slot: Slot, lane: DetectorLane<any>): void {
    slot.busy = true;
    const { frame, waitMs, offeredAt } = lane.take();
    let p: Promise<DetectResult>;
    try { p = slot.backend.detect(frame); } catch (err) { p = Promise.reject(err); }
    p.then(
      (result) => { slot.busy = false; lane.finish({ frame, result, waitMs, totalMs: performance.now() - offeredAt }); },
      (error) => {
        slot.busy = false;
        if (isCoded(error, 'DETECTOR_CRASHED')) this.drop(slot);
        lane.finish({ frame, error, waitMs, totalMs: performance.now() - offeredAt });
      },
    ).finally(() => this.pump());
  }

  private drop(slot: Slot): void {
    const i = this.slots.indexOf(slot);
    if (i < 0) return;
    this.slots.splice(i, 1);
    this.counters.crashed++;
    this.opts.log?.error({ pool: this.key }, `detector worker crashed; ${this.slots.length} left in the pool of ${this.key}, a new one starts when frames need it`);
    void slot.backend.close().catch(() => undefined);
  }

  private grow(): void {
    if (this.closing || this.starting || this.slots.length >= this.opts.size || performance.now() < this.retryAt) return;
    this.starting++;
    this.start().then(
      (backend) => {
        this.starting--;
        if (this.closing) { void backend.close().catch(() => undefined); return; }
        this.slots.push({ backend, busy: false });
        this.counters.started++;
        this.pump();
      },
      (err) => {
        this.starting--;
        this.counters.startFailures++;
        this.retryAt = performance.now() + 5000;
        this.opts.log?.error({ pool: this.key, code: isCoded(err) ? err.code : undefined }, `cannot start another detector worker for ${this.key}: ${errMessage(err)}`);
        if (!this.slots.length) setTimeout(() => this.pump(), 5000).unref();
      },
    );
  }

  /** A lane left: close the workers when it was the last one. */
  async leave(lane: DetectorLane<any>): Promise<void> {
    const i = this.lanes.indexOf(lane);
    if (i >= 0) this.lanes.splice(i, 1);
    if (this.cursor >= this.lanes.length) this.cursor = 0;
    if (this.lanes.length) return;
    this.closing = true;
    if (pools.get(this.key)?.pool === this) pools.delete(this.key);
    await this.close();
  }

  async close(): Promise<void> {
    this.closing = true;
    const slots = this.slots.splice(0);
    await Promise.all(slots.map((s) => s.backend.close().catch(() => undefined)));
  }
}

const pools = new Map<string, { pool?: SharedDetector; ready: Promise<SharedDetector> }>();

/**
 * The pool for `key` in this process, created with its first worker loaded (so a bad model fails
 * the camera's start with the load error's code), or the existing one. A failed creation is not
 * kept: the next camera tries again.
 */
export async function joinDetector<F extends Frame>(key: string, start: () => Promise<DetectBackend>, opts: PoolOptions, lane: { id: string; inferFps?: number }): Promise<DetectorLane<F>> {
  for (;;) {
    const pool = await acquire(key, start, opts);
    if (pool.isClosing) continue; // its last camera left while this one waited: a new pool
    return pool.join<F>(lane.id, lane.inferFps);
  }
}

async function acquire(key: string, start: () => Promise<DetectBackend>, opts: PoolOptions): Promise<SharedDetector> {
  let entry = pools.get(key);
  if (!entry) {
    const e: { pool?: SharedDetector; ready: Promise<SharedDetector> } = {
      ready: start().then(
        (first) => (e.pool = new SharedDetector(key, start, opts, first)),
        (err) => { pools.delete(key); throw err; },
      ),
    };
    entry = e;
    pools.set(key, e);
  }
  const pool = await entry.ready;
  if (pool.opts.size < opts.size) pool.opts.size = opts.size; // the largest pool any of its cameras asks for
  return pool;
}

/** Pools alive in this process (health, benches, tests). */
export function detectorPools(): Array<{ key: string; workers: number; lanes: number; size: number; counters: SharedDetector['counters'] }> {
  return [...pools.values()].flatMap((e) => (e.pool ? [{ key: e.pool.key, workers: e.pool.workers, lanes: e.pool.laneCount, size: e.pool.opts.size, counters: e.pool.counters }] : []));
}
