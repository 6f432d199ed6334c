/**
 * Test/bench support: a minimal camera pipeline. Frames of a video file are decoded once with
 * ffmpeg (raw RGB), then fed in a loop through a ModelSlot at a fixed rate, one frame at a time,
 * recording per frame which model served it and what it found. A frame the pipeline sends always
 * gets a result or an error recorded — nothing is dropped silently.
 */
import { spawn } from 'node:child_process';
import { passthroughFpsArgs, resolveFfmpeg } from '../../../lib/ffmpeg.ts';
import type { Frame } from '../../../edge/vision/detector/types.ts';
import type { ModelSlot, SlotResult } from '../../../edge/models/slot.ts';

export async function decodeFrames(file: string, count: number, width = 768, height = 576, everyNth = 1): Promise<Frame[]> {
  const ff = resolveFfmpeg();
  // the selected frames pass through unchanged (-fps_mode passthrough, or -vsync 0 on ffmpeg < 5.1)
  const args = ['-v', 'error', '-i', file, '-vf', `select=not(mod(n\\,${everyNth})),scale=${width}:${height}`, ...passthroughFpsArgs(ff), '-frames:v', String(count), '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'];
  const p = spawn(ff.path, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  let err = '';
  p.stdout.on('data', (c: Buffer) => chunks.push(c));
  p.stderr.on('data', (c: Buffer) => { err += c.toString(); });
  const code = await new Promise<number>((r) => p.on('close', (c) => r(c ?? 1)));
  if (code !== 0) throw new Error(`ffmpeg failed (${code}, ${ff.path}): ${err}`);
  const all = Buffer.concat(chunks);
  const size = width * height * 3;
  const frames: Frame[] = [];
  for (let o = 0; o + size <= all.length; o += size) frames.push({ data: new Uint8Array(all.subarray(o, o + size)), width, height });
  return frames;
}

export interface PumpRecord {
  seq: number;
  frame: number;
  model: string;
  labels: string[];
  boxes: number[][];
  ms: number;
  doneAt: number;
}

export class FramePump {
  readonly records: PumpRecord[] = [];
  readonly errors: Array<{ seq: number; message: string }> = [];
  sent = 0;
  private stopped = false;
  private loop?: Promise<void>;

  constructor(private readonly slot: ModelSlot, private readonly frames: Frame[], private readonly fps = 10) {}

  start(): this {
    this.loop = (async () => {
      const interval = 1000 / this.fps;
      let next = performance.now();
      while (!this.stopped) {
        const seq = this.sent++;
        const idx = seq % this.frames.length;
        const t0 = performance.now();
        try {
          const r: SlotResult = await this.slot.detect(this.frames[idx]);
          this.records.push({ seq, frame: idx, model: `${r.model.name}@${r.model.version}`, labels: r.detections.map((d) => d.label), boxes: r.detections.map((d) => d.box), ms: performance.now() - t0, doneAt: Date.now() });
        } catch (err) {
          this.errors.push({ seq, message: (err as Error).message });
        }
        next += interval;
        const wait = next - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        else next = performance.now();
      }
    })();
    return this;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  models(): string[] {
    return [...new Set(this.records.map((r) => r.model))];
  }
}
