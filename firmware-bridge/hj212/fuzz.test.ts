import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CodedError } from '../../lib/errors.ts';
import { decodeFrame } from './codec.ts';
import { Deframer } from './deframer.ts';
import { frameValues } from './values.ts';
import { sharedFrames, standardExamples } from '../../test/support/hj212.ts';

const seeds = [...sharedFrames('frames_valid.txt'), ...sharedFrames('frames_bad_crc.txt'), ...standardExamples().map((e) => e.frame)];
const key = Buffer.alloc(16, 0x30);

/** decode + readings: must return or throw a CodedError with an HJ212_ code. */
function mustBeCoded(input: Buffer): void {
  try {
    const f = decodeFrame(input, { keyFor: () => key });
    frameValues(f);
  } catch (err) {
    if (!(err instanceof CodedError) || !err.code.startsWith('HJ212_')) throw err;
  }
}

const mutated = fc.tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'del', 'ins')), { minLength: 1, maxLength: 6 })).map(([seed, muts]) => {
  const b = [...Buffer.from(seed)];
  for (const [pos, byte, op] of muts) {
    const i = pos % (b.length + 1);
    if (op === 'set' && i < b.length) b[i] = byte;
    else if (op === 'del') b.splice(i, 1);
    else b.splice(i, 0, byte);
  }
  return Buffer.from(b);
});

describe('HJ 212 decoder fuzz (fast-check)', () => {
  it('random bytes never crash: coded errors only', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (a) => mustBeCoded(Buffer.from(a))), { numRuns: 2000 });
  });

  it('random "##"-prefixed text never crashes', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (s) => mustBeCoded(Buffer.from(`##${String(s.length).padStart(4, '0')}${s}\r\n`))), { numRuns: 2000 });
  });

  it('mutated real frames never crash and mostly fail with a code', () => {
    fc.assert(fc.property(mutated, (b) => mustBeCoded(b)), { numRuns: 3000 });
  });

  it('the deframer never throws, never holds more than its bound', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(mutated, fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a))), { maxLength: 20 }), (chunks) => {
        const d = new Deframer({ maxFrameBytes: 1024 });
        for (const c of chunks) {
          for (const p of d.push(c)) if (!(p instanceof CodedError)) mustBeCoded(p);
          expect(d.pending).toBeLessThanOrEqual(1024);
        }
      }),
      { numRuns: 500 },
    );
  });
});
