#!/usr/bin/env node
// npm run build: compile the production sources (tsconfig.build.json) into a fresh directory,
// then swap it in for dist/ in one rename, so files moved away in the sources never linger in
// dist/ and a process running from dist/ (a test's child cloud or edge) never sees it half-built.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const next = path.join(root, `dist.next-${process.pid}`);
const old = path.join(root, `dist.old-${process.pid}`);
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
try {
  execFileSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json'), '--outDir', next], { stdio: 'inherit' });
  // the operator console (console/src) bundled into dist/console, served by the cloud at /
  const { buildConsole } = await import('./build-console.mjs');
  const c = await buildConsole(path.join(next, 'console'));
  console.log(`console: dist/console/${c.js} (first load ${(c.gzipBytes / 1024).toFixed(1)} KiB gzip)`);
} catch (err) {
  if (err?.message) console.error(err.message);
  fs.rmSync(next, { recursive: true, force: true });
  process.exit(1);
}
const dist = path.join(root, 'dist');
if (fs.existsSync(dist)) fs.renameSync(dist, old);
fs.renameSync(next, dist);
fs.rmSync(old, { recursive: true, force: true });
