import { describe, expect, it } from 'vitest';
import { buildCp, decodeFrame, encodeFrame } from './codec.ts';
import { convertedConcentration, convertValues, DEFAULT_CONVERT_CODES } from './convert.ts';
import { frameValues, type FactorValue } from './values.ts';
import { fromHj212 } from './to-readings.ts';

/** C = C′ × (21 − O₂ref) / (21 − O₂), HJ 75-2017; every expected value below is worked by hand. */
const frame = (cn: string, factors: Array<{ code: string; fields: Record<string, string | number> }>) =>
  decodeFrame(encodeFrame({ qn: '20260305100000000', st: '31', cn, pw: '123456', mn: 'FQ01', flag: 5, cp: buildCp({ DataTime: '20260305100000' }, factors) }));
const byStat = (vs: FactorValue[], code: string, basis?: 'converted') => Object.fromEntries(vs.filter((v) => v.code === code && v.basis === basis).map((v) => [v.statistic, v.value]));

describe('converted concentrations (HJ 75-2017)', () => {
  it('the formula, worked by hand', () => {
    expect(convertedConcentration(150, 6, 9)).toBe(187.5); // 150 × 15 / 12
    expect(convertedConcentration(90, 6, 12)).toBe(150); // 90 × 15 / 9
    expect(convertedConcentration(120, 6, 1)).toBe(90); // 120 × 15 / 20
    expect(convertedConcentration(30, 15, 16)).toBe(36); // gas turbine: 30 × 6 / 5
    expect(convertedConcentration(50, 9, 14)).toBe(85.714); // industrial coal boiler: 50 × 12 / 7 = 85.7142… → 3 decimals
    expect(convertedConcentration(40, 3.5, 21)).toBeUndefined();
    expect(convertedConcentration(40, 3.5, 25)).toBeUndefined();
  });

  it('default codes: SO2, NOx and smoke dust of factors.ts (2017 and 2005 codes)', () => {
    expect([...DEFAULT_CONVERT_CODES].sort()).toEqual(['01', '02', '03', 'a21002', 'a21026', 'a34013']);
  });

  it('computes from the O₂ of the same frame: Rtd with O₂ Rtd, Avg/Min/Max with O₂ Avg; both kept, O₂ recorded', () => {
    const hour = frameValues(frame('2061', [
      { code: 'a21026', fields: { Avg: 90, Min: 60, Max: 120, Cou: 3.2, Flag: 'N' } },
      { code: 'a21002', fields: { Avg: 150, Flag: 'N' } },
      { code: 'a19001', fields: { Avg: 12, Min: 10, Max: 14, Flag: 'N' } },
      { code: 'a01012', fields: { Avg: 120, Flag: 'N' } },
    ]));
    const { values } = convertValues(hour, { o2Ref: 6 });
    expect(byStat(values, 'a21026')).toEqual({ avg: 90, min: 60, max: 120, cou: 3.2 });
    // factor 15/9: 90 → 150, 60 → 100, 120 → 200; Cou (amount) is not converted
    expect(byStat(values, 'a21026', 'converted')).toEqual({ avg: 150, min: 100, max: 200 });
    expect(byStat(values, 'a21002', 'converted')).toEqual({ avg: 250 });
    expect(values.filter((v) => v.basis === 'converted').every((v) => v.zsSource === 'computed' && v.o2 === 12 && v.field?.startsWith('Zs'))).toBe(true);
    expect(values.filter((v) => v.code === 'a01012' || v.code === 'a19001').every((v) => v.basis === undefined)).toBe(true); // temperature and O₂ are not converted
    const rt = frameValues(frame('2011', [{ code: 'a21026', fields: { Rtd: 150, Flag: 'N' } }, { code: 'a19001', fields: { Rtd: 9, Flag: 'N' } }]));
    expect(byStat(convertValues(rt, { o2Ref: 6 }).values, 'a21026', 'converted')).toEqual({ rtd: 187.5 });
  });

  it("keeps the logger's Zs* and computes nothing for that factor", () => {
    const vs = frameValues(frame('2061', [{ code: 'a21026', fields: { Avg: 80, ZsAvg: 130, Flag: 'N' } }, { code: 'a19001', fields: { Avg: 12, Flag: 'N' } }]));
    const { values } = convertValues(vs, { o2Ref: 6 });
    expect(values.filter((v) => v.basis === 'converted')).toMatchObject([{ value: 130, zsSource: 'logger' }]);
    expect(values.find((v) => v.basis === 'converted')!.o2).toBeUndefined();
  });

  it('no converted value when O₂ is missing, ≥ 21 % or not valid — and why', () => {
    const so2 = { code: 'a21026', fields: { Avg: 90, Flag: 'N' } };
    const cases: Array<[Array<{ code: string; fields: Record<string, string | number> }>, string]> = [
      [[so2], 'o2_missing'],
      [[so2, { code: 'a19001', fields: { Avg: 'x', Flag: 'N' } }], 'o2_missing'],
      [[so2, { code: 'a19001', fields: { Avg: 21, Flag: 'N' } }], 'o2_not_below_21'],
      [[so2, { code: 'a19001', fields: { Avg: 22.5, Flag: 'N' } }], 'o2_not_below_21'],
      [[so2, { code: 'a19001', fields: { Avg: 8, Flag: 'C' } }], 'o2_invalid'],
    ];
    for (const [factors, why] of cases) {
      const { values, missing } = convertValues(frameValues(frame('2061', factors)), { o2Ref: 6 });
      expect(values.filter((v) => v.basis === 'converted'), why).toEqual([]);
      expect(values.find((v) => v.code === 'a21026')!.zsMissing).toBe(why);
      expect(missing).toEqual({ [why]: 1 });
    }
  });

  it('honours o2Code and convert', () => {
    const vs = frameValues(frame('2061', [{ code: 'a21005', fields: { Avg: 50, Flag: 'N' } }, { code: 'a21026', fields: { Avg: 50, Flag: 'N' } }, { code: 'S01', fields: { Avg: 11, Flag: 'N' } }]));
    const { values } = convertValues(vs, { o2Ref: 11, o2Code: 'S01', convert: ['a21005'] });
    expect(byStat(values, 'a21005', 'converted')).toEqual({ avg: 50 }); // 50 × 10 / 10
    expect(byStat(values, 'a21026', 'converted')).toEqual({});
  });
});

describe('fromHj212: limits on the converted value', () => {
  const vs = convertValues(frameValues(frame('2061', [
    { code: 'a21026', fields: { Avg: 90, Flag: 'N' } }, { code: 'a21002', fields: { Avg: 40, Flag: 'N' } }, { code: 'a19001', fields: { Avg: 12, Flag: 'N' } },
  ])), { o2Ref: 6 }).values;

  it('raw basis (default): measured values only', () => {
    expect(fromHj212(vs).map((r) => [r.pollutant, r.value])).toEqual([['SO2', 90], ['NOx', 40], ['O2', 12]]);
  });

  it('converted basis: the converted value, marked; other factors stay measured', () => {
    const rs = fromHj212(vs, { basis: (_s, code) => (code === 'a21026' ? 'converted' : 'raw') });
    expect(rs.map((r) => [r.pollutant, r.value, r.status])).toEqual([['SO2', 150, 'converted hour-avg'], ['NOx', 40, 'hour-avg'], ['O2', 12, 'hour-avg']]);
  });

  it('converted basis without a converted value: NaN (never an exceedance on the wrong basis), with the reason', () => {
    const noO2 = convertValues(frameValues(frame('2061', [{ code: 'a21026', fields: { Avg: 900, Flag: 'N' } }])), { o2Ref: 6 }).values;
    const [r] = fromHj212(noO2, { basis: () => 'converted' });
    expect(Number.isNaN(r.value)).toBe(true);
    expect(r.status).toBe('no converted value: o2_missing hour-avg');
  });
});
