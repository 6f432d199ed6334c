import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { dataFile } from '../../../lib/data-dir.ts';
import { resolveFfmpeg } from '../../../lib/ffmpeg.ts';
import { freePort, waitFor } from '../../../test/peers/ports.ts';
import { RtspPeer } from '../../../test/peers/rtsp.ts';
import { CameraStream, type TimedFrame } from './camera-stream.ts';
import { FrameAssembler } from './frame-assembler.ts';
import { spawnSync } from 'node:child_process';

const cams: CameraStream[] = [];
const servers: http.Server[] = [];
afterEach(async () => {
  for (const c of cams.splice(0)) await c.stop();
  for (const s of servers.splice(0)) { s.closeAllConnections(); s.close(); }
});

/** JPEG frames of the pedestrian video (ffmpeg, 4 frames, 320 px wide) for the MJPEG server. */
function jpegFrames(): Buffer[] {
  const r = spawnSync(resolveFfmpeg().path, ['-v', 'error', '-i', dataFile('video', 'opencv_vtest.avi'), '-frames:v', '4', '-vf', 'scale=320:-2', '-f', 'image2pipe', '-c:v', 'mjpeg', '-q:v', '5', 'pipe:1']);
  const all = r.stdout;
  const out: Buffer[] = [];
  let start = 0;
  for (let i = 2; i < all.length - 1; i++) if (all[i] === 0xff && all[i + 1] === 0xd8) { out.push(all.subarray(start, i)); start = i; }
  out.push(all.subarray(start));
  return out;
}

/** An MJPEG (multipart/x-mixed-replace) HTTP camera; `mode` can be switched by the test. */
async function mjpegServer(): Promise<{ url: string; state: { mode: 'ok' | 'stall' | 'die' } }> {
  const frames = jpegFrames();
  const state = { mode: 'ok' as 'ok' | 'stall' | 'die' };
  const srv = http.createServer((req, res) => {
    if (state.mode === 'die') { res.destroy(); return; }
    res.writeHead(200, { 'content-type': 'multipart/x-mixed-replace; boundary=ffserver' });
    let i = 0;
    const t = setInterval(() => {
      if (state.mode === 'die') { clearInterval(t); res.destroy(); return; }
      if (state.mode === 'stall') return; // connection stays open, no data
      const f = frames[i++ % frames.length];
      res.write(`--ffserver\r\nContent-Type: image/jpeg\r\nContent-Length: ${f.length}\r\n\r\n`);
      res.write(f);
      res.write('\r\n');
    }, 100);
    res.on('close', () => clearInterval(t));
  });
  servers.push(srv);
  const port = await freePort();
  await new Promise<void>((r) => srv.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${port}/video.mjpg`, state };
}

describe('frame assembler', () => {
  it('cuts arbitrary chunking into whole frames', () => {
    const frames: Buffer[] = [];
    const a = new FrameAssembler(10, (f) => frames.push(f));
    const bytes = Buffer.from(Array.from({ length: 35 }, (_, i) => i));
    let off = 0;
    for (const n of [3, 7, 1, 12, 12]) { a.push(bytes.subarray(off, off + n)); off += n; }
    expect(frames.map((f) => f[0])).toEqual([0, 10, 20]);
    expect(a.partial).toBe(5);
  });
});

describe('camera stream (real ffmpeg)', () => {
  it('file: samples fps, scales, ends cleanly; media clock', async () => {
    const cam = new CameraStream({ id: 'f', url: dataFile('video', 'opencv_vtest.avi'), kind: 'file', fps: 5, width: 384, durationS: 2, clock: 'media' });
    cams.push(cam);
    const frames: TimedFrame[] = [];
    cam.on('frame', (f) => frames.push(f));
    const ended = new Promise<void>((r) => cam.once('end', r));
    cam.start();
    await ended;
    expect(frames.length).toBeGreaterThanOrEqual(9);
    expect(frames.length).toBeLessThanOrEqual(11);
    expect(frames[0].width).toBe(384);
    expect(frames[0].height).toBe(288);
    expect(frames[0].data.length).toBe(384 * 288 * 3);
    expect(frames[1].ts - frames[0].ts).toBe(200);
  });

  it('file with a model geometry: every frame comes with its model frame (fd 3, same decode), in order, also under backpressure', async () => {
    const modelInput = { width: 416, height: 416, letterbox: 'top-left' as const, resize: 'bilinear' as const };
    const cam = new CameraStream({ id: 'm', url: dataFile('video', 'opencv_vtest.avi'), kind: 'file', fps: 5, width: 1920, height: 1080, durationS: 2, clock: 'media', modelInput });
    cams.push(cam);
    const frames: TimedFrame[] = [];
    cam.on('frame', (f) => {
      frames.push(f);
      // hold the pipes for a while every third frame (a busy detector): nothing may be lost or mispaired
      if (f.seq % 3 === 0) { cam.pause(); setTimeout(() => cam.resume(), 150); }
    });
    const ended = new Promise<void>((r) => cam.once('end', r));
    cam.start();
    await ended;
    expect(frames.length).toBeGreaterThanOrEqual(9);
    expect(frames.length).toBeLessThanOrEqual(11);
    expect(frames.map((f) => f.seq)).toEqual(frames.map((_, i) => i));
    for (const f of frames) {
      expect([f.width, f.height, f.data.length]).toEqual([1920, 1080, 1920 * 1080 * 3]);
      expect(f.model && [f.model.width, f.model.height, f.model.data.length]).toEqual([416, 234, 416 * 234 * 3]);
      expect(f.model!.spec).toEqual(modelInput);
      // the model frame is this frame shrunk: its mean brightness is the frame's (a mispaired frame of a moving scene drifts)
      const mean = (d: Uint8Array) => d.reduce((a, v) => a + v, 0) / d.length;
      expect(Math.abs(mean(f.model!.data) - mean(f.data))).toBeLessThan(1);
    }
  });

  it('unreadable source: CAMERA_UNREADABLE, offline once, retries with backoff', async () => {
    const cam = new CameraStream({ id: 'bad', url: '/nonexistent/cam.avi', kind: 'file', fps: 5, width: 320, backoffInitialMs: 50, backoffMaxMs: 200 });
    cams.push(cam);
    const offline: string[] = [];
    cam.on('offline', (e) => offline.push(e.code));
    cam.start();
    await waitFor(() => cam.counters.restarts >= 2, { timeoutMs: 10_000, what: 'two restarts' });
    expect(offline).toEqual(['CAMERA_UNREADABLE']);
    expect(cam.lastError?.message).toContain('/nonexistent/cam.avi');
  });

  it('RTSP (a real gst-rtsp-server): frames; the server dying gives offline with a code; its return gives online and frames', async () => {
    const rtsp = await new RtspPeer(dataFile('video', 'opencv_vtest_first10s.mp4')).start();
    try {
      const cam = new CameraStream({ id: 'rtsp', url: rtsp.url, kind: 'rtsp', fps: 5, width: 320, stallTimeoutMs: 5000, backoffInitialMs: 200, backoffMaxMs: 800 });
      cams.push(cam);
      const events: string[] = [];
      cam.on('offline', (e) => events.push(`offline:${e.code}`));
      cam.on('online', () => events.push('online'));
      let frames = 0;
      cam.on('frame', (f) => { frames++; expect(f.data.length).toBe(320 * 240 * 3); });
      cam.start();
      await waitFor(() => frames >= 5, { timeoutMs: 30_000, what: 'rtsp frames' });
      const n0 = events.length;
      expect(events[n0 - 1]).toBe('online');
      await rtsp.stop(); // the camera's server dies mid-stream
      await waitFor(() => events.length > n0, { timeoutMs: 20_000, what: 'offline after the server died' });
      expect(events[n0]).toMatch(/^offline:CAMERA_(ENDED|STALLED|UNREADABLE)$/);
      await rtsp.start(); // same port
      const before = frames;
      await waitFor(() => events.lastIndexOf('online') > n0 && frames > before + 3, { timeoutMs: 40_000, what: 'back online with frames' });
    } finally {
      await rtsp.stop();
    }
  });

  it('stall timeout defaults: 3 s for live sources, 30 s for a non-realtime file replay (a busy CPU is not a dead camera)', () => {
    expect(new CameraStream({ id: 'a', url: 'rtsp://x', kind: 'rtsp', fps: 5, width: 320 }).stallTimeoutMs).toBe(3000);
    expect(new CameraStream({ id: 'b', url: 'f.mp4', kind: 'file', fps: 5, width: 320, realtime: true }).stallTimeoutMs).toBe(3000);
    expect(new CameraStream({ id: 'c', url: 'f.mp4', kind: 'file', fps: 5, width: 320 }).stallTimeoutMs).toBe(30_000);
    expect(new CameraStream({ id: 'd', url: 'f.mp4', kind: 'file', fps: 5, width: 320, stallTimeoutMs: 700 }).stallTimeoutMs).toBe(700);
  });

  it('HTTP MJPEG: frames; a stall gives CAMERA_STALLED + offline, recovery gives online; dying stream reconnects', async () => {
    const { url, state } = await mjpegServer();
    const cam = new CameraStream({ id: 'mj', url, kind: 'mjpeg', fps: 5, width: 320, stallTimeoutMs: 1200, backoffInitialMs: 100, backoffMaxMs: 400 });
    cams.push(cam);
    const events: string[] = [];
    cam.on('offline', (e) => events.push(`offline:${e.code}`));
    cam.on('online', () => events.push('online'));
    let frames = 0;
    cam.on('frame', (f) => { frames++; expect(f.data.length).toBe(320 * 240 * 3); });
    cam.start();
    await waitFor(() => frames >= 3, { timeoutMs: 15_000, what: 'mjpeg frames' });
    state.mode = 'stall';
    await waitFor(() => events.includes('offline:CAMERA_STALLED'), { timeoutMs: 10_000, what: 'stall detected' });
    state.mode = 'ok';
    await waitFor(() => events.filter((e) => e === 'online').length >= 2, { timeoutMs: 15_000, what: 'back online' });
    const before = frames;
    state.mode = 'die';
    await waitFor(() => events.length >= 4, { timeoutMs: 15_000, what: 'offline after die' });
    expect(events[3]).toMatch(/^offline:CAMERA_(ENDED|STALLED|UNREADABLE)$/);
    state.mode = 'ok';
    await waitFor(() => events.length >= 5 && frames > before + 2, { timeoutMs: 15_000, what: 'recovered after die' });
    expect(events.slice(0, 5)).toEqual(['online', 'offline:CAMERA_STALLED', 'online', events[3], 'online']);
  });
});
