import { describe, expect, it } from 'vitest';
import type { Detection } from '../detector/types.ts';
import { ByteTracker } from './byte-tracker.ts';

const det = (label: string, score: number, x: number, y: number, w = 20, h = 40): Detection => ({ cls: 0, label, score, box: [x, y, x + w, y + h] });

describe('ByteTracker', () => {
  it('keeps ids for two walkers crossing paths, through a low-score frame and a one-frame miss', () => {
    const tr = new ByteTracker();
    const ids = new Map<string, Set<number>>([['a', new Set()], ['b', new Set()]]);
    for (let f = 0; f < 30; f++) {
      const ts = 1000 + f * 200;
      const a = det('person', f === 12 ? 0.3 : 0.8, 10 + f * 5, 100); // score dip at frame 12 (second stage)
      const b = det('person', 0.8, 300 - f * 5, 160);
      const dets = f === 20 ? [b] : [a, b]; // a missed at frame 20
      const tracks = tr.update(dets, ts);
      for (const t of tracks) {
        if (Math.abs(t.box[1] - 100) < 1) ids.get('a')!.add(t.id);
        if (Math.abs(t.box[1] - 160) < 1) ids.get('b')!.add(t.id);
      }
    }
    expect(ids.get('a')!.size).toBe(1);
    expect(ids.get('b')!.size).toBe(1);
    expect([...ids.get('a')!][0]).not.toBe([...ids.get('b')!][0]);
  });

  it('needs minHits before confirming, expires lost tracks, and car/truck flicker keeps one id', () => {
    const tr = new ByteTracker({ maxLostMs: 500 });
    expect(tr.update([det('car', 0.9, 0, 0, 100, 50)], 0)).toHaveLength(0); // tentative
    const t1 = tr.update([det('truck', 0.9, 2, 0, 100, 50)], 100);
    expect(t1).toHaveLength(1);
    const t2 = tr.update([det('car', 0.9, 4, 0, 100, 50)], 200);
    expect(t2[0].id).toBe(t1[0].id);
    expect(t2[0].label).toBe('car');
    tr.update([], 400);
    expect(tr.live()[0].state).toBe('lost');
    tr.update([], 800);
    expect(tr.size).toBe(0);
    // low-score detections never start tracks
    tr.update([det('person', 0.3, 0, 0)], 900);
    tr.update([det('person', 0.3, 0, 0)], 1000);
    expect(tr.size).toBe(0);
  });

  it('recovers a lost walker that reappears a short distance away (occlusion), but not a far one', () => {
    const tr = new ByteTracker();
    tr.update([det('person', 0.9, 400, 200)], 0);
    const [a] = tr.update([det('person', 0.9, 400, 200)], 200);
    for (let t = 400; t <= 1000; t += 200) tr.update([], t); // hidden for 0.8 s, walking left meanwhile
    const [b] = tr.update([det('person', 0.9, 340, 200)], 1200); // 60 px away, box height 40 → within 1.5×
    expect(b?.id).toBe(a.id);
    expect(tr.recovered).toBe(1);
    for (let t = 1400; t <= 2000; t += 200) tr.update([], t);
    tr.update([det('person', 0.9, 100, 200)], 2200); // 240 px away: a new tentative track
    expect(tr.recovered).toBe(1);
  });
});
