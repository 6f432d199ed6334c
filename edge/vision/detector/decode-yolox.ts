/**
 * YOLOX head decoding (MODEL_IO.md "YOLOX-nano", yolox_onnx.py `_postprocess`):
 * rows = Σ (S/stride)² over strides 8,16,32, row-major y then x per level;
 * row = [dx, dy, logw, logh, obj, cls...] (obj and cls already sigmoid-ed);
 * cx = (dx+gx)*s, cy = (dy+gy)*s, w = exp(logw)*s, h = exp(logh)*s; score = obj * cls.
 */
import type { ModelCard } from '../../../models/card.ts';
import type { Candidate } from './types.ts';

export function decodeYolox(out: Float32Array, card: ModelCard, numClasses: number, scoreThreshold: number): Candidate[] {
  const S_H = card.input.shape[2];
  const S_W = card.input.shape[3];
  const rowLen = 5 + numClasses;
  const agnostic = card.thresholds.classAgnostic;
  const cands: Candidate[] = [];
  let row = 0;
  for (const s of card.decoder.strides) {
    const gh = S_H / s, gw = S_W / s;
    for (let gy = 0; gy < gh; gy++) {
      for (let gx = 0; gx < gw; gx++, row++) {
        const o = row * rowLen;
        const obj = out[o + 4];
        if (obj < scoreThreshold) continue; // score = obj*cls <= obj: cannot pass
        const emit = (cls: number, score: number) => {
          const cx = (out[o] + gx) * s, cy = (out[o + 1] + gy) * s;
          const w = Math.exp(out[o + 2]) * s, h = Math.exp(out[o + 3]) * s;
          cands.push({ cls, score, x1: cx - w / 2, y1: cy - h / 2, x2: cx + w / 2, y2: cy + h / 2 });
        };
        if (agnostic) {
          // multiclass_nms_class_agnostic: class = argmax(obj*cls), keep if > threshold
          let best = 0, bestCls = 0;
          for (let c = 0; c < numClasses; c++) {
            const v = out[o + 5 + c];
            if (v > best) { best = v; bestCls = c; }
          }
          const score = obj * best;
          if (score > scoreThreshold) emit(bestCls, score);
        } else {
          for (let c = 0; c < numClasses; c++) {
            const score = obj * out[o + 5 + c];
            if (score > scoreThreshold) emit(c, score);
          }
        }
      }
    }
  }
  if (row * rowLen !== out.length) throw new Error(`yolox output has ${out.length / rowLen} rows, strides imply ${row}`);
  return cands;
}
