import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkers } from '../../../protocol/schemas.ts';
import { FLAGS, type Reading, effectiveFlag, isValid } from '../../../lib/contract/reading.ts';
import { toTelemetry } from './telemetry.ts';
import { RangeChecker } from './range.ts';

const base: Reading = { station: 'st1', pollutant: 'PM2.5', value: 35, unit: 'ug/m3', observedAt: Date.UTC(2024, 0, 1), flag: 'N', source: 'test' };
const stamp = (i: object) => ({ id: '0190a5a0-0000-7000-8000-000000000001', seq: 1, ...i });

describe('readings', () => {
  it('converts to a protocol telemetry item that validates', () => {
    const item = toTelemetry(base);
    expect(item).toEqual({ kind: 'telemetry', ts: base.observedAt, m: 'env', tags: { station: 'st1', pollutant: 'PM2.5' }, fields: { value: 35, flag: 'N', unit: 'ug/m3' } });
    expect(checkers.telemetry.Check(stamp(item))).toBe(true);
  });

  it('range check marks instead of dropping, and keeps the instrument flag', () => {
    const rc = new RangeChecker({ 'PM2.5': { min: 0, max: 1000 } });
    const high = rc.check({ ...base, value: 5000 });
    expect(high.qc).toBe('above_max');
    expect(high.flag).toBe('N');
    expect(effectiveFlag(high)).toBe('T');
    expect(isValid(high)).toBe(false);
    const calHigh = rc.check({ ...base, value: -3, flag: 'C' });
    expect(calHigh).toMatchObject({ qc: 'below_min', flag: 'C' });
    expect(effectiveFlag(calHigh)).toBe('C');
    expect(rc.check(base)).toBe(base);
    expect(rc.check({ ...base, pollutant: 'unknown', value: 1e9 }).qc).toBeUndefined();
    expect(rc.stats()).toMatchObject({ checked: 4, above_max: 1, below_min: 1 });
    const item = toTelemetry(high);
    expect(item.kind === 'telemetry' && item.fields).toMatchObject({ value: 5000, flag: 'N', qc: 'above_max' });
  });

  it('every flag, QC mark and status survives into telemetry (property)', () => {
    const rc = new RangeChecker({ 'PM2.5': { min: 0, max: 500 } });
    fc.assert(
      fc.property(fc.constantFrom(...FLAGS), fc.oneof(fc.double(), fc.integer()), fc.option(fc.string({ minLength: 1, maxLength: 20 }), { nil: undefined }), (flag, value, status) => {
        const r = rc.check({ ...base, flag, value, status });
        const item = toTelemetry(r);
        if (item.kind !== 'telemetry') throw new Error('kind');
        expect(item.fields.flag).toBe(flag);
        if (status) expect(item.fields.status).toBe(status);
        if (!Number.isFinite(value)) expect(item.fields.qc).toBe('not_finite');
        else if (value > 500) expect(item.fields.qc).toBe('above_max');
        expect(checkers.telemetry.Check(stamp(item))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
