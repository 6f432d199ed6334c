import { describe, expect, it } from 'vitest';
import { Value } from '@sinclair/typebox/value';
import { dataFile } from '../../../lib/data-dir.ts';
import { checkers } from '../../../protocol/schemas.ts';
import { beijingTime, readPrsaCsv } from '../../../lib/prsa-csv.ts';
import { AlertEngine } from './engine.ts';
import { type Rule, RulesSchema } from './rules.ts';

/**
 * Replays real hourly PM2.5 of Beijing Aotizhongxin, 2013-03-05 00:00 … 2013-03-10 00:00 (Beijing
 * time), through edge rules. Hours checked by reading the CSV:
 *   2013-03-05 12:00 142, 13:00 163, 14:00 168, 15:00 165  → 3rd consecutive hour > 150 at 15:00
 *   2013-03-08 11:00 219, 12:00 104 (≤115 once), 13:00 121 (streak broken), 14:00 184, 15:00 330,
 *   16:00 172, 17:00 114, 18:00 82                         → 2nd consecutive hour ≤ 115 at 18:00
 *   2013-03-09: max 145 (10:00) → no second raise.
 * 24-hour rolling average > 75 µg/m³ (GB 3095-2012 grade II 24-h PM2.5 limit), ≥ 18 hourly values:
 *   first trusted at 2013-03-05 17:00 (18 values, mean 127.5) → raise; 2013-03-09 19:00 mean of the
 *   24 values 03-08 20:00 … 03-09 19:00 = 74.29 → clear.
 */
const FILE = () => dataFile('air_quality', 'PRSA_Data_Aotizhongxin_20130301-20170228.csv');
const FROM = beijingTime(2013, 3, 5);
const TO = beijingTime(2013, 3, 10);
const rules = (r: unknown[]): Rule[] => Value.Default(RulesSchema, r) as Rule[];

describe('Beijing PM2.5 replay through edge alert rules', () => {
  const readings = readPrsaCsv(FILE(), { from: FROM, to: TO, pollutants: ['PM2.5'] });

  it('reads 120 hourly PM2.5 values (no NA in this span)', () => {
    expect(readings).toHaveLength(120);
    expect(readings[0]).toMatchObject({ station: 'Aotizhongxin', value: 71, observedAt: FROM });
  });

  it('finds the real exceedance: raise 2013-03-05 15:00, clear 2013-03-08 18:00, nothing else', () => {
    const eng = new AlertEngine(rules([
      { id: 'pm25-1h', kind: 'limit', match: { pollutant: 'PM2.5' }, limit: 150, clearAt: 115, consecutive: 3, clearConsecutive: 2 },
    ]));
    const alerts = readings.flatMap((r) => eng.process(r)) as any[];
    expect(alerts.map((a) => [a.state, a.ts])).toEqual([
      ['raise', beijingTime(2013, 3, 5, 15)],
      ['clear', beijingTime(2013, 3, 8, 18)],
    ]);
    expect(alerts[0]).toMatchObject({ rule: 'pm25-1h', source: 'Aotizhongxin/PM2.5', data: { value: 165, limit: 150 } });
    expect(alerts[1].data.value).toBe(82);
    for (const a of alerts) expect(checkers.alert.Check({ id: '0190a5a0-0000-7000-8000-000000000001', seq: 1, ...a })).toBe(true);
  });

  it('24-hour rolling average rule: raise 2013-03-05 17:00, clear 2013-03-09 19:00', () => {
    const eng = new AlertEngine(rules([
      { id: 'pm25-24h', kind: 'limit', match: { pollutant: 'PM2.5' }, limit: 75, average: { windowMinutes: 1440, minSamples: 18 } },
    ]));
    const alerts = readings.flatMap((r) => eng.process(r)) as any[];
    expect(alerts.map((a) => [a.state, a.ts, a.data.value])).toEqual([
      ['raise', beijingTime(2013, 3, 5, 17), 127.5],
      ['clear', beijingTime(2013, 3, 9, 19), 74.292],
    ]);
  });

  it('the same data from an analyser in calibration raises an instrument alert, never an exceedance', () => {
    const eng = new AlertEngine(rules([
      { id: 'pm25-1h', kind: 'limit', match: { pollutant: 'PM2.5' }, limit: 150, clearAt: 115, consecutive: 3, clearConsecutive: 2 },
      { id: 'pm25-instrument', kind: 'instrument', match: { pollutant: 'PM2.5' } },
    ]));
    const calUntil = beijingTime(2013, 3, 9);
    const alerts = readings.flatMap((r) => eng.process({ ...r, flag: r.observedAt < calUntil ? 'C' : 'N' })) as any[];
    expect(alerts.map((a) => [a.rule, a.state, a.ts])).toEqual([
      ['pm25-instrument', 'raise', FROM],
      ['pm25-instrument', 'clear', calUntil],
    ]);
  });

  it('missing data: replaying with a 3-hour hole (hours dropped) raises and clears a missing-data alert', () => {
    const eng = new AlertEngine(rules([{ id: 'pm25-gap', kind: 'missing', match: { pollutant: 'PM2.5' }, afterMinutes: 120 }]));
    const hole = [beijingTime(2013, 3, 6, 1), beijingTime(2013, 3, 6, 2), beijingTime(2013, 3, 6, 3)];
    const out: any[] = [];
    for (let t = FROM; t < TO; t += 3_600_000) {
      for (const r of readings) if (r.observedAt === t && !hole.includes(t)) out.push(...eng.process(r));
      out.push(...eng.tick(t)); // replay clock: the hour being replayed
    }
    expect(out.map((a) => [a.state, a.ts])).toEqual([
      ['raise', beijingTime(2013, 3, 6, 2)],
      ['clear', beijingTime(2013, 3, 6, 4)],
    ]);
  });
});
