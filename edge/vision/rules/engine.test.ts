import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../../lib/config.ts';
import { Type } from '@sinclair/typebox';
import type { Track } from '../tracker/byte-tracker.ts';
import { RulesEngine } from './engine.ts';
import { Rule } from './schema.ts';

const rules = (raw: unknown[]) => validateConfig(Type.Array(Rule), raw, 'test');
/** A 100×100 frame; the anchor is the bottom-centre of the box → place the anchor at (x, y). */
const tr = (id: number, x: number, y: number, label = 'person'): Track => ({ id, label, score: 0.9, box: [x - 5, y - 20, x + 5, y], firstTs: 0, lastTs: 0, hits: 5, state: 'confirmed' });

describe('rules engine', () => {
  it('dwell: one start after N s, survives a short exit (grace), one end after leaving; cool-down', () => {
    const e = new RulesEngine('cam', rules([{ id: 'z', type: 'dwell', zone: [[0, 0], [0.5, 0], [0.5, 0.5], [0, 0.5]], seconds: 3, exitGraceS: 1, cooldownS: 10 }]));
    const all = [];
    for (let t = 0; t <= 6000; t += 200) {
      const x = t >= 4000 && t < 4400 ? 60 : 20; // steps out for 0.4 s at 4.0 s
      all.push(...e.update(t < 5000 ? [tr(1, x, 20)] : [tr(1, 80, 80)], t, 100, 100));
    }
    expect(all.map((v) => `${v.phase}@${v.ts}`)).toEqual(['start@3000', 'end@6000']);
    expect(all[0].key).toBe(all[1].key);
    expect(all[1].data.dwellS).toBeCloseTo(4.8, 5);
  });

  it('line: counts each direction once per crossing, ignores jitter on the line and crossings beyond the segment', () => {
    const e = new RulesEngine('cam', rules([{ id: 'l', type: 'line', line: [[0.5, 0], [0.5, 0.6]], margin: 0.02, cooldownS: 0 }]));
    const xs = [30, 40, 49, 51, 49, 51, 60, 70]; // left→right with jitter at the line
    xs.forEach((x, i) => e.update([tr(1, x, 30)], i * 100, 100, 100));
    [70, 60, 40, 30].forEach((x, i) => e.update([tr(1, x, 30)], 1000 + i * 100, 100, 100)); // back
    [30, 70].forEach((x, i) => e.update([tr(2, x, 90)], 2000 + i * 100, 100, 100)); // below the segment end (y 0.9 > 0.6)
    [20, 80].forEach((x, i) => e.update([tr(3, x, 10)], 3000 + i * 100, 100, 100)); // a second walker left→right
    // line drawn top→bottom: forward ('in') is left→right
    expect(e.counts.l).toEqual({ in: 2, out: 1 });
  });

  it('crowd: hysteresis on/off and cool-down make one event per situation', () => {
    const e = new RulesEngine('cam', rules([{ id: 'c', type: 'crowd', zone: [[0, 0], [1, 0], [1, 1], [0, 1]], threshold: 3, onS: 1, offS: 1, cooldownS: 5 }]));
    const out = [];
    const n = (t: number) => (t < 1000 ? 1 : t < 4000 ? (t === 2000 ? 2 : 4) : t < 6000 ? 1 : 4);
    for (let t = 0; t <= 8000; t += 200) out.push(...e.update(Array.from({ length: n(t) }, (_, i) => tr(i + 1, 10 + i * 10, 50)), t, 100, 100));
    // the dip to 2 at 2.0 s restarts the on-timer; no new start at 6 s (cool-down)
    expect(out.map((v) => `${v.phase}@${v.ts}`)).toEqual(['start@3200', 'end@5000']);
  });
});
