/**
 * Motion-gated inference on real video through real ffmpeg and the real YOLOX-nano session:
 * gating must not change what the rules see on the busy plaza, and a still street must cost almost
 * nothing but the periodic full-frame checks.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { validateConfig } from '../../../lib/config.ts';
import { dataFile } from '../../../lib/data-dir.ts';
import { resolveFfmpeg } from '../../../lib/ffmpeg.ts';
import { tempDir } from '../../../test/peers/ports.ts';
import { memoryContext } from '../../../test/support/source-context.ts';
import { CameraConfig, cameraFactory } from '../../sources/camera.ts';
import type { CameraSource } from '../camera-source.ts';
import { stillClipArgs } from '../../../test/support/still-clip.ts';

const sources: CameraSource[] = [];
afterEach(async () => { for (const s of sources.splice(0)) await s.stop(); });
const dir = tempDir('cityedge-motion-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function camera(raw: Record<string, unknown>): CameraSource {
  const src = cameraFactory.create(validateConfig(CameraConfig, { type: 'camera', ...raw }, 'test')) as CameraSource;
  sources.push(src);
  return src;
}

// the rules of camera-source.int.test.ts (counts checked by eye there: east 2, west 6, one dwell)
const PLAZA_RULES = [
  { id: 'mid', type: 'line', line: [[0.45, 0.3], [0.45, 0.85]], classes: ['person'], names: { forward: 'east', backward: 'west' } },
  { id: 'lamp', type: 'dwell', zone: [[0.44, 0.4], [0.58, 0.4], [0.58, 0.52], [0.44, 0.52]], seconds: 5, classes: ['person'] },
];

async function run(src: CameraSource) {
  const ctx = memoryContext();
  await src.start(ctx);
  await src.ended;
  await src.flush();
  const events = ctx.of('event');
  const t0 = events[0]?.ts ?? 0;
  return {
    stats: { ...src.stats },
    counts: src.rules.counts,
    cross: events.filter((e) => e.type === 'line.cross').map((e) => [e.ts - t0, e.data.direction]),
    dwell: events.filter((e) => e.type === 'zone.dwell').map((e) => [e.phase, e.ts - t0, e.data.dwellS ?? null]),
  };
}

describe('motion-gated inference (real ffmpeg + YOLOX-nano)', () => {
  it('pedestrian video, first 30 s: gated and ungated give the same line counts, crossings and dwell events', async () => {
    // the same resize path for both (detector.resize auto would let ffmpeg make the ungated camera's
    // model frames): the one thing that differs is the gate
    const base = { url: dataFile('video', 'opencv_vtest.avi'), fps: 5, width: 768, loop: false, realtime: false, durationS: 30, rules: PLAZA_RULES, statsIntervalS: 60, detector: { resize: 'worker' } };
    // both at once: they share one pool of sessions (same model), which is what a gateway does
    const [gated, ungated] = await Promise.all([
      run(camera({ ...base, id: 'gated', motion: { enabled: true } })),
      run(camera({ ...base, id: 'ungated', motion: { enabled: false } })),
    ]);
    expect(ungated.stats.framesInferred).toBe(150);
    expect(gated.stats.framesInferred + gated.stats.skippedMotion).toBe(150);
    expect(gated.counts).toEqual({ mid: { east: 2, west: 6 } });
    expect(gated.counts).toEqual(ungated.counts);
    expect(gated.cross).toEqual(ungated.cross);
    expect(gated.dwell.map((d) => d[0])).toEqual(['start', 'end']);
    expect(gated.dwell).toEqual(ungated.dwell);
  });

  it('a still street (one frame looped) costs almost no inferences: calibration, then only the periodic full-frame checks', async () => {
    const clip = path.join(dir, 'still.avi');
    expect(spawnSync(resolveFfmpeg().path, ['-v', 'error', '-y', ...stillClipArgs(dataFile('video', 'opencv_vtest.avi'), 31), clip]).status).toBe(0);
    const src = camera({ id: 'quiet', url: clip, fps: 5, width: 768, loop: false, realtime: false, durationS: 30, rules: PLAZA_RULES, statsIntervalS: 60, motion: { fullFrameEveryS: 10 } });
    const r = await run(src);
    const c = src.gate.counts;
    expect(r.stats.framesIn).toBe(150);
    // first frame calibrates (inferred), the people standing in it start tentative tracks that are
    // confirmed on the next frame, then nothing moves: a full-frame check at 10 s and 20 s
    expect(c.calibrating).toBe(1);
    expect(c.motion).toBe(0);
    expect(c.periodic).toBeGreaterThanOrEqual(2);
    expect(c.periodic).toBeLessThanOrEqual(3);
    expect(r.stats.framesInferred).toBeLessThanOrEqual(8);
    expect(r.stats.skippedMotion).toBe(150 - r.stats.framesInferred);
    // the standing man at the lamp post still dwells: skipped frames feed the rules the last tracks
    expect(r.dwell.map((d) => d[0])).toEqual(['start']);
    expect(r.counts).toEqual({ mid: { east: 0, west: 0 } });
  });
});
