#!/usr/bin/env node
// Dev tool: runs a TypeScript entry file from the sources with tsx (child processes in tests,
// `npm run bench`). Needs the devDependencies; the installed package uses bin/cityedge.mjs only.
import { register } from 'tsx/esm/api';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
register();
const [file, ...rest] = process.argv.slice(2);
if (!file) { console.error('usage: run-ts <file.ts> [args]'); process.exit(2); }
process.argv = [process.argv[0], path.resolve(file), ...rest];
await import(pathToFileURL(path.resolve(file)).href);
