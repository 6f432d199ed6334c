import { describe, expect, it } from 'vitest';
import { checkers } from '../../../protocol/schemas.ts';
import type { Reading } from '../../../lib/contract/reading.ts';
import { Aggregator } from './aggregator.ts';

const T0 = Date.UTC(2024, 0, 1, 10, 0, 0);
const r = (sec: number, value: number, flag: Reading['flag'] = 'N', pollutant = 'SO2'): Reading => ({ station: 'stack1', pollutant, value, unit: 'mg/m3', observedAt: T0 + sec * 1000, flag, source: 't' });
const fieldsOf = (i: { kind: string } & Record<string, any>) => i.fields as Record<string, unknown>;

describe('Aggregator', () => {
  it('minute min/avg/max/count over valid values only, with excluded counts per flag', () => {
    const ag = new Aggregator({ periodsSec: [60], graceMs: 2000, measurement: 'env_agg' });
    const out = [
      ...ag.add(r(0, 10)), ...ag.add(r(10, 20)), ...ag.add(r(20, 900, 'C')), ...ag.add(r(30, 30)), ...ag.add(r(40, 5, 'D')), ...ag.add(r(50, 7, 'D')),
    ];
    expect(out).toEqual([]);
    // 61 s is within grace (end 60 s + 2 s): the minute is still open.
    expect(ag.add(r(61, 1))).toEqual([]);
    const closed = ag.add(r(62, 1));
    expect(closed).toHaveLength(1);
    const a = closed[0];
    expect(a).toMatchObject({ kind: 'aggregate', ts: T0, m: 'env_agg', tags: { station: 'stack1', pollutant: 'SO2', period: '1m' } });
    expect(fieldsOf(a)).toEqual({ count: 3, min: 10, avg: 20, max: 30, excluded: 3, excluded_C: 1, excluded_D: 2, unit: 'mg/m3', flag: 'N' });
    expect(checkers.telemetry.Check({ id: '0190a5a0-0000-7000-8000-000000000001', seq: 1, ...a })).toBe(true);
  });

  it('keys are separate; advance() closes windows of a silent key; no valid value → flag of the majority', () => {
    const ag = new Aggregator({ periodsSec: [60, 3600], graceMs: 0, measurement: 'env_agg' });
    ag.add(r(5, 3, 'M', 'NOx'));
    ag.add(r(6, 3, 'M', 'NOx'));
    ag.add(r(7, 3, 'D', 'NOx'));
    ag.add(r(5, 1));
    expect(ag.advance(T0 + 59_999)).toEqual([]);
    const mins = ag.advance(T0 + 60_000);
    expect(mins.map((i) => (i as any).tags.pollutant).sort()).toEqual(['NOx', 'SO2']);
    const nox = mins.find((i) => (i as any).tags.pollutant === 'NOx')!;
    expect(fieldsOf(nox)).toEqual({ count: 0, excluded: 3, excluded_M: 2, excluded_D: 1, unit: 'mg/m3', flag: 'M' });
    const hours = ag.advance(T0 + 3_600_000);
    expect(hours.map((i) => (i as any).tags.period)).toEqual(['1h', '1h']);
    expect(ag.stats()).toMatchObject({ open: 0, emitted: 4 });
  });

  it('late readings for a closed window are counted, not added; out-of-order within grace is added', () => {
    const ag = new Aggregator({ periodsSec: [60], graceMs: 10_000, measurement: 'env_agg' });
    ag.add(r(30, 10));
    ag.add(r(65, 50)); // next minute opens, previous still in grace
    ag.add(r(59, 20)); // out of order, within grace → counted in minute 0
    const closed = ag.add(r(70, 50));
    expect(fieldsOf(closed[0])).toMatchObject({ count: 2, avg: 15 });
    ag.add(r(58, 99)); // minute 0 already emitted → late
    expect(ag.stats()).toMatchObject({ late: 1 });
    const rest = ag.flush();
    expect(fieldsOf(rest[0])).toMatchObject({ count: 2, avg: 50, partial: true });
  });

  it('hour windows of hourly data (one value per hour) close when the next hour arrives', () => {
    const ag = new Aggregator({ periodsSec: [3600], graceMs: 0, measurement: 'env_agg' });
    expect(ag.add(r(0, 10))).toEqual([]);
    const out = ag.add(r(3600, 20));
    expect(out).toHaveLength(1);
    expect(fieldsOf(out[0])).toMatchObject({ count: 1, min: 10, avg: 10, max: 10 });
  });
});
