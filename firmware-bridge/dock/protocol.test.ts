import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isCoded } from '../../lib/errors.ts';
import { DOCK_CODES, formatLine, formatServerLine, parseLine, parseServerLine, type DockMsg } from './protocol.ts';

function codeOf(line: string): string | undefined {
  try {
    parseLine(line);
    return undefined;
  } catch (err) {
    if (!isCoded(err)) throw err;
    return err.code;
  }
}

describe('DOCK/1 parser', () => {
  it('parses every verb', () => {
    expect(parseLine('HELLO 1 proto=DOCK/1 station=2351 docks=18 token=s3cret boot=b7 fw=1.2.0')).toEqual({ verb: 'HELLO', seq: 1, proto: 'DOCK/1', station: '2351', docks: 18, token: 's3cret', boot: 'b7', fw: '1.2.0' });
    expect(parseLine('DOCKED 2 t=1666570714000 dock=3 bike=04A1B2C3')).toEqual({ verb: 'DOCKED', seq: 2, t: 1666570714000, dock: 3, bike: '04A1B2C3' });
    expect(parseLine('RELEASED 3 dock=3 card=1234567890 bike=04A1B2C3\r')).toEqual({ verb: 'RELEASED', seq: 3, dock: 3, card: '1234567890', bike: '04A1B2C3' });
    expect(parseLine('FAULT 4 dock=5 code=LOCK_JAM')).toMatchObject({ verb: 'FAULT', dock: 5, code: 'LOCK_JAM' });
    expect(parseLine('DISABLED 5 dock=5 reason=maintenance')).toMatchObject({ verb: 'DISABLED', dock: 5, reason: 'maintenance' });
    expect(parseLine('ENABLED 6 dock=5')).toMatchObject({ verb: 'ENABLED', dock: 5 });
    expect(parseLine('HB 7 t=1666570714000')).toEqual({ verb: 'HB', seq: 7, t: 1666570714000 });
    expect(parseLine('STATUS 8 docks=BBEDdFf renting=0')).toEqual({ verb: 'STATUS', seq: 8, docks: 'BBEDdFf', installed: true, renting: false, returning: true });
  });

  it('rejects malformed lines with stable codes', () => {
    expect(codeOf('')).toBe('DOCK_BAD_LINE');
    expect(codeOf('HB')).toBe('DOCK_BAD_LINE');
    expect(codeOf('HB  1')).toBe('DOCK_BAD_LINE');
    expect(codeOf('HB 1\tx=1')).toBe('DOCK_BAD_LINE');
    expect(codeOf('HB 1 card=\u00e9t\u00e9')).toBe('DOCK_BAD_LINE');
    expect(codeOf('HB x')).toBe('DOCK_BAD_SEQ');
    expect(codeOf('HB 0')).toBe('DOCK_BAD_SEQ');
    expect(codeOf('HB 99999999999')).toBe('DOCK_BAD_SEQ');
    expect(codeOf('PARK 1 dock=1')).toBe('DOCK_UNKNOWN_VERB');
    expect(codeOf('DOCKED 1 dock=1')).toBe('DOCK_BAD_FIELD');
    expect(codeOf('DOCKED 1 dock=0 bike=ABCD')).toBe('DOCK_BAD_FIELD');
    expect(codeOf('DOCKED 1 dock=1 bike=xyz!')).toBe('DOCK_BAD_FIELD');
    expect(codeOf('DOCKED 1 dock=1 dock=2 bike=ABCD')).toBe('DOCK_BAD_FIELD');
    expect(codeOf('DOCKED 1 dock=1 bike=ABCD junk')).toBe('DOCK_BAD_FIELD');
    expect(codeOf('STATUS 1 docks=BBX')).toBe('DOCK_BAD_FIELD');
    expect(codeOf('STATUS 1 docks=BB renting=yes')).toBe('DOCK_BAD_FIELD');
    expect(codeOf('HB 1 t=-5')).toBe('DOCK_BAD_FIELD');
  });

  it('keeps the seq of a line whose fields are bad (README §4)', () => {
    try {
      parseLine('DOCKED 42 dock=1');
      expect.unreachable();
    } catch (err) {
      expect(isCoded(err, 'DOCK_BAD_FIELD') && err.details?.seq).toBe(42);
    }
  });

  const msgArb: fc.Arbitrary<DockMsg> = fc.oneof(
    fc.record({ verb: fc.constant('DOCKED' as const), seq: fc.integer({ min: 1, max: 4_294_967_295 }), dock: fc.integer({ min: 1, max: 200 }), bike: fc.stringMatching(/^[0-9A-F]{4,32}$/) }),
    fc.record({ verb: fc.constant('RELEASED' as const), seq: fc.integer({ min: 1, max: 1e9 }), t: fc.integer({ min: 0, max: 9_999_999_999_999 }), dock: fc.integer({ min: 1, max: 200 }), card: fc.stringMatching(/^[0-9A-Za-z]{4,32}$/) }),
    fc.record({ verb: fc.constant('FAULT' as const), seq: fc.integer({ min: 1, max: 1e9 }), dock: fc.integer({ min: 1, max: 200 }), code: fc.stringMatching(/^[A-Z0-9_]{1,32}$/) }),
    fc.record({ verb: fc.constant('STATUS' as const), seq: fc.integer({ min: 1, max: 1e9 }), docks: fc.stringMatching(/^[BEDdFf]{1,200}$/), installed: fc.boolean(), renting: fc.boolean(), returning: fc.boolean() }),
    fc.record({ verb: fc.constant('HB' as const), seq: fc.integer({ min: 1, max: 1e9 }) }),
  );

  it('fuzz: format → parse round-trips', () => {
    fc.assert(fc.property(msgArb, (m) => { expect(parseLine(formatLine(m))).toEqual(m); }), { numRuns: 500 });
  });

  it('fuzz: arbitrary input either parses or throws a known DOCK_* code, never anything else', () => {
    const known = new Set<string>(DOCK_CODES);
    const mutated = fc.tuple(msgArb, fc.integer({ min: 0, max: 300 }), fc.string({ maxLength: 4 })).map(([m, pos, ins]) => {
      const l = formatLine(m);
      return l.slice(0, pos) + ins + l.slice(pos + ins.length);
    });
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 120 }), fc.string({ unit: 'binary', maxLength: 80 }), mutated), (line) => {
        try {
          const m = parseLine(line);
          expect(typeof m.seq).toBe('number');
          expect(parseLine(formatLine(m))).toEqual(m);
        } catch (err) {
          expect(isCoded(err) && known.has(err.code)).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('server lines round-trip', () => {
    for (const l of [{ verb: 'WELCOME', seq: 3, last: 2, hb: 30 }, { verb: 'ACK', seq: 9, dup: true }, { verb: 'NAK', seq: 4, code: 'DOCK_BAD_FIELD', text: 'dock=0 out of range' }, { verb: 'POLL' }, { verb: 'BYE', code: 'DOCK_IDLE', text: 'bye now' }] as const) {
      expect(parseServerLine(formatServerLine(l))).toEqual(l.verb === 'ACK' ? l : { ...l });
    }
  });
});
