import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { projectPath } from '../../lib/data-dir.ts';

/** Debian's chromium (scripts/ensure-peers.mjs installs it and checks it the same way). */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** One headless Chromium for a test file (playwright gives it a fresh temporary user-data-dir). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30_000 });
}

/** Where console screenshots go (git-ignored test artifacts). */
export function artifactDir(): string {
  const dir = projectPath('test', 'artifacts', 'console');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}
export const artifact = (name: string) => path.join(artifactDir(), name);

export const SCREENS = { control: { width: 1366, height: 768 }, phone: { width: 390, height: 844 } } as const;
