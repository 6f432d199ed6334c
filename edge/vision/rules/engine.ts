/**
 * Per-camera rules over tracked objects. The anchor of an object is the bottom-centre of its
 * box (where it stands), normalised by the frame size. One situation = one event: dwell and crowd
 * have a `start` and an `end` sharing a key, with hysteresis (grace / on / off times) and a
 * cool-down; line crossings are `instant` events, counted per direction.
 */
import type { Track } from '../tracker/byte-tracker.ts';
import { pointInPolygon, segmentsIntersect, signedDistance, type Pt } from './geometry.ts';
import type { CountRule, CrowdRule, DwellRule, LineRule, Rule } from './schema.ts';

export interface RuleEvent {
  type: 'zone.dwell' | 'line.cross' | 'crowd';
  phase: 'start' | 'end' | 'instant';
  key: string;
  rule: string;
  ts: number;
  data: Record<string, unknown>;
  snapshot: boolean;
  /** Tracks to highlight in the snapshot. */
  trackIds: number[];
}

interface DwellState { enteredTs: number; lastInTs: number; active: boolean; startTs?: number; cooldownUntil: number }
interface LineState { side: number; lastPt: Pt; sidePt: Pt; cooldownUntil: number }
interface CrowdState { active: boolean; aboveSince?: number; belowSince?: number; cooldownUntil: number; seq: number; startTs?: number; peak: number }

const anchor = (t: Track, W: number, H: number): Pt => [(t.box[0] + t.box[2]) / 2 / W, t.box[3] / H];

export class RulesEngine {
  private dwell = new Map<string, Map<number, DwellState>>();
  private lines = new Map<string, Map<number, LineState>>();
  private crowd = new Map<string, CrowdState>();
  readonly counts: Record<string, Record<string, number>> = {};
  readonly zoneCounts: Record<string, number> = {};

  constructor(readonly camera: string, readonly rules: Rule[]) {
    for (const r of rules) if (r.type === 'line') this.counts[r.id] = { [r.names.forward]: 0, [r.names.backward]: 0 };
  }

  /** `tracks`: confirmed tracks updated in this frame. */
  update(tracks: Track[], ts: number, W: number, H: number): RuleEvent[] {
    const ev: RuleEvent[] = [];
    for (const r of this.rules) {
      const mine = tracks.filter((t) => r.classes.includes(t.label));
      if (r.type === 'dwell') this.updDwell(r, mine, ts, W, H, ev);
      else if (r.type === 'line') this.updLine(r, mine, ts, W, H, ev);
      else if (r.type === 'crowd') this.updCrowd(r, mine, ts, W, H, ev);
      else this.updCount(r, mine, W, H);
    }
    return ev;
  }

  private updCount(r: CountRule, tracks: Track[], W: number, H: number): void {
    this.zoneCounts[r.id] = tracks.filter((t) => pointInPolygon(anchor(t, W, H), r.zone as Pt[])).length;
  }

  private updDwell(r: DwellRule, tracks: Track[], ts: number, W: number, H: number, ev: RuleEvent[]): void {
    let states = this.dwell.get(r.id);
    if (!states) this.dwell.set(r.id, (states = new Map()));
    const seen = new Set<number>();
    for (const t of tracks) {
      seen.add(t.id);
      const inside = pointInPolygon(anchor(t, W, H), r.zone as Pt[]);
      let s = states.get(t.id);
      if (inside) {
        if (!s) states.set(t.id, (s = { enteredTs: ts, lastInTs: ts, active: false, cooldownUntil: 0 }));
        else if (!s.active && ts - s.lastInTs > r.exitGraceS * 1000) s.enteredTs = ts; // left and came back: restart the clock
        s.lastInTs = ts;
        if (!s.active && ts - s.enteredTs >= r.seconds * 1000 && ts >= s.cooldownUntil) {
          s.active = true;
          s.startTs = ts;
          ev.push({ type: 'zone.dwell', phase: 'start', key: `${this.camera}:${r.id}:${t.id}:${ts}`, rule: r.id, ts, snapshot: r.snapshot, trackIds: [t.id],
            data: { rule: r.id, trackId: t.id, class: t.label, enteredAt: s.enteredTs, dwellS: (ts - s.enteredTs) / 1000, box: t.box.map(Math.round) } });
        }
      }
    }
    for (const [id, s] of states) {
      const outFor = ts - s.lastInTs;
      if (outFor <= r.exitGraceS * 1000) continue; // inside, or out for less than the grace time
      if (s.active) {
        ev.push({ type: 'zone.dwell', phase: 'end', key: `${this.camera}:${r.id}:${id}:${s.startTs}`, rule: r.id, ts, snapshot: false, trackIds: [id],
          data: { rule: r.id, trackId: id, enteredAt: s.enteredTs, leftAt: s.lastInTs, dwellS: (s.lastInTs - s.enteredTs) / 1000, reason: seen.has(id) ? 'left' : 'lost' } });
        s.active = false;
        s.cooldownUntil = ts + r.cooldownS * 1000;
      }
      if (ts >= s.cooldownUntil) states.delete(id);
    }
  }

  private updLine(r: LineRule, tracks: Track[], ts: number, W: number, H: number, ev: RuleEvent[]): void {
    let states = this.lines.get(r.id);
    if (!states) this.lines.set(r.id, (states = new Map()));
    const [a, b] = r.line as [Pt, Pt];
    const seen = new Set<number>();
    for (const t of tracks) {
      seen.add(t.id);
      const p = anchor(t, W, H);
      const d = signedDistance(p, a, b);
      const side = d > r.margin ? 1 : d < -r.margin ? -1 : 0;
      const s = states.get(t.id);
      if (!s) { states.set(t.id, { side, lastPt: p, sidePt: p, cooldownUntil: 0 }); continue; }
      s.lastPt = p;
      if (side === 0) continue;
      if (s.side === 0) { s.side = side; s.sidePt = p; continue; }
      if (side !== s.side) {
        // confirmed side change: count it if the path crossed the segment itself (not its extension)
        if (segmentsIntersect(s.sidePt, p, a, b) && ts >= s.cooldownUntil) {
          // forward = direction of a→b turned 90° counter-clockwise on screen (signed distance + → −)
          const direction = s.side > 0 ? r.names.forward : r.names.backward;
          this.counts[r.id][direction]++;
          s.cooldownUntil = ts + r.cooldownS * 1000;
          ev.push({ type: 'line.cross', phase: 'instant', key: `${this.camera}:${r.id}:${t.id}:${ts}`, rule: r.id, ts, snapshot: r.snapshot, trackIds: [t.id],
            data: { rule: r.id, trackId: t.id, class: t.label, direction, counts: { ...this.counts[r.id] } } });
        }
        s.side = side;
      }
      s.sidePt = p;
    }
    for (const id of states.keys()) if (!seen.has(id) && ts - (states.get(id)!.cooldownUntil - r.cooldownS * 1000) > 10_000) states.delete(id);
    if (states.size > 1000) for (const id of [...states.keys()].slice(0, states.size - 1000)) states.delete(id);
  }

  private updCrowd(r: CrowdRule, tracks: Track[], ts: number, W: number, H: number, ev: RuleEvent[]): void {
    let s = this.crowd.get(r.id);
    if (!s) this.crowd.set(r.id, (s = { active: false, cooldownUntil: 0, seq: 0, peak: 0 }));
    const inZone = tracks.filter((t) => pointInPolygon(anchor(t, W, H), r.zone as Pt[]));
    const n = inZone.length;
    this.zoneCounts[r.id] = n;
    if (n >= r.threshold) { s.aboveSince ??= ts; s.belowSince = undefined; } else { s.belowSince ??= ts; s.aboveSince = undefined; }
    if (s.active) s.peak = Math.max(s.peak, n);
    if (!s.active && s.aboveSince !== undefined && ts - s.aboveSince >= r.onS * 1000 && ts >= s.cooldownUntil) {
      s.active = true; s.seq++; s.startTs = ts; s.peak = n;
      ev.push({ type: 'crowd', phase: 'start', key: `${this.camera}:${r.id}:${ts}`, rule: r.id, ts, snapshot: r.snapshot, trackIds: inZone.map((t) => t.id), data: { rule: r.id, count: n, threshold: r.threshold } });
    } else if (s.active && s.belowSince !== undefined && ts - s.belowSince >= r.offS * 1000) {
      s.active = false; s.cooldownUntil = ts + r.cooldownS * 1000;
      ev.push({ type: 'crowd', phase: 'end', key: `${this.camera}:${r.id}:${s.startTs}`, rule: r.id, ts, snapshot: false, trackIds: [], data: { rule: r.id, count: n, peak: s.peak, durationS: (ts - s.startTs!) / 1000 } });
    }
  }
}
