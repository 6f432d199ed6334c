/**
 * Data uploads to an upstream platform stay within HJ 212's 1024-character data segment
 * (HJ 212-2017 §8.1.2): a record too long for one frame goes out as split packets (PNUM/PNO, Flag
 * bit 1), each with the record's DataTime and whole factor groups, only the last one asking for
 * the 9014 ack.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeFrame } from '../../lib/hj212/codec.ts';
import { parseSm4Key } from '../../lib/hj212/sm4.ts';
import { dataFrames, MAX_DATA_SEGMENT, type FrameTarget } from './frames.ts';

const TS = Date.UTC(2026, 2, 1, 4); // 12:00 Beijing time
const target = (over: Partial<FrameTarget> = {}): FrameTarget => ({ revision: '2017', password: '123456', mn: 'CE0000000000000000000212', st: '31', ...over });
/** The data segment's length as the frame's length field states it. */
const segmentLength = (frame: string) => Number(frame.slice(2, 6));
const factor = (i: number) => ({ code: `a${String(21000 + i).padStart(5, '0')}`, fields: { avg: 12.345 + i, min: 10.1, max: 15.9, cou: 1234.5678, zsAvg: 15.432, zsMin: 12.6, zsMax: 19.9 }, flag: 'N' });

describe('upstream data frames and the 1024-character data segment', () => {
  it('a record that fits goes out as one frame without PNUM/PNO, asking for the ack', () => {
    const frames = dataFrames(target(), '2061', TS, [factor(1), factor(2)], 480, { qn: '20260301120000000', needsAck: true });
    expect(frames).toHaveLength(1);
    const f = decodeFrame(frames[0]);
    expect(f.pnum).toBeUndefined();
    expect(f.flagBits).toMatchObject({ needsAck: true, split: false });
    expect(f.cp.DataTime).toBe('20260301120000');
  });

  it('30 factors with every statistic are split into packets of at most 1024 characters, each with DataTime and whole factors', () => {
    const factors = Array.from({ length: 30 }, (_, i) => factor(i));
    const frames = dataFrames(target(), '2061', TS, factors, 480, { qn: '20260301120000000', needsAck: true });
    expect(frames.length).toBeGreaterThan(1);
    const decoded = frames.map((t) => decodeFrame(t));
    for (const [i, t] of frames.entries()) {
      expect(segmentLength(t)).toBeLessThanOrEqual(MAX_DATA_SEGMENT);
      expect(decoded[i]).toMatchObject({ qn: '20260301120000000', pnum: frames.length, pno: i + 1 });
      expect(decoded[i].flagBits).toMatchObject({ split: true, needsAck: i === frames.length - 1 });
      expect(decoded[i].cp.DataTime).toBe('20260301120000');
    }
    // every factor exactly once, with all its fields, over the packets
    const seen = decoded.flatMap((f) => Object.keys(f.factors));
    expect(seen.sort()).toEqual(factors.map((f) => f.code).sort());
    for (const f of decoded) for (const [code, fields] of Object.entries(f.factors)) {
      expect(Object.keys(fields).sort(), code).toEqual(['Avg', 'Cou', 'Flag', 'Max', 'Min', 'ZsAvg', 'ZsMax', 'ZsMin']);
    }
  });

  it('history answers (no ack asked) and RF=1 re-sends split the same way; SM4 keeps the plain length', () => {
    const factors = Array.from({ length: 20 }, (_, i) => factor(i));
    const key = parseSm4Key('0123456789abcdeffedcba9876543210');
    const frames = dataFrames(target({ revision: '2025', key }), '2061', TS, factors, 480, { qn: '20260301120000001', needsAck: false, resent: true });
    expect(frames.length).toBeGreaterThan(1);
    for (const t of frames) {
      expect(segmentLength(t)).toBeLessThanOrEqual(MAX_DATA_SEGMENT);
      const f = decodeFrame(t, { keyFor: () => key });
      expect(f.flagBits).toMatchObject({ split: true, needsAck: false });
      expect(f.resent).toBe(true);
    }
  });

  it('any number and size of factors: every packet within the bound, every factor once (fuzz)', () => {
    fc.assert(fc.property(
      fc.array(fc.record({ code: fc.integer({ min: 1, max: 99_999 }), avg: fc.double({ min: -1e6, max: 1e6, noNaN: true }), n: fc.integer({ min: 0, max: 9 }) }), { minLength: 1, maxLength: 60 }),
      (specs) => {
        const byCode = new Map(specs.map((s) => [`a${String(s.code).padStart(5, '0')}`, s]));
        const factors = [...byCode].map(([code, s]) => ({ code, fields: Object.fromEntries([['avg', s.avg], ...Array.from({ length: s.n }, (_, k) => [`X${k}`, k + 0.5])]), flag: 'N' }));
        const frames = dataFrames(target(), '2051', TS, factors, 480, { qn: '20260301120000002', needsAck: true });
        const codes: string[] = [];
        for (const t of frames) {
          expect(segmentLength(t)).toBeLessThanOrEqual(MAX_DATA_SEGMENT);
          codes.push(...Object.keys(decodeFrame(t).factors));
        }
        expect(codes.sort()).toEqual([...byCode.keys()].sort());
      },
    ), { numRuns: 200 });
  });
});
