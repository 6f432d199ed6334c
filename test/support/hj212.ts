import fs from 'node:fs';
import { dataFile, projectPath } from '../../lib/data-dir.ts';

/** Frames of ../shared/data/hj212/<file> (CR LF terminated, one per line). */
export function sharedFrames(file: 'frames_valid.txt' | 'frames_bad_crc.txt'): string[] {
  return fs.readFileSync(dataFile('hj212', file), 'utf8').split('\r\n').filter((l) => l.startsWith('##')).map((l) => `${l}\r\n`);
}

export interface StandardExample { name: string; key?: Buffer; frame: string }

/** The standards' own example frames (firmware-bridge/hj212/testdata/standard-examples.txt). */
export function standardExamples(): StandardExample[] {
  const file = projectPath('firmware-bridge', 'hj212', 'testdata', 'standard-examples.txt');
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() && (!l.startsWith('#') || l.startsWith('##')));
  const out: StandardExample[] = [];
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const [name, key] = lines[i].trim().split(/\s+/);
    out.push({ name, ...(key && key !== '-' ? { key: Buffer.from(key, 'hex') } : {}), frame: `${lines[i + 1].trim()}\r\n` });
  }
  return out;
}
