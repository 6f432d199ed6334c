import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CodedError, isCoded } from '../../../lib/errors.ts';
import { computeAqi, standardInForce, type AqiInput } from './aqi.ts';
import { evaluateText } from './input.ts';

// Independent transcription of HJ 633-2012 Table 1 (not imported from tables.ts).
const IAQI = [0, 50, 100, 150, 200, 300, 400, 500];
const HJ2012: Record<string, [string, number[]]> = {
  'SO2/24h': ['ug/m3', [0, 50, 150, 475, 800, 1600, 2100, 2620]],
  'SO2/1h': ['ug/m3', [0, 150, 500, 650, 800]],
  'NO2/24h': ['ug/m3', [0, 40, 80, 180, 280, 565, 750, 940]],
  'NO2/1h': ['ug/m3', [0, 100, 200, 700, 1200, 2340, 3090, 3840]],
  'PM10/24h': ['ug/m3', [0, 50, 150, 250, 350, 420, 500, 600]],
  'CO/24h': ['mg/m3', [0, 2, 4, 14, 24, 36, 48, 60]],
  'CO/1h': ['mg/m3', [0, 5, 10, 35, 60, 90, 120, 150]],
  'O3/1h': ['ug/m3', [0, 160, 200, 300, 400, 800, 1000, 1200]],
  'O3/8h': ['ug/m3', [0, 100, 160, 215, 265, 800]],
  'PM2.5/24h': ['ug/m3', [0, 35, 75, 115, 150, 250, 350, 500]],
};
const T2013 = Date.UTC(2013, 5, 1);
const T2026 = Date.UTC(2026, 5, 1);
const one = (key: string, value: number, unit?: string, time = T2013, standard: any = 'auto') => {
  const [pollutant, averaging] = key.split('/');
  return computeAqi([{ pollutant, averaging, value, unit: unit ?? HJ2012[key][0] }], { time, standard });
};

describe('HJ 633-2012 worked examples', () => {
  it('every breakpoint of every column gives exactly its IAQI', () => {
    let n = 0;
    for (const [key, [, bps]] of Object.entries(HJ2012)) {
      bps.forEach((bp, i) => { expect(one(key, bp).iaqi[0].iaqi, `${key} at ${bp}`).toBe(IAQI[i]); n++; });
      // just above each inner breakpoint the IAQI moves into the next segment
      for (let i = 1; i < bps.length - 1; i++) expect(one(key, bps[i] + (bps[i + 1] - bps[i]) / 1000).iaqi[0].iaqi).toBe(IAQI[i] + 1);
    }
    expect(n).toBe(75); // 8 columns x 8 + SO2 1h x 5 + O3 8h x 6
  });

  it('interpolates and rounds up (PM2.5 24h 55 -> 75; 56 -> 77)', () => {
    expect(one('PM2.5/24h', 55).aqi).toBe(75);
    expect(one('PM2.5/24h', 56).aqi).toBe(77); // 50 + 50/40*21 = 76.25 -> 77
    expect(one('PM10/24h', 200).aqi).toBe(125);
  });

  it('CO is evaluated in mg/m3; µg/m3 input converts exactly', () => {
    expect(one('CO/24h', 3).aqi).toBe(75);
    expect(one('CO/24h', 3000, 'ug/m3').aqi).toBe(75);
    expect(one('CO/1h', 1200, 'µg/m³').iaqi[0]).toMatchObject({ value: 1.2, unit: 'mg/m3', iaqi: 12 });
  });

  it('1-hour SO2 above 800 takes the 24-hour SO2 IAQI', () => {
    const r = computeAqi([{ pollutant: 'SO2', averaging: '1h', value: 900, unit: 'ug/m3' }, { pollutant: 'SO2', averaging: '24h', value: 300, unit: 'ug/m3' }], { time: T2013 });
    const expected = Math.ceil(100 + (50 / 325) * 150); // 24h 300 -> 123.07 -> 124
    expect(r.iaqi[0]).toMatchObject({ iaqi: expected });
    expect(r.iaqi[0].note).toMatch(/24-hour/);
    expect(r.aqi).toBe(expected);
    expect(one('SO2/1h', 900).iaqi[0]).toMatchObject({ iaqi: 200, fallback: true });
    expect(one('SO2/1h', 800).iaqi[0]).toMatchObject({ iaqi: 200 });
  });

  it('8-hour O3 above 800 takes the 1-hour O3 IAQI', () => {
    const r = computeAqi([{ pollutant: 'O3', averaging: '8h', value: 850, unit: 'ug/m3' }, { pollutant: 'O3', averaging: '1h', value: 900, unit: 'ug/m3' }], { time: T2013 });
    expect(r.iaqi[0].iaqi).toBe(350); // 1h 900 -> 300 + 100*100/200
    expect(r.aqi).toBe(350);
    expect(one('O3/8h', 850).iaqi[0]).toMatchObject({ iaqi: 300, fallback: true });
  });

  it('AQI, primary pollutant only above 50, exceeding pollutants above 100, category', () => {
    const low = computeAqi([{ pollutant: 'PM2.5', averaging: '24h', value: 20, unit: 'ug/m3' }, { pollutant: 'NO2', averaging: '24h', value: 30, unit: 'ug/m3' }], { time: T2013 });
    expect(low).toMatchObject({ aqi: 38, level: 1, categoryZh: '优', primary: [], exceeding: [] });
    const high = computeAqi([
      { pollutant: 'PM2.5', averaging: '24h', value: 150, unit: 'ug/m3' },
      { pollutant: 'PM10', averaging: '24h', value: 350, unit: 'ug/m3' },
      { pollutant: 'NO2', averaging: '24h', value: 100, unit: 'ug/m3' },
      { pollutant: 'SO2', averaging: '24h', value: 10, unit: 'ug/m3' },
    ], { time: T2013 });
    expect(high).toMatchObject({ aqi: 200, level: 4, category: 'moderately polluted', categoryZh: '中度污染', primary: ['PM2.5', 'PM10'], exceeding: ['PM2.5', 'PM10', 'NO2'] });
    expect(one('PM2.5/24h', 600).iaqi[0]).toMatchObject({ iaqi: 500, beyondTable: true });
    expect(one('PM2.5/24h', 600)).toMatchObject({ level: 6, categoryZh: '严重污染' });
  });

  it('1-hour PM uses the 24-hour column (real-time report)', () => {
    expect(one('PM2.5/24h', 75).aqi).toBe(computeAqi([{ pollutant: 'PM2.5', averaging: '1h', value: 75, unit: 'ug/m3' }], { time: T2013 }).aqi);
  });
});

describe('HJ 633-2026 and revision selection', () => {
  it('defaults to the revision in force at the reading time', () => {
    expect(standardInForce(Date.parse('2026-02-28T23:59:59+08:00'))).toBe('HJ633-2012');
    expect(standardInForce(Date.parse('2026-03-01T00:00:00+08:00'))).toBe('HJ633-2026');
    expect(one('PM2.5/24h', 60, 'ug/m3', T2013).aqi).toBe(82); // 50 + 50/40*25 = 81.25
    expect(one('PM2.5/24h', 60, 'ug/m3', T2026)).toMatchObject({ aqi: 100, standard: 'HJ633-2026' });
    expect(one('PM10/24h', 120, 'ug/m3', T2026).aqi).toBe(100);
    expect(one('PM10/24h', 120, 'ug/m3', T2026, 'HJ633-2012').aqi).toBe(85);
  });
  it('every 2026 PM breakpoint maps to its IAQI; other columns unchanged', () => {
    [0, 35, 60, 115, 150, 250, 350, 500].forEach((bp, i) => expect(one('PM2.5/24h', bp, 'ug/m3', T2026).aqi).toBe(IAQI[i]));
    [0, 50, 120, 250, 350, 420, 500, 600].forEach((bp, i) => expect(one('PM10/24h', bp, 'ug/m3', T2026).aqi).toBe(IAQI[i]));
    expect(one('NO2/1h', 700, 'ug/m3', T2026).aqi).toBe(150);
  });
});

describe('US EPA AQI option', () => {
  const epa = (pollutant: string, averaging: string, value: number, unit: string) => computeAqi([{ pollutant, averaging, value, unit }], { standard: 'US-EPA-2024' });
  it('breakpoints, truncation and rounding', () => {
    expect(epa('PM2.5', '24h', 35.4, 'ug/m3').aqi).toBe(100);
    expect(epa('PM2.5', '24h', 35.49, 'ug/m3').aqi).toBe(100); // truncated to 35.4
    expect(epa('PM2.5', '24h', 12, 'ug/m3').aqi).toBe(Math.round((49 / 26.3) * 2.9 + 51));
    expect(epa('O3', '8h', 0.07, 'ppm')).toMatchObject({ aqi: 100, category: 'Moderate' });
    expect(epa('CO', '8h', 9.4, 'ppm').aqi).toBe(100);
    expect(epa('SO2', '1h', 75, 'ppb').aqi).toBe(100);
    expect(epa('SO2', '1h', 400, 'ppb').aqi).toBe(Math.round((99 / 299) * 95 + 201));
    expect(epa('NO2', '1h', 100 * 46.0055 / 24.45, 'ug/m3').aqi).toBe(100);
  });
});

describe('coded errors', () => {
  const code = (inputs: AqiInput[], standard: any = 'auto') => { try { computeAqi(inputs, { standard, time: T2013 }); return 'none'; } catch (e) { return isCoded(e) ? e.code : 'THROWN'; } };
  it('unknown pollutant, negative, NaN, unit mismatch, averaging', () => {
    expect(code([{ pollutant: 'XYZ', averaging: '1h', value: 1, unit: 'ug/m3' }])).toBe('AQI_UNKNOWN_POLLUTANT');
    expect(code([{ pollutant: 'PM10', averaging: '24h', value: -1, unit: 'ug/m3' }])).toBe('AQI_BAD_VALUE');
    expect(code([{ pollutant: 'PM10', averaging: '24h', value: Number.NaN, unit: 'ug/m3' }])).toBe('AQI_BAD_VALUE');
    expect(code([{ pollutant: 'PM10', averaging: '24h', value: 5, unit: 'ppm' }])).toBe('AQI_UNIT_MISMATCH');
    expect(code([{ pollutant: 'PM10', averaging: '24h', value: 5, unit: 'furlongs' }])).toBe('AQI_UNIT_MISMATCH');
    expect(code([{ pollutant: 'O3', averaging: '24h', value: 5, unit: 'ug/m3' }])).toBe('AQI_BAD_AVERAGING');
    expect(code([{ pollutant: 'O3', averaging: '2h', value: 5, unit: 'ug/m3' }])).toBe('AQI_BAD_AVERAGING');
    expect(code([])).toBe('AQI_NO_INPUT');
    expect(code([{ pollutant: 'PM10', averaging: '24h', value: 5, unit: 'ug/m3' }], 'HJ999')).toBe('AQI_UNKNOWN_STANDARD');
  });

  it('fuzz: no crash or hang, coded errors only, AQI within 0..500', () => {
    const input = fc.record({
      pollutant: fc.oneof(fc.constantFrom('PM2.5', 'PM10', 'SO2', 'NO2', 'CO', 'O3', 'pm25', 'a34004'), fc.string({ maxLength: 6 })),
      averaging: fc.oneof(fc.constantFrom('1h', '8h', '24h'), fc.string({ maxLength: 4 })),
      value: fc.oneof(fc.double(), fc.double({ min: 0, max: 5000, noNaN: true })),
      unit: fc.oneof(fc.constantFrom('ug/m3', 'mg/m3', 'µg/m³', 'ppm', 'ppb'), fc.string({ maxLength: 5 })),
    });
    fc.assert(fc.property(fc.array(input, { maxLength: 8 }), fc.constantFrom('auto', 'HJ633-2012', 'HJ633-2026', 'US-EPA-2024'), fc.integer({ min: 0, max: 4102444800000 }), (inputs, standard, time) => {
      try {
        const r = computeAqi(inputs, { standard: standard as any, time });
        expect(r.aqi).toBeGreaterThanOrEqual(0);
        expect(r.aqi).toBeLessThanOrEqual(500);
        expect(Number.isInteger(r.aqi)).toBe(true);
      } catch (err) {
        expect(err).toBeInstanceOf(CodedError);
        expect((err as CodedError).code).toMatch(/^AQI_/);
      }
    }), { numRuns: 3000 });
  });
});

describe('CSV / JSON lines input', () => {
  it('reads a header with units and averaging, one result or coded error per row', () => {
    const out = evaluateText('time,PM2.5[ug/m3;24h],CO[mg/m3;1h],O3[ug/m3;8h]\n2013-03-01 00:00,55,1.2,NA\n2026-03-05T10:00:00+08:00,60,,\n2013-03-01 02:00,-3,1,1\n');
    expect(out[0].result).toMatchObject({ standard: 'HJ633-2012', aqi: 75, primary: ['PM2.5'] });
    expect(out[1].result).toMatchObject({ standard: 'HJ633-2026', aqi: 100 });
    expect(out[2].error?.code).toBe('AQI_BAD_VALUE');
    expect(evaluateText('time,PM2.5\n1,2')[0].error?.code).toBe('AQI_BAD_HEADER');
    const j = evaluateText('{"time":"2013-06-01T00:00:00Z","readings":[{"pollutant":"SO2","averaging":"24h","value":150,"unit":"ug/m3"}]}\nnot json\n');
    expect(j[0].result?.aqi).toBe(100);
    expect(j[1].error?.code).toBe('AQI_BAD_JSON');
  });
});
