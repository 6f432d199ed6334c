/**
 * ByteTrack-style multi-object tracker (Zhang et al., "ByteTrack: Multi-Object Tracking by
 * Associating Every Detection Box", ECCV 2022), simplified: constant-velocity box prediction
 * instead of a Kalman filter, greedy IoU association instead of Hungarian.
 *  1. predict every track's box at the frame time;
 *  2. associate HIGH-score detections with all tracks (IoU ≥ matchIoU);
 *  3. associate LOW-score detections with the still-unmatched confirmed tracks (IoU ≥ lowMatchIoU),
 *     which keeps ids through partial occlusion where the detector's score dips;
 *  4. (recovery, after OC-SORT's observation-centric re-update) an unmatched high detection close to a
 *     LOST track of the same group (centre distance ≤ recoverDistance × box height) re-attaches to it —
 *     a walker hidden behind a sign for a second keeps the id even though IoU with the stale box is 0;
 *  5. unmatched high detections (score ≥ newTrackScore) start tentative tracks, confirmed after
 *     `minHits` matches; unmatched tracks are kept as lost for `maxLostMs`, then removed.
 * Association is within a class group (vehicles car/truck/bus/motorbike form one group, so a car
 * flickering to truck keeps its id); a track's label is the majority of its detections.
 */
import type { Box, Detection } from '../detector/types.ts';
import { iou } from '../detector/types.ts';

export interface TrackerOptions {
  highScore?: number;
  lowScore?: number;
  newTrackScore?: number;
  matchIoU?: number;
  lowMatchIoU?: number;
  minHits?: number;
  maxLostMs?: number;
  /** Stage 4 gate in box heights; 0 disables recovery. */
  recoverDistance?: number;
}

export interface Track {
  id: number;
  label: string;
  score: number;
  box: Box;
  firstTs: number;
  lastTs: number;
  hits: number;
  state: 'tentative' | 'confirmed' | 'lost';
}

interface TrackState extends Track {
  vel: [number, number, number, number]; // px per ms of x1,y1,x2,y2
  votes: Map<string, number>;
}

const VEHICLES = new Set(['car', 'truck', 'bus', 'motorbike', 'motorcycle']);
const group = (label: string) => (VEHICLES.has(label) ? 'vehicle' : label);

export class ByteTracker {
  private tracks: TrackState[] = [];
  /** Lost tracks re-attached by stage 4. */
  recovered = 0;
  private nextId = 1;
  private readonly o: Required<TrackerOptions>;
  constructor(opts: TrackerOptions = {}) {
    this.o = { highScore: 0.5, lowScore: 0.1, newTrackScore: 0.5, matchIoU: 0.2, lowMatchIoU: 0.4, minHits: 2, maxLostMs: 1500, recoverDistance: 1.5, ...opts };
  }

  private predict(t: TrackState, ts: number): Box {
    const dt = Math.min(ts - t.lastTs, 1000);
    return [t.box[0] + t.vel[0] * dt, t.box[1] + t.vel[1] * dt, t.box[2] + t.vel[2] * dt, t.box[3] + t.vel[3] * dt];
  }

  private associate(tracks: TrackState[], dets: Detection[], ts: number, minIoU: number): Array<[TrackState, Detection]> {
    const pairs: Array<{ t: TrackState; d: Detection; v: number }> = [];
    for (const t of tracks) {
      const p = this.predict(t, ts);
      for (const d of dets) {
        if (group(d.label) !== group(t.label)) continue;
        const v = iou(p, d.box);
        if (v >= minIoU) pairs.push({ t, d, v });
      }
    }
    pairs.sort((a, b) => b.v - a.v);
    const usedT = new Set<TrackState>(), usedD = new Set<Detection>();
    const out: Array<[TrackState, Detection]> = [];
    for (const { t, d } of pairs) {
      if (usedT.has(t) || usedD.has(d)) continue;
      usedT.add(t); usedD.add(d);
      out.push([t, d]);
    }
    return out;
  }

  private apply(t: TrackState, d: Detection, ts: number): void {
    const dt = ts - t.lastTs;
    if (dt > 0) {
      for (let i = 0; i < 4; i++) {
        const v = (d.box[i] - t.box[i]) / dt;
        t.vel[i] = t.hits > 1 ? 0.6 * t.vel[i] + 0.4 * v : v; // smoothed
      }
    }
    t.box = [...d.box];
    t.score = d.score;
    t.lastTs = ts;
    t.hits++;
    t.votes.set(d.label, (t.votes.get(d.label) ?? 0) + 1);
    let best = t.label, n = 0;
    for (const [l, c] of t.votes) if (c > n) { best = l; n = c; }
    t.label = best;
    if (t.state === 'lost' || (t.state === 'tentative' && t.hits >= this.o.minHits)) t.state = 'confirmed';
  }

  /** Feed one frame's detections; returns the confirmed tracks seen in this frame. */
  update(dets: Detection[], ts: number): Track[] {
    const high = dets.filter((d) => d.score >= this.o.highScore);
    const low = dets.filter((d) => d.score < this.o.highScore && d.score >= this.o.lowScore);
    const matched = new Set<TrackState>();
    const first = this.associate(this.tracks, high, ts, this.o.matchIoU);
    for (const [t, d] of first) { this.apply(t, d, ts); matched.add(t); }
    const usedHigh = new Set(first.map(([, d]) => d));
    const second = this.associate(this.tracks.filter((t) => !matched.has(t) && t.state !== 'tentative'), low, ts, this.o.lowMatchIoU);
    for (const [t, d] of second) { this.apply(t, d, ts); matched.add(t); }
    // unmatched tracks: tentative die at once, others become lost and expire
    this.tracks = this.tracks.filter((t) => {
      if (matched.has(t)) return true;
      if (t.state === 'tentative') return false;
      t.state = 'lost';
      return ts - t.lastTs <= this.o.maxLostMs;
    });
    for (const [, d] of second) usedHigh.add(d);
    if (this.o.recoverDistance > 0) {
      const lost = this.tracks.filter((t) => t.state === 'lost' && !matched.has(t));
      const cands: Array<{ t: TrackState; d: Detection; dist: number }> = [];
      for (const d of high) {
        if (usedHigh.has(d)) continue;
        const [dx, dy] = centre(d.box);
        for (const t of lost) {
          if (group(t.label) !== group(d.label)) continue;
          const [tx, ty] = centre(t.box);
          const dist = Math.hypot(dx - tx, dy - ty);
          if (dist <= this.o.recoverDistance * Math.max(t.box[3] - t.box[1], d.box[3] - d.box[1])) cands.push({ t, d, dist });
        }
      }
      cands.sort((a, b) => a.dist - b.dist);
      for (const { t, d } of cands) {
        if (matched.has(t) || usedHigh.has(d)) continue;
        t.vel = [0, 0, 0, 0];
        t.hits = 1; // velocity restarts from here
        this.apply(t, d, ts);
        matched.add(t);
        usedHigh.add(d);
        this.recovered++;
      }
    }
    for (const d of high) {
      if (usedHigh.has(d) || d.score < this.o.newTrackScore) continue;
      const t: TrackState = { id: this.nextId++, label: d.label, score: d.score, box: [...d.box], firstTs: ts, lastTs: ts, hits: 1, state: this.o.minHits <= 1 ? 'confirmed' : 'tentative', vel: [0, 0, 0, 0], votes: new Map([[d.label, 1]]) };
      this.tracks.push(t);
    }
    return this.tracks.filter((t) => t.state === 'confirmed' && t.lastTs === ts).map(publicTrack);
  }

  /** All live tracks including lost ones (for rules that must see a track disappear). */
  live(): Track[] {
    return this.tracks.filter((t) => t.state !== 'tentative').map(publicTrack);
  }

  get size(): number {
    return this.tracks.length;
  }
}

const centre = (b: Box): [number, number] => [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2];

function publicTrack(t: TrackState): Track {
  return { id: t.id, label: t.label, score: t.score, box: [...t.box], firstTs: t.firstTs, lastTs: t.lastTs, hits: t.hits, state: t.state };
}
