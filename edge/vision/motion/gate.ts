/**
 * Motion-gated inference for one camera (Frigate's scheme): run the detector on a frame only when
 *  - something moves (a motion region ≥ minArea in this frame, or within `holdS` after one), or
 *  - tracks are alive and not stationary (tentative, lost and still recoverable, or moved within
 *    `stationaryS`), so the tracker and the rules see continuous tracks, or
 *  - the motion detector is calibrating (first frame, scene change), or
 *  - `fullFrameEveryS` passed since the last inference (the periodic full-frame check, which
 *    also finds what arrived without moving, e.g. a parked car revealed by a scene change; each
 *    camera's period is up to 20 % shorter, by a hash of its id, so checks of cameras started
 *    together spread out instead of arriving in one burst).
 * Otherwise the frame is skipped; the caller keeps the last tracks for the rules (nothing moved,
 * so they are where they were). Inference is always on the full frame: crops of the motion region
 * would need a second letterbox per region and lose context the 416-px models need.
 */
import { iou } from '../detector/types.ts';
import type { Frame } from '../detector/types.ts';
import type { Track } from '../tracker/byte-tracker.ts';
import { MotionDetector, type MotionOptions, type MotionResult } from './motion.ts';

export interface GateOptions extends MotionOptions {
  enabled: boolean;
  fullFrameEveryS: number;
  holdS: number;
  stationaryS: number;
}

export type GateReason = 'disabled' | 'motion' | 'hold' | 'tracks' | 'calibrating' | 'periodic' | 'idle';

export interface GateDecision {
  infer: boolean;
  reason: GateReason;
  motion?: MotionResult;
}

/** A track counts as moved when its box overlaps its reference box by less than this IoU. */
const MOVED_IOU = 0.8;

export class MotionGate {
  readonly detector: MotionDetector | undefined;
  private lastInferTs = -Infinity;
  private lastMotionTs = -Infinity;
  private active = false;
  private readonly ref = new Map<number, { box: Track['box']; movedTs: number }>();
  readonly counts: Record<GateReason, number> = { disabled: 0, motion: 0, hold: 0, tracks: 0, calibrating: 0, periodic: 0, idle: 0 };
  /** Time spent in motion detection (ms, total). */
  motionMs = 0;
  lastMotion: MotionResult | undefined;

  /**
   * This camera's period of the full-frame check: fullFrameEveryS shortened by up to 20 % by a hash
   * of `seed` (the camera id), so cameras started together do not all check in the same frame.
   */
  readonly periodMs: number;

  constructor(readonly o: GateOptions, seed = '') {
    this.detector = o.enabled ? new MotionDetector(o) : undefined;
    let h = 2166136261;
    for (let i = 0; i < seed.length; i++) h = Math.imul(h ^ seed.charCodeAt(i), 16777619);
    this.periodMs = o.fullFrameEveryS * 1000 * (1 - 0.2 * ((h >>> 0) / 2 ** 32));
  }

  /** Decide for one frame (call for every frame, in order: the background learns from each). */
  decide(frame: Frame, ts: number): GateDecision {
    if (!this.detector) { this.counts.disabled++; return { infer: true, reason: 'disabled' }; }
    const m = this.detector.detect(frame);
    this.motionMs += m.ms;
    this.lastMotion = m;
    if (m.boxes.length) this.lastMotionTs = ts;
    const reason: GateReason = m.calibrating ? 'calibrating'
      : m.boxes.length ? 'motion'
      : this.active ? 'tracks'
      : ts - this.lastMotionTs < this.o.holdS * 1000 ? 'hold'
      : ts - this.lastInferTs >= this.periodMs ? 'periodic'
      : 'idle';
    this.counts[reason]++;
    // asked for: the next periodic check counts from here, so the frames after this one, while it
    // waits for a worker, do not ask again (and displace it)
    if (reason !== 'idle') this.lastInferTs = ts;
    return { infer: reason !== 'idle', reason, motion: m };
  }

  /**
   * After an inference: `live` is the tracker's confirmed and lost tracks, `tentative` how many
   * unconfirmed ones it holds. Tracks keep inference going unless every one is confirmed and has
   * not moved for stationaryS.
   */
  inferred(ts: number, live: Track[], tentative: number): void {
    this.lastInferTs = Math.max(this.lastInferTs, ts);
    const seen = new Set<number>();
    let active = tentative > 0;
    for (const t of live) {
      seen.add(t.id);
      if (t.state !== 'confirmed') { active = true; continue; }
      const r = this.ref.get(t.id);
      // a new track starts as not moved: motion (not the track) is what reveals walkers
      if (!r) { this.ref.set(t.id, { box: t.box, movedTs: -Infinity }); continue; }
      if (t.lastTs === ts && iou(r.box, t.box) < MOVED_IOU) { r.box = t.box; r.movedTs = ts; }
      if (ts - r.movedTs < this.o.stationaryS * 1000) active = true;
    }
    for (const id of this.ref.keys()) if (!seen.has(id)) this.ref.delete(id);
    this.active = active;
  }

  /** True while tracks keep inference on. */
  get tracksActive(): boolean {
    return this.active;
  }
}
