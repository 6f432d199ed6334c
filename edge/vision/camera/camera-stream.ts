/**
 * One camera: an ffmpeg child process turning a file / RTSP / HTTP MJPEG stream into raw rgb24
 * frames, plus a watchdog. With a model input geometry (`modelInput`) the same ffmpeg also writes
 * each frame's model frame (letterboxed for the detector, ffmpeg-args.ts `modelFilter`) on fd 3;
 * the frame event then carries it as `frame.model`. A stream that stalls (no frame for `stallTimeoutMs`)
 * is killed (SIGKILL, by its PID) and restarted with exponential backoff; transitions are
 * reported once each as 'offline' {code} / 'online'.
 *
 * Codes: CAMERA_UNREADABLE (ffmpeg exits before the first frame: bad URL, refused, not video),
 * CAMERA_STALLED (no frame within the stall timeout), CAMERA_ENDED (stream ended after frames),
 * FFMPEG_NOT_FOUND (no ffmpeg: env, PATH and the npm package all missed; retried with backoff).
 *
 * The binary comes from lib/ffmpeg.ts (FFMPEG_PATH → system → packaged static build) and is spawned
 * directly (fluent-ffmpeg cannot open a third pipe); it is logged once per camera and named in
 * CAMERA_UNREADABLE messages.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { Writable, type Readable } from 'node:stream';
import { CodedError, errMessage, isCoded } from '../../../lib/errors.ts';
import { describeFf, resolveFfmpeg, resolveFfprobe, type FfBinary } from '../../../lib/ffmpeg.ts';
import type { Logger } from '../../../lib/log.ts';
import { FrameAssembler } from './frame-assembler.ts';
import { inputOptions, makesModelFrames, outputArgs, parseOutputSize, type StreamSpec } from './ffmpeg-args.ts';
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
  private cmd: ChildProcess | undefined;
  /** stdout's sink, and fd 3's when ffmpeg makes model frames. */
  private sinks: FrameSink[] = [];
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
  private modelAssembler: FrameAssembler | undefined;
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
    return this.cmd?.pid;
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

  /** Return a frame's buffers (and its model frame's) for reuse when the consumer no longer references them (optional). */
  recycle(frame: { data: Uint8Array; model?: { data: Uint8Array } }): void {
    this.assembler?.recycle(frame.data);
    if (frame.model) this.modelAssembler?.recycle(frame.model.data);
  }

  /** Pause/resume reading ffmpeg's outputs (backpressure: ffmpeg blocks on a full pipe). */
  pause(): void { for (const s of this.sinks) s.hold(); }
  resume(): void { for (const s of this.sinks) s.release(); }

  private checkStall(): void {
    if (!this.cmd || this.sinks.some((s) => s.paused)) return; // a paused (backpressured) stream is not stalled
    if (Date.now() - this.lastFrameAt > this.stallTimeoutMs) {
      this.counters.stalls++;
      this.fail(new CodedError('CAMERA_STALLED', `camera ${this.opts.id}: no frame for ${this.stallTimeoutMs} ms from ${this.opts.url}; restarting the stream`, { camera: this.opts.id }));
    }
  }

  private async spawn(): Promise<void> {
    if (!this.running) return;
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
    const dual = makesModelFrames(o);
    const spec = o.modelInput;
    // Output #0: the frames (stdout); Output #1 with a model geometry: their model frames (fd 3).
    const assemblers: Array<FrameAssembler | undefined> = [undefined, undefined];
    const early: Buffer[][] = [[], []];
    const frames: Array<{ buf: Buffer; width: number; height: number }> = [];
    const models: Array<{ buf: Buffer; width: number; height: number }> = [];
    let output = -1;
    const args = [...inputOptions(o, ff), '-i', o.url, ...outputArgs(o)];
    let child: ChildProcess;
    try {
      child = spawn(ff.path, args, { stdio: ['ignore', 'pipe', 'pipe', ...(dual ? ['pipe' as const] : [])], windowsHide: true });
    } catch (err) {
      this.fail(new CodedError('CAMERA_UNREADABLE', `camera ${o.id}: cannot start ${ff.path}: ${errMessage(err)} [${describeFf(ff)}]`, { camera: o.id, ffmpeg: ff.path }));
      return;
    }
    this.cmd = child;
    const emitFrame = (f: { buf: Buffer; width: number; height: number }, m?: { buf: Buffer; width: number; height: number }) => {
      if (this.cmd !== child) return;
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
      const frame: TimedFrame = { data: f.buf, width: f.width, height: f.height, ts, seq };
      if (m && spec) frame.model = { data: m.buf, width: m.width, height: m.height, spec };
      this.emit('frame', frame);
    };
    // With two outputs the n-th model frame belongs to the n-th frame (one filter graph, split after scaling).
    const pair = () => {
      while (frames.length && models.length) emitFrame(frames.shift()!, models.shift());
    };
    const onOutputFrame = (i: number, buf: Buffer, width: number, height: number) => {
      if (this.cmd !== child) return;
      if (!dual) { emitFrame({ buf, width, height }); return; }
      (i === 0 ? frames : models).push({ buf, width, height });
      pair();
    };
    let errTail = '';
    const onStderrLine = (line: string) => {
      this.stderrTail.push(line);
      if (this.stderrTail.length > 20) this.stderrTail.shift();
      const out = /^Output #(\d+)/.exec(line);
      if (out) output = Number(out[1]);
      if (output >= 0 && output <= 1 && !assemblers[output]) {
        const size = parseOutputSize(line);
        if (size) {
          const i = output;
          const a = new FrameAssembler(size.width * size.height * 3, (b) => onOutputFrame(i, b, size.width, size.height));
          assemblers[i] = a;
          if (i === 0) this.assembler = a;
          else this.modelAssembler = a;
          for (const c of early[i].splice(0)) a.push(c);
        }
      }
    };
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      const lines = (errTail + chunk).split(/\r\n|\r|\n/);
      errTail = lines.pop() ?? '';
      for (const l of lines) if (l) onStderrLine(l);
    });
    // like fluent-ffmpeg before: the outcome once the process has exited and its stderr is read
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let stderrClosed = false;
    const settle = () => {
      if (!exit || !stderrClosed) return;
      if (errTail) { onStderrLine(errTail); errTail = ''; }
      if (exit.signal) onError(new Error(`ffmpeg was killed with signal ${exit.signal}`));
      else if (exit.code) onError(new Error(`ffmpeg exited with code ${exit.code}`));
      else onEnd();
    };
    child.stderr!.on('close', () => { stderrClosed = true; settle(); });
    child.on('exit', (code, signal) => { exit = { code, signal }; settle(); });
    const onError = (err: Error) => {
      if (this.cmd !== child) return; // killed by us
      const tail = this.stderrTail.slice(-3).join(' | ');
      if (this.framesThisRun === 0) {
        this.fail(new CodedError('CAMERA_UNREADABLE', `camera ${o.id}: cannot read ${o.url}: ${err.message.split('\n')[0]}${tail ? ` (${tail})` : ''} [${describeFf(ff)}]`, { camera: o.id, ffmpeg: ff.path }));
      } else {
        this.fail(new CodedError('CAMERA_ENDED', `camera ${o.id}: stream ${o.url} ended after ${this.framesThisRun} frames: ${err.message.split('\n')[0]}`, { camera: o.id }));
      }
    };
    child.on('error', onError); // could not spawn (ENOENT, EACCES)
    const onEnd = () => {
      if (this.cmd !== child) return;
      if (o.kind === 'file' && !o.loop && this.framesThisRun + frames.length > 0) {
        // ffmpeg has exited, but under backpressure its last frames may still wait in the sinks:
        // the file has ended only when every sink has handed every chunk on.
        const finish = () => {
          if (this.cmd !== child || !sinks.every((x) => x.writableFinished)) return;
          this.cmd = undefined;
          this.running = false;
          clearInterval(this.watchdog);
          this.emit('end');
        };
        for (const x of sinks) if (!x.writableFinished) x.once('finish', finish);
        finish();
        return;
      }
      const code = this.framesThisRun === 0 ? 'CAMERA_UNREADABLE' : 'CAMERA_ENDED';
      this.fail(new CodedError(code, `camera ${o.id}: stream ${o.url} ended after ${this.framesThisRun} frames${code === 'CAMERA_UNREADABLE' ? ` [${describeFf(ff)}]` : ''}`, { camera: o.id }));
    };
    const sinks = [child.stdout!, ...(dual ? [child.stdio[3] as Readable] : [])].map((stream, i) => {
      const sink = new FrameSink((chunk) => {
        if (this.cmd !== child) return;
        const a = assemblers[i];
        if (a) a.push(chunk);
        else early[i].push(Buffer.from(chunk));
      });
      sink.on('error', () => undefined);
      stream.on('error', () => undefined);
      stream.pipe(sink, { end: true });
      return sink;
    });
    this.sinks = sinks;
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
    for (const s of this.sinks) s.release(); // a held pipe must not keep ffmpeg blocked
    this.sinks = [];
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
