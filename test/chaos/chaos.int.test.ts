/**
 * The chaos run as part of `npm test`: 1.75 minutes with the embedded broker and 1.25 minutes with
 * mosquitto, fixed seeds, every fault kind of each mode, each edge killed and black-holed in one of
 * the two runs, and every invariant
 * asserted (0 lost, 0 duplicated, alerts in their right final state, in the edge's order and
 * episode by episode, no dead-lettered real item, every acknowledged outbox row admitted, outbox
 * files under their caps, cloud RSS bounded, no crash, no stall). The harness is
 * test/chaos/harness.ts; `npm run chaos` runs it for longer (see test/README.md "Chaos run").
 *
 * Runs the built CLI (dist/, `npm test` builds it first).
 */
import { describe, expect, it } from 'vitest';
import { distIsCurrent, jsonLine, runChaos, summary, type ChaosResult } from './harness.ts';
import { KNOWN_OPEN, defaultKinds } from './schedule.ts';

/**
 * Fault targets (`kind@target`) that expose a defect this chaos run found and that is not fixed
 * yet: left out here, so the rest keeps guarding, while `npm run chaos` (no --skip) still applies
 * them and fails on them. Add one with its reproduction when a new defect is found; remove it when
 * the fix lands — the run must then pass with it. Empty: the four defects found so far are fixed
 * (acknowledged dock lines lost on kill -9, bike alerts forgotten on restart, env rule state lost on
 * restart, alerts ordered by a stepped-back edge clock). KNOWN_OPEN in schedule.ts is the same for
 * whole kinds whose known defects others are fixing (empty too).
 */
export const PENDING_DEFECTS: Record<string, string> = {};

const log = (s: string) => process.stdout.write(`${s}\n`);

function assertRun(r: ChaosResult, broker: 'embedded' | 'mosquitto', fuzzCases: number): void {
  log(summary(r));
  log(jsonLine(r));
  // every fault kind of the mode was applied at least once (only targets with a pending defect are left out)
  for (const k of defaultKinds(broker)) expect(r.faults[k] ?? 0, `fault kind ${k} applied`).toBeGreaterThan(0);
  expect((r.fuzz as { cases: number }).cases).toBeGreaterThanOrEqual(fuzzCases);
  expect(r.invariants.filter((i) => !i.ok)).toEqual([]);
  expect(r.ok).toBe(true);
}

describe('chaos run (real processes, seeded faults, ledgers vs InfluxDB and the alerts API)', () => {
  const skip = Object.keys(PENDING_DEFECTS);
  const stale = distIsCurrent();
  if (!stale.ok) log(`chaos: dist/ is older than ${stale.newest}; the run tests the last build`);
  if (skip.length || Object.keys(KNOWN_OPEN).length) log(`chaos: left out until fixed: ${[...skip, ...Object.keys(KNOWN_OPEN)].join(', ')}`);

  // Seeds chosen so that two short runs reach every target (tools.test.ts checks it): 20260546
  // kills the air and HJ 212 edges and black-holes the air and bike edges; 20260470 kills the bike
  // edge, black-holes the HJ 212 edge, and kills and pauses mosquitto and the cloud. Every kind of
  // each mode comes in its run; `npm run chaos` covers every target in one longer run.
  it('1.75 minutes, embedded broker, seed 20260546', async () => {
    const r = await runChaos({ minutes: 1.75, seed: 20260546, broker: 'embedded', fuzzCases: 1750, skip, log, allowStaleDist: true });
    assertRun(r, 'embedded', 1750);
  }, 7 * 60_000);

  it('1.25 minutes, mosquitto (shipped config and ACL) with the cloud attached as external ingest, seed 20260470', async () => {
    const r = await runChaos({ minutes: 1.25, seed: 20260470, broker: 'mosquitto', fuzzCases: 1250, skip, log, allowStaleDist: true });
    assertRun(r, 'mosquitto', 1250);
  }, 6 * 60_000);
});
