/**
 * Replay a real day of a bike system as dock events: seed every station from a GBFS
 * station_information + station_status, then, for each hourly station_status snapshot,
 * turn the difference into DOCK/1 events (releases, dockings, dock disable/enable, plus
 * rental/return churn that nets out) sent by one simulated controller per station over
 * TCP, closing each hour with the controller's periodic full STATUS.
 */
import fs from 'node:fs';
import { dataFile } from '../../lib/data-dir.ts';
import { DockController, rng } from '../../firmware-bridge/dock/simulator.ts';
import type { DockStateChar } from '../../firmware-bridge/dock/protocol.ts';

export interface GbfsStatusDoc {
  last_updated: number;
  data: { stations: { station_id: string; num_bikes_available: number; num_docks_available: number }[] };
}
interface InfoDoc { data: { stations: { station_id: string; capacity: number }[] } }

export interface ReplayOptions {
  port: number;
  host?: string;
  token?: string;
  informationFile?: string;
  initialStatusFile?: string;
  hourlyFile?: string;
  /** Rental+return pairs per station per hour that net to zero (default 1). */
  churn?: number;
  /** Fault injection on event lines (the hourly STATUS is never dropped). */
  lossRate?: number;
  dupRate?: number;
  seed?: number;
  /** Called after hour i's events and STATUS are acknowledged by the server. */
  onHour?: (hour: number, snapshot: GbfsStatusDoc) => Promise<void> | void;
  /** Only the first n hours (default all). */
  hours?: number;
  /** Wait this long after each hour (demo pacing; default 0 = as fast as possible). */
  hourDelayMs?: number;
}

export interface ReplayResult {
  stations: number;
  hours: number;
  events: number;
  lines: number;
  dropped: number;
  duplicated: number;
}

export function osloFiles() {
  return {
    informationFile: dataFile('bikes', 'oslo_station_information_2022-10-23.json'),
    initialStatusFile: dataFile('bikes', 'oslo_station_status_2022-10-23.json'),
    hourlyFile: dataFile('bikes', 'oslo_station_status_2022-10-24_hourly.ndjson'),
  };
}

export function readHourly(file: string): GbfsStatusDoc[] {
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as GbfsStatusDoc);
}

/** Initial dock layout: bikes first, then free docks, the rest disabled (capacity − bikes − docks). */
export function layout(capacity: number, bikes: number, docks: number): string {
  const cap = Math.max(capacity, bikes + docks, 1);
  return 'B'.repeat(bikes) + 'E'.repeat(docks) + 'D'.repeat(cap - bikes - docks);
}

function pick(state: DockStateChar[], c: DockStateChar, r: () => number, not = -1): number {
  const idx: number[] = [];
  for (let i = 0; i < state.length; i++) if (state[i] === c && i !== not) idx.push(i);
  return idx.length ? idx[Math.floor(r() * idx.length)] + 1 : 0;
}

/** Plan the events that take a controller from its current state to the target counts. */
export function planHour(ctl: DockController, target: { bikes: number; docks: number }, churn: number, r: () => number): ((t: number) => void)[] {
  const s = [...ctl.state];
  const count = (c: DockStateChar) => s.filter((x) => x === c).length;
  const disabledTarget = s.length - target.bikes - target.docks;
  const ops: ((t: number) => void)[] = [];
  const card = () => `C${Math.floor(r() * 1e9).toString().padStart(9, '0')}`;
  for (let i = 0; i < churn; i++) {
    const from = pick(s, 'B', r);
    const to = pick(s, 'E', r);
    if (!from || !to) break;
    const c = card();
    ops.push((t) => ctl.release(from, c, t));
    ops.push((t) => { ctl.dock(to, undefined, t); });
    s[from - 1] = 'E'; s[to - 1] = 'B';
  }
  while (count('B') > target.bikes) { const d = pick(s, 'B', r); const c = card(); ops.push((t) => ctl.release(d, c, t)); s[d - 1] = 'E'; }
  while (count('D') > disabledTarget) { const d = pick(s, 'D', r); ops.push((t) => ctl.enable(d, t)); s[d - 1] = 'E'; }
  while (count('D') < disabledTarget) { const d = pick(s, 'E', r); ops.push((t) => ctl.disable(d, t)); s[d - 1] = 'D'; }
  while (count('B') < target.bikes) { const d = pick(s, 'E', r); ops.push((t) => { ctl.dock(d, undefined, t); }); s[d - 1] = 'B'; }
  return ops;
}

export async function replayDay(o: ReplayOptions): Promise<ReplayResult> {
  const files = { ...osloFiles(), ...Object.fromEntries(Object.entries({ informationFile: o.informationFile, initialStatusFile: o.initialStatusFile, hourlyFile: o.hourlyFile }).filter(([, v]) => v)) };
  const info = JSON.parse(fs.readFileSync(files.informationFile, 'utf8')) as InfoDoc;
  const initial = JSON.parse(fs.readFileSync(files.initialStatusFile, 'utf8')) as GbfsStatusDoc;
  const hours = readHourly(files.hourlyFile).slice(0, o.hours ?? Infinity);
  const r = rng(o.seed ?? 7);
  const cap = new Map(info.data.stations.map((s) => [s.station_id, s.capacity]));
  const ctls = new Map<string, DockController>();
  let events = 0;
  for (const s of initial.data.stations) {
    if (!cap.has(s.station_id)) continue;
    const ctl = new DockController({
      station: s.station_id, docks: layout(cap.get(s.station_id)!, s.num_bikes_available, s.num_docks_available), port: o.port, host: o.host,
      token: o.token, boot: 'replay', answerPoll: false, lossRate: o.lossRate, dupRate: o.dupRate, seed: Math.floor(r() * 2 ** 31),
    });
    ctls.set(s.station_id, ctl);
  }
  try {
    const list = [...ctls.values()];
    for (let i = 0; i < list.length; i += 50) await Promise.all(list.slice(i, i + 50).map((c) => c.connect()));
    for (const c of list) c.status(initial.last_updated * 1000);
    await Promise.all(list.map((c) => c.drain()));
    let prevT = initial.last_updated * 1000;
    for (const [h, snap] of hours.entries()) {
      const endT = snap.last_updated * 1000;
      for (const s of snap.data.stations) {
        const ctl = ctls.get(s.station_id);
        if (!ctl) continue;
        const ops = planHour(ctl, { bikes: s.num_bikes_available, docks: s.num_docks_available }, o.churn ?? 1, r);
        ops.forEach((op, i) => op(Math.round(prevT + ((i + 1) / (ops.length + 1)) * (endT - prevT))));
        events += ops.length;
        ctl.status(endT); // the controller's periodic full status closes the hour
      }
      await Promise.all(list.map((c) => c.drain()));
      prevT = endT;
      await o.onHour?.(h, snap);
      if (o.hourDelayMs) await new Promise((r) => setTimeout(r, o.hourDelayMs));
    }
    const sum = (k: 'sent' | 'dropped' | 'duplicated') => list.reduce((a, c) => a + c.counts[k], 0);
    return { stations: list.length, hours: hours.length, events, lines: sum('sent'), dropped: sum('dropped'), duplicated: sum('duplicated') };
  } finally {
    for (const c of ctls.values()) c.close();
  }
}
