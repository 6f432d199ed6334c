/**
 * Self-test of a freshly loaded model before it may serve frames: the card's golden input
 * (shipped in the bundle) must give every expected (class, box) with IoU ≥ minIoU, and the
 * best of `runs` timed runs must fit the card's latency budget (× factor).
 */
import path from 'node:path';
import { CodedError } from '../../lib/errors.ts';
import type { ModelCard } from '../../models/card.ts';
import { iou, type Detection } from '../vision/detector/types.ts';
import type { ModelRuntime } from './slot.ts';

export interface SelfTestOptions {
  runs?: number;
  latencyFactor?: number;
}

export interface SelfTestReport {
  matched: Array<{ class: string; iou: number }>;
  bestMs: number;
  budgetMs: number;
}

export async function selfTest(rt: ModelRuntime, card: ModelCard, imageFile: string, o: SelfTestOptions = {}): Promise<SelfTestReport> {
  const { readImageRgb } = await import('../vision/detector/image.ts');
  const frame = await readImageRgb(imageFile);
  const runs = o.runs ?? 3;
  let best = Infinity;
  let dets: Detection[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = await rt.detect(frame);
    best = Math.min(best, performance.now() - t0);
    dets = r.detections;
  }
  const matched: SelfTestReport['matched'] = [];
  const problems: string[] = [];
  for (const e of card.selfTest.expect) {
    const bestIoU = Math.max(0, ...dets.filter((d) => d.label === e.class).map((d) => iou(d.box, e.box)));
    matched.push({ class: e.class, iou: Number(bestIoU.toFixed(3)) });
    if (bestIoU < card.selfTest.minIoU) problems.push(`expected ${e.class} at [${e.box.join(',')}], best IoU ${bestIoU.toFixed(2)} < ${card.selfTest.minIoU}`);
  }
  const budgetMs = card.latencyBudgetMs * (o.latencyFactor ?? 1);
  if (best > budgetMs) problems.push(`best of ${runs} runs took ${best.toFixed(1)} ms > budget ${budgetMs} ms`);
  if (problems.length) {
    throw new CodedError('MODEL_SELFTEST_FAILED', `model ${card.name}@${card.version} failed its self-test on ${path.basename(imageFile)}: ${problems.join('; ')} (got ${dets.map((d) => d.label).join(', ') || 'nothing'})`, { card: card.name, problems });
  }
  return { matched, bestMs: Number(best.toFixed(1)), budgetMs };
}
