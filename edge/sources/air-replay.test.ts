import { describe, expect, it } from 'vitest';
import { airAqi, airFields } from './air-replay.ts';

const row = (values: Record<string, number>, ts = Date.UTC(2013, 2, 1) - 8 * 3600_000) => ({ index: 0, ts, station: 'Aotizhongxin', values, text: {} });

describe('air-replay fields', () => {
  it('row 1 of the Beijing data (2013-03-01 00:00): fields and its real-time AQI, by hand', () => {
    const r = row({ 'PM2.5': 4, PM10: 4, SO2: 4, NO2: 7, CO: 300, O3: 77, TEMP: -0.7 });
    expect(airFields(r)).toMatchObject({ pm25: 4, pm10: 4, so2: 4, no2: 7, co: 300, o3: 77, temp: -0.7 });
    // HJ 633-2012 IAQI, rounded up: PM2.5 4/35·50 → 6; PM10 4/50·50 → 4; SO2(1h) 4/150·50 → 2;
    // NO2(1h) 7/100·50 → 4; CO(1h) 0.3/5·50 → 3; O3(1h) 77/160·50 → 25. AQI 25, level 1, no primary.
    expect(airAqi(r)).toEqual({ aqi: 25, aqi_level: 1 });
  });

  it('a polluted hour names its primary pollutant; the 2026 revision applies from 2026-03-01 (PM2.5 breakpoints moved)', () => {
    // PM2.5 100 µg/m³: 2012 table 75→100, 115→150: 100 + (100-75)/(115-75)·50 = 131.25 → 132
    expect(airAqi(row({ 'PM2.5': 100, NO2: 20 }))).toEqual({ aqi: 132, aqi_level: 3, aqi_primary: 'PM2.5' });
    // 2026 table 60→100, 115→150: 100 + 40/55·50 = 136.36 → 137
    expect(airAqi(row({ 'PM2.5': 100, NO2: 20 }, Date.UTC(2026, 5, 1)))).toEqual({ aqi: 137, aqi_level: 3, aqi_primary: 'PM2.5' });
  });

  it('an hour with no pollutant value has no AQI fields', () => {
    expect(airAqi(row({ TEMP: 3 }))).toEqual({});
  });
});
