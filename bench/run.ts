/**
 * `npm run bench -- [name ...]`: runs the named benchmarks (all when none is named).
 * Each bench prints a table and ends with one JSON line of its figures and ratios.
 */
const BENCHES: Record<string, () => Promise<{ run: () => Promise<unknown> }>> = {
  ingest: () => import('./ingest.ts'),
  outbox: () => import('./outbox.ts'),
  hj212: () => import('./hj212.ts'),
  bikes: () => import('./bikes.ts'),
  'env-alerts': () => import('./env-alerts.ts'),
  vision: () => import('./vision.ts'),
  cameras: () => import('./cameras.ts'),
  rollout: () => import('./rollout.ts'),
  console: () => import('./console.ts'),
  confirm: () => import('./confirm.ts'),
  city: () => import('./city.ts'),
};

const argv = process.argv.slice(2);
// bench names; a word after `--flag` (no `=`) that is no bench name is the flag's value (`city --cities 10`)
const asked = argv.filter((a, i) => !a.startsWith('-') && (a in BENCHES || !(i > 0 && argv[i - 1].startsWith('--') && !argv[i - 1].includes('='))));
const unknown = asked.filter((a) => !(a in BENCHES));
if (unknown.length) {
  console.error(`unknown bench ${unknown.join(', ')}; known: ${Object.keys(BENCHES).join(', ')}`);
  process.exit(2);
}
process.env.LOG_LEVEL ??= 'error';
for (const name of asked.length ? asked : Object.keys(BENCHES)) {
  console.log(`\n=== bench ${name} ===`);
  const mod = await BENCHES[name]();
  await mod.run();
}
process.exit(0);
