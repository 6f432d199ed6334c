import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadCard } from '../../../models/card.ts';
import { nms } from './nms.ts';
import { letterboxFor, preprocess } from './preprocess.ts';
import type { Candidate } from './types.ts';

const cand = fc.record({
  cls: fc.integer({ min: 0, max: 2 }),
  score: fc.double({ min: 0.01, max: 1, noNaN: true }),
  x1: fc.integer({ min: 0, max: 300 }), y1: fc.integer({ min: 0, max: 300 }),
  w: fc.integer({ min: 1, max: 100 }), h: fc.integer({ min: 1, max: 100 }),
}).map(({ x1, y1, w, h, ...r }): Candidate => ({ ...r, x1, y1, x2: x1 + w, y2: y1 + h }));

function ovl(a: Candidate, b: Candidate): number {
  const ix = Math.max(0, Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1));
  const iy = Math.max(0, Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1));
  return (ix * iy) / ((a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - ix * iy);
}

describe('nms', () => {
  it('kept boxes never overlap above the threshold (per class or across classes), best score always kept', () => {
    fc.assert(fc.property(fc.array(cand, { maxLength: 40 }), fc.boolean(), (cs, agnostic) => {
      const kept = nms(cs, 0.45, agnostic);
      for (let i = 0; i < kept.length; i++) for (let j = i + 1; j < kept.length; j++) {
        if (agnostic || kept[i].cls === kept[j].cls) expect(ovl(kept[i], kept[j])).toBeLessThanOrEqual(0.45);
      }
      if (cs.length) expect(kept[0].score).toBe(Math.max(...cs.map((c) => c.score)));
      // every dropped box is suppressed by some kept box
      for (const c of cs) if (!kept.includes(c)) expect(kept.some((k) => (agnostic || k.cls === c.cls) && k.score >= c.score && ovl(k, c) > 0.45)).toBe(true);
    }), { numRuns: 200 });
  });
});

describe('preprocess', () => {
  it('letterbox geometry follows the recipes', () => {
    const y = loadCard('yolox_nano_416');
    expect(letterboxFor(y, 768, 576)).toMatchObject({ newW: 416, newH: 312, left: 0, top: 0 });
    const n = loadCard('nanodet_m_320');
    expect(letterboxFor(n, 768, 576)).toMatchObject({ newW: 320, newH: 240, left: 0, top: 40 });
    expect(letterboxFor(n, 576, 768)).toMatchObject({ newW: 240, newH: 320, left: 40, top: 0 });
  });

  it('pads, orders channels BGR and normalises', () => {
    const n = loadCard('nanodet_m_320');
    // uniform colour frame: R=200 G=100 B=50
    const data = new Uint8Array(64 * 48 * 3);
    for (let i = 0; i < data.length; i += 3) { data[i] = 200; data[i + 1] = 100; data[i + 2] = 50; }
    const { tensor } = preprocess(n, { data, width: 64, height: 48 });
    const P = 320 * 320;
    const at = (c: number, y: number, x: number) => tensor[c * P + y * 320 + x];
    expect(at(0, 0, 0)).toBeCloseTo((0 - 103.53) / 57.375, 4); // top pad row, B channel, pad 0
    expect(at(0, 160, 160)).toBeCloseTo((50 - 103.53) / 57.375, 4); // B
    expect(at(2, 160, 160)).toBeCloseTo((200 - 123.675) / 58.395, 4); // R
    const y = loadCard('yolox_nano_416');
    const t2 = preprocess(y, { data, width: 64, height: 48 }).tensor;
    const Q = 416 * 416;
    expect(t2[0]).toBe(50); // B at (0,0), no normalisation
    expect(t2[2 * Q]).toBe(200);
    expect(t2[415 * 416 + 415]).toBe(114); // bottom-right pad
  });
});
