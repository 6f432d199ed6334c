import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Receipt } from '../../protocol/schemas.ts';
import { checkers } from '../../protocol/schemas.ts';
import { ReceiptBook, addToRanges, toRanges } from './receipts.ts';

describe('receipts', () => {
  it('ranges merge neighbours and overlaps, stay sorted and disjoint (property)', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 300 }), { maxLength: 200 }), (seqs) => {
      const r = toRanges(seqs);
      const covered = new Set<number>();
      for (const [a, b] of r) for (let s = a; s <= b; s++) covered.add(s);
      expect([...covered].sort((x, y) => x - y)).toEqual([...new Set(seqs)].sort((x, y) => x - y));
      for (let i = 1; i < r.length; i++) expect(r[i][0]).toBeGreaterThan(r[i - 1][1] + 1);
    }));
    const r: Array<[number, number]> = [[1, 3], [7, 9]];
    addToRanges(r, 4, 6);
    expect(r).toEqual([[1, 9]]);
  });

  it('coalesces the seqs of several messages per site and stream into one valid receipt after the linger', async () => {
    const sent: Array<{ site: string; r: Receipt }> = [];
    const book = new ReceiptBook(async (site, r) => { sent.push({ site, r }); }, { lingerMs: 20, maxRanges: 2 });
    book.note('site-a', 'stream-aaaa', [1, 2, 3]);
    book.note('site-a', 'stream-aaaa', [4, 5, 9]);
    book.note('site-a', 'stream-bbbb', [1]);
    book.note('site-b', 'stream-cccc', [10, 12, 14]);
    expect(sent).toEqual([]);
    await new Promise((r) => setTimeout(r, 60));
    await book.flush();
    expect(sent.map((s) => [s.site, s.r.stream, s.r.ranges])).toEqual([
      ['site-a', 'stream-aaaa', [[1, 5], [9, 9]]],
      ['site-a', 'stream-bbbb', [[1, 1]]],
      ['site-b', 'stream-cccc', [[10, 10], [12, 12]]],
      ['site-b', 'stream-cccc', [[14, 14]]],
    ]);
    for (const s of sent) expect(checkers.receipt.Check(s.r)).toBe(true);
  });

  it('a receipt that cannot be sent is dropped and counted (the edge resends; nothing waits on it)', async () => {
    const book = new ReceiptBook(async () => { throw new Error('site offline'); }, { lingerMs: 5, maxRanges: 100 });
    book.note('site-a', 'stream-aaaa', [1]);
    await book.flush();
    expect(book.counts).toMatchObject({ failed: 1, receipts: 0 });
    expect(book.pendingSites).toBe(0);
  });
});
