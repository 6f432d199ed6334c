#!/usr/bin/env node
// Bundles the operator console (console/src, Preact + uPlot) with esbuild into <out>/:
// index.html, assets/app-<hash>.js, assets/app-<hash>.css, favicon.svg — each with .br and .gz
// beside it (the cloud serves those by Accept-Encoding). Hashed names are cached for a year;
// index.html is no-cache. `node scripts/build-console.mjs [outDir]` (default dist/console);
// scripts/build.mjs runs it into the fresh build directory after tsc.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
export async function buildConsole(out = path.join(root, 'dist', 'console')) {
  fs.rmSync(out, { recursive: true, force: true });
  const assets = path.join(out, 'assets');
  const result = await build({
    entryPoints: { app: path.join(root, 'console', 'src', 'main.tsx') },
    bundle: true, minify: true, format: 'esm', target: ['chrome100', 'firefox100', 'safari15'],
    jsx: 'automatic', jsxImportSource: 'preact', outdir: assets, entryNames: '[name]-[hash]',
    metafile: true, legalComments: 'none', logLevel: 'warning', define: { 'process.env.NODE_ENV': '"production"' },
  });
  const outputs = Object.keys(result.metafile.outputs).map((f) => path.relative(out, path.resolve(root, f)).split(path.sep).join('/'));
  const js = outputs.find((f) => f.endsWith('.js'));
  const css = outputs.find((f) => f.endsWith('.css'));
  const html = fs.readFileSync(path.join(root, 'console', 'index.html'), 'utf8').replace('%JS%', `/${js}`).replace('%CSS%', `/${css}`);
  fs.writeFileSync(path.join(out, 'index.html'), html);
  fs.writeFileSync(path.join(out, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1f6feb"/><path d="M4 11V5h3M9 5h3v6H9" stroke="#fff" stroke-width="1.6" fill="none"/></svg>');
  let gz = 0;
  for (const f of ['index.html', 'favicon.svg', js, css]) {
    const file = path.join(out, f);
    const raw = fs.readFileSync(file);
    const br = zlib.brotliCompressSync(raw, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } });
    fs.writeFileSync(`${file}.br`, br);
    const g = zlib.gzipSync(raw, { level: 9 });
    fs.writeFileSync(`${file}.gz`, g);
    gz += g.length;
  }
  return { js, css, gzipBytes: gz };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await buildConsole(process.argv[2] ? path.resolve(process.argv[2]) : undefined);
  console.log(`console: ${r.js}, ${r.css}; first load ${(r.gzipBytes / 1024).toFixed(1)} KiB gzip`);
}
