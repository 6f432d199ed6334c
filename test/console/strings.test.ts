import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectPath } from '../../lib/data-dir.ts';
import { en, SAME_IN_BOTH, zh, type StringKey } from '../../console/src/strings.ts';

/**
 * No UI string lacks its zh-CN translation: the two dictionaries have the same keys, no zh-CN
 * string is empty or still the English text, every key the pages use (t('…') and the prefixes
 * of tk('…', value)) exists, and no page writes words directly into its markup instead of t().
 */
const SRC = projectPath('console', 'src');
const files = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : /\.tsx?$/.test(e.name) ? [path.join(dir, e.name)] : []));
const sources = files(SRC).filter((f) => !f.endsWith('strings.ts')).map((f) => ({ f: path.relative(SRC, f), text: fs.readFileSync(f, 'utf8') }));
/** Text a reader sees that need not be translated: units, codes, standards, numbers, symbols. */
const ALLOWED_LITERAL = /^(AQI|PM2\.5|PM10|GBFS|MB|µg\/m³|mg\/m³|km|[—–·…,./:%()\[\]←→∞+\-\d\s]*)$/;

describe('console strings (en and zh-CN)', () => {
  it('both languages have the same keys and every zh-CN string is translated', () => {
    expect(Object.keys(zh).sort()).toEqual(Object.keys(en).sort());
    const untranslated = (Object.keys(en) as StringKey[]).filter((k) => !SAME_IN_BOTH.includes(k) && (!zh[k].trim() || (zh[k] === en[k] && /[A-Za-z]{3,}/.test(en[k]))));
    expect(untranslated).toEqual([]);
    // zh-CN strings use Chinese for words (codes like PM2.5, GB 3095-2012, AQI may stay)
    const latinWords = (Object.keys(zh) as StringKey[]).filter((k) => /\b(?!AQI\b|PM\b|GB\b|GBFS\b|URL\b|cityedge\b)[A-Za-z]{4,}\b/.test(zh[k].replace(/\{\w+\}/g, '')));
    expect(latinWords).toEqual([]);
    // the placeholders of each string are the same in both
    for (const k of Object.keys(en) as StringKey[]) expect((zh[k].match(/\{\w+\}/g) ?? []).sort(), k).toEqual((en[k].match(/\{\w+\}/g) ?? []).sort());
  });

  it('every key a page uses exists (t() keys and tk() prefixes)', () => {
    const used = sources.flatMap(({ f, text }) => [...text.matchAll(/\bt\('([a-zA-Z0-9_.-]+)'/g)].map((m) => ({ f, k: m[1] })));
    expect(used.length).toBeGreaterThan(150);
    expect(used.filter((u) => !(u.k in en))).toEqual([]);
    const prefixes = sources.flatMap(({ text }) => [...text.matchAll(/\btk\('([a-z]+)'/g)].map((m) => m[1]));
    for (const p of new Set(prefixes)) expect(Object.keys(en).some((k) => k.startsWith(`${p}.`)), p).toBe(true);
  });

  it('no page puts words into its markup without t()', () => {
    const bad: string[] = [];
    for (const { f, text } of sources.filter((s) => s.f.endsWith('.tsx'))) {
      // JSX text between tags: >text<, leaving out {expressions}
      // (one line, no code characters: TypeScript generics like Array<number | null> are not text)
      for (const m of text.matchAll(/>([^<>{}\n;=()|&?:]+)</g)) {
        const s = m[1].trim();
        if (s && !ALLOWED_LITERAL.test(s) && /[A-Za-z\u4e00-\u9fff]/.test(s) && !/^(中文|English)$/.test(s) && !/^[A-Z][A-Za-z]*(\[\])?$/.test(s) && !(/^[a-z]+$/.test(s) && new RegExp(`\\b${s}\\s*[(<.?]`).test(text))) bad.push(`${f}: ${s}`);
      }
      // attributes read by people or screen readers
      for (const m of text.matchAll(/\b(placeholder|title|aria-label|alt)="([^"]+)"/g)) if (!/^[a-z0-9-]+$/.test(m[2]) || /[A-Z ]/.test(m[2])) bad.push(`${f}: ${m[1]}="${m[2]}"`);
    }
    expect(bad).toEqual([]);
  });
});
