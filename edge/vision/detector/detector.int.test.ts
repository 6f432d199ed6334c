import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataFile } from '../../../lib/data-dir.ts';
import { isCoded } from '../../../lib/errors.ts';
import { loadCard, loadManifest, sha256File } from '../../../models/card.ts';
import { tempDir } from '../../../test/peers/ports.ts';
import { Detector } from './detector.ts';
import { DetectorWorker } from './detector-worker.ts';
import { readImageRgb } from './image.ts';
import { runSelfTest } from './self-test.ts';
import { iou, type Box, type Detection } from './types.ts';

/*
 * Reference boxes obtained INDEPENDENTLY of this code: testdata/reference.py runs each model with
 * OpenCV (cv2.imread → cv2.resize INTER_LINEAR/INTER_AREA → letterbox → cv2.dnn.readNetFromONNX →
 * numpy decode → cv2.dnn.NMSBoxes), following MODEL_IO.md step by step:
 *   /usr/bin/python3 edge/vision/detector/testdata/reference.py ../shared/data <model> <image>
 * (python3-opencv 4.6, Debian bookworm). Output pasted below: [class, score, x1, y1, x2, y2].
 */
type Ref = [string, number, number, number, number, number];
const REF: Record<string, Record<string, Ref[]>> = {
  yolox_nano_416: {
    'darknet_dog.jpg': [['dog', 0.855, 132.8, 206.6, 325.7, 543.1], ['bicycle', 0.803, 51.7, 137.2, 572.3, 423.6], ['car', 0.798, 466.3, 78.4, 692.5, 171.3]],
    'opencv_vtest_t30s.jpg': [
      ['person', 0.843, 580.7, 159.3, 612.7, 234.5], ['car', 0.789, 731.8, 51.7, 767.0, 94.3], ['person', 0.769, 241.7, 156.3, 263.9, 221.0],
      ['person', 0.765, 187.5, 158.3, 216.9, 235.0], ['person', 0.761, 315.0, 210.5, 346.6, 295.2], ['truck', 0.760, 651.8, 42.0, 724.8, 99.4],
      ['person', 0.754, 616.9, 162.5, 643.6, 229.8], ['person', 0.720, 297.7, 160.5, 326.8, 232.8], ['person', 0.533, 30.8, 109.9, 48.0, 142.2],
      ['person', 0.344, 160.2, 182.9, 177.6, 209.3],
    ],
  },
  nanodet_m_320: {
    'darknet_dog.jpg': [['bicycle', 0.649, 133.1, 155.6, 566.1, 445.7], ['car', 0.445, 472.8, 75.4, 717.1, 169.1], ['dog', 0.406, 126.8, 211.4, 308.2, 542.1]],
    'opencv_vtest_t30s.jpg': [
      ['person', 0.684, 578.0, 158.3, 607.8, 231.9], ['person', 0.655, 182.7, 159.6, 211.3, 233.5], ['person', 0.632, 616.6, 165.9, 641.4, 230.7],
      ['person', 0.558, 240.0, 157.6, 264.3, 219.7], ['person', 0.540, 312.2, 205.9, 344.1, 293.7], ['car', 0.468, 724.7, 50.9, 767.2, 91.9],
      ['truck', 0.400, 647.5, 38.9, 719.9, 97.2],
    ],
  },
  nanodet_m_416: {
    'opencv_vtest_t30s.jpg': [
      ['person', 0.720, 581.2, 158.0, 609.5, 233.2], ['person', 0.720, 616.0, 162.7, 641.8, 231.2], ['person', 0.708, 186.0, 159.2, 211.8, 231.5],
      ['person', 0.677, 292.7, 156.4, 323.6, 227.7], ['person', 0.674, 313.5, 210.9, 345.5, 293.7], ['person', 0.639, 238.8, 157.0, 262.3, 219.0],
      ['car', 0.616, 727.9, 49.1, 767.1, 94.8], ['car', 0.552, 649.2, 42.0, 721.2, 96.5], ['dog', 0.411, 157.8, 251.2, 191.7, 275.9],
      ['person', 0.366, 161.9, 182.7, 177.4, 204.5], ['sports ball', 0.364, 326.8, 449.7, 349.7, 466.1],
    ],
  },
};

/** Every reference box is matched one-to-one by a detection of the same class with IoU ≥ 0.9, and nothing extra. */
function expectMatches(dets: Detection[], refs: Ref[]): void {
  const used = new Set<number>();
  for (const [cls, score, ...box] of refs) {
    let best = -1, bestIoU = 0;
    dets.forEach((d, i) => {
      const v = d.label === cls && !used.has(i) ? iou(d.box, box as Box) : 0;
      if (v > bestIoU) { bestIoU = v; best = i; }
    });
    expect(bestIoU, `${cls} @ ${box.join(',')}`).toBeGreaterThanOrEqual(0.9);
    used.add(best);
    expect(Math.abs(dets[best].score - score)).toBeLessThan(0.03);
  }
  expect(dets.length).toBe(refs.length);
}

describe('detector (real ONNX models, OpenCV reference boxes)', () => {
  const loaded: Detector[] = [];
  afterAll(async () => { for (const d of loaded) await d.close(); });

  for (const [model, images] of Object.entries(REF)) {
    it(`${model} matches the reference on ${Object.keys(images).join(', ')}`, async () => {
      const det = await Detector.load(model, { threads: 1 });
      loaded.push(det);
      for (const [img, refs] of Object.entries(images)) {
        const { detections } = await det.detect(await readImageRgb(dataFile('images', img)));
        expectMatches(detections, refs);
      }
      const st = await runSelfTest(det.card, (f) => det.detect(f));
      expect(st.ok, JSON.stringify(st.matches)).toBe(true);
    });
  }

  it('darknet_dog with YOLOX-nano: bicycle, dog and a car/truck', async () => {
    const det = loaded.find((d) => d.card.name === 'yolox_nano_416')!;
    const { detections } = await det.detect(await readImageRgb(dataFile('images', 'darknet_dog.jpg')));
    const labels = new Set(detections.map((d) => d.label));
    expect(labels.has('bicycle') && labels.has('dog') && (labels.has('car') || labels.has('truck'))).toBe(true);
  });
});

describe('detector worker thread', () => {
  let w: DetectorWorker;
  beforeAll(async () => { w = await DetectorWorker.start('yolox_nano_416', { threads: 1 }); });
  afterAll(async () => { await w.close(); });

  it('gives the same detections as in-thread and keeps the event loop free', async () => {
    const frame = await readImageRgb(dataFile('images', 'opencv_vtest_t30s.jpg'));
    let maxLag = 0, last = performance.now();
    const timer = setInterval(() => { const now = performance.now(); maxLag = Math.max(maxLag, now - last - 5); last = now; }, 5);
    const results = [];
    for (let i = 0; i < 6; i++) results.push(await w.detect(frame));
    clearInterval(timer);
    expectMatches(results[5].detections, REF.yolox_nano_416['opencv_vtest_t30s.jpg']);
    // inference takes 20–45 ms per frame; the main loop never waits that long
    expect(maxLag).toBeLessThan(15);
    expect(w.inFlight).toBe(0);
  });

  it('a corrupt model file gives MODEL_LOAD_FAILED across the thread boundary', async () => {
    const dir = tempDir('cityedge-model-');
    const bytes = fs.readFileSync(dataFile('models', 'yolox_nano_416.onnx')).subarray(0, 200_000); // truncated
    fs.writeFileSync(path.join(dir, 'broken.onnx'), bytes);
    const manifest = loadManifest();
    manifest.artifacts.push({ name: 'broken', version: '0', file: 'broken.onnx', sha256: sha256File(path.join(dir, 'broken.onnx')), sourceUrl: 'test' });
    const card = { ...loadCard('yolox_nano_416'), artifact: 'broken', sha256: sha256File(path.join(dir, 'broken.onnx')) };
    const err = await DetectorWorker.start(card, { manifest, modelsDir: dir }).catch((e) => e);
    expect(isCoded(err, 'MODEL_LOAD_FAILED'), String(err)).toBe(true);
    expect(err.message).toContain('not a valid ONNX model');
    // the running worker is unaffected
    const r = await w.detect(await readImageRgb(dataFile('images', 'darknet_dog.jpg')));
    expect(r.detections.length).toBe(3);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a card whose input shape does not match the model gives MODEL_INPUT_MISMATCH', async () => {
    const base = loadCard('yolox_nano_416');
    const card = { ...base, input: { ...base.input, shape: [1, 3, 320, 320] as [1, 3, number, number] } };
    const err = await DetectorWorker.start(card).catch((e) => e);
    expect(isCoded(err, 'MODEL_INPUT_MISMATCH'), String(err)).toBe(true);
    expect(err.message).toContain('[1,3,416,416]');
    const named = { ...base, input: { ...base.input, name: 'input.1' } };
    const err2 = await Detector.load(named).catch((e) => e);
    expect(isCoded(err2, 'MODEL_INPUT_MISMATCH')).toBe(true);
  });
});
