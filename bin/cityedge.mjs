#!/usr/bin/env node
// Entry shim: runs the compiled CLI (dist/cli/main.js, built by `npm run build`).
import fs from 'node:fs';
const main = new URL('../dist/cli/main.js', import.meta.url);
if (!fs.existsSync(main)) {
  console.error('cityedge: dist/ is missing (a checkout before the build): run `npm run build` first');
  process.exit(1);
}
await import(main.href);
