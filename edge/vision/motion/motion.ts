/**
 * Cheap motion detection on a small grey image, after Frigate's motion detector
 * (frigate/motion/improved_motion.py): downscale, grey, blur, absolute difference against a
 * running-average background, threshold, dilate, connected regions with their boxes; tiny
 * regions are ignored; a change over most of the image (lights, IR switch, camera moved) is a
 * scene change: the background is re-taken from the current image (calibration) instead of
 * reporting motion everywhere.
 *
 * The small grey image is computed from the rgb24 frame in one tight loop: each cell of
 * `scale`×`scale` pixels is the mean of a sub-grid of its pixels (4×4 samples at scale 8), luma
 * BT.601 in integer arithmetic. 768×576 → 96×72 costs ≈ 0.1–0.2 ms (bench/cameras.ts measures it).
 */
import type { Frame } from '../detector/types.ts';

export interface MotionOptions {
  /** Grey-level difference (0–255) of a cell from the background that counts as changed. */
  threshold: number;
  /** Downscale factor: one cell of the small image covers scale × scale frame pixels. */
  scale: number;
  /** Weight of the current image in the running-average background (per frame). */
  alpha: number;
  /** Changed regions smaller than this fraction of the image are ignored (noise, leaves). */
  minArea: number;
  /** A change over more than this fraction of the image is a scene change: recalibrate. */
  sceneChange: number;
}

export const MOTION_DEFAULTS: MotionOptions = { threshold: 25, scale: 8, alpha: 0.02, minArea: 0.001, sceneChange: 0.6 };

export interface MotionResult {
  /** Changed regions (dilated), in frame pixels [x1, y1, x2, y2]. */
  boxes: Array<[number, number, number, number]>;
  /** Fraction of the small image that changed (before the minArea filter). */
  changed: number;
  /** True on the first image and after a scene change: the background was (re)taken, nothing is known. */
  calibrating: boolean;
  /** Time spent in detect() (ms). */
  ms: number;
}

export class MotionDetector {
  private readonly o: MotionOptions;
  private gw = 0;
  private gh = 0;
  private grey = new Float32Array(0);
  private tmp = new Float32Array(0);
  private bg = new Float32Array(0);
  private mask = new Uint8Array(0);
  private dil = new Uint8Array(0);
  private label = new Int32Array(0);
  private stack = new Int32Array(0);
  private frameW = 0;
  private frameH = 0;
  private calibrated = false;
  /** Scene changes seen (recalibrations after the first image). */
  sceneChanges = 0;

  constructor(opts: Partial<MotionOptions> = {}) {
    this.o = { ...MOTION_DEFAULTS, ...opts };
  }

  /** Small-image size for a frame (cells). */
  gridFor(width: number, height: number): { w: number; h: number } {
    return { w: Math.max(1, Math.floor(width / this.o.scale)), h: Math.max(1, Math.floor(height / this.o.scale)) };
  }

  private resize(width: number, height: number): void {
    const { w, h } = this.gridFor(width, height);
    this.gw = w; this.gh = h; this.frameW = width; this.frameH = height;
    const n = w * h;
    this.grey = new Float32Array(n); this.tmp = new Float32Array(n); this.bg = new Float32Array(n);
    this.mask = new Uint8Array(n); this.dil = new Uint8Array(n); this.label = new Int32Array(n); this.stack = new Int32Array(n);
    this.calibrated = false;
  }

  /** The blurred small grey image of the last frame (tests, debugging). */
  get image(): { data: Float32Array; width: number; height: number } {
    return { data: this.grey, width: this.gw, height: this.gh };
  }

  /** Compute the small grey image of an rgb24 frame into `this.grey`, then blur it. */
  private toGrey(f: Frame): void {
    const s = this.o.scale, W = f.width, d = f.data, gw = this.gw, gh = this.gh, g = this.grey;
    const step = Math.max(1, s >> 1); // 2×2 samples per cell (like a bilinear downscale; the blur does the rest)
    const per = Math.ceil(s / step) ** 2;
    const inv = 1 / (per * 256);
    for (let cy = 0; cy < gh; cy++) {
      const y0 = cy * s;
      for (let cx = 0; cx < gw; cx++) {
        const x0 = cx * s;
        let sum = 0;
        for (let y = y0; y < y0 + s; y += step) {
          let p = (y * W + x0) * 3;
          const pe = p + s * 3;
          const st = step * 3;
          for (; p < pe; p += st) sum += d[p] * 77 + d[p + 1] * 150 + d[p + 2] * 29;
        }
        g[cy * gw + cx] = sum * inv;
      }
    }
    // separable [1 2 1]/4 blur (≈ Gaussian σ 0.7 cells), edges clamped
    const t = this.tmp;
    for (let y = 0; y < gh; y++) {
      const r = y * gw;
      for (let x = 0; x < gw; x++) {
        const l = g[r + (x > 0 ? x - 1 : x)], c = g[r + x], rr = g[r + (x < gw - 1 ? x + 1 : x)];
        t[r + x] = (l + 2 * c + rr) * 0.25;
      }
    }
    for (let y = 0; y < gh; y++) {
      const up = (y > 0 ? y - 1 : y) * gw, r = y * gw, dn = (y < gh - 1 ? y + 1 : y) * gw;
      for (let x = 0; x < gw; x++) g[r + x] = (t[up + x] + 2 * t[r + x] + t[dn + x]) * 0.25;
    }
  }

  /** Run on one frame: motion boxes, changed fraction, calibration state. */
  detect(f: Frame): MotionResult {
    const t0 = performance.now();
    if (f.width !== this.frameW || f.height !== this.frameH) this.resize(f.width, f.height);
    this.toGrey(f);
    const n = this.gw * this.gh, g = this.grey, bg = this.bg;
    if (!this.calibrated) {
      bg.set(g);
      this.calibrated = true;
      return { boxes: [], changed: 0, calibrating: true, ms: performance.now() - t0 };
    }
    const th = this.o.threshold, mask = this.mask;
    let changedCells = 0;
    for (let i = 0; i < n; i++) {
      const on = Math.abs(g[i] - bg[i]) > th ? 1 : 0;
      mask[i] = on;
      changedCells += on;
    }
    const changed = changedCells / n;
    if (changed > this.o.sceneChange) {
      // lights, IR switch, a moved camera: a new background, no motion reported
      bg.set(g);
      this.sceneChanges++;
      return { boxes: [], changed, calibrating: true, ms: performance.now() - t0 };
    }
    const a = this.o.alpha, b = 1 - a;
    for (let i = 0; i < n; i++) bg[i] = bg[i] * b + g[i] * a;
    const boxes = changedCells ? this.regions() : [];
    return { boxes, changed, calibrating: false, ms: performance.now() - t0 };
  }

  /** Dilate the mask (3×3), label 8-connected regions, keep those ≥ minArea, boxes in frame pixels. */
  private regions(): Array<[number, number, number, number]> {
    const gw = this.gw, gh = this.gh, m = this.mask, dil = this.dil, lab = this.label, st = this.stack;
    for (let y = 0; y < gh; y++) {
      for (let x = 0; x < gw; x++) {
        let on = 0;
        for (let yy = Math.max(0, y - 1); yy <= Math.min(gh - 1, y + 1) && !on; yy++) {
          for (let xx = Math.max(0, x - 1); xx <= Math.min(gw - 1, x + 1); xx++) if (m[yy * gw + xx]) { on = 1; break; }
        }
        dil[y * gw + x] = on;
      }
    }
    lab.fill(0);
    const minCells = Math.max(1, this.o.minArea * gw * gh);
    const sx = this.frameW / gw, sy = this.frameH / gh;
    const out: Array<[number, number, number, number]> = [];
    let next = 1;
    for (let i = 0; i < gw * gh; i++) {
      if (!dil[i] || lab[i]) continue;
      const id = next++;
      let sp = 0, area = 0, x1 = gw, y1 = gh, x2 = -1, y2 = -1;
      st[sp++] = i; lab[i] = id;
      while (sp) {
        const p = st[--sp];
        area++;
        const px = p % gw, py = (p - px) / gw;
        if (px < x1) x1 = px; if (px > x2) x2 = px; if (py < y1) y1 = py; if (py > y2) y2 = py;
        for (let yy = py - 1; yy <= py + 1; yy++) {
          if (yy < 0 || yy >= gh) continue;
          for (let xx = px - 1; xx <= px + 1; xx++) {
            if (xx < 0 || xx >= gw) continue;
            const q = yy * gw + xx;
            if (dil[q] && !lab[q]) { lab[q] = id; st[sp++] = q; }
          }
        }
      }
      if (area >= minCells) out.push([Math.round(x1 * sx), Math.round(y1 * sy), Math.min(this.frameW, Math.round((x2 + 1) * sx)), Math.min(this.frameH, Math.round((y2 + 1) * sy))]);
    }
    return out;
  }

  /** Forget the background: the next frame calibrates. */
  reset(): void {
    this.calibrated = false;
  }
}
