/**
 * ModelSlot: the holder a camera pipeline asks for "the current detector" on every frame.
 *
 * `detect(frame)` reads the active model at call time and runs the frame on it; `install(next)`
 * replaces the active model in one synchronous assignment, i.e. between two frames. A frame that
 * started on the old model finishes on it (the old runtime is closed only once it has drained),
 * so the pipeline never sees a half-loaded model and no frame is lost to a swap.
 * Per-model statistics (frames, errors, detections, latency) feed the rollout health gates.
 */
import type { DetectResult, Frame } from '../vision/detector/types.ts';
import type { ModelCard } from '../../models/card.ts';

/** What the slot needs of a loaded model (DetectorWorker satisfies it). */
export interface ModelRuntime {
  detect(frame: Frame): Promise<DetectResult>;
  close(): Promise<void>;
  readonly inFlight?: number;
}

export interface LoadedModel {
  name: string;
  version: string;
  /** sha256 of the bundle (or of the weights for a local card). */
  digest: string;
  card: ModelCard;
  runtime: ModelRuntime;
}

export interface SlotResult extends DetectResult {
  model: { name: string; version: string };
}

interface Window {
  frames: number;
  errors: number;
  detections: number;
  lat: number[];
  since: number;
}

export interface ModelWindowStats {
  model: string;
  version: string;
  frames: number;
  errors: number;
  detections: number;
  fps: number;
  p50Ms: number;
  p95Ms: number;
  windowMs: number;
}

const MAX_SAMPLES = 2048;

export function percentile(sorted: number[], q: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export class ModelSlot {
  private active?: LoadedModel;
  private readonly windows = new Map<string, Window>();
  /** Frames that found no model installed (before the first load). */
  noModel = 0;
  swaps = 0;

  current(): LoadedModel | undefined {
    return this.active;
  }

  /** Run one frame on the model active at call time. */
  async detect(frame: Frame): Promise<SlotResult> {
    const m = this.active;
    if (!m) {
      this.noModel++;
      throw Object.assign(new Error('no model loaded yet'), { code: 'MODEL_NOT_LOADED' });
    }
    const w = this.window(m);
    const t0 = performance.now();
    try {
      const r = await m.runtime.detect(frame);
      const ms = performance.now() - t0;
      w.frames++;
      w.detections += r.detections.length;
      if (w.lat.length < MAX_SAMPLES) w.lat.push(ms);
      else w.lat[w.frames % MAX_SAMPLES] = ms;
      return { ...r, model: { name: m.name, version: m.version } };
    } catch (err) {
      w.errors++;
      throw err;
    }
  }

  /** Swap in `next` (synchronous: takes effect for the next frame). Returns the model it replaced. */
  install(next: LoadedModel): LoadedModel | undefined {
    const old = this.active;
    this.active = next;
    this.swaps++;
    return old;
  }

  private window(m: LoadedModel): Window {
    const k = `${m.name}@${m.version}`;
    let w = this.windows.get(k);
    if (!w) { w = { frames: 0, errors: 0, detections: 0, lat: [], since: Date.now() }; this.windows.set(k, w); }
    return w;
  }

  /** Statistics per model since the last call, then start new windows. */
  takeStats(now = Date.now()): ModelWindowStats[] {
    const out: ModelWindowStats[] = [];
    for (const [k, w] of this.windows) {
      if (!w.frames && !w.errors) continue;
      const [model, version] = k.split('@');
      const sorted = [...w.lat].sort((a, b) => a - b);
      const windowMs = Math.max(1, now - w.since);
      out.push({ model, version, frames: w.frames, errors: w.errors, detections: w.detections, fps: (w.frames * 1000) / windowMs, p50Ms: percentile(sorted, 0.5), p95Ms: percentile(sorted, 0.95), windowMs });
    }
    this.windows.clear();
    return out;
  }
}

/** Wait until a runtime has no frame in flight, then close it. */
export async function closeWhenDrained(rt: ModelRuntime, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((rt.inFlight ?? 0) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  await rt.close();
}

/** Process-wide slots by (site, slot name): the camera source of a site looks its slot up here. */
const slots = new Map<string, ModelSlot>();
export function modelSlot(site: string, name = 'main'): ModelSlot {
  const k = `${site}/${name}`;
  let s = slots.get(k);
  if (!s) { s = new ModelSlot(); slots.set(k, s); }
  return s;
}
export function dropModelSlot(site: string, name = 'main'): void {
  slots.delete(`${site}/${name}`);
}
