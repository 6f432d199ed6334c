/**
 * Pre-processing of a raw RGB frame into the model's NCHW float tensor, exactly as the
 * reference recipes in MODEL_IO.md (which use OpenCV on a BGR image):
 * - YOLOX  (`letterbox: top-left`, `resize: bilinear`): r = min(S/H, S/W); cv2.resize to
 *   (int(W*r), int(H*r)) with INTER_LINEAR; paste at top-left of an S×S canvas of 114; no mean/std.
 * - NanoDet (`letterbox: center`, `resize: area`): long side = S, INTER_AREA, pad centred with 0,
 *   x = (pixel - mean) / std per BGR channel.
 * Plain typed-array code: the resized pixel is rounded to uint8 like cv2.resize on a uint8 image,
 * then normalised, and written straight into the planar tensor (no intermediate images).
 */
import type { ModelCard } from '../../../models/card.ts';
import type { Frame } from './types.ts';

export interface Letterbox {
  /** Size of the resized image inside the canvas. */
  newW: number;
  newH: number;
  /** Offset of the resized image inside the canvas. */
  left: number;
  top: number;
  /** Factor from canvas pixels back to frame pixels (YOLOX divides by r; NanoDet uses W/newW, H/newH). */
  sx: number;
  sy: number;
}

/** Canvas geometry for a frame of width W, height H (integer truncation as the recipes do). */
export function letterboxFor(card: ModelCard, W: number, H: number): Letterbox {
  const S_H = card.input.shape[2];
  const S_W = card.input.shape[3];
  if (card.input.letterbox === 'stretch') return { newW: S_W, newH: S_H, left: 0, top: 0, sx: W / S_W, sy: H / S_H };
  if (card.input.letterbox === 'top-left') {
    // yolox_onnx.py: boxes_xyxy /= r
    const r = Math.min(S_H / H, S_W / W);
    return { newW: Math.trunc(W * r), newH: Math.trunc(H * r), left: 0, top: 0, sx: 1 / r, sy: 1 / r };
  }
  // nanodet_onnx.py _resize_image: keep ratio, long side = S, pad centred; map back with W/newW, H/newH.
  let newW = S_W, newH = S_H, left = 0, top = 0;
  if (H !== W) {
    const hw = H / W;
    if (hw > 1) { newW = Math.trunc(S_W / hw); left = Math.trunc((S_W - newW) * 0.5); }
    else { newH = Math.trunc(S_H * hw); top = Math.trunc((S_H - newH) * 0.5); }
  }
  return { newW, newH, left, top, sx: W / newW, sy: H / newH };
}

interface AxisTaps {
  /** For each destination index: first source index, tap count, weights. */
  start: Int32Array;
  count: Int32Array;
  weights: Float32Array;
  maxTaps: number;
}

/** cv2.INTER_LINEAR source coordinates: fx = (dx + 0.5) * scale - 0.5, clamped at the borders. */
function linearTaps(src: number, dst: number): AxisTaps {
  const scale = src / dst;
  const start = new Int32Array(dst);
  const count = new Int32Array(dst).fill(2);
  const weights = new Float32Array(dst * 2);
  for (let d = 0; d < dst; d++) {
    let f = (d + 0.5) * scale - 0.5;
    let s = Math.floor(f);
    f -= s;
    if (s < 0) { f = 0; s = 0; }
    if (s >= src - 1) { f = 0; s = src - 1; }
    start[d] = s;
    weights[d * 2] = 1 - f;
    weights[d * 2 + 1] = f;
    if (s + 1 >= src) count[d] = 1;
  }
  return { start, count, weights, maxTaps: 2 };
}

/** cv2.INTER_AREA for downscaling: each destination cell averages the source area it covers. */
function areaTaps(src: number, dst: number): AxisTaps {
  const scale = src / dst;
  if (scale <= 1) return linearTaps(src, dst); // upscaling: OpenCV falls back to a bilinear-like kernel
  const maxTaps = Math.ceil(scale) + 1;
  const start = new Int32Array(dst);
  const count = new Int32Array(dst);
  const weights = new Float32Array(dst * maxTaps);
  for (let d = 0; d < dst; d++) {
    const f1 = d * scale;
    const f2 = Math.min(f1 + scale, src);
    const cell = f2 - f1;
    const s1 = Math.ceil(f1);
    const s2 = Math.floor(f2);
    let n = 0;
    const first = s1 - 1e-3 > f1 ? s1 - 1 : s1;
    start[d] = first;
    if (s1 - 1e-3 > f1) weights[d * maxTaps + n++] = (s1 - f1) / cell;
    for (let s = s1; s < s2; s++) weights[d * maxTaps + n++] = 1 / cell;
    if (f2 - s2 > 1e-3 && s2 < src) weights[d * maxTaps + n++] = Math.min(1, f2 - s2) / cell;
    count[d] = n;
  }
  return { start, count, weights, maxTaps };
}

const tapCache = new Map<string, AxisTaps>();
function taps(kind: 'bilinear' | 'area', src: number, dst: number): AxisTaps {
  const key = `${kind}:${src}:${dst}`;
  let t = tapCache.get(key);
  if (!t) {
    t = kind === 'area' ? areaTaps(src, dst) : linearTaps(src, dst);
    if (tapCache.size > 64) tapCache.clear();
    tapCache.set(key, t);
  }
  return t;
}

export interface Preprocessed {
  tensor: Float32Array;
  box: Letterbox;
}

/**
 * Frame (packed RGB, 3 bytes per pixel) → NCHW float32 tensor in the card's colour order.
 * `out` may be passed to reuse a buffer of the right size.
 */
export function preprocess(card: ModelCard, frame: Frame, out?: Float32Array): Preprocessed {
  const S_H = card.input.shape[2];
  const S_W = card.input.shape[3];
  const plane = S_H * S_W;
  const tensor = out && out.length === 3 * plane ? out : new Float32Array(3 * plane);
  const { width: W, height: H, data } = frame;
  const box = letterboxFor(card, W, H);
  const { mean, std, padValue } = card.input;
  const bgr = card.input.colorOrder === 'BGR';
  // Source byte offset (0 R, 1 G, 2 B) feeding tensor channel c.
  const srcCh = bgr ? [2, 1, 0] : [0, 1, 2];
  const pad = [0, 1, 2].map((c) => (padValue - mean[c]) / std[c]);
  const inv = [0, 1, 2].map((c) => 1 / std[c]);
  for (let c = 0; c < 3; c++) tensor.fill(pad[c], c * plane, (c + 1) * plane);

  const kind = card.input.resize;
  const tx = taps(kind, W, box.newW);
  const ty = taps(kind, H, box.newH);
  // Separable filter, vertical first: vrow = Σ wy · source rows (contiguous W*3 floats), then the
  // horizontal taps of vrow go straight into the planar tensor. Tight loops; ~2-3 ms for 768×576→416.
  const rowLen = W * 3;
  const vrow = new Float32Array(rowLen);
  const { start: xs, count: xc, weights: xw, maxTaps: xm } = tx;
  const o0 = srcCh[0], o1 = srcCh[1], o2 = srcCh[2];
  const m0 = mean[0], m1 = mean[1], m2 = mean[2];
  const i0 = inv[0], i1 = inv[1], i2 = inv[2];
  for (let dy = 0; dy < box.newH; dy++) {
    const ys = ty.start[dy], yn = ty.count[dy], yo = dy * ty.maxTaps;
    const off = ys * rowLen;
    // unrolled for the common 1/2/3-tap cases (bilinear: 2, area at 1.5–2× downscale: 2–3)
    if (yn === 1) {
      for (let i = 0; i < rowLen; i++) vrow[i] = data[off + i];
    } else if (yn === 2) {
      const w0 = ty.weights[yo], w1 = ty.weights[yo + 1], off1 = off + rowLen;
      for (let i = 0; i < rowLen; i++) vrow[i] = w0 * data[off + i] + w1 * data[off1 + i];
    } else if (yn === 3) {
      const w0 = ty.weights[yo], w1 = ty.weights[yo + 1], w2 = ty.weights[yo + 2], off1 = off + rowLen, off2 = off1 + rowLen;
      for (let i = 0; i < rowLen; i++) vrow[i] = w0 * data[off + i] + w1 * data[off1 + i] + w2 * data[off2 + i];
    } else {
      vrow.fill(0);
      for (let k = 0; k < yn; k++) {
        const wk = ty.weights[yo + k], ok = off + k * rowLen;
        for (let i = 0; i < rowLen; i++) vrow[i] += wk * data[ok + i];
      }
    }
    const base = (dy + box.top) * S_W + box.left;
    for (let dx = 0; dx < box.newW; dx++) {
      const n = xc[dx], wo = dx * xm;
      const p = xs[dx] * 3;
      let a: number, b: number, d: number;
      if (n === 2) {
        const w0 = xw[wo], w1 = xw[wo + 1];
        a = w0 * vrow[p + o0] + w1 * vrow[p + 3 + o0];
        b = w0 * vrow[p + o1] + w1 * vrow[p + 3 + o1];
        d = w0 * vrow[p + o2] + w1 * vrow[p + 3 + o2];
      } else {
        a = 0; b = 0; d = 0;
        for (let j = 0, q = p; j < n; j++, q += 3) {
          const w = xw[wo + j];
          a += w * vrow[q + o0]; b += w * vrow[q + o1]; d += w * vrow[q + o2];
        }
      }
      // round like cv2.resize on uint8 (weights sum to 1, so no saturation needed), then normalise
      const t = base + dx;
      tensor[t] = (Math.round(a) - m0) * i0;
      tensor[plane + t] = (Math.round(b) - m1) * i1;
      tensor[2 * plane + t] = (Math.round(d) - m2) * i2;
    }
  }
  return { tensor, box };
}
