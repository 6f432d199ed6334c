/**
 * `npm run chaos -- --minutes N --seed S [--broker embedded|mosquitto] [--faults a,b] [--skip kind@target,…]
 *   [--fuzz-cases N] [--outbox-cap 4MiB] [--max-cloud-rss-mib 400] [--dir D] [--keep] [--allow-stale-dist]`
 *
 * Prints the schedule as it is applied, a summary table, and ends with ONE JSON line.
 * Exit code 1 when an invariant fails (2 for bad arguments).
 */
import { parseArgs } from 'node:util';
import { FAULT_KINDS, KNOWN_OPEN, defaultKinds, type FaultKind } from './schedule.ts';
import { jsonLine, runChaos, summary } from './harness.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    seed: { type: 'string', default: '1' },
    broker: { type: 'string', default: 'embedded' },
    faults: { type: 'string' },
    skip: { type: 'string' },
    'fuzz-cases': { type: 'string' },
    'fuzz-rate': { type: 'string' },
    'outbox-cap': { type: 'string' },
    'max-cloud-rss-mib': { type: 'string' },
    'drain-timeout-s': { type: 'string' },
    dir: { type: 'string' },
    keep: { type: 'boolean', default: false },
    'allow-stale-dist': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  console.log(`usage: npm run chaos -- --minutes N --seed S [--broker embedded|mosquitto] [--faults k1,k2] [--skip kind|kind@target,…]
  fault kinds: ${FAULT_KINDS.join(', ')}
  off unless named in --faults (known open defects):
${Object.entries(KNOWN_OPEN).map(([k, why]) => `    ${k}: ${why}`).join('\n')}`);
  process.exit(0);
}

const broker = values.broker as 'embedded' | 'mosquitto';
if (broker !== 'embedded' && broker !== 'mosquitto') { console.error('--broker must be embedded or mosquitto'); process.exit(2); }
const minutes = Number(values.minutes);
const seed = Number(values.seed);
if (!(minutes > 0) || !Number.isInteger(seed)) { console.error('--minutes must be > 0 and --seed an integer'); process.exit(2); }
const list = (s?: string) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : undefined);
const faults = list(values.faults) as FaultKind[] | undefined;
const unknown = (faults ?? []).filter((k) => !(FAULT_KINDS as readonly string[]).includes(k));
if (unknown.length) { console.error(`unknown fault kinds: ${unknown.join(', ')} (known: ${FAULT_KINDS.join(', ')})`); process.exit(2); }

try {
  const result = await runChaos({
    minutes, seed, broker, faults: faults ?? defaultKinds(broker), skip: list(values.skip),
    fuzzCases: values['fuzz-cases'] ? Number(values['fuzz-cases']) : undefined,
    fuzzRate: values['fuzz-rate'] ? Number(values['fuzz-rate']) : undefined,
    outboxCap: values['outbox-cap'], maxCloudRssMiB: values['max-cloud-rss-mib'] ? Number(values['max-cloud-rss-mib']) : undefined,
    drainTimeoutMs: values['drain-timeout-s'] ? Number(values['drain-timeout-s']) * 1000 : undefined,
    dir: values.dir, keep: values.keep || !!values.dir, allowStaleDist: values['allow-stale-dist'],
  });
  console.log(summary(result));
  console.log(jsonLine(result));
  process.exit(result.ok ? 0 : 1);
} catch (err) {
  console.error(`chaos run failed to run: ${(err as Error).stack ?? err}`);
  process.exit(1);
}
