import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { dataFile } from '../../../lib/data-dir.ts';
import { readImageRgb } from '../detector/image.ts';
import { makeSnapshot } from './snapshot.ts';

describe('snapshot', () => {
  it('draws boxes (red highlight, green others), crops the highlight, respects the byte cap', async () => {
    const frame = await readImageRgb(dataFile('images', 'darknet_dog.jpg'));
    // boxes from the YOLOX reference (detector tests)
    const boxes = [
      { box: [132.8, 206.6, 325.7, 543.1] as [number, number, number, number], label: 'dog #7', highlight: true },
      { box: [51.7, 137.2, 572.3, 423.6] as [number, number, number, number], label: 'bicycle #3' },
    ];
    const snap = await makeSnapshot(frame, boxes, { maxBytes: 60_000 }, 'cam1 zone.dwell');
    expect(snap.frame.length).toBeLessThanOrEqual(60_000);
    const meta = await sharp(snap.frame).metadata();
    expect(meta.format).toBe('jpeg');
    expect(meta.width).toBe(frame.width);
    // pixel on the dog box's left edge is red, on the bicycle box's top edge green
    const { data, info } = await sharp(snap.frame).raw().toBuffer({ resolveWithObject: true });
    const px = (x: number, y: number) => [...data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3)];
    const red = px(133, 400), green = px(300, 137);
    expect(red[0]).toBeGreaterThan(180); expect(red[1]).toBeLessThan(90);
    expect(green[1]).toBeGreaterThan(150); expect(green[0]).toBeLessThan(110);
    const cm = await sharp(snap.crop!).metadata();
    expect(cm.width).toBeGreaterThan(193); expect(cm.width).toBeLessThan(330); // dog box 193 px wide + margin
    // a tiny cap forces lower quality / smaller size but still produces a JPEG within the cap
    const small = await makeSnapshot(frame, boxes, { maxBytes: 8_000 });
    expect(small.frame.length).toBeLessThanOrEqual(8_000);
  });
});
