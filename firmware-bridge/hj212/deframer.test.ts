import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CodedError, isCoded } from '../../lib/errors.ts';
import { decodeFrame, encodeFrame } from './codec.ts';
import { Deframer } from './deframer.ts';
import { sharedFrames, standardExamples } from '../../test/support/hj212.ts';

const valid = sharedFrames('frames_valid.txt');
const key = Buffer.alloc(16, 0x30);
const encrypted = standardExamples().filter((e) => e.key).map((e) => e.frame);
const all = [...valid, ...encrypted];

/** Decode everything a deframer yields; errors as their code. */
function run(chunks: Buffer[], max?: number): string[] {
  const d = new Deframer(max ? { maxFrameBytes: max } : {});
  const out: string[] = [];
  for (const c of chunks) {
    for (const p of d.push(c)) {
      if (p instanceof CodedError) { out.push(p.code); continue; }
      try {
        const f = decodeFrame(p, { keyFor: () => key });
        out.push(`${f.mn}|${f.cn}|${f.cp.DataTime ?? f.qn}|${JSON.stringify(f.factors)}`);
      } catch (err) { out.push(isCoded(err) ? err.code : 'THROWN'); }
    }
  }
  return out;
}

function split(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) { out.push(buf.subarray(prev, p)); prev = p; }
  out.push(buf.subarray(prev));
  return out;
}

describe('Deframer', () => {
  const stream = Buffer.from(all.join(''));
  const expected = run([stream]);

  it('yields every frame of one segment holding several frames', () => {
    expect(expected.length).toBe(all.length);
    expect(expected.every((e) => !e.startsWith('HJ212_'))).toBe(true);
  });

  it('decodes the same under arbitrary TCP segmentation (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: stream.length }), { maxLength: 40 }), (cuts) => {
        expect(run(split(stream, cuts))).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });

  it('byte-at-a-time delivery decodes the same', () => {
    const chunks = [...stream].map((b) => Buffer.from([b]));
    expect(run(chunks)).toEqual(expected);
  });

  it('resynchronises after garbage between and inside frames', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 30 }).map((a) => Buffer.from(a).toString('latin1').replace(/[#\r\n]/g, 'x')), { minLength: all.length + 1, maxLength: all.length + 1 }), fc.array(fc.nat(), { maxLength: 10 }), (garbage, cuts) => {
        let s = garbage[0];
        all.forEach((f, i) => { s += f + garbage[i + 1]; });
        expect(run(split(Buffer.from(s, 'latin1'), cuts))).toEqual(expected);
      }),
      { numRuns: 100 },
    );
    // a broken "##12" start glued in front of a real frame
    expect(run([Buffer.from(`##12junk${valid[0]}`)])).toEqual(run([Buffer.from(valid[0])]));
  });

  it('bounds frame size and recovers with the next frame', () => {
    const big = `##0999${'a'.repeat(5000)}`;
    const out = run([Buffer.from(big), Buffer.from('b'.repeat(5000)), Buffer.from(`\r\n${valid[1]}`)], 4096);
    expect(out[0]).toBe('HJ212_TOO_LARGE');
    expect(out.slice(1)).toEqual(run([Buffer.from(valid[1])]));
    const d = new Deframer({ maxFrameBytes: 4096 });
    d.push(Buffer.from(big));
    expect(d.pending).toBeLessThan(4096 * 2);
  });

  it('frames re-encoded by the encoder deframe back identically', () => {
    const f = decodeFrame(valid[7]);
    const text = encodeFrame({ qn: f.qn, st: f.st, cn: f.cn, pw: f.pw, mn: f.mn, flag: f.flag, cp: f.cpText });
    expect(text).toBe(valid[7]);
  });
});
