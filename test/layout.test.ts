/**
 * The layout's dependency rules, checked on every production file (tests and test support are
 * exempt): device adapters (firmware-bridge/) import nothing from edge/; the cloud imports neither
 * edge/ nor firmware-bridge/; lib/ and protocol/ import no layer above them; no production file
 * imports test code. See README.md "Layout".
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectPath } from '../lib/data-dir.ts';

const ROOT = projectPath();
const isTest = (f: string) => /\.(int\.)?test\.ts$/.test(f) || f.startsWith('test/') || f.startsWith('bench/');

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...tsFiles(rel));
    else if (e.name.endsWith('.ts') && !isTest(rel)) out.push(rel);
  }
  return out;
}

/** Every relative import target of a file (static, dynamic, re-export), as a path from the root. */
function imports(file: string): string[] {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) out.push(path.normalize(path.join(path.dirname(file), m[1])));
  return out;
}

const rules: Array<{ from: string; never: string[] }> = [
  { from: 'firmware-bridge', never: ['edge', 'cloud', 'demo', 'cli', 'test'] },
  { from: 'cloud', never: ['edge', 'firmware-bridge', 'demo', 'cli', 'test'] },
  { from: 'edge', never: ['cloud', 'demo', 'cli', 'test'] },
  { from: 'protocol', never: ['edge', 'cloud', 'firmware-bridge', 'models', 'demo', 'cli', 'test'] },
  { from: 'lib', never: ['edge', 'cloud', 'firmware-bridge', 'models', 'demo', 'cli', 'test'] },
  { from: 'models', never: ['edge', 'cloud', 'firmware-bridge', 'demo', 'cli', 'test'] },
  { from: 'demo', never: ['cli', 'test'] },
];

describe('layout', () => {
  for (const rule of rules) {
    it(`${rule.from}/ imports nothing from ${rule.never.join(', ')}`, () => {
      const files = tsFiles(rule.from);
      expect(files.length).toBeGreaterThan(0);
      const bad = files.flatMap((f) => imports(f).filter((t) => rule.never.includes(t.split(path.sep)[0])).map((t) => `${f} → ${t}`));
      expect(bad).toEqual([]);
    });
  }

  it('no production folder holds test support (test-context, test-helpers, testing/)', () => {
    const prod = ['edge', 'cloud', 'firmware-bridge', 'lib', 'protocol', 'models', 'demo', 'cli'].flatMap(tsFiles);
    expect(prod.filter((f) => /test-context|test-helpers|\/testing\//.test(f))).toEqual([]);
  });
});
