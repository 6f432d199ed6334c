/**
 * The shared detector on real ffmpeg streams and the real YOLOX-nano session: cameras of one model
 * share one pool; a camera that floods it (25 fps of 768-px frames, more than one session can
 * infer) does not starve a 5 fps camera, and per-camera figures stay right.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { validateConfig } from '../../lib/config.ts';
import { dataFile } from '../../lib/data-dir.ts';
import { waitFor } from '../../test/peers/ports.ts';
import { memoryContext } from '../../test/support/source-context.ts';
import { CameraConfig, cameraFactory } from '../sources/camera.ts';
import type { CameraSource } from './camera-source.ts';
import { detectorPools } from './shared-detector.ts';

const sources: CameraSource[] = [];
afterEach(async () => { for (const s of sources.splice(0)) await s.stop(); });

function camera(raw: Record<string, unknown>): CameraSource {
  const src = cameraFactory.create(validateConfig(CameraConfig, { type: 'camera', url: dataFile('video', 'opencv_vtest.avi'), width: 768, realtime: true, loop: true, statsIntervalS: 3600, ...raw }, 'test')) as CameraSource;
  sources.push(src);
  return src;
}

const snap = (c: CameraSource) => ({ ...c.stats });

describe('shared detector (real ffmpeg + YOLOX-nano)', () => {
  it('one session for two cameras; a flooding camera does not starve a 5 fps one (round-robin, newest frame per camera)', async () => {
    // one worker, so the two cameras really compete for it; motion off so every frame wants inference
    const flood = camera({ id: 'flood', fps: 25, detector: { workers: 1 }, motion: { enabled: false } });
    const calm = camera({ id: 'calm', fps: 5, detector: { workers: 1 }, motion: { enabled: false } });
    await flood.start(memoryContext({ keep: () => false }));
    await calm.start(memoryContext({ keep: () => false }));
    const pools = detectorPools().filter((p) => p.lanes === 2);
    expect(pools).toHaveLength(1);
    expect(pools[0].workers).toBe(1);
    await waitFor(() => calm.stats.framesInferred >= 5 && flood.stats.dropped > 0, { timeoutMs: 30_000, what: 'both cameras running, the flood dropping' });

    const f0 = snap(flood), c0 = snap(calm);
    await new Promise((r) => setTimeout(r, 8000));
    const f1 = snap(flood), c1 = snap(calm);
    const calmIn = c1.framesIn - c0.framesIn, calmOut = c1.framesInferred - c0.framesInferred;
    const floodIn = f1.framesIn - f0.framesIn, floodOut = f1.framesInferred - f0.framesInferred;
    // the calm camera keeps its rate — every frame inferred but the odd one: it waits one flood
    // inference at most — as long as its fair half of the session covers 5 fps (a quiet machine:
    // YOLOX-nano ≈ 30 inferences/s); on a machine so loaded that half the session is less than
    // that, it still gets its half, never the crumbs a first-come queue behind 25 fps would leave
    expect(calmIn).toBeGreaterThanOrEqual(30);
    const fair = Math.min(calmIn, (calmOut + floodOut) / 2);
    expect(calmOut, `calm ${calmOut}/${calmIn}, flood ${floodOut}/${floodIn}`).toBeGreaterThanOrEqual(0.85 * fair);
    if (fair === calmIn) expect(c1.dropped - c0.dropped).toBeLessThanOrEqual(Math.ceil(calmIn * 0.15));
    // the flood gets the rest of the session and drops the frames it cannot have
    expect(floodOut).toBeGreaterThan(calmOut * 0.5);
    expect(f1.dropped - f0.dropped).toBeGreaterThan(0);
    expect(floodIn).toBeGreaterThan(floodOut);
    // per-camera figures stay consistent: every frame is inferred, dropped, or at most 2 in the lane
    for (const s of [f1, c1]) {
      expect(s.framesIn - s.framesInferred - s.dropped - s.skippedMotion - s.overBudget).toBeLessThanOrEqual(2);
      expect(s.latencyMsAvg).toBeGreaterThanOrEqual(s.inferMsAvg);
    }
    // the calm camera's wait is about one flood inference, not a queue of them
    expect(c1.waitMsAvg).toBeLessThan(3 * Math.max(f1.latencyMsAvg, 50));
    // health (→ edge /metrics) carries them as numbers
    const h = calm.health();
    for (const k of ['framesInferred', 'dropped', 'waitMsAvg', 'latencyMsAvg', 'detectorWorkers', 'detectorCameras', 'fpsIn', 'fpsOut']) expect(typeof h[k], k).toBe('number');
    expect(h.detectorCameras).toBe(2);
    // its own frame rate, so a single status report shows it (the calm camera decodes at 5 fps)
    expect(h.fpsIn as number).toBeGreaterThan(2.5);
    expect(h.fpsIn as number).toBeLessThan(7.5);
  });

  it('a per-camera budget (detector.inferFps) caps one camera without dropping frames of the other', async () => {
    const capped = camera({ id: 'capped', fps: 10, detector: { inferFps: 2 }, motion: { enabled: false } });
    await capped.start(memoryContext({ keep: () => false }));
    await waitFor(() => capped.stats.framesIn >= 20, { timeoutMs: 30_000, what: 'frames' });
    const a = snap(capped);
    await new Promise((r) => setTimeout(r, 5000));
    const b = snap(capped);
    const rate = (b.framesInferred - a.framesInferred) / 5;
    expect(rate).toBeGreaterThan(1);
    expect(rate).toBeLessThanOrEqual(2.6);
    expect(b.overBudget - a.overBudget).toBeGreaterThan(20);
  });
});
