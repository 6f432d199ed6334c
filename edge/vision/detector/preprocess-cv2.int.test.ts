/*
 * The detector's own resize (a frame without a model frame: `detector.resize: worker`, motion-gated
 * cameras, `cityedge detect`) against cv2.resize itself (python3-opencv), pixel by pixel: for
 * cv2.INTER_LINEAR cards (YOLOX) the tensor holds exactly cv2's uint8 result, normalised — at the
 * camera's evidence sizes (real frames of the pedestrian video at 768 px, 1920×1080, 1440×1080)
 * and on noise at sizes that shrink by odd factors or enlarge (a frame narrower than the model).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dataFile } from '../../../lib/data-dir.ts';
import { loadCard } from '../../../models/card.ts';
import { tempDir } from '../../../test/peers/ports.ts';
import { CameraStream } from '../camera/camera-stream.ts';
import { letterboxFor, preprocess } from './preprocess.ts';
import type { Frame } from './types.ts';

async function videoFrame(width: number, height?: number): Promise<Frame> {
  const cam = new CameraStream({ id: 'cv2', url: dataFile('video', 'opencv_vtest.avi'), kind: 'file', fps: 5, width, height, startS: 30, durationS: 0.3, clock: 'media' });
  const frames: Frame[] = [];
  cam.on('frame', (f) => frames.push(f));
  await new Promise<void>((ok, ko) => { cam.once('end', ok); cam.once('offline', ko); cam.start(); });
  await cam.stop();
  return frames[0];
}

function noise(width: number, height: number, seed: number): Frame {
  let s = seed;
  const data = new Uint8Array(width * height * 3).map(() => { s = (s * 1103515245 + 12345) & 0x7fffffff; return s >> 16 & 255; });
  return { data, width, height };
}

describe('worker resize vs cv2.resize (python3-opencv)', () => {
  const dir = tempDir('cityedge-cv2resize-');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('yolox_nano_416 (INTER_LINEAR): every pixel of the letterboxed image is cv2.resize\'s, at evidence sizes and odd ones', async () => {
    const card = loadCard('yolox_nano_416');
    const frames: Array<{ name: string; frame: Frame }> = [
      { name: '768 px', frame: await videoFrame(768) },
      { name: '1920×1080', frame: await videoFrame(1920, 1080) },
      { name: '1440×1080', frame: await videoFrame(1440, 1080) },
      { name: 'noise 1000×750', frame: noise(1000, 750, 1) },
      { name: 'noise 833×625', frame: noise(833, 625, 2) },
      { name: 'noise 300×226 (enlarged)', frame: noise(300, 226, 3) },
    ];
    // one python run for all frames: raw BGR in, raw BGR out
    const jobs = frames.map(({ frame: f }, i) => {
      const box = letterboxFor(card, f.width, f.height);
      const bgr = Buffer.alloc(f.width * f.height * 3);
      for (let p = 0; p < f.width * f.height; p++) { bgr[3 * p] = f.data[3 * p + 2]; bgr[3 * p + 1] = f.data[3 * p + 1]; bgr[3 * p + 2] = f.data[3 * p]; }
      const input = path.join(dir, `in-${i}.raw`), output = path.join(dir, `out-${i}.raw`);
      fs.writeFileSync(input, bgr);
      return { input, output, W: f.width, H: f.height, w: box.newW, h: box.newH };
    });
    const script = 'import sys, json, cv2, numpy as np\nfor j in json.loads(sys.argv[1]):\n  a = np.fromfile(j["input"], np.uint8).reshape(j["H"], j["W"], 3)\n  cv2.resize(a, (j["w"], j["h"]), interpolation=cv2.INTER_LINEAR).tofile(j["output"])\n';
    execFileSync('/usr/bin/python3', ['-c', script, JSON.stringify(jobs)]);
    const [, , S_H, S_W] = card.input.shape;
    const plane = S_H * S_W;
    const { mean, std } = card.input;
    const order = card.input.colorOrder === 'BGR' ? [0, 1, 2] : [2, 1, 0]; // tensor channel c ← cv2's BGR byte
    frames.forEach(({ name, frame }, i) => {
      const j = jobs[i];
      const want = fs.readFileSync(j.output);
      expect(want.length, name).toBe(j.w * j.h * 3);
      const { tensor, box, resampled } = preprocess(card, frame);
      expect(resampled, name).toBe(true);
      let differ = 0;
      let first = '';
      for (let y = 0; y < j.h; y++) {
        for (let x = 0; x < j.w; x++) {
          for (let c = 0; c < 3; c++) {
            const v = want[(y * j.w + x) * 3 + order[c]];
            const got = tensor[c * plane + (y + box.top) * S_W + x + box.left];
            if (Math.abs(got - (v - mean[c]) / std[c]) > 1e-4) { if (!differ) first = `(${x}, ${y}) channel ${c}: ${got} vs cv2 ${v}`; differ++; }
          }
        }
      }
      expect(differ, `${name} (${frame.width}×${frame.height} → ${j.w}×${j.h}): first at ${first}`).toBe(0);
    });
  }, 60_000);
});
