/**
 * Camera capacity of one gateway (issue #12 part 3): cameras at 5 fps, realtime file replay,
 * YOLOX-nano 416, 768-px frames, every camera of the process on one shared detector (a pool of
 * sessions sized to the cores) with motion-gated inference (the defaults). Cameras are added
 * step by step, to a running set, until frames drop:
 *  (a) mixed: a quarter of the cameras see constant motion (the pedestrian video), the rest a
 *      quiet street (one frame of it looped, made with ffmpeg in a temp dir at bench time);
 *  (b) busy: every camera sees the pedestrian video.
 * A step is sustained when < 2 % of the frames are dropped and the cameras deliver ≥ 95 % of
 * their 5 fps (a starved ffmpeg slows down rather than drops). Each step is measured over
 * `MEASURE_S` after `WARM_S`; a failed step is measured once more before it counts (the machine
 * is shared). Reported per step: CPU (100 % = one core) of the Node main thread (intake, motion,
 * tracker, rules), of its other threads (detector workers, V8/libuv helpers) and of the ffmpeg
 * processes; RSS of Node per camera (the growth over the process before any camera, so the shared
 * sessions are included) and ffmpeg RSS/PSS per process, reported separately.
 *
 * Each scenario runs in a child process of its own (its RSS baseline is a process without cameras).
 *
 *   npm run bench -- cameras                 # both scenarios
 *   npm run bench -- cameras --busy-only     # or --mixed-only; --baseline adds the same scenarios in the
 *                                            # layout before (one worker per camera, no motion gating)
 *   npm run bench -- cameras --width=416     # frames at the model's size (no resize in the worker)
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { validateConfig } from '../lib/config.ts';
import { dataFile } from '../lib/data-dir.ts';
import { describeFf, resolveFfmpeg } from '../lib/ffmpeg.ts';
import { CameraConfig } from '../edge/sources/camera.ts';
import { CameraSource } from '../edge/vision/camera-source.ts';
import { detectorPools } from '../edge/vision/shared-detector.ts';
import { memoryContext } from '../test/support/source-context.ts';
import { stillClipArgs } from '../test/support/still-clip.ts';

const MODEL = 'yolox_nano_416';
const FPS = 5;
/** Frame width (`--width=416`: ffmpeg scales to the model's size, so the worker does not resize; 416-px evidence). */
const WIDTH = Number(process.argv.find((a) => a.startsWith('--width='))?.slice(8) ?? 768);
const WARM_S = 3;
const MEASURE_S = 8;
const r1 = (v: number) => Math.round(v * 10) / 10;
const r2 = (v: number) => Math.round(v * 100) / 100;
const CLK = 100; // USER_HZ

function ticks(file: string): number {
  try {
    const f = fs.readFileSync(file, 'utf8').split(') ')[1].split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch { return 0; }
}

/** CPU ms of this process's main thread, of its other threads, and of a set of child PIDs. */
function cpuSample(pids: number[]): { main: number; other: number; ff: number } {
  const self = process.pid;
  let all = 0, main = 0;
  for (const t of fs.readdirSync('/proc/self/task')) {
    const v = ticks(`/proc/self/task/${t}/stat`);
    all += v;
    if (Number(t) === self) main = v;
  }
  // threads that exited (workers closed) are not in task/: take the process total for "all"
  all = Math.max(all, ticks('/proc/self/stat'));
  const ff = pids.reduce((s, p) => s + ticks(`/proc/${p}/stat`), 0);
  return { main: (main * 1000) / CLK, other: ((all - main) * 1000) / CLK, ff: (ff * 1000) / CLK };
}

function memOf(pid: number): { rssMb: number; pssMb: number } {
  try {
    const s = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? 0);
    return { rssMb: kb('Rss') / 1024, pssMb: kb('Pss') / 1024 };
  } catch { return { rssMb: 0, pssMb: 0 }; }
}

interface Step {
  cameras: number; busyCameras: number;
  fpsIn: number; fpsInferred: number; dropPct: number; skippedPct: number;
  cpuMainPct: number; cpuOtherPct: number; cpuFfmpegPct: number; cpuPerCameraPct: number;
  nodeRssMb: number; nodeRssPerCameraMb: number; ffmpegRssPerCameraMb: number; ffmpegPssPerCameraMb: number;
  inferMs: number; preMs: number; postMs: number; waitMs: number; latencyMs: number; motionMs: number;
  workers: number; ok: boolean;
}

async function scenario(name: string, steps: number[], videoFor: (i: number) => string, baseRss: number, extra: Record<string, unknown> = {}): Promise<{ sustained: number; rows: Step[] }> {
  const cams: CameraSource[] = [];
  const rows: Step[] = [];
  let sustained = 0;
  console.log(`\n${name}:`);
  console.log('  cams  busy  fps in  inferred/s  drop %  skip %  CPU main+other+ffmpeg (%/cam)     node RSS/cam  ffmpeg RSS/PSS per cam  infer/pre/post/wait ms  motion ms  workers');
  try {
    for (const n of steps) {
      while (cams.length < n) {
        const i = cams.length;
        const c = new CameraSource(validateConfig(CameraConfig, { type: 'camera', id: `${name.split(' ')[0]}-${i}`, url: videoFor(i), fps: FPS, width: WIDTH, realtime: true, loop: true, model: MODEL, statsIntervalS: 3600, ...extra }, 'bench'));
        await c.start(memoryContext({ keep: () => false }));
        cams.push(c);
      }
      let row: Step | undefined;
      for (let attempt = 0; attempt < 2; attempt++) {
        await new Promise((r) => setTimeout(r, WARM_S * 1000));
        row = await measure(cams, n, videoFor, baseRss);
        if (row.ok) break;
      }
      rows.push(row!);
      const s = row!;
      console.log(`  ${String(n).padStart(4)}  ${String(s.busyCameras).padStart(4)}  ${String(s.fpsIn).padStart(6)}  ${String(s.fpsInferred).padStart(10)}  ${String(s.dropPct).padStart(6)}  ${String(s.skippedPct).padStart(6)}  ${`${s.cpuMainPct}+${s.cpuOtherPct}+${s.cpuFfmpegPct}`.padStart(20)} (${s.cpuPerCameraPct})  ${String(s.nodeRssPerCameraMb).padStart(10)} MB  ${`${s.ffmpegRssPerCameraMb} / ${s.ffmpegPssPerCameraMb}`.padStart(18)} MB  ${`${s.inferMs}/${s.preMs}/${s.postMs}/${s.waitMs}`.padStart(22)}  ${String(s.motionMs).padStart(9)}  ${s.workers}${s.ok ? '' : '   ← frames drop'}`);
      if (!s.ok) break;
      sustained = n;
    }
  } finally {
    for (const c of cams) await c.stop();
  }
  return { sustained, rows };
}

async function measure(cams: CameraSource[], n: number, videoFor: (i: number) => string, baseRss: number): Promise<Step> {
  const pids = () => cams.map((c) => c.ffmpegPid).filter((p): p is number => p !== undefined);
  const s0 = cams.map((c) => ({ ...c.stats }));
  const c0 = cpuSample(pids());
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, MEASURE_S * 1000));
  const wall = performance.now() - t0;
  const c1 = cpuSample(pids());
  let fin = 0, inf = 0, drop = 0, skip = 0;
  const avg = { infer: 0, pre: 0, post: 0, wait: 0, lat: 0, motion: 0 };
  cams.forEach((c, i) => {
    const a = s0[i], b = c.stats;
    fin += b.framesIn - a.framesIn; inf += b.framesInferred - a.framesInferred; drop += b.dropped - a.dropped; skip += b.skippedMotion - a.skippedMotion;
    avg.infer += b.inferMsAvg; avg.pre += b.preMsAvg; avg.post += b.postMsAvg; avg.wait += b.waitMsAvg; avg.lat += b.latencyMsAvg; avg.motion += b.motionMsAvg;
  });
  const busy = cams.filter((_, i) => videoFor(i) === dataFile('video', 'opencv_vtest.avi'));
  const wavg = (k: 'inferMsAvg' | 'preMsAvg' | 'postMsAvg' | 'waitMsAvg' | 'latencyMsAvg') => r1(busy.reduce((s, c) => s + c.stats[k], 0) / Math.max(1, busy.length));
  const ff = pids().map(memOf);
  const pct = (ms: number) => r1((ms / wall) * 100);
  const cpuMain = pct(c1.main - c0.main), cpuOther = pct(c1.other - c0.other), cpuFf = pct(c1.ff - c0.ff);
  const rss = process.memoryUsage().rss / 1e6;
  const fpsIn = r1(fin / (wall / 1000));
  const dropPct = r2(fin ? (drop / fin) * 100 : 100);
  return {
    cameras: n, busyCameras: busy.length,
    fpsIn, fpsInferred: r1(inf / (wall / 1000)), dropPct, skippedPct: r1(fin ? (skip / fin) * 100 : 0),
    cpuMainPct: cpuMain, cpuOtherPct: cpuOther, cpuFfmpegPct: cpuFf, cpuPerCameraPct: r2((cpuMain + cpuOther + cpuFf) / n),
    nodeRssMb: r1(rss), nodeRssPerCameraMb: r1((rss - baseRss) / n),
    ffmpegRssPerCameraMb: r1(ff.reduce((s, m) => s + m.rssMb, 0) / Math.max(1, ff.length)), ffmpegPssPerCameraMb: r1(ff.reduce((s, m) => s + m.pssMb, 0) / Math.max(1, ff.length)),
    inferMs: wavg('inferMsAvg'), preMs: wavg('preMsAvg'), postMs: wavg('postMsAvg'), waitMs: wavg('waitMsAvg'), latencyMs: wavg('latencyMsAvg'), motionMs: r2(avg.motion / n),
    workers: detectorPools().reduce((s, p) => s + p.workers, 0),
    ok: dropPct < 2 && fpsIn >= 0.95 * FPS * n,
  };
}

const SCENARIOS: Record<string, { title: string; steps: number[]; busyEvery: number; extra?: Record<string, unknown> }> = {
  mixed: { title: 'mixed (1 in 4 cameras busy, the rest a still street)', steps: [4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 48, 56, 64], busyEvery: 4 },
  busy: { title: 'busy (every camera the pedestrian video)', steps: [2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28], busyEvery: 1 },
  // the layout before the shared detector, under the same conditions: one worker per camera, every frame inferred
  'baseline-mixed': { title: 'baseline mixed: one worker per camera, no motion gating', steps: [2, 4, 6, 8, 10, 12, 14, 16, 18, 20], busyEvery: 4, extra: { detector: { shared: false, resize: 'worker' }, motion: { enabled: false } } },
  'baseline-busy': { title: 'baseline busy: one worker per camera, no motion gating', steps: [2, 4, 6, 8, 10, 12, 14, 16, 18, 20], busyEvery: 1, extra: { detector: { shared: false, resize: 'worker' }, motion: { enabled: false } } },
};

/** One scenario in this process (a fresh one: its RSS baseline is a process without cameras). */
async function runScenario(name: string, still: string): Promise<{ sustained: number; rows: Step[] }> {
  const sc = SCENARIOS[name];
  const video = dataFile('video', 'opencv_vtest.avi');
  const baseRss = process.memoryUsage().rss / 1e6;
  return scenario(sc.title, sc.steps, (i) => (i % sc.busyEvery === 0 ? video : still), baseRss, sc.extra);
}

/** Each scenario runs in a child process of its own, so one's memory does not count against the next. */
function child(name: string, still: string): { sustained: number; rows: Step[] } | undefined {
  const r = spawnSync(process.execPath, ['--max-semi-space-size=64', path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'run-ts.mjs'), fileURLToPath(import.meta.url), '--scenario', name, '--still', still, `--width=${WIDTH}`], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 1 << 26 });
  let res: { sustained: number; rows: Step[] } | undefined;
  for (const line of r.stdout.split('\n')) {
    if (line.startsWith('{"scenario"')) res = JSON.parse(line).result;
    else if (line) console.log(line);
  }
  if (!res) console.log(`  scenario ${name} failed (exit ${r.status})`);
  return res;
}

export async function run(): Promise<Record<string, unknown>> {
  process.env.LOG_LEVEL ??= 'error';
  const args = process.argv.slice(2);
  const ff = resolveFfmpeg();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cityedge-bench-cameras-'));
  try {
    const video = dataFile('video', 'opencv_vtest.avi');
    const still = path.join(dir, 'quiet-street.avi');
    const made = spawnSync(ff.path, ['-v', 'error', '-y', ...stillClipArgs(video, 60), still]);
    if (made.status !== 0) throw new Error(`cannot make the still clip: ${made.stderr}`);
    const load = os.loadavg().map(r2);
    console.log(`cameras bench — ${FPS} fps, ${WIDTH} px, ${MODEL}, shared detector + motion gating (defaults); ${os.availableParallelism()} cores, load average ${load.join(' ')} at start; ${describeFf(ff)}`);
    console.log('(the machine may be shared with other work: figures are low and noisy then)');
    const names = [
      ...(args.includes('--busy-only') ? [] : ['mixed']),
      ...(args.includes('--mixed-only') ? [] : ['busy']),
      ...(args.includes('--baseline') ? [...(args.includes('--busy-only') ? [] : ['baseline-mixed']), ...(args.includes('--mixed-only') ? [] : ['baseline-busy'])] : []),
    ];
    const res: Record<string, { sustained: number; rows: Step[] } | undefined> = {};
    for (const n of names) res[n] = child(n, still);
    const last = (s?: { sustained: number; rows: Step[] }) => s?.rows.find((r) => r.cameras === s.sustained) ?? s?.rows[0];
    const m = last(res.mixed), b = last(res.busy);
    const out: Record<string, unknown> = {
      bench: 'cameras', model: MODEL, fps: FPS, width: WIDTH, cores: os.availableParallelism(), loadavg_start: load,
      cameras_mixed: res.mixed?.sustained, cameras_busy: res.busy?.sustained,
      ...(res['baseline-mixed'] ? { cameras_mixed_baseline: res['baseline-mixed'].sustained } : {}),
      ...(res['baseline-busy'] ? { cameras_busy_baseline: res['baseline-busy'].sustained } : {}),
      goal_mixed: 28, goal_busy: 18, goal_rss_per_camera_mb: 30,
      rss_per_camera_mb: m?.nodeRssPerCameraMb ?? b?.nodeRssPerCameraMb,
      rss_per_camera_mb_busy: b?.nodeRssPerCameraMb,
      ffmpeg_rss_per_camera_mb: m?.ffmpegRssPerCameraMb ?? b?.ffmpegRssPerCameraMb, ffmpeg_pss_per_camera_mb: m?.ffmpegPssPerCameraMb ?? b?.ffmpegPssPerCameraMb,
      cpu_per_camera_pct_mixed: m?.cpuPerCameraPct, cpu_per_camera_pct_busy: b?.cpuPerCameraPct,
      busy_time: b && { cpu_main_pct: b.cpuMainPct, cpu_detector_and_helpers_pct: b.cpuOtherPct, cpu_ffmpeg_pct: b.cpuFfmpegPct, infer_ms: b.inferMs, pre_ms: b.preMs, post_ms: b.postMs, wait_ms: b.waitMs, latency_ms: b.latencyMs, motion_ms: b.motionMs, workers: b.workers },
      ...Object.fromEntries(Object.entries(res).map(([k, v]) => [k, v?.rows])),
      loadavg_end: os.loadavg().map(r2),
    };
    console.log(JSON.stringify(out));
    return out;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.env.LOG_LEVEL ??= 'error';
  const at = process.argv.indexOf('--scenario');
  if (at > 0) {
    const name = process.argv[at + 1];
    const result = await runScenario(name, process.argv[process.argv.indexOf('--still') + 1]);
    console.log(JSON.stringify({ scenario: name, result }));
  } else await run();
  process.exit(0);
}
