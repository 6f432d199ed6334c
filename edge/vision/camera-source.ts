/**
 * The `camera` edge source: camera stream → detector (worker thread) → tracker → rules →
 * events (+ snapshots) and per-camera statistics into the outbox.
 *
 * Overload policy: one frame in inference, at most one waiting (the newest); a newer frame
 * replaces the waiting one and counts as dropped. A non-realtime file replay uses backpressure
 * instead (ffmpeg's stdout is paused while inference is busy), so nothing is dropped.
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
import { ByteTracker, type Track } from './tracker/byte-tracker.ts';
import { RulesEngine, type RuleEvent } from './rules/engine.ts';
import { makeSnapshot } from './snapshot/snapshot.ts';


export interface CameraStats {
  framesIn: number;
  framesInferred: number;
  dropped: number;
  inferMsAvg: number;
  inferMsLast: number;
  snapshots: number;
  snapshotErrors: number;
  events: number;
}

export class CameraSource implements Source {
  readonly id: string;
  private ctx!: SourceContext;
  private log!: Logger;
  private stream: CameraStream | undefined;
  private detector: Pick<DetectorWorker, 'detect' | 'close'> | undefined;
  private tracker: ByteTracker;
  readonly rules: RulesEngine;
  private waiting: TimedFrame | undefined;
  /** Backpressure (non-realtime file) mode: frames read before the stream paused. */
  private readonly replayQueue: TimedFrame[] = [];
  private busy = false;
  private statsTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private offlineKey: string | undefined;
  private win = { in: 0, out: 0, inferMs: 0, dropped: 0, since: Date.now() };
  readonly stats: CameraStats = { framesIn: 0, framesInferred: 0, dropped: 0, inferMsAvg: 0, inferMsLast: 0, snapshots: 0, snapshotErrors: 0, events: 0 };
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
  }

  private get backpressure(): boolean {
    return (this.config.kind ?? inferKind(this.config.url)) === 'file' && !this.config.realtime;
  }

  async start(ctx: SourceContext): Promise<void> {
    this.ctx = ctx;
    this.log = ctx.log;
    const c = this.config;
    try {
      if (c.modelSlot) {
        const slot = (await import('../models/slot.ts')).modelSlot(ctx.site, c.modelSlot);
        this.detector = { detect: (f) => slot.detect(f), close: async () => {} };
      }
      const manifest = c.manifest ? loadManifest(path.resolve(ctx.configDir, c.manifest)) : undefined;
      const modelsDir = c.modelsDir ? path.resolve(ctx.configDir, c.modelsDir) : undefined;
      const model = /[/\\]|\.json$/.test(c.model) ? path.resolve(ctx.configDir, c.model) : c.model;
      this.detector ??= await DetectorWorker.start(model, { threads: c.threads, scoreThreshold: c.scoreThreshold, manifest, modelsDir });
    } catch (err) {
      const e = isCoded(err) ? err : new CodedError('MODEL_LOAD_FAILED', errMessage(err));
      this.emitEvent('camera.offline', 'start', `${this.id}:model`, { code: e.code, message: e.message });
      throw e;
    }
    this.stream = new CameraStream({
      id: c.id, url: c.url, kind: c.kind ?? inferKind(c.url), fps: c.fps, width: c.width, height: c.height, loop: c.loop,
      realtime: c.realtime, startS: c.startS, durationS: c.durationS, stallTimeoutMs: c.stallTimeoutMs,
      backoffInitialMs: c.backoff.initialMs, backoffMaxMs: c.backoff.maxMs, clock: this.backpressure ? 'media' : 'wall', log: this.log,
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
    this.stream.on('end', () => { this.streamEnded = true; if (!this.busy) this.endResolve(); });
    this.stream.start();
    this.statsTimer = setInterval(() => this.emitStats(), c.statsIntervalS * 1000);
    this.statsTimer.unref();
  }

  private onFrame(f: TimedFrame): void {
    this.stats.framesIn++;
    this.win.in++;
    if (!this.busy) { void this.infer(f); return; }
    if (this.backpressure) {
      // One chunk from ffmpeg can hold several frames, so more than one may arrive after the
      // pause: keep them all (a replay must not lose a frame); the queue is at most one chunk.
      this.replayQueue.push(f);
      this.stream?.pause();
      return;
    }
    if (this.waiting) { this.stats.dropped++; this.win.dropped++; this.stream?.recycle(this.waiting); }
    this.waiting = f; // bounded queue of 1: the newest waits
  }

  private async infer(f: TimedFrame): Promise<void> {
    if (!this.detector || this.stopped) return;
    this.busy = true;
    let next: TimedFrame | undefined = f;
    while (next && !this.stopped) {
      const frame = next;
      try {
        const r = await this.detector.detect(frame);
        this.stats.framesInferred++;
        this.win.out++;
        this.win.inferMs += r.timings.inferMs;
        this.stats.inferMsLast = r.timings.inferMs;
        this.stats.inferMsAvg = this.stats.inferMsAvg ? 0.9 * this.stats.inferMsAvg + 0.1 * r.timings.inferMs : r.timings.inferMs;
        const tracks = this.tracker.update(r.detections, frame.ts);
        this.lastTracks = tracks;
        const events = this.rules.update(tracks, frame.ts, frame.width, frame.height);
        let keep = false;
        for (const ev of events) keep = this.publish(ev, frame, tracks) || keep;
        this.onInferred?.(frame, tracks, events);
        if (!keep && !this.onInferred) this.stream?.recycle(frame); // no snapshot holds it
      } catch (err) {
        if (this.stopped) break;
        this.log.error({ code: isCoded(err) ? err.code : undefined }, `inference failed: ${errMessage(err)}`);
      }
      if (this.backpressure) {
        next = this.replayQueue.shift();
        if (!this.replayQueue.length) this.stream?.resume();
      } else {
        next = this.waiting;
        this.waiting = undefined;
      }
    }
    this.busy = false;
    if (this.streamEnded) this.endResolve();
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
      online: this.stream?.isOnline ? 1 : 0,
    };
    for (const [rule, n] of Object.entries(this.rules.zoneCounts)) fields[`zone_${rule}`] = n;
    for (const [rule, c] of Object.entries(this.rules.counts)) for (const [dir, n] of Object.entries(c)) fields[`line_${rule}_${dir}`] = n;
    this.win = { in: 0, out: 0, inferMs: 0, dropped: 0, since: now };
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
    return { online: this.stream?.isOnline ?? false, lastError: this.stream?.lastError?.code, ...this.stats, stream: this.stream?.counters, tracks: this.lastTracks.length, rules: this.geometry, ...(ff ? { ffmpeg: { path: ff.path, from: ff.from, version: ff.version } } : {}) };
  }

  /** Wait for snapshots still being encoded (tests, clean shutdown). */
  async flush(): Promise<void> {
    await Promise.all([...this.pendingSnapshots]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.statsTimer);
    await this.stream?.stop();
    await this.flush();
    await this.detector?.close();
  }
}

const round = (v: number) => Math.round(v * 100) / 100;
