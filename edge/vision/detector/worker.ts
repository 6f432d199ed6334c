/**
 * Detector worker thread: owns one onnxruntime session, so pre-processing, inference and
 * decoding never block the main event loop (MQTT, outbox). Protocol (postMessage):
 *   in  {t:'detect', id, buf: ArrayBuffer, width, height, model?: {width, height, spec}}  (buf transferred;
 *       with `model`, buf holds the ready model frame of a width×height frame, else the frame itself)
 *   out {t:'ready', info} | {t:'fatal', error} | {t:'result', id, result, buf} (buf transferred back) | {t:'error', id, error}
 */
import { parentPort, workerData } from 'node:worker_threads';
import { CodedError, errMessage } from '../../../lib/errors.ts';
import { Detector, type DetectorOptions } from './detector.ts';
import { modelInputSpec } from './preprocess.ts';
import type { Frame, ModelInputSpec } from './types.ts';
import type { ModelCard } from '../../../models/card.ts';

export interface WorkerInit {
  card: string | ModelCard;
  opts: DetectorOptions;
}

function serialize(err: unknown): { code: string; message: string; details?: Record<string, unknown> } {
  if (err instanceof CodedError) return { code: err.code, message: err.message, details: err.details };
  return { code: 'DETECTOR_FAILED', message: errMessage(err) };
}

const port = parentPort!;
const init = workerData as WorkerInit;
let detector: Detector;
try {
  detector = await Detector.load(init.card, init.opts);
  port.postMessage({ t: 'ready', info: { card: detector.card.name, threads: detector.threads, input: detector.card.input.shape, labels: detector.labels, modelInput: modelInputSpec(detector.card) } });
} catch (err) {
  port.postMessage({ t: 'fatal', error: serialize(err) });
  process.exit(0);
}

let running: Promise<unknown> = Promise.resolve();
port.on('message', async (msg: { t: string; id: number; buf: ArrayBuffer; width: number; height: number; model?: { width: number; height: number; spec: ModelInputSpec } }) => {
  if (msg.t === 'close') {
    // finish the frame in progress, then release the native session and let the thread exit
    await running.catch(() => undefined);
    await detector.close().catch(() => undefined);
    port.close();
    return;
  }
  if (msg.t !== 'detect') return;
  let done!: () => void;
  running = new Promise<void>((r) => { done = r; });
  try {
    const m = msg.model;
    const frame: Frame = m
      ? { data: new Uint8Array(0), width: msg.width, height: msg.height, model: { ...m, data: new Uint8Array(msg.buf, 0, m.width * m.height * 3) } }
      : { data: new Uint8Array(msg.buf, 0, msg.width * msg.height * 3), width: msg.width, height: msg.height };
    const result = await detector.detect(frame);
    port.postMessage({ t: 'result', id: msg.id, result, buf: msg.buf }, [msg.buf]);
  } catch (err) {
    port.postMessage({ t: 'error', id: msg.id, error: serialize(err), buf: msg.buf }, [msg.buf]);
  } finally {
    done();
  }
});
