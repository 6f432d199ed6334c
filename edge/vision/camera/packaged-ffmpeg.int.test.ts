/**
 * A camera on a machine without a system ffmpeg: the static ffmpeg 4.1 shipped in the npm package
 * @ffmpeg-installer/ffmpeg (found by the resolver with an empty PATH, then pinned with FFMPEG_PATH
 * so this process's PATH is left alone) decodes the real pedestrian video end to end — camera
 * source → detector → tracker → rules → events and snapshots — and reads a real RTSP server
 * (the RTSP socket-timeout option differs in 4.1).
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../../lib/config.ts';
import { dataFile } from '../../../lib/data-dir.ts';
import { resetFfmpegCache, resolveFfmpeg, type FfBinary } from '../../../lib/ffmpeg.ts';
import { tempDir, waitFor } from '../../../test/peers/ports.ts';
import { RtspPeer } from '../../../test/peers/rtsp.ts';
import type { CameraSource } from '../camera-source.ts';
import { CameraConfig, cameraFactory } from '../../sources/camera.ts';
import { memoryContext } from '../../../test/support/source-context.ts';
import { CameraStream } from './camera-stream.ts';

// The packaged ffmpeg is an optional dependency that npm installs on linux-x64 (this project's
// machines and CI): its absence here is a broken install, not a reason to skip.
const installed = (() => { try { createRequire(import.meta.url).resolve('@ffmpeg-installer/ffmpeg'); return true; } catch { return false; } })();

describe('camera with the packaged ffmpeg (@ffmpeg-installer, static 4.1) instead of the system one', () => {
  let packaged: FfBinary;
  const saved = process.env.FFMPEG_PATH;
  const stops: Array<() => Promise<void>> = [];

  beforeAll(() => {
    expect(installed, '@ffmpeg-installer/ffmpeg is not installed: run npm install (it is an optionalDependency)').toBe(true);
    packaged = resolveFfmpeg({ env: { PATH: '' } }); // what a machine without a system ffmpeg gets
    expect(packaged.from).toBe('package');
    expect(packaged.path).toContain(`${path.sep}@ffmpeg-installer${path.sep}`);
    process.env.FFMPEG_PATH = packaged.path;
    resetFfmpegCache();
  });
  afterAll(async () => {
    for (const s of stops.splice(0)) await s();
    if (saved === undefined) delete process.env.FFMPEG_PATH;
    else process.env.FFMPEG_PATH = saved;
    resetFfmpegCache();
  });

  it('pedestrian video, first 30 s at 5 fps through YOLOX-nano: every frame decoded, the same line counts and dwell as with the system ffmpeg', async () => {
    expect(packaged.libs.libavformat?.[0]).toBe(58); // the 2018 build: libavformat 58 = ffmpeg 4.1
    const src = cameraFactory.create(validateConfig(CameraConfig, {
      type: 'camera', id: 'plaza-pkg', url: dataFile('video', 'opencv_vtest.avi'), fps: 5, width: 768, loop: false, realtime: false, durationS: 30, statsIntervalS: 60,
      rules: [
        { id: 'mid', type: 'line', line: [[0.45, 0.3], [0.45, 0.85]], classes: ['person'], names: { forward: 'east', backward: 'west' } },
        { id: 'lamp', type: 'dwell', zone: [[0.44, 0.4], [0.58, 0.4], [0.58, 0.52], [0.44, 0.52]], seconds: 5, classes: ['person'] },
      ],
    }, 'test')) as CameraSource;
    stops.push(() => src.stop());
    const ctx = memoryContext();
    await src.start(ctx);
    await src.ended;
    await src.flush();

    expect(src.health().ffmpeg).toEqual({ path: packaged.path, from: 'env', version: packaged.version });
    expect(src.stats.framesIn).toBe(150);
    expect(src.stats.framesInferred).toBe(150);
    expect(src.stats.dropped).toBe(0);
    expect(src.lastTracks.length).toBeGreaterThan(0);
    // the counts the system-ffmpeg test (camera-source.int.test.ts) checked by eye
    expect(src.rules.counts.mid).toEqual({ east: 2, west: 6 });
    const events = ctx.of('event');
    expect(events.filter((e) => e.type === 'line.cross')).toHaveLength(8);
    expect(events.filter((e) => e.type === 'zone.dwell').map((e) => e.phase)).toEqual(['start', 'end']);
    expect(events.filter((e) => e.type === 'camera.offline')).toEqual([]);
    expect(ctx.of('snapshot').map((s) => s.role)).toEqual(['frame', 'crop']);
  });

  it('RTSP (a real gst-rtsp-server): frames through the 4.1 binary (-stimeout, not -timeout)', async () => {
    const rtsp = await new RtspPeer(dataFile('video', 'opencv_vtest_first10s.mp4')).start();
    stops.push(() => rtsp.stop());
    const cam = new CameraStream({ id: 'rtsp-pkg', url: rtsp.url, kind: 'rtsp', fps: 5, width: 320, stallTimeoutMs: 5000, backoffInitialMs: 200, backoffMaxMs: 800 });
    stops.push(() => cam.stop());
    const offline: string[] = [];
    cam.on('offline', (e) => offline.push(`${e.code}: ${e.message}`));
    let frames = 0;
    cam.on('frame', (f) => { frames++; expect(f.data.length).toBe(320 * 240 * 3); });
    cam.start();
    await waitFor(() => frames >= 5, { timeoutMs: 30_000, what: `rtsp frames (offline: ${offline.join('; ')})` });
    expect(cam.ffmpeg?.path).toBe(packaged.path);
    expect(offline).toEqual([]);
  });

  it('no usable ffmpeg: offline once with FFMPEG_NOT_FOUND (what to install), retried, and online once the binary appears', async () => {
    const dir = tempDir('cityedge-noffmpeg-');
    const later = path.join(dir, 'ffmpeg');
    process.env.FFMPEG_PATH = later; // not there yet
    resetFfmpegCache();
    try {
      const cam = new CameraStream({ id: 'noff', url: dataFile('video', 'opencv_vtest.avi'), kind: 'file', fps: 5, width: 320, loop: true, realtime: true, backoffInitialMs: 100, backoffMaxMs: 200 });
      stops.push(() => cam.stop());
      const offline: Array<{ code: string; message: string }> = [];
      cam.on('offline', (e) => offline.push({ code: e.code, message: e.message }));
      let frames = 0;
      cam.on('frame', () => { frames++; });
      cam.start();
      await waitFor(() => cam.counters.restarts >= 2, { timeoutMs: 10_000, what: 'retries' });
      expect(offline).toHaveLength(1);
      expect(offline[0].code).toBe('FFMPEG_NOT_FOUND');
      expect(offline[0].message).toContain(`FFMPEG_PATH=${later}`);
      fs.symlinkSync(packaged.path, later); // "installed" while the camera retries
      await waitFor(() => frames >= 3, { timeoutMs: 15_000, what: 'frames after ffmpeg appeared' });
      expect(cam.isOnline).toBe(true);
      expect(cam.ffmpeg?.path).toBe(later);
    } finally {
      process.env.FFMPEG_PATH = packaged.path;
      resetFfmpegCache();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
