/**
 * One camera: an ffmpeg child process (fluent-ffmpeg) turning a file / RTSP / HTTP MJPEG stream
 * into raw rgb24 frames, plus a watchdog. A stream that stalls (no frame for `stallTimeoutMs`)
 * is killed (SIGKILL, by its PID) and restarted with exponential backoff; transitions are
 * reported once each as 'offline' {code} / 'online'.
 *
 * Codes: CAMERA_UNREADABLE (ffmpeg exits before the first frame: bad URL, refused, not video),
 * CAMERA_STALLED (no frame within the stall timeout), CAMERA_ENDED (stream ended after frames),
 * FFMPEG_NOT_FOUND (no ffmpeg: env, PATH and the npm package all missed; retried with backoff).
 *
 * The binary comes from lib/ffmpeg.ts (FFMPEG_PATH → system → packaged static build) and is handed
 * to fluent-ffmpeg explicitly; it is logged once per camera and named in CAMERA_UNREADABLE messages.
 */
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import type { FfmpegCommand } from 'fluent-ffmpeg';
import { CodedError, isCoded } from '../../../lib/errors.ts';
import { describeFf, resolveFfmpeg, resolveFfprobe, type FfBinary } from '../../../lib/ffmpeg.ts';
import type { Logger } from '../../../lib/log.ts';
import { FrameAssembler } from './frame-assembler.ts';
import { inputOptions, outputOptions, parseOutputSize, type StreamSpec } from './ffmpeg-args.ts';
import type { Frame } from '../detector/types.ts';

export interface CameraStreamOptions extends StreamSpec {
  id: string;
  stallTimeoutMs?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** 'media': frame time = start + n/fps (non-realtime file replay); 'wall': arrival time. */
  clock?: 'wall' | 'media';
  log?: Logger;
}

export interface TimedFrame extends Frame {
  ts: number;
  seq: number;
}

export interface CameraStreamEvents {
  frame: [TimedFrame];
  offline: [CodedError];
  online: [];
  /** A non-looping file reached its end (not an error). */
  end: [];
}

/**
 * ffmpeg's stdout is piped straight into this sink (no intermediate PassThrough). Backpressure
 * holds the write callback, so the pipe — and ffmpeg — stop until `release()`.
 */
class FrameSink extends Writable {
  paused = false;
  private held: (() => void) | undefined;
  constructor(private readonly onChunk: (chunk: Buffer) => void) {
    super({ highWaterMark: 1 << 20 });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.onChunk(chunk);
    if (this.paused) this.held = cb;
    else cb();
  }
  hold(): void { this.paused = true; }
  release(): void {
    this.paused = false;
    const cb = this.held;
    this.held = undefined;
    cb?.();
  }
}

export class CameraStream extends EventEmitter<CameraStreamEvents> {
  private cmd: FfmpegCommand | undefined;
  private out: FrameSink | undefined;
  private running = false;
  private online: boolean | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private backoff: number;
  private lastFrameAt = 0;
  private framesThisRun = 0;
  private seq = 0;
  private mediaStart = 0;
  private stderrTail: string[] = [];
  private assembler: FrameAssembler | undefined;
  readonly counters = { frames: 0, restarts: 0, stalls: 0, failures: 0, partialBytesDropped: 0 };
  lastError: CodedError | undefined;
  /** The ffmpeg this stream runs (set at the first spawn). */
  ffmpeg: FfBinary | undefined;

  constructor(readonly opts: CameraStreamOptions) {
    super();
    this.backoff = opts.backoffInitialMs ?? 500;
  }

  /**
   * Live sources: 3 s (or four frame intervals). A non-realtime file replay has no network to
   * stall on, only a decoder that a busy machine slows down: 30 s, so CPU starvation does not
   * restart (and re-decode) a replay.
   */
  get stallTimeoutMs(): number {
    if (this.opts.stallTimeoutMs !== undefined) return this.opts.stallTimeoutMs;
    if (this.opts.kind === 'file' && !this.opts.realtime) return 30_000;
    return Math.max(3000, 4000 / this.opts.fps);
  }

  /** PID of the running ffmpeg (for CPU/memory accounting). */
  get pid(): number | undefined {
    return (this.cmd as unknown as { ffmpegProc?: { pid?: number } } | undefined)?.ffmpegProc?.pid;
  }

  get isOnline(): boolean {
    return this.online === true;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.mediaStart = Date.now();
    void this.spawn();
    const tick = Math.max(50, Math.min(1000, this.stallTimeoutMs / 4));
    this.watchdog = setInterval(() => this.checkStall(), tick);
  }

  /** Return a frame's buffer for reuse when the consumer no longer references it (optional). */
  recycle(frame: { data: Uint8Array }): void {
    this.assembler?.recycle(frame.data);
  }

  /** Pause/resume reading stdout (backpressure: ffmpeg blocks on a full pipe). */
  pause(): void { this.out?.hold(); }
  resume(): void { this.out?.release(); }

  private checkStall(): void {
    if (!this.cmd || this.out?.paused) return; // a paused (backpressured) stream is not stalled
    if (Date.now() - this.lastFrameAt > this.stallTimeoutMs) {
      this.counters.stalls++;
      this.fail(new CodedError('CAMERA_STALLED', `camera ${this.opts.id}: no frame for ${this.stallTimeoutMs} ms from ${this.opts.url}; restarting the stream`, { camera: this.opts.id }));
    }
  }

  private async spawn(): Promise<void> {
    if (!this.running) return;
    const ffmpeg = (await import('fluent-ffmpeg')).default;
    const o = this.opts;
    let ff: FfBinary;
    try {
      ff = resolveFfmpeg();
    } catch (err) {
      if (!this.running) return;
      this.fail(isCoded(err) ? err : new CodedError('FFMPEG_NOT_FOUND', String(err), { camera: o.id }));
      return;
    }
    if (!this.running) return;
    if (this.ffmpeg?.path !== ff.path) {
      this.ffmpeg = ff;
      this.opts.log?.info({ camera: o.id, ffmpeg: ff.path, from: ff.from, version: ff.version }, `camera ${o.id}: using ${describeFf(ff)}`);
    }
    this.framesThisRun = 0;
    this.stderrTail = [];
    this.lastFrameAt = Date.now(); // the stall clock starts at spawn
    let assembler: FrameAssembler | undefined;
    const early: Buffer[] = [];
    let inOutput = false;
    const cmd = ffmpeg(o.url).inputOptions(inputOptions(o, ff)).outputOptions(outputOptions(o));
    // fluent-ffmpeg would look for `ffmpeg` on PATH itself ("Cannot find ffmpeg"): give it ours.
    cmd.setFfmpegPath(ff.path);
    try { cmd.setFfprobePath(resolveFfprobe().path); } catch { /* ffprobe is not needed to stream */ }
    this.cmd = cmd;
    const onFrame = (buf: Buffer, width: number, height: number) => {
      if (this.cmd !== cmd) return;
      this.lastFrameAt = Date.now();
      this.framesThisRun++;
      this.counters.frames++;
      this.backoff = this.opts.backoffInitialMs ?? 500;
      if (this.online !== true) {
        this.online = true;
        this.lastError = undefined;
        this.emit('online');
      }
      const seq = this.seq++;
      const ts = o.clock === 'media' ? this.mediaStart + Math.round((seq * 1000) / o.fps) : Date.now();
      this.emit('frame', { data: buf, width, height, ts, seq });
    };
    cmd.on('stderr', (line: string) => {
      this.stderrTail.push(line);
      if (this.stderrTail.length > 20) this.stderrTail.shift();
      if (line.startsWith('Output #0')) inOutput = true;
      if (inOutput && !assembler) {
        const size = parseOutputSize(line);
        if (size) {
          assembler = new FrameAssembler(size.width * size.height * 3, (b) => onFrame(b, size.width, size.height));
          this.assembler = assembler;
          for (const c of early.splice(0)) assembler.push(c);
        }
      }
    });
    cmd.on('error', (err: Error) => {
      if (this.cmd !== cmd) return; // killed by us
      const tail = this.stderrTail.slice(-3).join(' | ');
      if (this.framesThisRun === 0) {
        this.fail(new CodedError('CAMERA_UNREADABLE', `camera ${o.id}: cannot read ${o.url}: ${err.message.split('\n')[0]}${tail ? ` (${tail})` : ''} [${describeFf(ff)}]`, { camera: o.id, ffmpeg: ff.path }));
      } else {
        this.fail(new CodedError('CAMERA_ENDED', `camera ${o.id}: stream ${o.url} ended after ${this.framesThisRun} frames: ${err.message.split('\n')[0]}`, { camera: o.id }));
      }
    });
    cmd.on('end', () => {
      if (this.cmd !== cmd) return;
      if (o.kind === 'file' && !o.loop && this.framesThisRun > 0) {
        // ffmpeg has exited, but under backpressure its last frames may still wait in the sink:
        // the file has ended only when the sink has handed every chunk on.
        const finish = () => {
          if (this.cmd !== cmd) return;
          this.cmd = undefined;
          this.running = false;
          clearInterval(this.watchdog);
          this.emit('end');
        };
        if (out.writableFinished) finish();
        else out.once('finish', finish);
        return;
      }
      const code = this.framesThisRun === 0 ? 'CAMERA_UNREADABLE' : 'CAMERA_ENDED';
      this.fail(new CodedError(code, `camera ${o.id}: stream ${o.url} ended after ${this.framesThisRun} frames${code === 'CAMERA_UNREADABLE' ? ` [${describeFf(ff)}]` : ''}`, { camera: o.id }));
    });
    const out = new FrameSink((chunk) => {
      if (this.cmd !== cmd) return;
      if (assembler) assembler.push(chunk);
      else early.push(Buffer.from(chunk));
    });
    out.on('error', () => undefined);
    this.out = out;
    cmd.pipe(out, { end: true });
  }

  private fail(err: CodedError): void {
    this.counters.failures++;
    this.lastError = err;
    this.kill();
    if (this.online !== false) {
      this.online = false;
      this.opts.log?.warn({ code: err.code, camera: this.opts.id }, err.message);
      this.emit('offline', err);
    }
    if (!this.running) return;
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, this.opts.backoffMaxMs ?? 30_000);
    this.restartTimer = setTimeout(() => {
      this.counters.restarts++;
      void this.spawn();
    }, delay);
  }

  private kill(): void {
    const cmd = this.cmd;
    this.cmd = undefined;
    this.out?.release(); // a held pipe must not keep ffmpeg blocked
    this.out = undefined;
    if (cmd) {
      try { cmd.kill('SIGKILL'); } catch { /* already gone */ }
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.watchdog);
    clearTimeout(this.restartTimer);
    this.kill();
  }
}
