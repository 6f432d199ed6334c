import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/peers/ports.ts';
import { openCloudDb } from '../db.ts';
import { SeenRanges } from './seen-ranges.ts';

describe('SeenRanges (dedupe by site, stream, seq)', () => {
  it('admits each seq once, in any order, and persists across restarts (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 300 }), { maxLength: 400 }), fc.integer({ min: 0, max: 400 }), (seqs, cut) => {
        const db = openCloudDb(path.join(tempDir('seen-'), 'c.db'));
        let seen = new SeenRanges(db);
        const model = new Set<number>();
        seqs.forEach((s, i) => {
          if (i === cut) { seen = new SeenRanges(db); } // a "restart": state comes back from disk
          const fresh = db.transaction(() => { const r = seen.admit('site-a', 'stream1', s); seen.flush(); return r; })();
          expect(fresh).toBe(!model.has(s));
          model.add(s);
        });
        // the stored intervals describe exactly the model set
        const stored = new SeenRanges(db).intervals('site-a', 'stream1');
        const expanded = stored.flatMap(([lo, hi]) => Array.from({ length: hi - lo + 1 }, (_, k) => lo + k));
        expect(expanded).toEqual([...model].sort((a, b) => a - b));
        // intervals are disjoint and not adjacent
        for (let k = 1; k < stored.length; k++) expect(stored[k][0]).toBeGreaterThan(stored[k - 1][1] + 1);
        db.close();
      }),
      { numRuns: 60 },
    );
  });

  it('keeps streams and sites apart', () => {
    const db = openCloudDb(path.join(tempDir('seen-'), 'c.db'));
    const seen = new SeenRanges(db);
    expect(seen.admit('a', 's1', 1)).toBe(true);
    expect(seen.admit('a', 's2', 1)).toBe(true);
    expect(seen.admit('b', 's1', 1)).toBe(true);
    expect(seen.admit('a', 's1', 1)).toBe(false);
    db.close();
  });
});
