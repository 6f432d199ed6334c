/**
 * In-thread detector core: one onnxruntime-node session created from a model card.
 * Used inside the detector worker (worker.ts) and directly by the CLI and the bench.
 */
import type { InferenceSession } from 'onnxruntime-node';
import { CodedError, errMessage } from '../../../lib/errors.ts';
import { loadCard, resolveModel, type ModelCard, type ResolveOptions } from '../../../models/card.ts';
import { decodeNanodet } from './decode-nanodet.ts';
import { decodeYolox } from './decode-yolox.ts';
import { nms } from './nms.ts';
import { letterboxFor, preprocess } from './preprocess.ts';
import type { Candidate, Detection, DetectResult, Frame } from './types.ts';

export interface DetectorOptions extends ResolveOptions {
  /** intra-op threads of the session (default 1: one core per camera pipeline on a 2-core gateway). */
  threads?: number;
  /** Override the card's score threshold (e.g. lower for ByteTrack's second stage). */
  scoreThreshold?: number;
  /** Skip the warm-up run (tests of load errors only). */
  skipWarmup?: boolean;
}

export class Detector {
  private tensorBuf: Float32Array | undefined;
  private constructor(
    readonly card: ModelCard,
    readonly labels: string[],
    readonly session: InferenceSession,
    private readonly ort: typeof import('onnxruntime-node'),
    readonly scoreThreshold: number,
    readonly threads: number,
  ) {}

  /** `cardRef`: a card name, a card file path, or a card object. */
  static async load(cardRef: string | ModelCard, opts: DetectorOptions = {}): Promise<Detector> {
    const card = typeof cardRef === 'string' ? loadCard(cardRef) : cardRef;
    const { modelPath, labels } = resolveModel(card, opts);
    const ort = await import('onnxruntime-node');
    const threads = opts.threads ?? 1;
    let session: InferenceSession;
    try {
      session = await ort.InferenceSession.create(modelPath, {
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        logSeverityLevel: 3, // the NanoDet export warns "Initializer ... appears in graph inputs" (harmless)
      });
    } catch (err) {
      throw new CodedError('MODEL_LOAD_FAILED', `cannot load model ${modelPath} (card ${card.name}): ${errMessage(err)}; the file is not a valid ONNX model`, { card: card.name, file: modelPath });
    }
    Detector.checkIo(card, session, modelPath);
    const det = new Detector(card, labels, session, ort, opts.scoreThreshold ?? card.thresholds.score, threads);
    if (!opts.skipWarmup) {
      const [, , h, w] = card.input.shape;
      await det.detect({ data: new Uint8Array(w * h * 3).fill(114), width: w, height: h });
    }
    return det;
  }

  /** The card must describe the graph: input name + NCHW shape, output names. */
  private static checkIo(card: ModelCard, session: InferenceSession, file: string): void {
    const problems: string[] = [];
    const idx = session.inputNames.indexOf(card.input.name);
    if (idx < 0) problems.push(`input "${card.input.name}" not in model inputs [${session.inputNames.join(', ')}]`);
    else {
      const meta = session.inputMetadata[idx];
      if (meta?.isTensor) {
        const shape = meta.shape;
        const fixed = shape.map((d) => (typeof d === 'number' && d > 0 ? d : undefined));
        const bad = card.input.shape.some((d, i) => fixed[i] !== undefined && fixed[i] !== d) || shape.length !== 4;
        if (bad) problems.push(`input "${card.input.name}" has shape [${shape.join(',')}], card says [${card.input.shape.join(',')}]`);
      }
    }
    for (const o of card.decoder.outputs) if (!session.outputNames.includes(o)) problems.push(`output "${o}" not in model outputs [${session.outputNames.join(', ')}]`);
    if (problems.length) {
      void session.release().catch(() => undefined);
      throw new CodedError('MODEL_INPUT_MISMATCH', `model ${file} does not match card ${card.name}: ${problems.join('; ')}`, { card: card.name, problems });
    }
  }

  /**
   * Run one frame: pre-process, session.run, decode, NMS, map boxes back to frame pixels. With a
   * fitting `frame.model` (made by ffmpeg) nothing is resampled here; boxes are in `frame`'s pixels either way.
   */
  async detect(frame: Frame): Promise<DetectResult> {
    const t0 = performance.now();
    const { tensor, resampled } = preprocess(this.card, frame, this.tensorBuf);
    this.tensorBuf = tensor;
    const t1 = performance.now();
    const input = new this.ort.Tensor('float32', tensor, this.card.input.shape as unknown as number[]);
    const res = await this.session.run({ [this.card.input.name]: input }, this.card.decoder.outputs);
    const t2 = performance.now();
    const outs: Record<string, Float32Array> = {};
    for (const name of this.card.decoder.outputs) outs[name] = res[name].data as Float32Array;
    const detections = this.postprocess(outs, frame.width, frame.height);
    for (const t of Object.values(res)) t.dispose?.();
    return { detections, timings: { preMs: t1 - t0, inferMs: t2 - t1, postMs: performance.now() - t2 }, resampled };
  }

  postprocess(outs: Record<string, Float32Array>, W: number, H: number): Detection[] {
    const n = this.labels.length;
    const th = this.scoreThreshold;
    const cands: Candidate[] = this.card.decoder.family === 'yolox'
      ? decodeYolox(outs[this.card.decoder.outputs[0]], this.card, n, th)
      : decodeNanodet(outs, this.card, n, th);
    const kept = nms(cands, this.card.thresholds.nms, this.card.thresholds.classAgnostic, this.card.thresholds.maxDetections);
    const lb = letterboxFor(this.card, W, H);
    const { sx, sy } = lb;
    const clip = (v: number, m: number) => Math.min(Math.max(v, 0), m);
    return kept.map((c) => ({
      cls: c.cls,
      label: this.labels[c.cls] ?? String(c.cls),
      score: c.score,
      // back to original pixels: (x - left) * sx, clipped to the frame
      box: [clip((c.x1 - lb.left) * sx, W), clip((c.y1 - lb.top) * sy, H), clip((c.x2 - lb.left) * sx, W), clip((c.y2 - lb.top) * sy, H)],
    }));
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
