/**
 * Golden self-test of a model card: run the card's named image and check that every expected
 * detection is found (same class, IoU ≥ minIoU). Used at deploy time and by the tests.
 */
import { dataFile } from '../../../lib/data-dir.ts';
import type { ModelCard } from '../../../models/card.ts';
import { readImageRgb } from './image.ts';
import { iou, type Detection, type DetectResult, type Frame } from './types.ts';

export interface SelfTestReport {
  ok: boolean;
  card: string;
  image: string;
  matches: Array<{ class: string; iou: number; score?: number }>;
  detections: Detection[];
  inferMs: number;
}

export async function runSelfTest(card: ModelCard, detect: (f: Frame) => Promise<DetectResult>): Promise<SelfTestReport> {
  const frame = await readImageRgb(dataFile(card.selfTest.image));
  const { detections, timings } = await detect(frame);
  const used = new Set<number>();
  const matches = card.selfTest.expect.map((e) => {
    let best = -1, bestIoU = 0;
    detections.forEach((d, i) => {
      if (d.label !== e.class || used.has(i)) return;
      const v = iou(d.box, e.box);
      if (v > bestIoU) { bestIoU = v; best = i; }
    });
    if (best >= 0) used.add(best);
    return { class: e.class, iou: bestIoU, score: best >= 0 ? detections[best].score : undefined };
  });
  return { ok: matches.every((m) => m.iou >= card.selfTest.minIoU), card: card.name, image: card.selfTest.image, matches, detections, inferMs: timings.inferMs };
}
