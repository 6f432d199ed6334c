/*
 * Model frames made by the camera's ffmpeg (camera/ffmpeg-args.ts `modelFilter`) give the same
 * detections as the independent OpenCV reference at every evidence size: the model's own size
 * (416: no second output), the default 768 px, 1080p (1920×1080) and 1440×1080 (whose letterbox
 * truncates to 415×311), for YOLOX-nano (cv2.INTER_LINEAR) and NanoDet-m 320/416 (cv2.INTER_AREA),
 * from the system ffmpeg and from the packaged static 4.1.
 *
 * The reference is computed here, live: the evidence frame the camera delivered is written as a
 * PNG and testdata/reference.py (cv2.imread → cv2.resize → letterbox → cv2.dnn → numpy decode →
 * cv2.dnn.NMSBoxes, nothing shared with the TypeScript code) detects on it. The detector gets the
 * frame as the camera hands it over (with `frame.model`) and must not resample.
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { dataDir, dataFile, projectPath } from '../../../lib/data-dir.ts';
import { resetFfmpegCache, resolveFfmpeg } from '../../../lib/ffmpeg.ts';
import { loadCard } from '../../../models/card.ts';
import { tempDir } from '../../../test/peers/ports.ts';
import { CameraStream, type TimedFrame } from '../camera/camera-stream.ts';
import { Detector } from './detector.ts';
import { DetectorWorker } from './detector-worker.ts';
import { modelInputSpec } from './preprocess.ts';
import { iou, type Detection } from './types.ts';

type Ref = { label: string; score: number; box: [number, number, number, number] };

const SIZES: Array<{ name: string; width: number; height?: number }> = [
  { name: 'model size', width: 416 },
  { name: '768 px', width: 768 },
  { name: '1080p', width: 1920, height: 1080 },
  { name: '1440×1080', width: 1440 },
];
const MODELS = ['yolox_nano_416', 'nanodet_m_416', 'nanodet_m_320'];

/** One frame at t = 30 s of the pedestrian video, as the camera delivers it (evidence + model frame). */
async function cameraFrame(model: string, width: number, height?: number): Promise<TimedFrame> {
  const cam = new CameraStream({ id: 'mf', url: dataFile('video', 'opencv_vtest.avi'), kind: 'file', fps: 5, width, height, startS: 30, durationS: 0.3, clock: 'media', modelInput: modelInputSpec(loadCard(model)) });
  const frames: TimedFrame[] = [];
  cam.on('frame', (f) => frames.push(f));
  await new Promise<void>((ok, ko) => { cam.once('end', ok); cam.once('offline', ko); cam.start(); });
  await cam.stop();
  expect(frames.length).toBeGreaterThan(0);
  return frames[0];
}

/** testdata/reference.py on several PNG files of one model: boxes per file. */
function reference(model: string, files: string[]): Map<string, Ref[]> {
  const out = execFileSync('/usr/bin/python3', [projectPath('edge/vision/detector/testdata/reference.py'), dataDir(), model, ...files], { encoding: 'utf8' });
  const res = new Map<string, Ref[]>();
  let cur: Ref[] = [];
  for (const line of out.split('\n')) {
    if (line.startsWith('# ')) { cur = []; res.set(line.slice(2), cur); continue; }
    const p = line.trim().split(' ');
    if (p.length < 6) continue;
    const nums = p.slice(-5).map(Number);
    cur.push({ label: p.slice(0, -5).join(' '), score: nums[0], box: [nums[1], nums[2], nums[3], nums[4]] });
  }
  if (files.length === 1) res.set(files[0], cur);
  return res;
}

/**
 * Every reference box is matched one-to-one by a detection of the same class with IoU ≥ 0.9 and a
 * score within 0.03, and every detection matches a reference box. Scores agree to 0.03 (onnxruntime
 * vs cv2.dnn), so a box scoring within 0.03 of the threshold may fall on either side of it: such a
 * box may be missing on one side (e.g. a 0.35 person for NanoDet's 0.35 threshold).
 */
function expectMatches(dets: Detection[], refs: Ref[], threshold: number, what: string): void {
  const used = new Set<number>();
  const near = (score: number) => score < threshold + 0.03;
  for (const r of refs) {
    let best = -1, bestIoU = 0;
    dets.forEach((d, i) => {
      const v = d.label === r.label && !used.has(i) ? iou(d.box, r.box) : 0;
      if (v > bestIoU) { bestIoU = v; best = i; }
    });
    if (best < 0 && near(r.score)) continue;
    expect(bestIoU, `${what}: ${r.label} ${r.score} @ ${r.box.join(',')}`).toBeGreaterThanOrEqual(0.9);
    used.add(best);
    expect(Math.abs(dets[best].score - r.score), `${what}: ${r.label} score`).toBeLessThan(0.03);
  }
  const extra = dets.filter((d, i) => !used.has(i) && !near(d.score));
  expect(extra.map((d) => `${d.label} ${d.score.toFixed(3)} @ ${d.box.map((v) => v.toFixed(1)).join(',')}`), `${what}: detections the reference does not have`).toEqual([]);
}

const packagedPath = (() => {
  try { return (createRequire(import.meta.url)('@ffmpeg-installer/ffmpeg') as { path: string }).path; } catch { return undefined; }
})();

describe('model frames from the camera\'s ffmpeg vs the OpenCV reference', () => {
  const dir = tempDir('cityedge-modelframes-');
  const loaded: Detector[] = [];
  const saved = process.env.FFMPEG_PATH;
  afterAll(async () => {
    for (const d of loaded) await d.close();
    fs.rmSync(dir, { recursive: true, force: true });
    if (saved === undefined) delete process.env.FFMPEG_PATH;
    else process.env.FFMPEG_PATH = saved;
    resetFfmpegCache();
  });

  const binaries: Array<{ name: string; path?: string; models: string[]; sizes: typeof SIZES }> = [
    { name: 'system ffmpeg', models: MODELS, sizes: SIZES },
    // the packaged 4.1 (the filters must exist there and give the same frames): both resize kinds, 768 and 1080p
    { name: 'packaged ffmpeg 4.1', path: packagedPath, models: ['yolox_nano_416', 'nanodet_m_416'], sizes: SIZES.slice(1, 3) },
  ];
  for (const bin of binaries) {
    it(`${bin.name}: ${bin.models.join(', ')} at ${bin.sizes.map((s) => s.name).join(', ')}: the detections of the OpenCV reference, no resampling in the detector`, async () => {
      if (bin.path) {
        expect(bin.path, '@ffmpeg-installer/ffmpeg is not installed: run npm install (it is an optionalDependency)').toBeTruthy();
        process.env.FFMPEG_PATH = bin.path;
      } else if (saved === undefined) delete process.env.FFMPEG_PATH;
      else process.env.FFMPEG_PATH = saved;
      resetFfmpegCache();
      if (bin.path) expect(resolveFfmpeg().libs.libavformat?.[0]).toBe(58);
      for (const model of bin.models) {
        const card = loadCard(model);
        let det = loaded.find((d) => d.card.name === model);
        if (!det) { det = await Detector.load(model, { threads: 1 }); loaded.push(det); }
        const cases: Array<{ name: string; frame: TimedFrame; png: string }> = [];
        for (const s of bin.sizes) {
          const frame = await cameraFrame(model, s.width, s.height);
          const S = card.input.shape[3];
          // the frame is the evidence size; a model frame comes along unless the frame already is the model's letterbox size
          expect(frame.width).toBe(s.width);
          if (s.width !== S) expect(frame.model, `${model} ${s.name}`).toBeDefined();
          const png = path.join(dir, `${bin.path ? 'pkg' : 'sys'}-${model}-${frame.width}x${frame.height}.png`);
          await sharp(Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.width * frame.height * 3), { raw: { width: frame.width, height: frame.height, channels: 3 } }).png({ compressionLevel: 1 }).toFile(png);
          cases.push({ name: s.name, frame, png });
        }
        const refs = reference(model, cases.map((c) => c.png));
        for (const c of cases) {
          const what = `${bin.name} ${model} ${c.name} (${c.frame.width}×${c.frame.height}${c.frame.model ? ` + model frame ${c.frame.model.width}×${c.frame.model.height}` : ''})`;
          const r = await det.detect(c.frame);
          expect(r.resampled, what).toBe(false);
          const ref = refs.get(c.png)!;
          expect(ref.length, `${what}: the reference finds people`).toBeGreaterThan(3);
          expectMatches(r.detections, ref, det.scoreThreshold, what);
          // the detector's own exact resize of the plain frame agrees the same way
          const plain = await det.detect({ data: c.frame.data, width: c.frame.width, height: c.frame.height });
          expect(plain.resampled).toBe(c.frame.model !== undefined);
          expectMatches(plain.detections, ref, det.scoreThreshold, `${what}, resized by the detector`);
        }
      }
    });
  }

  it('the worker sends only the model frame and does not resample; a plain frame (no model frame) is still resized there, exactly', async () => {
    process.env.FFMPEG_PATH = saved ?? '';
    if (saved === undefined) delete process.env.FFMPEG_PATH;
    resetFfmpegCache();
    const frame = await cameraFrame('yolox_nano_416', 1920, 1080);
    const png = path.join(dir, 'worker-1080p.png');
    await sharp(Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.length), { raw: { width: 1920, height: 1080, channels: 3 } }).png({ compressionLevel: 1 }).toFile(png);
    const ref = reference('yolox_nano_416', [png]).get(png)!;
    const w = await DetectorWorker.start('yolox_nano_416', { threads: 1 });
    try {
      expect(w.modelInput).toEqual({ width: 416, height: 416, letterbox: 'top-left', resize: 'bilinear' });
      const fast = await w.detect(frame);
      expect(fast.resampled).toBe(false);
      expectMatches(fast.detections, ref, 0.3, 'worker, model frame');
      const plain = await w.detect({ data: frame.data, width: frame.width, height: frame.height });
      expect(plain.resampled).toBe(true);
      expectMatches(plain.detections, ref, 0.3, 'worker, plain frame');
      // a model frame for another geometry is ignored (resized from the frame instead)
      const other = await w.detect({ ...frame, model: { ...frame.model!, spec: { ...frame.model!.spec, resize: 'area' } } });
      expect(other.resampled).toBe(true);
      expectMatches(other.detections, ref, 0.3, 'worker, foreign model frame');
    } finally {
      await w.close();
    }
  });
});
