import { describe, expect, it } from 'vitest';
import { dataFile } from '../../../lib/data-dir.ts';
import { readImageRgb } from '../detector/image.ts';
import type { Frame } from '../detector/types.ts';
import { MotionDetector } from './motion.ts';

const copy = (f: Frame): Frame => ({ data: new Uint8Array(f.data), width: f.width, height: f.height });

/** Paste a w×h block of `src` at (sx, sy) into `dst` at (dx, dy): a real-textured object that moved. */
function paste(dst: Frame, src: Frame, sx: number, sy: number, dx: number, dy: number, w: number, h: number): void {
  for (let y = 0; y < h; y++) dst.data.set(src.data.subarray(((sy + y) * src.width + sx) * 3, ((sy + y) * src.width + sx + w) * 3), ((dy + y) * dst.width + dx) * 3);
}

describe('motion detector (small grey image, running background)', async () => {
  const plaza = await readImageRgb(dataFile('images', 'opencv_vtest_t2s.jpg')); // 768×576
  const later = await readImageRgb(dataFile('images', 'opencv_vtest_t30s.jpg'));

  it('first image calibrates; the same image again is no motion', () => {
    const m = new MotionDetector();
    expect(m.detect(plaza)).toMatchObject({ calibrating: true, boxes: [] });
    const r = m.detect(copy(plaza));
    expect(r).toMatchObject({ calibrating: false, boxes: [], changed: 0 });
    expect(m.image).toMatchObject({ width: 96, height: 72 });
  });

  it('a patch that moved gives a box around where it went; a tiny change is ignored', () => {
    const m = new MotionDetector();
    m.detect(plaza);
    const moved = copy(plaza);
    paste(moved, later, 100, 300, 400, 200, 64, 128); // a 64×128 piece of another time, at (400, 200)
    const r = m.detect(moved);
    expect(r.calibrating).toBe(false);
    expect(r.boxes.length).toBeGreaterThanOrEqual(1);
    const big = r.boxes.reduce((a, b) => ((b[2] - b[0]) * (b[3] - b[1]) > (a[2] - a[0]) * (a[3] - a[1]) ? b : a));
    // within a cell or two (dilation) of the pasted block
    expect(big[0]).toBeGreaterThanOrEqual(400 - 24); expect(big[1]).toBeGreaterThanOrEqual(200 - 24);
    expect(big[2]).toBeLessThanOrEqual(464 + 24); expect(big[3]).toBeLessThanOrEqual(328 + 24);

    const m2 = new MotionDetector({ minArea: 0.01 }); // ≥ 69 cells of 96×72
    m2.detect(plaza);
    const speck = copy(plaza);
    paste(speck, later, 100, 300, 400, 200, 16, 16); // 2×2 cells
    expect(m2.detect(speck).boxes).toEqual([]);
  });

  it('a change over most of the image is a scene change: recalibrate, no motion reported', () => {
    const m = new MotionDetector({ sceneChange: 0.6 });
    m.detect(plaza);
    const dark = copy(plaza);
    for (let i = 0; i < dark.data.length; i++) dark.data[i] = dark.data[i] >> 2; // lights out
    const r = m.detect(dark);
    expect(r.calibrating).toBe(true);
    expect(r.boxes).toEqual([]);
    expect(m.sceneChanges).toBe(1);
    // the new background is the dark scene: the same again is quiet
    expect(m.detect(copy(dark))).toMatchObject({ calibrating: false, boxes: [] });
  });

  it('the background absorbs a change at rate alpha', () => {
    const m = new MotionDetector({ alpha: 0.5 });
    m.detect(plaza);
    const moved = copy(plaza);
    paste(moved, later, 100, 300, 400, 200, 64, 128);
    let n = 0;
    while (m.detect(moved).boxes.length && n < 20) n++;
    expect(n).toBeGreaterThanOrEqual(1);
    expect(n).toBeLessThan(10); // absorbed after a few frames
  });

  it('is cheap: 768×576 → 96×72 grey + blur + diff well under a few ms', () => {
    const m = new MotionDetector();
    const frames = [plaza, later];
    for (let i = 0; i < 50; i++) m.detect(frames[i % 2]);
    const t = performance.now();
    for (let i = 0; i < 200; i++) m.detect(frames[i % 2]);
    const ms = (performance.now() - t) / 200;
    expect(ms).toBeLessThan(5); // ~0.3 ms on a quiet core; loose for a loaded CI machine
  });
});
