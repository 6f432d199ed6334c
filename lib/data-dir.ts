import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CodedError } from './errors.ts';

/**
 * The package root: the nearest folder above this file whose package.json is named `cityedge`.
 * The same from the sources (lib/), the build (dist/lib/) and an installed package
 * (node_modules/cityedge/dist/lib/); non-TS assets (models/cards, models/manifest.json) live there.
 */
function findProjectRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = path.dirname(dir)) {
    try {
      if ((JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown }).name === 'cityedge') return dir;
    } catch { /* no or unreadable package.json here: keep walking up */ }
    if (path.dirname(dir) === dir) return path.resolve(here, '..');
  }
}

const projectRoot = findProjectRoot();

export function projectPath(...parts: string[]): string {
  return path.join(projectRoot, ...parts);
}

/**
 * The directory holding real data and model artifacts (air quality, HJ 212 frames,
 * GBFS snapshots, ONNX weights). CITYEDGE_DATA wins; else ../shared/data next to
 * the project (the layout of the development machines).
 */
export function dataDir(): string {
  const fromEnv = process.env.CITYEDGE_DATA;
  if (fromEnv) return path.resolve(fromEnv);
  const candidates = [path.resolve(projectRoot, '..', 'shared', 'data'), path.resolve(process.cwd(), '..', 'shared', 'data')];
  for (const c of candidates) if (fs.existsSync(c)) return c;
  throw new CodedError('DATA_DIR_NOT_FOUND', `no data directory: set CITYEDGE_DATA to the folder holding air_quality/, models/, video/ (looked in ${candidates.join(', ')})`);
}

export function dataFile(...parts: string[]): string {
  const p = path.join(dataDir(), ...parts);
  if (!fs.existsSync(p)) throw new CodedError('DATA_FILE_NOT_FOUND', `data file missing: ${p} (check CITYEDGE_DATA)`);
  return p;
}
