import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadCard } from '../../../models/card.ts';
import { letterboxFor, preprocess } from './preprocess.ts';

/** Straight-line reference: letterbox an image that already has the resized size, normalise, NCHW. */
function reference(cardName: string, W: number, H: number, data: Uint8Array): Float32Array {
  const card = loadCard(cardName);
  const [, , S_H, S_W] = card.input.shape;
  const box = letterboxFor(card, W, H);
  const { mean, std, padValue } = card.input;
  const src = card.input.colorOrder === 'BGR' ? [2, 1, 0] : [0, 1, 2];
  const out = new Float32Array(3 * S_H * S_W);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < S_H; y++) {
      for (let x = 0; x < S_W; x++) {
        const iy = y - box.top, ix = x - box.left;
        const inside = iy >= 0 && iy < H && ix >= 0 && ix < W;
        const v = inside ? data[(iy * W + ix) * 3 + src[c]] : padValue;
        out[c * S_H * S_W + y * S_W + x] = (v - mean[c]) / std[c];
      }
    }
  }
  return out;
}

describe('preprocess', () => {
  // frames already at the model's letterbox size (ffmpeg scaled them): YOLOX 768×576 → 416×312, NanoDet-320 → 320×240
  for (const [card, W, H] of [['yolox_nano_416', 416, 312], ['nanodet_m_320', 320, 240], ['nanodet_m_416', 416, 312]] as const) {
    it(`${card}: a ${W}×${H} frame is copied and normalised exactly, padding included`, () => {
      fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (seed) => {
        let s = seed;
        const data = new Uint8Array(W * H * 3).map(() => { s = (s * 1103515245 + 12345) & 0x7fffffff; return s & 255; });
        const got = preprocess(loadCard(card), { width: W, height: H, data } as never).tensor;
        const want = reference(card, W, H, data);
        expect(got.length).toBe(want.length);
        for (let i = 0; i < want.length; i++) if (Math.abs(got[i] - want[i]) > 1e-5) throw new Error(`index ${i}: ${got[i]} vs ${want[i]}`);
      }), { numRuns: 5 });
    });
  }

  it('a reused tensor (`out`) is right after frames of other geometries and the same one again (padding kept only when it is the same)', () => {
    const card = loadCard('yolox_nano_416');
    let s = 7;
    const frame = (W: number, H: number) => ({ width: W, height: H, data: new Uint8Array(W * H * 3).map(() => { s = (s * 1103515245 + 12345) & 0x7fffffff; return s & 255; }) });
    const out = new Float32Array(3 * 416 * 416);
    // landscape, portrait, square, the landscape again (its padding must be re-made), then the same size twice
    for (const [W, H] of [[416, 312], [312, 416], [416, 416], [416, 312], [416, 234], [416, 234]] as const) {
      const f = frame(W, H);
      const got = preprocess(card, f as never, out).tensor;
      expect(got).toBe(out);
      const want = reference('yolox_nano_416', W, H, f.data);
      for (let i = 0; i < want.length; i++) if (Math.abs(got[i] - want[i]) > 1e-5) throw new Error(`${W}×${H}, index ${i}: ${got[i]} vs ${want[i]}`);
    }
  });
});
