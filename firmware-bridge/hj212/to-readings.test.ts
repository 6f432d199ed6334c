import { describe, expect, it } from 'vitest';
import type { FactorValue } from './values.ts';
import { fromHj212 } from './to-readings.ts';

const base: FactorValue = { station: 'MN001', pollutant: 'SO2', code: 'a21026', known: true, statistic: 'rtd', period: 'rt', value: 12.5, unit: 'mg/m3', observedAt: Date.UTC(2024, 0, 1), qc: 'ok', resent: false };

describe('fromHj212', () => {
  it('keeps flags (unknown letters in status), missing values as NaN, and takes Rtd/Avg only', () => {
    const out = fromHj212([
      { ...base },
      { ...base, flag: 'C' },
      { ...base, flag: 'X' },
      { ...base, value: null, qc: 'not_numeric', flag: 'D' },
      { ...base, statistic: 'avg', period: 'hour', resent: true },
      { ...base, statistic: 'max', period: 'hour' },
    ]);
    expect(out.map((r) => [r.flag, r.status])).toEqual([['N', undefined], ['C', undefined], ['D', 'flag=X'], ['D', undefined], ['N', 'hour-avg resent']]);
    expect(Number.isNaN(out[3].value)).toBe(true);
    expect(out[0]).toMatchObject({ station: 'MN001', pollutant: 'SO2', source: 'hj212:MN001', unit: 'mg/m3' });
  });
});
