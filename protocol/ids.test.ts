import { describe, expect, it } from 'vitest';
import { MESSAGE_ID_PATTERN, newMessageId } from './ids.ts';

describe('newMessageId', () => {
  it('gives UUIDv7s: the pattern, the creation time in the first 48 bits, no repeats', () => {
    const re = new RegExp(MESSAGE_ID_PATTERN);
    const before = Date.now();
    const ids = Array.from({ length: 20_000 }, () => newMessageId());
    const after = Date.now();
    for (const id of ids) expect(id).toMatch(re);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of [ids[0], ids[ids.length - 1]]) {
      const ms = parseInt(id.replace(/-/g, '').slice(0, 12), 16);
      expect(ms).toBeGreaterThanOrEqual(before);
      expect(ms).toBeLessThanOrEqual(after);
    }
    // ids of later milliseconds sort after earlier ones
    const sorted = [...ids].sort((a, b) => a.slice(0, 13).localeCompare(b.slice(0, 13)));
    expect(sorted.map((i) => i.slice(0, 13))).toEqual(ids.map((i) => i.slice(0, 13)));
    // every variant digit and the random digits are used
    expect(new Set(ids.map((i) => i[19]))).toEqual(new Set(['8', '9', 'a', 'b']));
  });
});
