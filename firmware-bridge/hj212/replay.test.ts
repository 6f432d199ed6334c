import { describe, expect, it } from 'vitest';
import { buildCp, decodeFrame, encodeFrame, formatDataTime } from './codec.ts';
import { frameValues } from './values.ts';
import { beijingHours } from './replay.ts';

describe('Beijing CSV replay -> hourly 2061 frames', () => {
  it('turns the first rows into frames whose readings match the CSV', async () => {
    const hours = [];
    for await (const h of beijingHours({ limit: 3 })) hours.push(h);
    expect(hours).toHaveLength(3);
    // row 1: 2013-03-01 00:00 Beijing, PM2.5 4, PM10 4, SO2 4, NO2 7, CO 300 ug/m3, O3 77, wd NNW
    expect(hours[0].time).toBe(Date.parse('2013-03-01T00:00:00+08:00'));
    const text = encodeFrame({ qn: '20130301000000000', st: '22', cn: '2061', pw: '123456', mn: 'AOTI', flag: 5, cp: buildCp({ DataTime: formatDataTime(hours[0].time) }, hours[0].factors) });
    const rs = frameValues(decodeFrame(text));
    const v = (p: string) => rs.find((r) => r.pollutant === p && r.statistic === 'avg');
    expect(v('PM2.5')).toMatchObject({ value: 4, unit: 'ug/m3', flag: 'N', observedAt: hours[0].time });
    expect(v('CO')).toMatchObject({ value: 0.3, unit: 'mg/m3' });
    expect(v('O3')!.value).toBe(77);
    expect(v('wind_direction')!.value).toBe(337.5);
    expect(v('pressure')!.value).toBeCloseTo(102.3, 5);
  });
});
