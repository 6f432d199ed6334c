/**
 * NanoDet-m GFL head decoding (MODEL_IO.md "NanoDet-m", nanodet_onnx.py `_get_bboxes_single`):
 * per stride: cls [N,C] (sigmoid applied), dis [N,4*(regMax+1)];
 * softmax over the regMax+1 bins of each side, expectation with [0..regMax], × stride → (l,t,r,b);
 * grid centre cx = gx*s + 0.5*(s-1), cy = gy*s + 0.5*(s-1); box = (cx-l, cy-t, cx+r, cy+b) clipped to S.
 * The repo keeps the top-K (1000) per level by max class score, then thresholds in NMSBoxes; thresholding
 * first and then keeping the top-K gives the same set, and skips the softmax of hopeless anchors.
 */
import type { ModelCard } from '../../../models/card.ts';
import type { Candidate } from './types.ts';

export function decodeNanodet(outputs: Record<string, Float32Array>, card: ModelCard, numClasses: number, scoreThreshold: number): Candidate[] {
  const S_H = card.input.shape[2];
  const S_W = card.input.shape[3];
  const regMax = card.decoder.regMax ?? 7;
  const bins = regMax + 1;
  const topK = card.decoder.topKPerLevel ?? Infinity;
  const agnostic = card.thresholds.classAgnostic;
  const strides = card.decoder.strides;
  const names = card.decoder.outputs;
  const all: Candidate[] = [];
  const dist = new Float64Array(4);
  strides.forEach((s, li) => {
    const cls = outputs[names[li]];
    const dis = outputs[names[strides.length + li]];
    const gw = S_W / s, n = (S_H / s) * gw;
    if (cls.length !== n * numClasses || dis.length !== n * 4 * bins) throw new Error(`nanodet level stride ${s}: unexpected output sizes ${cls.length}/${dis.length}`);
    const level: Array<{ i: number; best: number; bestCls: number }> = [];
    for (let i = 0; i < n; i++) {
      let best = 0, bestCls = 0;
      for (let c = 0; c < numClasses; c++) {
        const v = cls[i * numClasses + c];
        if (v > best) { best = v; bestCls = c; }
      }
      if (best > scoreThreshold) level.push({ i, best, bestCls });
    }
    if (level.length > topK) { level.sort((a, b) => b.best - a.best); level.length = topK; }
    for (const { i, best, bestCls } of level) {
      for (let side = 0; side < 4; side++) {
        const o = (i * 4 + side) * bins;
        let max = -Infinity;
        for (let b = 0; b < bins; b++) max = Math.max(max, dis[o + b]);
        let sum = 0, acc = 0;
        for (let b = 0; b < bins; b++) { const e = Math.exp(dis[o + b] - max); sum += e; acc += e * b; }
        dist[side] = (acc / sum) * s;
      }
      const gx = i % gw, gy = Math.floor(i / gw);
      const cx = gx * s + 0.5 * (s - 1), cy = gy * s + 0.5 * (s - 1);
      const box = {
        x1: Math.min(Math.max(cx - dist[0], 0), S_W), y1: Math.min(Math.max(cy - dist[1], 0), S_H),
        x2: Math.min(Math.max(cx + dist[2], 0), S_W), y2: Math.min(Math.max(cy + dist[3], 0), S_H),
      };
      if (agnostic) all.push({ cls: bestCls, score: best, ...box });
      else for (let c = 0; c < numClasses; c++) {
        const v = cls[i * numClasses + c];
        if (v > scoreThreshold) all.push({ cls: c, score: v, ...box });
      }
    }
  });
  return all;
}
