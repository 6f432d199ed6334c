/**
 * The `camera` edge source: camera stream → motion gate → shared detector (worker threads, one
 * pool per model per process) → tracker → rules → events (+ snapshots) and per-camera statistics
 * into the outbox.
 *
 * Motion gate (motion/gate.ts): a frame goes to the detector only when something moves, tracks are
 * alive and not stationary, the motion detector calibrates, or the periodic full-frame check is
 * due; a skipped frame feeds the rules the last tracks (nothing moved, so they are where they were).
 *
 * Overload policy: one frame in inference, at most one waiting (the newest) in this camera's lane
 * of the shared detector; a newer frame replaces the waiting one and counts as dropped. Lanes are
 * served round-robin, so one camera cannot starve another. A non-realtime file replay uses
 * backpressure instead (ffmpeg's stdout is paused while inference is busy), so nothing is dropped.
 */
import path from 'node:path';
import { loadManifest } from '../../models/card.ts';
import { CodedError, errMessage, isCoded } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import type { CameraRuleGeometry, Item, NewItem } from '../../protocol/schemas.ts';
import { validateCameraRules } from '../../protocol/validate.ts';
import { rulesGeometry } from './rules/report.ts';
import type { Source, SourceContext } from '../../lib/contract/source.ts';
import type { CameraConfig } from '../sources/camera.ts';
import { CameraStream, type TimedFrame } from './camera/camera-stream.ts';
import { inferKind } from './camera/ffmpeg-args.ts';
import { DetectorWorker } from './detector/detector-worker.ts';
import { cameraModelInput, resolveCameraModel } from './detector/model-input.ts';
import { MotionGate } from './motion/gate.ts';
import { defaultPoolSize, joinDetector, type DetectBackend, type DetectorLane, type LaneDone } from './shared-detector.ts';
import { ByteTracker, type Track } from './tracker/byte-tracker.ts';
import { RulesEngine, type RuleEvent } from './rules/engine.ts';
import { makeSnapshot } from './snapshot/snapshot.ts';


export interface CameraStats {
  framesIn: number;
  framesInferred: number;
  /** Inferred frames the detector worker had to resize (no model frame from ffmpeg: detector.resize). */
  framesResampled: number;
  /** Frames displaced from the detector queue by a newer one (overload). */
  dropped: number;
  /** Frames the motion gate did not send to the detector (nothing moving, no active track). */
  skippedMotion: number;
  /** Frames over this camera's `detector.inferFps` budget. */
  overBudget: number;
  /** session.run time (ms, moving average; the worker's own measure). */
  inferMsAvg: number;
  inferMsLast: number;
  /** Pre-processing (letterbox, normalise) and decoding + NMS in the worker (ms, moving averages). */
  preMsAvg: number;
  postMsAvg: number;
  /** Frame queued → taken by a worker (ms, moving average): time spent behind other cameras. */
  waitMsAvg: number;
  /** Frame queued → detections back (ms, moving average). */
  latencyMsAvg: number;
  /** Motion detection per frame (ms, moving average). */
  motionMsAvg: number;
  snapshots: number;
  snapshotErrors: number;
  events: number;
}

export class CameraSource implements Source {
  readonly id: string;
  private ctx!: SourceContext;
  private log!: Logger;
  private stream: CameraStream | undefined;
  /** This camera's lane of the shared detector (one frame waiting at most, one in flight). */
  private lane: DetectorLane<TimedFrame> | undefined;
  private tracker: ByteTracker;
  readonly rules: RulesEngine;
  readonly gate: MotionGate;
  /** Backpressure (non-realtime file) mode: frames read before the stream paused. */
  private readonly replayQueue: TimedFrame[] = [];
  private statsTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private offlineKey: string | undefined;
  private win = { in: 0, out: 0, inferMs: 0, waitMs: 0, totalMs: 0, dropped: 0, skipped: 0, overBudget: 0, since: Date.now() };
  /** Frames per second in and inferred over the last completed stats window (health reports it). */
  private lastRates = { in: 0, out: 0 };
  readonly stats: CameraStats = {
    framesIn: 0, framesInferred: 0, framesResampled: 0, dropped: 0, skippedMotion: 0, overBudget: 0, inferMsAvg: 0, inferMsLast: 0, preMsAvg: 0, postMsAvg: 0, waitMsAvg: 0, latencyMsAvg: 0, motionMsAvg: 0,
    snapshots: 0, snapshotErrors: 0, events: 0,
  };
  /** Tracks of the last inferred frame (for tests / status). */
  lastTracks: Track[] = [];
  /** Called after each inferred frame (tests, annotated previews). */
  onInferred?: (frame: TimedFrame, tracks: Track[], events: RuleEvent[]) => void;
  private pendingSnapshots = new Set<Promise<void>>();
  private endResolve!: () => void;
  /** Resolves when a non-looping file has been fully processed. */
  readonly ended: Promise<void> = new Promise((r) => { this.endResolve = r; });
  private streamEnded = false;

  /** The rules' geometry as the status reports it (protocol `CameraRulesGeometry`, checked once). */
  readonly geometry: CameraRuleGeometry[];

  constructor(readonly config: CameraConfig) {
    this.id = config.id;
    this.tracker = new ByteTracker(config.tracker);
    this.rules = new RulesEngine(config.id, config.rules);
    this.geometry = validateCameraRules(rulesGeometry(config.rules));
    this.gate = new MotionGate(config.motion, config.id);
  }

  private get busy(): boolean {
    return this.lane?.busy ?? false;
  }

  private get backpressure(): boolean {
    return (this.config.kind ?? inferKind(this.config.url)) === 'file' && !this.config.realtime;
  }

  async start(ctx: SourceContext): Promise<void> {
    this.ctx = ctx;
    this.log = ctx.log;
    const c = this.config;
    try {
      // One pool of sessions per model per process (shared-detector.ts); the key is what makes two
      // sessions interchangeable: the card, its weights, threads and the score floor.
      let key: string;
      let startBackend: () => Promise<DetectBackend>;
      let size: number;
      if (c.modelSlot) {
        const slot = (await import('../models/slot.ts')).modelSlot(ctx.site, c.modelSlot);
        key = `slot:${ctx.site}/${c.modelSlot}`; // the slot's model runtime is one worker
        startBackend = async () => ({ detect: (f) => slot.detect(f), close: async () => {} });
        size = 1;
      } else {
        const manifestFile = c.manifest ? path.resolve(ctx.configDir, c.manifest) : undefined;
        const modelsDir = c.modelsDir ? path.resolve(ctx.configDir, c.modelsDir) : undefined;
        const model = resolveCameraModel(c.model, ctx.configDir);
        const opts = { threads: c.threads, scoreThreshold: c.scoreThreshold, manifest: manifestFile ? loadManifest(manifestFile) : undefined, modelsDir };
        key = JSON.stringify({ model, modelsDir, manifest: manifestFile, threads: c.threads, score: c.scoreThreshold });
        if (!c.detector.shared) key += `#own:${this.id}:${++ownPools}`;
        startBackend = () => DetectorWorker.start(model, opts);
        size = c.detector.shared ? (c.detector.workers ?? defaultPoolSize()) : 1;
      }
      this.lane = await joinDetector<TimedFrame>(key, startBackend, { size, log: this.log }, { id: this.id, inferFps: c.detector.inferFps });
      this.lane.onDone = (d) => this.onDone(d);
    } catch (err) {
      const e = isCoded(err) ? err : new CodedError('MODEL_LOAD_FAILED', errMessage(err));
      this.emitEvent('camera.offline', 'start', `${this.id}:model`, { code: e.code, message: e.message });
      throw e;
    }
    this.stream = new CameraStream({
      id: c.id, url: c.url, kind: c.kind ?? inferKind(c.url), fps: c.fps, width: c.width, height: c.height, loop: c.loop,
      realtime: c.realtime, startS: c.startS, durationS: c.durationS, stallTimeoutMs: c.stallTimeoutMs,
      backoffInitialMs: c.backoff.initialMs, backoffMaxMs: c.backoff.maxMs, clock: this.backpressure ? 'media' : 'wall', log: this.log,
      // the same decode makes the model-size frame (no resize on the detector's hot path); see detector.resize
      modelInput: modelFramesFromFfmpeg(c) ? cameraModelInput(c, ctx.configDir) : undefined,
    });
    this.stream.on('frame', (f) => this.onFrame(f));
    this.stream.on('offline', (err) => {
      this.offlineKey = `${this.id}:offline:${Date.now()}`;
      this.emitEvent('camera.offline', 'start', this.offlineKey, { code: err.code, message: err.message });
    });
    this.stream.on('online', () => {
      if (!this.offlineKey) return; // first connection is not news
      this.emitEvent('camera.offline', 'end', this.offlineKey, {});
      this.offlineKey = undefined;
    });
    this.stream.on('end', () => { this.streamEnded = true; this.checkEnded(); });
    this.stream.start();
    this.statsTimer = setInterval(() => this.emitStats(), c.statsIntervalS * 1000);
    this.statsTimer.unref();
  }

  private onFrame(f: TimedFrame): void {
    this.stats.framesIn++;
    this.win.in++;
    if (this.backpressure && (this.busy || this.replayQueue.length)) {
      // One chunk from ffmpeg can hold several frames, so more than one may arrive after the
      // pause: keep them all (a replay must not lose a frame); the queue is at most one chunk.
      this.replayQueue.push(f);
      this.stream?.pause();
      return;
    }
    this.handle(f);
  }

  /** Gate one frame (every frame, in order: the motion background learns from each), then queue or skip it. */
  private handle(f: TimedFrame): void {
    if (this.stopped || !this.lane) return;
    const d = this.gate.decide(f, f.ts);
    if (d.motion) this.stats.motionMsAvg = ewma(this.stats.motionMsAvg, d.motion.ms);
    if (!d.infer) { this.stats.skippedMotion++; this.win.skipped++; this.skip(f); return; }
    const r = this.lane.offer(f);
    if (!r.accepted) {
      if (r.reason === 'budget') { this.stats.overBudget++; this.win.overBudget++; }
      this.skip(f);
      return;
    }
    if (r.displaced) { this.stats.dropped++; this.win.dropped++; this.stream?.recycle(r.displaced); }
  }

  /**
   * A frame not inferred: nothing moved (or over budget), so the last tracks stand where they were;
   * the rules see them at this frame's time (dwell keeps counting). Only when no inference is
   * pending, so the rules' clock never goes back.
   */
  private skip(f: TimedFrame): void {
    if (!this.busy && this.lastTracks.length) {
      const events = this.rules.update(this.lastTracks, f.ts, f.width, f.height);
      if (this.emitRuleEvents(events, f, this.lastTracks)) return;
    }
    this.stream?.recycle(f);
  }

  private onDone(d: LaneDone<TimedFrame>): void {
    const frame = d.frame;
    if (this.stopped) return;
    if (d.error || !d.result) {
      this.log.error({ code: isCoded(d.error) ? d.error.code : undefined }, `inference failed: ${errMessage(d.error)}`);
      this.stream?.recycle(frame);
    } else {
      const r = d.result;
      this.stats.framesInferred++;
      if (r.resampled) this.stats.framesResampled++;
      this.win.out++;
      this.win.inferMs += r.timings.inferMs;
      this.win.waitMs += d.waitMs;
      this.win.totalMs += d.totalMs;
      this.stats.inferMsLast = r.timings.inferMs;
      this.stats.inferMsAvg = ewma(this.stats.inferMsAvg, r.timings.inferMs);
      this.stats.preMsAvg = ewma(this.stats.preMsAvg, r.timings.preMs);
      this.stats.postMsAvg = ewma(this.stats.postMsAvg, r.timings.postMs);
      this.stats.waitMsAvg = ewma(this.stats.waitMsAvg, d.waitMs);
      this.stats.latencyMsAvg = ewma(this.stats.latencyMsAvg, d.totalMs);
      const tracks = this.tracker.update(r.detections, frame.ts);
      this.lastTracks = tracks;
      const live = this.tracker.live();
      this.gate.inferred(frame.ts, live, this.tracker.size - live.length);
      const events = this.rules.update(tracks, frame.ts, frame.width, frame.height);
      const keep = this.emitRuleEvents(events, frame, tracks);
      this.onInferred?.(frame, tracks, events);
      if (!keep && !this.onInferred) this.stream?.recycle(frame); // no snapshot holds it
    }
    if (this.backpressure) {
      while (this.replayQueue.length && !this.busy && !this.stopped) this.handle(this.replayQueue.shift()!);
      if (!this.replayQueue.length) this.stream?.resume();
    }
    this.checkEnded();
  }

  /** Returns true when a snapshot (still being encoded) holds the frame. */
  private emitRuleEvents(events: RuleEvent[], frame: TimedFrame, tracks: Track[]): boolean {
    let keep = false;
    for (const ev of events) keep = this.publish(ev, frame, tracks) || keep;
    return keep;
  }

  private checkEnded(): void {
    if (this.streamEnded && !this.busy && !this.replayQueue.length) this.endResolve();
  }

  private emitEvent(type: string, phase: 'start' | 'end' | 'instant', key: string, data: Record<string, unknown>, ts = Date.now()): Item | undefined {
    const item: NewItem = { kind: 'event', ts, type, source: this.id, phase, key: key.slice(0, 128), data: { camera: this.id, ...data } };
    try {
      this.stats.events++;
      return this.ctx.emit([item])[0];
    } catch (err) {
      this.log.error(`outbox rejected event ${type}: ${errMessage(err)}`);
      return undefined;
    }
  }

  /** The event goes first (event priority); its snapshots follow and reference the stamped id. */
  /** Returns true when a snapshot (still being encoded) holds the frame. */
  private publish(ev: RuleEvent, frame: TimedFrame, tracks: Track[]): boolean {
    const stamped = this.emitEvent(ev.type, ev.phase, ev.key, ev.data, ev.ts);
    if (!stamped || !ev.snapshot || !this.config.snapshot.enabled) return false;
    const hl = new Set(ev.trackIds);
    const boxes = tracks.map((t) => ({ box: t.box, label: `${t.label} #${t.id}`, highlight: hl.has(t.id) }));
    const caption = `${this.id} ${ev.type} ${new Date(ev.ts).toISOString()}`;
    const s = this.config.snapshot;
    const p = makeSnapshot(frame, boxes, { maxWidth: s.maxWidth, quality: s.quality, maxBytes: s.maxBytes, shapes: this.ruleShapes(ev.rule, frame.width, frame.height) }, caption)
      .then((snap) => {
        const items: NewItem[] = [{ kind: 'snapshot', ts: ev.ts, ref: stamped.id, role: 'frame', contentType: 'image/jpeg', data: snap.frame.toString('base64') }];
        if (snap.crop) items.push({ kind: 'snapshot', ts: ev.ts, ref: stamped.id, role: 'crop', contentType: 'image/jpeg', data: snap.crop.toString('base64') });
        this.ctx.emit(items);
        this.stats.snapshots += items.length;
      })
      .catch((err) => { this.stats.snapshotErrors++; this.log.warn(`snapshot failed: ${errMessage(err)}`); })
      .finally(() => this.pendingSnapshots.delete(p));
    this.pendingSnapshots.add(p);
    return true;
  }

  /** Geometry of a rule in pixels, drawn on its snapshots. */
  ruleShapes(ruleId: string, W: number, H: number): Array<{ points: Array<[number, number]>; closed: boolean }> {
    const r = this.config.rules.find((x) => x.id === ruleId);
    if (!r) return [];
    const px = (pts: Array<[number, number]>) => pts.map(([x, y]) => [x * W, y * H] as [number, number]);
    return r.type === 'line' ? [{ points: px(r.line as Array<[number, number]>), closed: false }] : [{ points: px(r.zone as Array<[number, number]>), closed: true }];
  }

  emitStats(): void {
    const now = Date.now();
    const dt = Math.max(0.001, (now - this.win.since) / 1000);
    const fields: Record<string, number> = {
      fps_in: round(this.win.in / dt), fps_out: round(this.win.out / dt),
      infer_ms: round(this.win.out ? this.win.inferMs / this.win.out : 0), dropped: this.win.dropped, dropped_total: this.stats.dropped,
      wait_ms: round(this.win.out ? this.win.waitMs / this.win.out : 0), latency_ms: round(this.win.out ? this.win.totalMs / this.win.out : 0),
      skipped: this.win.skipped, over_budget: this.win.overBudget,
      online: this.stream?.isOnline ? 1 : 0,
    };
    for (const [rule, n] of Object.entries(this.rules.zoneCounts)) fields[`zone_${rule}`] = n;
    for (const [rule, c] of Object.entries(this.rules.counts)) for (const [dir, n] of Object.entries(c)) fields[`line_${rule}_${dir}`] = n;
    this.lastRates = { in: fields.fps_in, out: fields.fps_out };
    this.win = { in: 0, out: 0, inferMs: 0, waitMs: 0, totalMs: 0, dropped: 0, skipped: 0, overBudget: 0, since: now };
    try {
      this.ctx.emit([{ kind: 'telemetry', ts: now, m: 'camera_stats', tags: { camera: this.id }, fields }]);
    } catch (err) {
      this.log.error(`outbox rejected camera_stats: ${errMessage(err)}`);
    }
  }

  /** PID of this camera's ffmpeg process, if running. */
  get ffmpegPid(): number | undefined {
    return this.stream?.pid;
  }

  health(): Record<string, unknown> {
    const ff = this.stream?.ffmpeg;
    const pool = this.lane?.pool;
    return {
      online: this.stream?.isOnline ?? false, lastError: this.stream?.lastError?.code, ...this.stats, stream: this.stream?.counters, tracks: this.lastTracks.length, rules: this.geometry,
      motion: this.config.motion.enabled ? 1 : 0, detectorWorkers: pool?.workers ?? 0, detectorCameras: pool?.laneCount ?? 0,
      ...this.rates(),
      ...(ff ? { ffmpeg: { path: ff.path, from: ff.from, version: ff.version } } : {}),
    };
  }

  /**
   * Frames per second decoded (`fpsIn`) and inferred (`fpsOut`) now: over the current stats window
   * once it is 2 s old, else the last completed window's, so a status report carries the camera's
   * rate on its own (the console need not wait for a second report).
   */
  private rates(): { fpsIn: number; fpsOut: number } {
    const dt = (Date.now() - this.win.since) / 1000;
    if (dt >= 2 || (!this.lastRates.in && dt > 0.5)) return { fpsIn: round(this.win.in / dt), fpsOut: round(this.win.out / dt) };
    return { fpsIn: this.lastRates.in, fpsOut: this.lastRates.out };
  }

  /** Wait for snapshots still being encoded (tests, clean shutdown). */
  async flush(): Promise<void> {
    await Promise.all([...this.pendingSnapshots]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.statsTimer);
    await this.stream?.stop();
    const left = await this.lane?.release();
    if (left) this.stream?.recycle(left);
    await this.flush();
  }
}

const round = (v: number) => Math.round(v * 100) / 100;
const ewma = (avg: number, v: number) => (avg ? 0.9 * avg + 0.1 * v : v);
/** Private pools (`detector.shared: false`) get a key of their own. */
let ownPools = 0;

/** detector.resize: `auto` = ffmpeg makes the model frames unless motion gating skips most frames. */
export function modelFramesFromFfmpeg(c: Pick<CameraConfig, 'detector' | 'motion'>): boolean {
  const r = c.detector.resize ?? 'auto';
  return r === 'ffmpeg' || (r === 'auto' && !c.motion.enabled);
}
