/**
 * The chaos run's fault schedule: a pure function of (seed, options), so the same seed gives the
 * same faults at the same offsets with the same durations and targets.
 *
 * Two lanes: lane A holds the process and network faults, one at a time (kill -9 + restart,
 * SIGSTOP/SIGCONT, InfluxDB stop/start, uplink black-hole); lane B runs beside it: the clock
 * steps of one edge and the fuzz bursts. Every enabled lane-A kind comes once (in a seeded
 * order) before kinds repeat, so even a short run applies each of them.
 */
import { EDGE_NAMES, prng, subSeed, type EdgeName } from './ledger.ts';

export const FAULT_KINDS = [
  'kill-edge', 'kill-cloud', 'kill-broker', 'pause-edge', 'pause-cloud', 'pause-broker',
  'influx-restart', 'blackhole', 'clock-jump', 'fuzz', 'fuzz-refused',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

const LANE_A: FaultKind[] = ['kill-edge', 'kill-cloud', 'kill-broker', 'pause-edge', 'pause-cloud', 'pause-broker', 'influx-restart', 'blackhole'];

/**
 * Fault kinds that expose a known open defect someone is fixing now: off unless asked for
 * (`--faults`). Remove an entry when its fix lands, so every run applies that kind again.
 * Empty now: `fuzz-refused` (items InfluxDB refuses clogged the spool) and `kill-broker` (mosquitto
 * PUBACKs before persisting; fixed by end-to-end receipts, uplink.confirm: receipt) pass.
 */
export const KNOWN_OPEN: Partial<Record<FaultKind, string>> = {};

export interface FaultEvent {
  /** ms after the run start */
  at: number;
  kind: FaultKind;
  /** edge name, `cloud`, `mosquitto`, `influx`, `fuzz` */
  target: string;
  durationMs: number;
  lane: 'A' | 'B';
  /** clock-jump: the offset the edge's clock steps to (ms from true time) */
  offsetMs?: number;
  /** fuzz bursts */
  cases?: number;
  burst?: number;
}

export interface ScheduleOptions {
  seed: number;
  runMs: number;
  warmupMs: number;
  /** No lane-A fault may still be active this long before the end of the run. */
  quietMs: number;
  broker: 'embedded' | 'mosquitto';
  kinds: FaultKind[];
  /** `kind` or `kind@target` entries left out. */
  skip: string[];
  fuzzCases: number;
  fuzzRate: number;
}

/** The edge whose clock steps: the bike site first (its items carry the edge clock), unless skipped. */
export const CLOCK_EDGE_PREFERENCE: EdgeName[] = ['bikes', 'env', 'air'];

/** Kinds that make sense for the broker mode (no mosquitto faults with the embedded broker). */
export function applicableKinds(broker: 'embedded' | 'mosquitto'): FaultKind[] {
  return FAULT_KINDS.filter((k) => broker === 'mosquitto' || (k !== 'kill-broker' && k !== 'pause-broker'));
}

export function defaultKinds(broker: 'embedded' | 'mosquitto'): FaultKind[] {
  return applicableKinds(broker).filter((k) => !KNOWN_OPEN[k]);
}

function targetsOf(kind: FaultKind, o: ScheduleOptions): string[] {
  const all = kind === 'kill-edge' || kind === 'pause-edge' || kind === 'blackhole' ? [...EDGE_NAMES]
    : kind === 'kill-cloud' || kind === 'pause-cloud' ? ['cloud']
      : kind === 'kill-broker' || kind === 'pause-broker' ? ['mosquitto']
        : kind === 'influx-restart' ? ['influx']
          : kind === 'clock-jump' ? CLOCK_EDGE_PREFERENCE
            : ['fuzz'];
  return all.filter((t) => !o.skip.includes(`${kind}@${t}`));
}

export function buildSchedule(o: ScheduleOptions): FaultEvent[] {
  const r = prng(subSeed(o.seed, 'schedule'));
  const between = (a: number, b: number) => Math.round(a + (b - a) * r());
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  // Longer runs get longer outages; a 3-minute run keeps them short so every kind fits.
  const s = Math.min(1, o.runMs / 600_000);
  const duration: Record<string, [number, number]> = {
    'kill-edge': [300, 3000],
    'kill-cloud': [500, 4000],
    'kill-broker': [500, 3000],
    'pause-edge': [2000, 6000 + 9000 * s],
    'pause-cloud': [2000, 5000 + 10_000 * s],
    'pause-broker': [2000, 5000 + 10_000 * s],
    'influx-restart': [3000, 8000 + 17_000 * s],
    blackhole: [4000, 12_000 + 23_000 * s],
  };
  const enabled = o.kinds.filter((k) => !o.skip.includes(k) && targetsOf(k, o).length > 0);
  const laneKinds = LANE_A.filter((k) => enabled.includes(k));
  const events: FaultEvent[] = [];

  // lane A: each kind once in a seeded order, then seeded picks, until the quiet tail
  const first = [...laneKinds];
  for (let i = first.length - 1; i > 0; i--) { const j = Math.floor(r() * (i + 1)); [first[i], first[j]] = [first[j], first[i]]; }
  let t = o.warmupMs;
  const end = o.runMs - o.quietMs;
  for (let n = 0; laneKinds.length; n++) {
    const kind = n < first.length ? first[n] : pick(laneKinds);
    const [a, b] = duration[kind];
    const d = between(a, b);
    if (t + d > end) {
      if (n < first.length) continue; // a long one does not fit: try the next kind of the first round
      break;
    }
    events.push({ at: t, kind, target: pick(targetsOf(kind, o)), durationMs: d, lane: 'A' });
    t += d + between(3000, 6000 + 14_000 * s);
  }

  // lane B: the clock of one edge steps forward, later backward (past true time), and is put right at the end
  if (enabled.includes('clock-jump')) {
    const target = targetsOf('clock-jump', o)[0];
    const fwdAt = Math.round(o.runMs * (0.15 + 0.1 * r()));
    const backAt = Math.round(o.runMs * (0.4 + 0.1 * r()));
    const fixAt = end;
    // forward: below ingest.maxFutureMs (5 min) so its items are not refused as future; at most
    // 0.8 of the backward phase, so points stamped after the fix are the newest of each series
    const fwd = between(30_000, Math.max(30_000, Math.min(240_000, 0.8 * (fixAt - backAt))));
    const back = -between(30_000, 150_000);
    events.push({ at: fwdAt, kind: 'clock-jump', target, durationMs: 0, lane: 'B', offsetMs: fwd });
    events.push({ at: backAt, kind: 'clock-jump', target, durationMs: 0, lane: 'B', offsetMs: back });
    events.push({ at: fixAt, kind: 'clock-jump', target, durationMs: 0, lane: 'B', offsetMs: 0 });
  }

  // lane B: fuzz bursts of at most 10,000 cases, spread over the run
  if (enabled.includes('fuzz') && o.fuzzCases > 0) {
    const bursts = Math.max(2, Math.ceil(o.fuzzCases / 10_000));
    const per = Math.ceil(o.fuzzCases / bursts);
    const span = end - o.warmupMs - (per / o.fuzzRate) * 1000;
    for (let i = 0; i < bursts; i++) {
      const cases = Math.min(per, o.fuzzCases - i * per);
      if (cases <= 0) break;
      const at = Math.round(o.warmupMs + Math.max(0, span) * ((i + 0.2 + 0.6 * r()) / bursts));
      events.push({ at, kind: 'fuzz', target: 'fuzz', durationMs: Math.round((cases / o.fuzzRate) * 1000), lane: 'B', cases, burst: i });
    }
  }
  if (enabled.includes('fuzz-refused')) {
    events.push({ at: Math.round(o.warmupMs + (end - o.warmupMs) * (0.3 + 0.3 * r())), kind: 'fuzz-refused', target: 'fuzz', durationMs: 1000, lane: 'B', cases: 60, burst: 1000 });
  }
  return events.sort((x, y) => x.at - y.at || x.kind.localeCompare(y.kind));
}
