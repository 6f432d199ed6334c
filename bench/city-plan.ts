/**
 * The city the `city` bench offers (bench/city.ts), as pure data: which street gateways a
 * Zhuzhou-size city has, what each one publishes and how often. No I/O and no clock: the
 * runner drives `Schedule` with the wall clock, the unit test (city-plan.test.ts) with a
 * virtual one.
 *
 * One city (the programmes of README.md, "built for a mid-size city"):
 *   bikes    1,058 stations / 26,000 docks, 10 stations per gateway       → 106 gateways
 *   cameras  2,000 cameras, 8 per gateway (one street cabinet / NVR)       → 250 gateways
 *   hj212    500 HJ 212 loggers (flue gas outlets), 5 per gateway (one
 *            enterprise or industrial-park cabinet running the HJ 212 server) → 100 gateways
 *   air      30 air-quality stations, one gateway each                     →  30 gateways
 *                                                                           = 486 gateways
 * What each publishes (the item shapes of the real edge: edge/bikes, edge/vision, edge/sources/hj212.ts,
 * edge/env, edge/health), busy-hour rates:
 *   bikes    full status of every station every 60 s (BikeSite statusEveryS) → 17.6 points/s;
 *            7,000 trips in the peak hour (of ~70k a day, bench/bikes.ts) = 2 dock events a trip
 *            → 3.9 events/s (bike.rental / bike.return), each with the changed station's status
 *            (flushMs 1 s; two events at one station within a second are rare) → 3.9 points/s
 *   cameras  camera_stats with the line counts once a minute per camera (statsIntervalS: 60; the
 *            default 10 s would be 6×) → 33.3 points/s; one counting line per camera crossed once
 *            a minute (line.cross events) → 33.3 events/s; one dwell/crowd situation per camera
 *            every 30 min (a start and an end event) → 2.2 events/s. Evidence snapshots are not sent.
 *   hj212    one minute record (CN 2051) per logger per minute, 10 factors → 83.3 points/s; in a
 *            fraction (EXCEED, 2 %) of records SO2, NOx or PM is above its limit: the edge's limit
 *            rule raises an alert, the next record below the limit clears it → 0.17 raises/s
 *   air      6 pollutants per station, the edge's minute aggregates (m: env_agg, period 1m)
 *            → 3 points/s (the national network reports hourly; the gateway has the minutes)
 *   every gateway: edge_health once a minute → 8.1 points/s; its retained status every 30 s
 *            (uplink.statusIntervalMs) → 16.2 messages/s (not items)
 *   one city ≈ 149 points/s, 39 events/s, 0.33 alerts/s = 189 items/s in ≈ 112 messages/s
 * Each emission (the items a gateway produces at one instant) is one MQTT message per channel,
 * as the edge's uplink sends what is in its outbox.
 */
import type { NewItem, SiteStatus } from '../protocol/schemas.ts';

export const CITY = { bikeStations: 1058, bikeDocks: 26_000, cameras: 2000, hj212Loggers: 500, hj212Factors: 10, airStations: 30, airPollutants: 6 } as const;
export const PER_GATEWAY = { bikes: 10, cameras: 8, hj212: 5, air: 1 } as const;
export const RATES = {
  bikeStatusEveryS: 60,
  bikeTripsPeakHour: 7000,
  cameraStatsEveryS: 60,
  lineCrossPerCameraHour: 60,
  zoneSituationsPerCameraHour: 2,
  hj212EveryS: 60,
  airEveryS: 60,
  healthEveryS: 60,
  statusEveryS: 30,
  /** Fraction of HJ 212 minute records with one factor above its limit. */
  exceed: 0.02,
} as const;

export type SiteKind = keyof typeof PER_GATEWAY;
export const SITE_KINDS: SiteKind[] = ['bikes', 'cameras', 'hj212', 'air'];

export interface SitePlan {
  site: string;
  city: number;
  kind: SiteKind;
  /** Station ids, camera ids, HJ 212 MNs or the air station id. */
  devices: string[];
  /** Docks per station (bikes). */
  capacity?: number[];
}

const pad = (n: number, w: number) => String(n).padStart(w, '0');

/** The gateways of city `c` (1-based), in a fixed order. */
export function citySites(c: number): SitePlan[] {
  const cc = pad(c, 2);
  const sites: SitePlan[] = [];
  const group = <T>(all: T[], per: number) => Array.from({ length: Math.ceil(all.length / per) }, (_, g) => all.slice(g * per, (g + 1) * per));
  // docks spread over the stations so they add up to exactly 26,000 (24 or 25 each)
  const capacity = Array.from({ length: CITY.bikeStations }, (_, i) => Math.floor(((i + 1) * CITY.bikeDocks) / CITY.bikeStations) - Math.floor((i * CITY.bikeDocks) / CITY.bikeStations));
  const stations = Array.from({ length: CITY.bikeStations }, (_, i) => i);
  group(stations, PER_GATEWAY.bikes).forEach((g, k) => sites.push({ site: `c${cc}-bikes-${pad(k + 1, 3)}`, city: c, kind: 'bikes', devices: g.map((i) => `c${cc}s${pad(i + 1, 4)}`), capacity: g.map((i) => capacity[i]) }));
  const cams = Array.from({ length: CITY.cameras }, (_, i) => `c${cc}-cam-${pad(i + 1, 4)}`);
  group(cams, PER_GATEWAY.cameras).forEach((g, k) => sites.push({ site: `c${cc}-cams-${pad(k + 1, 3)}`, city: c, kind: 'cameras', devices: g }));
  // HJ 212 MN: 430200 is Zhuzhou's administrative division code
  const mns = Array.from({ length: CITY.hj212Loggers }, (_, i) => `430200C${cc}M${pad(i + 1, 4)}0001`);
  group(mns, PER_GATEWAY.hj212).forEach((g, k) => sites.push({ site: `c${cc}-hj212-${pad(k + 1, 3)}`, city: c, kind: 'hj212', devices: g }));
  for (let i = 0; i < CITY.airStations; i++) sites.push({ site: `c${cc}-air-${pad(i + 1, 2)}`, city: c, kind: 'air', devices: [`c${cc}a${pad(i + 1, 2)}`] });
  return sites;
}

export function planSites(cities: number): SitePlan[] {
  return Array.from({ length: cities }, (_, i) => citySites(i + 1)).flat();
}

export interface KindRates { gateways: number; points: number; events: number; alerts: number; messages: number }

/** The offered rates per second of one city, from the constants above (the header's figures). */
export function cityRates(exceed: number = RATES.exceed): { byKind: Record<SiteKind | 'gateway', KindRates>; total: KindRates & { items: number } } {
  const gw = (kind: SiteKind, n: number) => Math.ceil(n / PER_GATEWAY[kind]);
  const dockEvents = (RATES.bikeTripsPeakHour * 2) / 3600;
  const lineEvents = (CITY.cameras * RATES.lineCrossPerCameraHour) / 3600;
  const zoneEvents = (CITY.cameras * RATES.zoneSituationsPerCameraHour * 2) / 3600;
  const records = CITY.hj212Loggers / RATES.hj212EveryS;
  // a record exceeds with `exceed`, on one of the 3 limited factors: a raise when that factor was not
  // already raised, and a clear in a later record below the limit (steady state: as many as raises)
  const raises = records * exceed * (1 - exceed / 3);
  const gateways = SITE_KINDS.reduce((n, k) => n + gw(k, CITY[({ bikes: 'bikeStations', cameras: 'cameras', hj212: 'hj212Loggers', air: 'airStations' } as const)[k]]), 0);
  const byKind: Record<SiteKind | 'gateway', KindRates> = {
    bikes: { gateways: gw('bikes', CITY.bikeStations), points: CITY.bikeStations / RATES.bikeStatusEveryS + dockEvents, events: dockEvents, alerts: 0, messages: gw('bikes', CITY.bikeStations) / RATES.bikeStatusEveryS + 2 * dockEvents },
    cameras: { gateways: gw('cameras', CITY.cameras), points: CITY.cameras / RATES.cameraStatsEveryS, events: lineEvents + zoneEvents, alerts: 0, messages: CITY.cameras / RATES.cameraStatsEveryS + lineEvents + zoneEvents },
    hj212: { gateways: gw('hj212', CITY.hj212Loggers), points: records * CITY.hj212Factors, events: 0, alerts: 2 * raises, messages: records + 2 * raises },
    air: { gateways: gw('air', CITY.airStations), points: (CITY.airStations * CITY.airPollutants) / RATES.airEveryS, events: 0, alerts: 0, messages: CITY.airStations / RATES.airEveryS },
    gateway: { gateways, points: gateways / RATES.healthEveryS, events: 0, alerts: 0, messages: gateways / RATES.healthEveryS + gateways / RATES.statusEveryS },
  };
  const sum = (k: keyof KindRates) => Object.values(byKind).reduce((n, r) => n + r[k], 0);
  const total = { gateways, points: sum('points'), events: sum('events'), alerts: sum('alerts'), messages: sum('messages'), items: 0 };
  total.items = total.points + total.events + total.alerts;
  return { byKind, total };
}

/** Deterministic PRNG (mulberry32), so a seed gives the same city. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What a gateway produces at one instant: items per channel, or its status. */
export interface Emission { telemetry?: NewItem[]; events?: NewItem[]; alerts?: NewItem[]; status?: SiteStatus }

/** One recurring source of emissions of a site: periodic (everyMs) or Poisson (meanMs between). */
export interface Stream {
  site: SitePlan;
  everyMs?: number;
  meanMs?: number;
  next: number;
  make: (ts: number) => Emission;
}

/** HJ 212-2017 factors of a flue gas outlet (CEMS), with typical minute values and limits (ultra-low emission). */
const FACTORS: Array<{ code: string; name: string; unit: string; mean: number; limit?: number }> = [
  { code: 'a34013', name: 'PM', unit: 'mg/m3', mean: 4, limit: 10 },
  { code: 'a21026', name: 'SO2', unit: 'mg/m3', mean: 18, limit: 35 },
  { code: 'a21002', name: 'NOx', unit: 'mg/m3', mean: 30, limit: 50 },
  { code: 'a21005', name: 'CO', unit: 'mg/m3', mean: 12 },
  { code: 'a19001', name: 'O2', unit: '%', mean: 9 },
  { code: 'a01012', name: 'flue_temperature', unit: 'degC', mean: 85 },
  { code: 'a01013', name: 'flue_pressure', unit: 'kPa', mean: 0.2 },
  { code: 'a01011', name: 'flue_velocity', unit: 'm/s', mean: 12 },
  { code: 'a01014', name: 'flue_humidity', unit: '%', mean: 8 },
  { code: 'a00000', name: 'flue_gas_flow', unit: 'm3/s', mean: 60 },
];
const LIMITED = FACTORS.filter((f) => f.limit !== undefined);
const AIR = [['PM2.5', 'ug/m3', 35], ['PM10', 'ug/m3', 60], ['SO2', 'ug/m3', 8], ['NO2', 'ug/m3', 25], ['O3', 'ug/m3', 70], ['CO', 'mg/m3', 0.7]] as const;
export const HJ212_RULE = 'hj212-limit';
const MINUTE = 60_000;
const r1 = (x: number) => Math.round(x * 10) / 10;

/**
 * The streams of one site. `t0` is the start (ms); periodic streams start at a random phase
 * within their period, so a city's gateways do not publish in lockstep.
 */
export function siteStreams(s: SitePlan, t0: number, random: () => number, exceed: number = RATES.exceed): Stream[] {
  const periodic = (everyS: number, make: Stream['make']): Stream => ({ site: s, everyMs: everyS * 1000, next: t0 + Math.floor(random() * everyS * 1000), make });
  const poisson = (perS: number, make: Stream['make']): Stream => ({ site: s, meanMs: 1000 / perS, next: t0 + Math.floor(-Math.log(1 - random()) * (1000 / perS)), make });
  const streams: Stream[] = [];
  let sentItems = 0;
  const counted = (e: Emission): Emission => { sentItems += (e.telemetry?.length ?? 0) + (e.events?.length ?? 0) + (e.alerts?.length ?? 0); return e; };
  streams.push(periodic(RATES.healthEveryS, (ts) => counted({ telemetry: [{ kind: 'telemetry', ts, m: 'edge_health', tags: {}, fields: { outbox_rows: 0, outbox_bytes: 4_194_304, outbox_cap_bytes: 268_435_456, evicted_rows: 0, dropped_rows: 0, connected: true, reconnects: 0, sent_items: sentItems, failed_messages: 0, awaiting_receipt: 0 } }] })));
  streams.push(periodic(RATES.statusEveryS, (ts) => ({ status: { v: 1, site: s.site, online: true, ts, health: { kind: s.kind, devices: s.devices.length, outbox: { rows: 0 }, uplink: { connected: true, sentItems } } } })));

  if (s.kind === 'bikes') {
    const cap = s.capacity!;
    const bikes = cap.map((c) => Math.round(c * 0.6)); // ~60 % of docks hold a bike
    const lastTs = cap.map(() => 0);
    let bikeNo = 0;
    const status = (i: number, ts: number): NewItem => {
      // one point per (station, ms): a change and the full status in the same ms would overwrite
      const t = Math.max(ts, lastTs[i] + 1);
      lastTs[i] = t;
      return { kind: 'telemetry', ts: t, m: 'bike_station', tags: { station: s.devices[i] }, fields: { capacity: cap[i], num_bikes_available: bikes[i], num_bikes_disabled: 0, num_docks_available: cap[i] - bikes[i], num_docks_disabled: 0, is_installed: true, is_renting: true, is_returning: true, last_reported: t } };
    };
    streams.push(periodic(RATES.bikeStatusEveryS, (ts) => counted({ telemetry: cap.map((_, i) => status(i, ts)) })));
    const perGateway = (RATES.bikeTripsPeakHour * 2) / 3600 / Math.ceil(CITY.bikeStations / PER_GATEWAY.bikes);
    streams.push(poisson(perGateway, (ts) => {
      const i = Math.floor(random() * cap.length);
      const rental = bikes[i] > 0 && (bikes[i] === cap[i] || random() < 0.5);
      const dock = 1 + Math.floor(random() * cap[i]);
      const bike = `B${s.devices[i]}${++bikeNo}`;
      bikes[i] += rental ? -1 : 1;
      const ev: NewItem = rental
        ? { kind: 'event', ts, type: 'bike.rental', source: s.devices[i], phase: 'instant', data: { station: s.devices[i], dock, bike, card: `p_${Math.floor(random() * 2 ** 52).toString(36).padStart(22, '0').slice(0, 22)}` } }
        : { kind: 'event', ts, type: 'bike.return', source: s.devices[i], phase: 'instant', data: { station: s.devices[i], dock, bike } };
      return counted({ telemetry: [status(i, ts)], events: [ev] });
    }));
  }

  if (s.kind === 'cameras') {
    for (const cam of s.devices) {
      const counts = { in: 0, out: 0 };
      let track = 0;
      streams.push(periodic(RATES.cameraStatsEveryS, (ts) => counted({ telemetry: [{ kind: 'telemetry', ts, m: 'camera_stats', tags: { camera: cam }, fields: { fps_in: 5, fps_out: 5, infer_ms: r1(22 + random() * 6), dropped: 0, dropped_total: 0, wait_ms: r1(random() * 8), latency_ms: r1(40 + random() * 20), skipped: Math.floor(random() * 200), over_budget: 0, online: 1, zone_z1: Math.floor(random() * 4), line_l1_in: counts.in, line_l1_out: counts.out } }] })));
      streams.push(poisson(RATES.lineCrossPerCameraHour / 3600, (ts) => {
        const dir = random() < 0.5 ? 'in' : 'out';
        counts[dir]++;
        track++;
        return counted({ events: [{ kind: 'event', ts, type: 'line.cross', source: cam, phase: 'instant', key: `${cam}:l1:${track}:${ts}`, data: { camera: cam, rule: 'l1', direction: dir, class: 'person', trackIds: [track] } }] });
      }));
      let open: number | undefined;
      // a situation every 30 min: alternately its start and (a while later) its end
      streams.push(poisson((RATES.zoneSituationsPerCameraHour * 2) / 3600, (ts) => {
        if (open === undefined) { open = ts; return counted({ events: [{ kind: 'event', ts, type: 'zone.dwell', source: cam, phase: 'start', key: `${cam}:z1:${ts}`, data: { camera: cam, rule: 'z1', trackIds: [track] } }] }); }
        const start = open;
        open = undefined;
        return counted({ events: [{ kind: 'event', ts, type: 'zone.dwell', source: cam, phase: 'end', key: `${cam}:z1:${start}`, data: { camera: cam, rule: 'z1', durationS: (ts - start) / 1000 } }] });
      }));
    }
  }

  if (s.kind === 'hj212') {
    for (const mn of s.devices) {
      let dataTime = 0;
      const raised = new Set<string>();
      streams.push(periodic(RATES.hj212EveryS, (ts) => {
        // the record of the minute that just ended (DataTime), one per minute, never the same twice
        dataTime = dataTime ? dataTime + MINUTE : Math.floor(ts / MINUTE) * MINUTE - MINUTE;
        const over = random() < exceed ? LIMITED[Math.floor(random() * LIMITED.length)] : undefined;
        const alerts: NewItem[] = [];
        const telemetry: NewItem[] = FACTORS.map((f) => {
          const avg = f === over ? r1(f.limit! * (1.2 + random())) : r1(f.mean * (0.8 + 0.4 * random()));
          if (f.limit !== undefined) {
            const source = `${mn}/${f.name}`;
            const v = { value: avg, limit: f.limit, basis: 'raw', type: 'exceedance', station: mn, pollutant: f.name, unit: f.unit };
            if (avg > f.limit && !raised.has(source)) {
              raised.add(source);
              alerts.push({ kind: 'alert', ts: dataTime, rule: HJ212_RULE, source, state: 'raise', severity: 'critical', message: `${f.name} at ${mn}: ${avg} ${f.unit} > limit ${f.limit} | ${f.name} 超标`, data: { ...v, multiple: Math.round(((avg - f.limit) / f.limit) * 1000) / 1000 } });
            } else if (avg <= f.limit && raised.has(source)) {
              raised.delete(source);
              alerts.push({ kind: 'alert', ts: dataTime, rule: HJ212_RULE, source, state: 'clear', severity: 'critical', message: `${f.name} at ${mn}: ${avg} ${f.unit} back within limit ${f.limit} | ${f.name} 恢复`, data: v });
            }
          }
          return { kind: 'telemetry', ts: dataTime, m: 'hj212', tags: { station: mn, pollutant: f.name, code: f.code, period: 'min' }, fields: { avg, min: r1(avg * 0.9), max: r1(avg * 1.1), cou: r1(avg * 0.06), flag: 'N', unit: f.unit, qc: 'ok' } };
        });
        return counted(alerts.length ? { telemetry, alerts } : { telemetry });
      }));
    }
  }

  if (s.kind === 'air') {
    let windowStart = 0;
    streams.push(periodic(RATES.airEveryS, (ts) => {
      windowStart = windowStart ? windowStart + MINUTE : Math.floor(ts / MINUTE) * MINUTE - MINUTE;
      return counted({ telemetry: AIR.map(([pollutant, unit, mean]) => {
        const vals = Array.from({ length: 6 }, () => mean * (0.7 + 0.6 * random())); // analyser polled every 10 s
        return { kind: 'aggregate', ts: windowStart, m: 'env_agg', tags: { station: s.devices[0], pollutant, period: '1m' }, fields: { count: 6, min: r1(Math.min(...vals)), avg: r1(vals.reduce((a, b) => a + b) / 6), max: r1(Math.max(...vals)), flag: 'N', unit, excluded: 0 } } satisfies NewItem;
      }) });
    }));
  }
  return streams;
}

/** A min-heap of streams by their next due time. */
export class Schedule {
  private heap: Stream[] = [];
  constructor(private readonly random: () => number) {}
  get size(): number { return this.heap.length; }
  add(s: Stream): void {
    const h = this.heap;
    h.push(s);
    let i = h.length - 1;
    while (i > 0) { const p = (i - 1) >> 1; if (h[p].next <= h[i].next) break; [h[p], h[i]] = [h[i], h[p]]; i = p; }
  }
  private pop(): Stream {
    const h = this.heap;
    const top = h[0];
    const last = h.pop()!;
    if (h.length) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && h[l].next < h[m].next) m = l;
        if (r < h.length && h[r].next < h[m].next) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i], h[m]];
        i = m;
      }
    }
    return top;
  }
  /** Every emission due up to `now`, in due order: `emit(stream, due, emission)`. */
  runUntil(now: number, emit: (s: Stream, due: number, e: Emission) => void): void {
    while (this.heap.length && this.heap[0].next <= now) {
      const s = this.pop();
      const due = s.next;
      emit(s, due, s.make(due));
      s.next = s.everyMs !== undefined ? due + s.everyMs : due + Math.max(1, Math.round(-Math.log(1 - this.random()) * s.meanMs!));
      this.add(s);
    }
  }
}
