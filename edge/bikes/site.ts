/**
 * The bike part of one edge site: station state machines fed by the DOCK/1 server,
 * rental/return events (card ids pseudonymised), `bike_station` telemetry and alerts.
 * Time-based rules run in tick(); drain() hands the queued items to the outbox.
 */
import type { NewItem } from '../../protocol/schemas.ts';
import type { HelloMsg } from '../../firmware-bridge/dock/protocol.ts';
import type { DataMsg, DockServerHandler } from '../../firmware-bridge/dock/server.ts';
import { CardPseudonymiser } from './pseudonym.ts';
import { StationState } from './station.ts';

export const BIKE_MEASUREMENT = 'bike_station';
export const RULES = {
  empty: 'bike.station_empty',
  full: 'bike.station_full',
  fault: 'bike.dock_fault',
  noRide: 'bike.no_ride',
  silent: 'bike.controller_silent',
} as const;

export interface BikeSiteOptions {
  cardKey: string;
  /** Stations expected at this site (id → docks). Missing controllers raise the silent alert. */
  stations?: { id: string; docks: number }[];
  emptyAlertMs?: number;
  fullAlertMs?: number;
  /** A bike re-docked at the dock it was released from within this → no ride started. */
  noRideMs?: number;
  silentMs?: number;
  /** Re-publish every station's telemetry this often even without changes. */
  statusEveryMs?: number;
  /**
   * Controller times (`t=`) further than this from the gateway clock are replaced by the
   * receive time and counted (a board whose RTC reset to 1970 must not poison item times).
   * Default 24 h; replays of historic days pass Infinity.
   */
  maxClockSkewMs?: number;
  /** Wall clock (item times). */
  clock?: () => number;
  /**
   * Monotonic clock (ms) for durations: silence, empty/full too long, no ride started. A wall-clock
   * step (NTP, an operator setting the time) is not time passing. Default: `performance.now`, or
   * `clock` when only that is given (tests that drive one clock).
   */
  monotonic?: () => number;
}

interface Runtime {
  st: StationState;
  lastHeard: number;
  /** Monotonic twin of lastHeard. */
  heardAt: number;
  connected: boolean;
  dirty: boolean;
  emptySince?: number;
  fullSince?: number;
  /** Monotonic twins of emptySince / fullSince. */
  emptyAt?: number;
  fullAt?: number;
  open: Set<string>;
  pending: Map<number, { rx: number; t: number; bike: string | null; card: string }>;
}

export class BikeSite {
  readonly stations = new Map<string, Runtime>();
  readonly counters = { messages: 0, rentals: 0, returns: 0, noRides: 0, gaps: 0, clockSkew: 0, lost: 0, statuses: 0, corrections: 0, alertsRaised: 0, alertsCleared: 0, items: 0 };
  private queue: NewItem[] = [];
  private readonly pseud: CardPseudonymiser;
  private readonly clock: () => number;
  private readonly mono: () => number;
  private readonly o: Required<Omit<BikeSiteOptions, 'cardKey' | 'stations' | 'clock' | 'monotonic'>>;
  private lastFull: number;

  constructor(opts: BikeSiteOptions) {
    this.pseud = new CardPseudonymiser(opts.cardKey);
    this.clock = opts.clock ?? Date.now;
    this.mono = opts.monotonic ?? opts.clock ?? (() => performance.now());
    this.o = {
      emptyAlertMs: opts.emptyAlertMs ?? 30 * 60_000, fullAlertMs: opts.fullAlertMs ?? 30 * 60_000,
      noRideMs: opts.noRideMs ?? 60_000, silentMs: opts.silentMs ?? 120_000, statusEveryMs: opts.statusEveryMs ?? 60_000,
      maxClockSkewMs: opts.maxClockSkewMs ?? 86_400_000,
    };
    const now = this.clock();
    this.lastFull = now;
    for (const s of opts.stations ?? []) this.runtime(s.id, s.docks, now);
  }

  private runtime(id: string, docks: number, now: number): Runtime {
    let r = this.stations.get(id);
    if (!r) {
      r = { st: new StationState(id, docks), lastHeard: now, heardAt: this.mono(), connected: false, dirty: false, open: new Set(), pending: new Map() };
      this.stations.set(id, r);
    }
    return r;
  }

  /** Handler to plug into DockServer. */
  readonly handler: Pick<DockServerHandler, 'hello' | 'message' | 'closed'> = {
    hello: (h: HelloMsg) => this.onHello(h),
    message: (station, msg, info) => this.onMessage(station, msg, info.lost),
    closed: (station) => { const r = this.stations.get(station); if (r) r.connected = false; },
  };

  private alert(r: Runtime, rule: string, source: string, state: 'raise' | 'clear', severity: 'info' | 'warning' | 'critical', message: string, data: Record<string, unknown>, ts: number): void {
    const key = `${rule}|${source}`;
    if (state === 'raise') { if (r.open.has(key)) return; r.open.add(key); this.counters.alertsRaised++; }
    else { if (!r.open.delete(key)) return; this.counters.alertsCleared++; }
    this.queue.push({ kind: 'alert', ts, rule, source, state, severity, message, data: { station: r.st.id, ...data } });
  }

  private heard(r: Runtime, now: number): void {
    r.lastHeard = now;
    r.heardAt = this.mono();
    r.connected = true;
    this.alert(r, RULES.silent, r.st.id, 'clear', 'critical', `controller of station ${r.st.id} is reporting again`, {}, now);
  }

  private onHello(h: HelloMsg): void {
    const now = this.clock();
    const r = this.runtime(h.station, h.docks, now);
    if (r.st.docks.length !== h.docks) r.st.resize(h.docks);
    this.heard(r, now);
    r.dirty = true;
  }

  private onMessage(station: string, msg: DataMsg, lost: number): void {
    const now = this.clock();
    const r = this.stations.get(station);
    if (!r) return;
    this.counters.messages++;
    if (lost > 0) { this.counters.gaps++; this.counters.lost += lost; }
    this.heard(r, now);
    let t = msg.t ?? now;
    if (Math.abs(t - now) > this.o.maxClockSkewMs || t < 946_684_800_000) { this.counters.clockSkew++; t = now; }
    const st = r.st;
    st.lastReported = Math.max(st.lastReported, t);
    const src = (dock: number): string => `${station}/${dock}`;
    switch (msg.verb) {
      case 'HB':
        return;
      case 'DOCKED': {
        st.docked(msg.dock, msg.bike);
        this.counters.returns++;
        this.queue.push({ kind: 'event', ts: t, type: 'bike.return', source: station, phase: 'instant', data: { station, dock: msg.dock, bike: msg.bike } });
        const p = r.pending.get(msg.dock);
        if (p) {
          r.pending.delete(msg.dock);
          const secs = (t - p.t) / 1000;
          if (t - p.t <= this.o.noRideMs && (p.bike === null || p.bike === msg.bike)) {
            this.counters.noRides++;
            // One open alert per dock: re-raising after a clear starts a new situation.
            this.alert(r, RULES.noRide, src(msg.dock), 'raise', 'warning', `bike ${msg.bike} released at ${station} dock ${msg.dock} was re-docked after ${secs.toFixed(0)} s: no ride started (check the lock / rider app)`, { dock: msg.dock, bike: msg.bike, card: p.card, seconds: secs }, t);
          }
        }
        break;
      }
      case 'RELEASED': {
        const was = st.released(msg.dock);
        const bike = msg.bike ?? was;
        const card = this.pseud.pseudonym(msg.card);
        this.counters.rentals++;
        r.pending.set(msg.dock, { rx: this.mono(), t, bike, card });
        this.queue.push({ kind: 'event', ts: t, type: 'bike.rental', source: station, phase: 'instant', data: { station, dock: msg.dock, ...(bike ? { bike } : {}), card } });
        break;
      }
      case 'FAULT':
        st.fault(msg.dock, msg.code);
        this.alert(r, RULES.fault, src(msg.dock), 'raise', 'warning', `lock fault ${msg.code} at station ${station} dock ${msg.dock}`, { dock: msg.dock, code: msg.code }, t);
        break;
      case 'DISABLED':
        st.disable(msg.dock);
        break;
      case 'ENABLED':
        st.enable(msg.dock);
        this.alert(r, RULES.fault, src(msg.dock), 'clear', 'warning', `station ${station} dock ${msg.dock} back in service`, { dock: msg.dock }, t);
        break;
      case 'STATUS': {
        const res = st.applyStatus(msg.docks, msg);
        this.counters.statuses++;
        this.counters.corrections += res.corrected;
        for (const d of res.faultRaised) this.alert(r, RULES.fault, src(d), 'raise', 'warning', `full status shows a lock fault at station ${station} dock ${d}`, { dock: d, code: 'UNKNOWN' }, t);
        for (const d of res.faultCleared) this.alert(r, RULES.fault, src(d), 'clear', 'warning', `full status shows station ${station} dock ${d} without fault`, { dock: d }, t);
        break;
      }
    }
    r.dirty = true;
    this.trackEmptyFull(r, now);
  }

  private trackEmptyFull(r: Runtime, now: number): void {
    const c = r.st.counts();
    if (c.num_bikes_available === 0) { r.emptySince ??= now; r.emptyAt ??= this.mono(); }
    else if (r.emptySince !== undefined) {
      r.emptySince = undefined;
      r.emptyAt = undefined;
      this.alert(r, RULES.empty, r.st.id, 'clear', 'warning', `station ${r.st.id} has bikes again`, { num_bikes_available: c.num_bikes_available }, now);
    }
    if (c.num_docks_available === 0 && c.capacity > 0) { r.fullSince ??= now; r.fullAt ??= this.mono(); }
    else if (r.fullSince !== undefined) {
      r.fullSince = undefined;
      r.fullAt = undefined;
      this.alert(r, RULES.full, r.st.id, 'clear', 'warning', `station ${r.st.id} has free docks again`, { num_docks_available: c.num_docks_available }, now);
    }
  }

  /** Evaluate time-based rules: empty/full too long, controller silent, rides that did start. */
  tick(): void {
    const now = this.clock();
    const m = this.mono();
    for (const r of this.stations.values()) {
      const id = r.st.id;
      if (r.emptySince !== undefined && r.emptyAt !== undefined && m - r.emptyAt >= this.o.emptyAlertMs) {
        this.alert(r, RULES.empty, id, 'raise', 'warning', `station ${id} has had no bike available for ${Math.round((m - r.emptyAt) / 60_000)} min: rebalance`, { since: r.emptySince }, now);
      }
      if (r.fullSince !== undefined && r.fullAt !== undefined && m - r.fullAt >= this.o.fullAlertMs) {
        this.alert(r, RULES.full, id, 'raise', 'warning', `station ${id} has had no free dock for ${Math.round((m - r.fullAt) / 60_000)} min: rebalance`, { since: r.fullSince }, now);
      }
      if (m - r.heardAt >= this.o.silentMs && !r.open.has(`${RULES.silent}|${id}`)) {
        this.alert(r, RULES.silent, id, 'raise', 'critical', `controller of station ${id} silent for ${Math.round((m - r.heardAt) / 1000)} s (no line, no heartbeat)`, { lastHeard: r.lastHeard, connected: r.connected }, now);
        r.dirty = true; // is_renting/is_returning turn false
      }
      for (const [dock, p] of r.pending) {
        if (m - p.rx > this.o.noRideMs) {
          r.pending.delete(dock);
          this.alert(r, RULES.noRide, `${id}/${dock}`, 'clear', 'warning', `a ride started from station ${id} dock ${dock}`, { dock }, now);
        }
      }
    }
  }

  /** Queued events/alerts, then one telemetry item per changed station (all stations periodically). */
  drain(): NewItem[] {
    const now = this.clock();
    const all = now - this.lastFull >= this.o.statusEveryMs;
    if (all) this.lastFull = now;
    const out = this.queue;
    this.queue = [];
    for (const r of this.stations.values()) {
      if (!r.dirty && !(all && r.st.lastReported > 0)) continue;
      r.dirty = false;
      out.push(this.telemetry(r, now));
    }
    this.counters.items += out.length;
    return out;
  }

  private telemetry(r: Runtime, now: number): NewItem {
    const st = r.st;
    const silent = r.open.has(`${RULES.silent}|${st.id}`);
    return {
      kind: 'telemetry', ts: now, m: BIKE_MEASUREMENT, tags: { station: st.id },
      fields: {
        ...st.counts(),
        is_installed: st.installed, is_renting: st.renting && !silent, is_returning: st.returning && !silent,
        last_reported: st.lastReported || now,
      },
    };
  }

  openAlerts(): string[] {
    return [...this.stations.values()].flatMap((r) => [...r.open]);
  }

  /** The open alerts per station (`rule|source` keys), for the source's outbox checkpoint. */
  openByStation(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const [id, r] of this.stations) if (r.open.size) out[id] = [...r.open];
    return out;
  }

  /**
   * After a restart: the alerts that were open stay open (no second raise) and clear when their
   * condition ends. Stations not configured any more are ignored.
   */
  restoreOpen(open: Record<string, string[]>): void {
    for (const [id, keys] of Object.entries(open)) {
      const r = this.stations.get(id);
      if (r && Array.isArray(keys)) r.open = new Set(keys.filter((k) => typeof k === 'string'));
    }
  }

  stats(): Record<string, unknown> {
    let inconsistencies = 0;
    for (const r of this.stations.values()) inconsistencies += r.st.inconsistencies;
    return { ...this.counters, stations: this.stations.size, inconsistencies, openAlerts: this.openAlerts().length, queued: this.queue.length };
  }
}
