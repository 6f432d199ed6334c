/**
 * Main-thread handle of a detector worker thread (worker.ts). `detect(frame)` copies the frame
 * into a pooled ArrayBuffer, transfers it to the worker and gets it back with the result, so
 * steady-state operation allocates no frame-sized buffers. A frame carrying a ready model frame
 * that fits this worker's card (`frame.model`, made by ffmpeg) sends only that: the worker then
 * normalises without resampling, and the full frame stays here (snapshots, rules).
 */
import { Worker } from 'node:worker_threads';
import { CodedError } from '../../../lib/errors.ts';
import type { ModelCard } from '../../../models/card.ts';
import type { DetectorOptions } from './detector.ts';
import { fitsModelInput } from './preprocess.ts';
import type { DetectResult, Frame, ModelInputSpec } from './types.ts';

interface Pending {
  resolve: (r: DetectResult) => void;
  reject: (e: Error) => void;
}

type Wire = { code: string; message: string; details?: Record<string, unknown> };

export interface WorkerInfo {
  card: string;
  threads: number;
  input: number[];
  labels: string[];
  /** The card's input geometry: what a camera's ffmpeg needs to make model frames for this worker. */
  modelInput: ModelInputSpec;
}

export class DetectorWorker {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly pool: ArrayBuffer[] = [];
  private closed = false;
  private constructor(private readonly worker: Worker, readonly info: WorkerInfo) {
    worker.on('message', (m: { t: string; id: number; result?: DetectResult; error?: Wire; buf?: ArrayBuffer }) => {
      if (m.buf && this.pool.length < 2) this.pool.push(m.buf);
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.t === 'result') p.resolve(m.result!);
      else p.reject(new CodedError(m.error!.code, m.error!.message, m.error!.details));
    });
    const fail = (why: string) => {
      for (const p of this.pending.values()) p.reject(new CodedError('DETECTOR_CRASHED', `detector worker ${why}`));
      this.pending.clear();
    };
    worker.on('error', (err) => fail(`failed: ${err.message}`));
    worker.on('exit', (code) => { if (!this.closed) fail(`exited (code ${code})`); });
  }

  /** Start a worker owning a session for `card`; resolves after load + warm-up, or rejects with the load error's code. */
  static async start(card: string | ModelCard, opts: DetectorOptions = {}, timeoutMs = 60_000): Promise<DetectorWorker> {
    // Compiled (dist/): run worker.js directly. From the .ts sources (vitest, tsx): worker-entry.mjs registers tsx in the thread first.
    const entry = import.meta.url.endsWith('.ts') ? './worker-entry.mjs' : './worker.js';
    const worker = new Worker(new URL(entry, import.meta.url), { workerData: { card, opts } });
    const info = await new Promise<WorkerInfo>((resolve, reject) => {
      const onMessage = (m: { t: string; info?: WorkerInfo; error?: Wire }) => {
        if (m.t === 'ready') { done(); resolve(m.info!); }
        else if (m.t === 'fatal') { done(); void worker.terminate(); reject(new CodedError(m.error!.code, m.error!.message, m.error!.details)); }
      };
      const onError = (err: Error) => { done(); reject(new CodedError('MODEL_LOAD_FAILED', `detector worker failed to start: ${err.message}`)); };
      const onExit = (code: number) => { done(); reject(new CodedError('MODEL_LOAD_FAILED', `detector worker exited during load (code ${code})`)); };
      const timer = setTimeout(() => { done(); void worker.terminate(); reject(new CodedError('MODEL_LOAD_FAILED', `detector worker did not become ready within ${timeoutMs} ms`)); }, timeoutMs);
      function done() {
        clearTimeout(timer);
        worker.off('message', onMessage).off('error', onError).off('exit', onExit);
      }
      worker.on('message', onMessage).on('error', onError).on('exit', onExit);
    });
    return new DetectorWorker(worker, info);
  }

  /** Frames in flight in the worker. */
  get inFlight(): number {
    return this.pending.size;
  }

  get labels(): string[] {
    return this.info.labels;
  }

  get modelInput(): ModelInputSpec {
    return this.info.modelInput;
  }

  detect(frame: Frame): Promise<DetectResult> {
    if (this.closed) return Promise.reject(new CodedError('DETECTOR_CLOSED', 'detector worker is closed'));
    const m = fitsModelInput(this.info.modelInput, frame.width, frame.height, frame.model) ? frame.model : undefined;
    const src = m ? m.data : frame.data;
    const bytes = m ? m.width * m.height * 3 : frame.width * frame.height * 3;
    let buf = this.pool.pop();
    if (!buf || buf.byteLength < bytes) buf = new ArrayBuffer(bytes);
    new Uint8Array(buf, 0, bytes).set(src.subarray(0, bytes));
    const id = this.nextId++;
    const model = m ? { width: m.width, height: m.height, spec: m.spec } : undefined;
    return new Promise<DetectResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ t: 'detect', id, buf, width: frame.width, height: frame.height, model }, [buf]);
    });
  }

  /**
   * Graceful close: the worker finishes the inference in progress, releases its session and exits.
   * (worker.terminate() during session.run aborts the whole process inside onnxruntime's N-API layer.)
   */
  async close(timeoutMs = 10_000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.postMessage({ t: 'close' });
    const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), timeoutMs).unref());
    if ((await Promise.race([exited, timer])) === 'timeout') await this.worker.terminate();
    for (const p of this.pending.values()) p.reject(new CodedError('DETECTOR_CLOSED', 'detector worker closed'));
    this.pending.clear();
  }
}
