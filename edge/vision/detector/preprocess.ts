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
import type { Frame, ModelFrame, ModelInputSpec } from './types.ts';

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

/** The input geometry of a card (what a camera needs to produce model frames for it). */
export function modelInputSpec(card: ModelCard): ModelInputSpec {
  return { width: card.input.shape[3], height: card.input.shape[2], letterbox: card.input.letterbox, resize: card.input.resize };
}

export function sameSpec(a: ModelInputSpec, b: ModelInputSpec): boolean {
  return a.width === b.width && a.height === b.height && a.letterbox === b.letterbox && a.resize === b.resize;
}

/** Whether `m` is the letterboxed image of a W×H frame for `spec` (right geometry, right size). */
export function fitsModelInput(spec: ModelInputSpec, W: number, H: number, m: ModelFrame | undefined): m is ModelFrame {
  if (!m || !sameSpec(spec, m.spec)) return false;
  const box = letterboxForSpec(spec, W, H);
  return m.width === box.newW && m.height === box.newH && m.data.length >= m.width * m.height * 3;
}

/** Canvas geometry for a frame of width W, height H (integer truncation as the recipes do). */
export function letterboxFor(card: ModelCard, W: number, H: number): Letterbox {
  return letterboxForSpec(modelInputSpec(card), W, H);
}

export function letterboxForSpec(spec: ModelInputSpec, W: number, H: number): Letterbox {
  const S_H = spec.height;
  const S_W = spec.width;
  if (spec.letterbox === 'stretch') return { newW: S_W, newH: S_H, left: 0, top: 0, sx: W / S_W, sy: H / S_H };
  if (spec.letterbox === 'top-left') {
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
  /** Exactly `maxTaps` taps per destination index: source index (clamped, always valid) and weight (0 = unused). */
  idx: Int32Array;
  weights: Float64Array;
  maxTaps: number;
}

function packTaps(dst: number, maxTaps: number, src: number, fill: (d: number, put: (index: number, w: number) => void) => void): AxisTaps {
  const idx = new Int32Array(dst * maxTaps);
  const weights = new Float64Array(dst * maxTaps);
  for (let d = 0; d < dst; d++) {
    let n = 0;
    fill(d, (index, w) => { idx[d * maxTaps + n] = Math.min(Math.max(index, 0), src - 1); weights[d * maxTaps + n] = w; n++; });
    for (; n < maxTaps; n++) idx[d * maxTaps + n] = idx[d * maxTaps]; // weight 0, valid index
  }
  return { idx, weights, maxTaps };
}

/** cv2.INTER_LINEAR source coordinates: fx = (dx + 0.5) * scale - 0.5, clamped at the borders. */
function linearTaps(src: number, dst: number): AxisTaps {
  const scale = src / dst;
  return packTaps(dst, 2, src, (d, put) => {
    let f = (d + 0.5) * scale - 0.5;
    let s = Math.floor(f);
    f -= s;
    if (s < 0) { f = 0; s = 0; }
    if (s >= src - 1) { f = 0; s = src - 1; }
    put(s, 1 - f);
    put(s + 1, f);
  });
}

/** cv2.INTER_AREA for downscaling: each destination cell averages the source area it covers. */
function areaTaps(src: number, dst: number): AxisTaps {
  const scale = src / dst;
  if (scale <= 1) return linearTaps(src, dst); // upscaling: OpenCV falls back to a bilinear-like kernel
  return packTaps(dst, Math.ceil(scale) + 1, src, (d, put) => {
    const f1 = d * scale;
    const f2 = Math.min(f1 + scale, src);
    const cell = f2 - f1;
    const s1 = Math.ceil(f1);
    const s2 = Math.floor(f2);
    if (s1 - 1e-3 > f1) put(s1 - 1, (s1 - f1) / cell);
    for (let x = s1; x < s2; x++) put(x, 1 / cell);
    if (f2 - s2 > 1e-3 && s2 < src) put(s2, Math.min(1, f2 - s2) / cell);
  });
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
  /** false: the frame (or its ready `model` frame) already had the letterbox size, nothing was resampled. */
  resampled: boolean;
}

/**
 * Frame (packed RGB, 3 bytes per pixel) → NCHW float32 tensor in the card's colour order.
 * A `frame.model` that fits the card (fitsModelInput) is used as the resized image: only
 * normalising and de-interleaving remain; `frame.data` is then not read.
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
  // pad only what the resized image does not cover (the rest is written below); a reused tensor
  // that already has this padding (same canvas, same pad values) keeps it
  const padKey = `${box.newW}x${box.newH}+${box.left}+${box.top}:${pad.join(",")}`;
  if (padded.get(tensor) !== padKey) for (let c = 0; c < 3; c++) {
    const o = c * plane;
    tensor.fill(pad[c], o, o + box.top * S_W);
    tensor.fill(pad[c], o + (box.top + box.newH) * S_W, o + plane);
    if (box.newW < S_W) {
      for (let y = box.top; y < box.top + box.newH; y++) {
        tensor.fill(pad[c], o + y * S_W, o + y * S_W + box.left);
        tensor.fill(pad[c], o + y * S_W + box.left + box.newW, o + (y + 1) * S_W);
      }
    }
  }
  padded.set(tensor, padKey);

  const m = frame.model;
  if (fitsModelInput(modelInputSpec(card), W, H, m)) {
    // ffmpeg made the model frame in the same decode (camera/ffmpeg-args.ts): normalise and de-interleave only.
    copyPlanes(tensor, m.data, m.width, m.height, box.top * S_W + box.left, S_W, plane, srcCh, mean, inv);
    return { tensor, box, resampled: false };
  }
  if (W === box.newW && H === box.newH) {
    // ffmpeg already scaled the frame to the model's size: no resampling, just normalise and
    // de-interleave (bit-identical to the filter path, whose weights are then 1 and 0).
    copyPlanes(tensor, data, W, H, box.top * S_W + box.left, S_W, plane, srcCh, mean, inv);
    return { tensor, box, resampled: false };
  }
  if (data.length < W * H * 3) throw new RangeError(`frame data holds ${data.length} bytes, a ${W}×${H} RGB frame needs ${W * H * 3} (and its model frame does not fit the card)`);
  if (card.input.resize === 'bilinear') {
    resizeLinear8u(tensor, data, W, H, box, S_W, plane, srcCh, new Float64Array([mean[0], mean[1], mean[2], inv[0], inv[1], inv[2]]));
    return { tensor, box, resampled: true };
  }
  const tx = taps('area', W, box.newW);
  const ty = taps('area', H, box.newH);
  // Separable filter, vertical first: vrow = Σ wy · source rows (contiguous W*3 floats), then the
  // horizontal taps of vrow go straight into the planar tensor.
  const rowLen = W * 3;
  const vrow = new Float64Array(rowLen);
  const norm = new Float64Array([mean[0], mean[1], mean[2], inv[0], inv[1], inv[2]]);
  for (let dy = 0; dy < box.newH; dy++) {
    vpass(vrow, data, ty, dy, rowLen);
    hpass(tensor, vrow, tx, (dy + box.top) * S_W + box.left, plane, box.newW, srcCh[0], srcCh[1], srcCh[2], norm);
  }
  return { tensor, box, resampled: true };
}

/**
 * cv2.resize INTER_LINEAR of a uint8 image, in OpenCV's own fixed-point arithmetic
 * (imgproc/src/resize.cpp, resizeGeneric_ with HResizeLinear<uchar, int, short, 2048> and
 * VResizeLinearVec_32s8u): per axis the source position f = float((d + 0.5) · src/dst − 0.5),
 * s = floor(f), weights round((1 − (f − s)) · 2048) and round((f − s) · 2048) (border: s clamped,
 * weight 1 on it); the horizontal pass gives int rows Σ a · p (exact), the vertical pass
 * ((((r0 >> 4) · b0) >> 16) + (((r1 >> 4) · b1) >> 16) + 2) >> 2 like OpenCV's SIMD path. Each
 * source row is resized horizontally once (two rows kept), and the vertical result is normalised
 * straight into the planar tensor: no float resize, no intermediate image.
 */
function resizeLinear8u(tensor: Float32Array, data: Uint8Array, W: number, H: number, box: Letterbox, S_W: number, plane: number, srcCh: number[], norm: Float64Array): void {
  const t = linearTables(W, H, box.newW, box.newH);
  const n = box.newW * 3;
  let rowA = t.rowA, rowB = t.rowB, heldA = -1, heldB = -1;
  for (let dy = 0; dy < box.newH; dy++) {
    const y0 = t.y0[dy], y1 = t.y1[dy];
    // rows y0 and y1 (y1 ≥ y0, both non-decreasing in dy): reuse what the last row computed
    if (heldA !== y0) {
      if (heldB === y0) { const r = rowA; rowA = rowB; rowB = r; heldA = y0; heldB = -1; }
      else { hresize(rowA, data, y0 * W * 3, t.x0, t.ax, t.xmax, box.newW); heldA = y0; }
    }
    if (heldB !== y1 && y1 !== y0) { hresize(rowB, data, y1 * W * 3, t.x0, t.ax, t.xmax, box.newW); heldB = y1; }
    const r1 = y1 === y0 ? rowA : rowB;
    vresize(tensor, rowA, r1, t.by[2 * dy], t.by[2 * dy + 1], (dy + box.top) * S_W + box.left, plane, n, srcCh[0], srcCh[1], srcCh[2], norm);
  }
}

interface LinearTables {
  /** Byte offset of the first source pixel of each destination column, and the int weights (a0, a1) of it and the next. */
  x0: Int32Array; ax: Int32Array;
  /** Columns from here on read only the last pixel (right border). */
  xmax: number;
  /** Source rows of each destination row, and their int weights (b0, b1). */
  y0: Int32Array; y1: Int32Array; by: Int32Array;
  /** Horizontal rows (newW × 3 ints), reused. */
  rowA: Int32Array; rowB: Int32Array;
}

/** OpenCV's saturate_cast<short>(float): round half to even. */
function roundEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * One axis of cv2 INTER_LINEAR: source indices and 11-bit weights per destination index. Across
 * (x), a position outside the image moves onto its border pixel with weight 1; down (y), OpenCV
 * keeps the weights and clamps the two rows instead (`clampWeights` false).
 */
function linearAxis(src: number, dst: number, clampWeights: boolean): { i0: Int32Array; i1: Int32Array; w: Int32Array } {
  const scale = 1 / (dst / src); // OpenCV: scale_x = 1. / inv_scale_x
  const i0 = new Int32Array(dst), i1 = new Int32Array(dst), w = new Int32Array(2 * dst);
  const clamp = (i: number) => Math.min(Math.max(i, 0), src - 1);
  for (let d = 0; d < dst; d++) {
    let f = Math.fround((d + 0.5) * scale - 0.5);
    let s = Math.floor(f);
    f = Math.fround(f - s);
    if (clampWeights && s < 0) { f = 0; s = 0; }
    if (clampWeights && s >= src - 1) { f = 0; s = src - 1; }
    i0[d] = clamp(s);
    i1[d] = clamp(s + 1);
    w[2 * d] = roundEven(Math.fround(1 - f) * 2048);
    w[2 * d + 1] = roundEven(f * 2048);
  }
  return { i0, i1, w };
}

/** First destination index whose two source indices are the same (the right border), or the length. */
function borderFrom(i0: Int32Array, i1: Int32Array): number {
  let d = i0.length;
  while (d > 0 && i1[d - 1] === i0[d - 1]) d--;
  return d;
}

const linearCache = new Map<string, LinearTables>();
function linearTables(W: number, H: number, newW: number, newH: number): LinearTables {
  const key = `${W}x${H}>${newW}x${newH}`;
  let t = linearCache.get(key);
  if (!t) {
    const x = linearAxis(W, newW, true), y = linearAxis(H, newH, false);
    t = {
      x0: x.i0.map((v) => v * 3), ax: x.w, xmax: borderFrom(x.i0, x.i1),
      y0: y.i0, y1: y.i1, by: y.w,
      rowA: new Int32Array(newW * 3), rowB: new Int32Array(newW * 3),
    };
    if (linearCache.size > 16) linearCache.clear();
    linearCache.set(key, t);
  }
  return t;
}

/**
 * One source row (at byte `r`) → newW × 3 ints Σ a · p (HResizeLinear: exact, no rounding). Columns
 * from `xmax` on sit on the right border (one pixel, weight 2048); before it the second pixel is the
 * one after the first.
 */
function hresize(out: Int32Array, data: Uint8Array, r: number, x0: Int32Array, ax: Int32Array, xmax: number, newW: number): void {
  let dx = 0;
  for (; dx < xmax; dx++) {
    const p = r + x0[dx], a0 = ax[2 * dx], a1 = ax[2 * dx + 1], j = dx * 3;
    out[j] = data[p] * a0 + data[p + 3] * a1;
    out[j + 1] = data[p + 1] * a0 + data[p + 4] * a1;
    out[j + 2] = data[p + 2] * a0 + data[p + 5] * a1;
  }
  for (; dx < newW; dx++) {
    const p = r + x0[dx], j = dx * 3;
    out[j] = data[p] * 2048;
    out[j + 1] = data[p + 1] * 2048;
    out[j + 2] = data[p + 2] * 2048;
  }
}

/** Two horizontal rows → uint8 (OpenCV's VResizeLinearVec_32s8u rounding) → normalised → three planes. */
function vresize(tensor: Float32Array, r0: Int32Array, r1: Int32Array, b0: number, b1: number, base: number, plane: number, n: number, o0: number, o1: number, o2: number, norm: Float64Array): void {
  const p1 = plane, p2 = 2 * plane;
  const m0 = norm[0], m1 = norm[1], m2 = norm[2], i0 = norm[3], i1 = norm[4], i2 = norm[5];
  for (let j = 0, t = base; j < n; j += 3, t++) {
    const v0 = (((r0[j + o0] >> 4) * b0 >> 16) + ((r1[j + o0] >> 4) * b1 >> 16) + 2) >> 2;
    const v1 = (((r0[j + o1] >> 4) * b0 >> 16) + ((r1[j + o1] >> 4) * b1 >> 16) + 2) >> 2;
    const v2 = (((r0[j + o2] >> 4) * b0 >> 16) + ((r1[j + o2] >> 4) * b1 >> 16) + 2) >> 2;
    tensor[t] = ((v0 > 255 ? 255 : v0) - m0) * i0;
    tensor[p1 + t] = ((v1 > 255 ? 255 : v1) - m1) * i1;
    tensor[p2 + t] = ((v2 > 255 ? 255 : v2) - m2) * i2;
  }
}

/** Tensors passed back in as `out`, and the padding they hold (only the image inside it is rewritten). */
const padded = new WeakMap<Float32Array, string>();

/**
 * Packed RGB → normalised planes: (v − mean) · (1 / std) per channel (arithmetic, not a table:
 * ~25 % less CPU in this loop, and the same float32 values).
 */
function copyPlanes(tensor: Float32Array, data: Uint8Array, W: number, H: number, base: number, stride: number, plane: number, srcCh: number[], mean: number[], inv: number[]): void {
  const s0 = srcCh[0], s1 = srcCh[1], s2 = srcCh[2];
  const m0 = mean[0], m1 = mean[1], m2 = mean[2], i0 = inv[0], i1 = inv[1], i2 = inv[2];
  const p1 = plane, p2 = 2 * plane;
  for (let y = 0; y < H; y++) {
    let q = y * W * 3;
    const t0 = base + y * stride;
    for (let x = 0; x < W; x++, q += 3) {
      const t = t0 + x;
      tensor[t] = (data[q + s0] - m0) * i0;
      tensor[p1 + t] = (data[q + s1] - m1) * i1;
      tensor[p2 + t] = (data[q + s2] - m2) * i2;
    }
  }
}

// Small monomorphic hot loops (V8 optimises these far better than one large function); the tap
// count is fixed per axis (zero weights pad), so the loops have no data-dependent branches.

/** vrow = Σ wy · source rows for destination row dy. */
function vpass(vrow: Float64Array, data: Uint8Array, ty: AxisTaps, dy: number, rowLen: number): void {
  const m = ty.maxTaps, o = dy * m, idx = ty.idx, w = ty.weights;
  if (m === 2) {
    const w0 = w[o], w1 = w[o + 1], r0 = idx[o] * rowLen, r1 = idx[o + 1] * rowLen;
    if (w1 === 0) for (let i = 0; i < rowLen; i++) vrow[i] = data[r0 + i];
    else for (let i = 0; i < rowLen; i++) vrow[i] = w0 * data[r0 + i] + w1 * data[r1 + i];
  } else if (m === 3) {
    const w0 = w[o], w1 = w[o + 1], w2 = w[o + 2], r0 = idx[o] * rowLen, r1 = idx[o + 1] * rowLen, r2 = idx[o + 2] * rowLen;
    for (let i = 0; i < rowLen; i++) vrow[i] = w0 * data[r0 + i] + w1 * data[r1 + i] + w2 * data[r2 + i];
  } else {
    vrow.fill(0);
    for (let k = 0; k < m; k++) {
      const wk = w[o + k], rk = idx[o + k] * rowLen;
      if (wk !== 0) for (let i = 0; i < rowLen; i++) vrow[i] += wk * data[rk + i];
    }
  }
}

/** Horizontal taps of vrow → rounded (like cv2.resize on uint8) → normalised → three planes. */
function hpass(tensor: Float32Array, vrow: Float64Array, tx: AxisTaps, base: number, plane: number, newW: number, o0: number, o1: number, o2: number, norm: Float64Array): void {
  const idx = tx.idx, xw = tx.weights, m = tx.maxTaps;
  const m0 = norm[0], m1 = norm[1], m2 = norm[2], i0 = norm[3], i1 = norm[4], i2 = norm[5];
  const p1 = plane, p2 = 2 * plane;
  if (m === 2) {
    for (let dx = 0; dx < newW; dx++) {
      const o = dx * 2, w0 = xw[o], w1 = xw[o + 1], q0 = idx[o] * 3, q1 = idx[o + 1] * 3;
      const t = base + dx;
      // weights sum to 1, so no saturation is needed after rounding
      tensor[t] = (((w0 * vrow[q0 + o0] + w1 * vrow[q1 + o0] + 0.5) | 0) - m0) * i0;
      tensor[p1 + t] = (((w0 * vrow[q0 + o1] + w1 * vrow[q1 + o1] + 0.5) | 0) - m1) * i1;
      tensor[p2 + t] = (((w0 * vrow[q0 + o2] + w1 * vrow[q1 + o2] + 0.5) | 0) - m2) * i2;
    }
    return;
  }
  for (let dx = 0; dx < newW; dx++) {
    let a = 0, b = 0, d = 0;
    for (let j = dx * m, e = j + m; j < e; j++) {
      const w = xw[j], q = idx[j] * 3;
      a += w * vrow[q + o0]; b += w * vrow[q + o1]; d += w * vrow[q + o2];
    }
    const t = base + dx;
    tensor[t] = (Math.round(a) - m0) * i0;
    tensor[p1 + t] = (Math.round(b) - m1) * i1;
    tensor[p2 + t] = (Math.round(d) - m2) * i2;
  }
}
