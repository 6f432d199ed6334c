import type { Candidate } from './types.ts';

function candIoU(a: Candidate, b: Candidate): number {
  const ix = Math.max(0, Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1));
  const iy = Math.max(0, Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1));
  const inter = ix * iy;
  const union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Greedy NMS (as cv2.dnn.NMSBoxes / yolox `nms`): highest score first, drop every later box whose
 * IoU with a kept box exceeds `iouThreshold`. `classAgnostic` false: boxes only suppress their own class.
 */
export function nms(cands: Candidate[], iouThreshold: number, classAgnostic: boolean, maxKeep = Infinity): Candidate[] {
  const sorted = [...cands].sort((a, b) => b.score - a.score);
  const kept: Candidate[] = [];
  for (const c of sorted) {
    let ok = true;
    for (const k of kept) {
      if (!classAgnostic && k.cls !== c.cls) continue;
      if (candIoU(k, c) > iouThreshold) { ok = false; break; }
    }
    if (ok) {
      kept.push(c);
      if (kept.length >= maxKeep) break;
    }
  }
  return kept;
}
