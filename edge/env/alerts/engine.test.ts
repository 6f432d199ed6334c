import { describe, expect, it } from 'vitest';
import { Value } from '@sinclair/typebox/value';
import { checkers } from '../../../protocol/schemas.ts';
import { isCoded } from '../../../lib/errors.ts';
import type { Reading } from '../../../lib/contract/reading.ts';
import { AlertEngine } from './engine.ts';
import { type Rule, RuleSchema } from './rules.ts';

const T0 = Date.UTC(2024, 5, 1, 0, 0, 0);
const MIN = 60_000;
const rd = (min: number, value: number, flag: Reading['flag'] = 'N', extra: Partial<Reading> = {}): Reading => ({ station: 'plant7', outlet: 'FQ01', pollutant: 'SO2', value, unit: 'mg/m3', observedAt: T0 + min * MIN, flag, source: 't', ...extra });
const rule = (r: object): Rule => Value.Default(RuleSchema, r) as Rule;
const run = (eng: AlertEngine, rs: Reading[]) => rs.flatMap((x) => eng.process(x));
const stamp = (i: object) => ({ id: '0190a5a0-0000-7000-8000-000000000001', seq: 1, ...i });

describe('AlertEngine limit rules', () => {
  const so2 = rule({ id: 'so2-limit', kind: 'limit', match: { pollutant: 'SO2' }, limit: 100, clearAt: 80, consecutive: 3, clearConsecutive: 2 });

  it('raises once after N consecutive exceedances and clears once with hysteresis', () => {
    const eng = new AlertEngine([so2]);
    const vals = [120, 130, 90, 120, 125, 140, 500, 300, 95, 85, 79, 120, 78, 70, 200];
    const out = run(eng, vals.map((v, i) => rd(i, v)));
    expect(out.map((a: any) => [a.state, (a.ts - T0) / MIN])).toEqual([['raise', 5], ['clear', 13]]);
    const [raise, clear] = out as any[];
    expect(raise).toMatchObject({ kind: 'alert', rule: 'so2-limit', source: 'plant7/FQ01/SO2', severity: 'critical', data: { type: 'exceedance', pollutant: 'SO2', value: 140, limit: 100, clearAt: 80, outlet: 'FQ01' } });
    expect(clear.data.value).toBe(70);
    for (const a of out) expect(checkers.alert.Check(stamp(a))).toBe(true);
    expect(eng.stats()).toMatchObject({ raised: 1, cleared: 1, open: 0 });
  });

  it('an instrument in calibration (or maintenance, fault) never raises an exceedance', () => {
    const eng = new AlertEngine([so2]);
    const out = run(eng, [rd(0, 900, 'C'), rd(1, 900, 'C'), rd(2, 900, 'C'), rd(3, 900, 'M'), rd(4, 900, 'D'), rd(5, 900, 'N', { qc: 'above_max' })]);
    expect(out).toEqual([]);
    // Flagged readings neither count nor break a streak of valid ones.
    expect(run(eng, [rd(6, 150), rd(7, 150), rd(8, 900, 'C'), rd(9, 150)]).map((a: any) => a.state)).toEqual(['raise']);
  });

  it('rolling average over a window, with minimum samples', () => {
    const eng = new AlertEngine([rule({ id: 'avg', kind: 'limit', match: {}, limit: 100, average: { windowMinutes: 10, minSamples: 3 } })]);
    // 5-min samples: a 10-minute window holds the last 2 → never 3 samples → never trusted.
    expect(run(eng, [0, 5, 10, 15].map((m) => rd(m, 500)))).toEqual([]);
    const eng2 = new AlertEngine([rule({ id: 'avg', kind: 'limit', match: {}, limit: 100, average: { windowMinutes: 10, minSamples: 3 } })]);
    const out = run(eng2, [rd(0, 90), rd(3, 90), rd(6, 150), rd(9, 90), rd(12, 30), rd(15, 30), rd(18, 30)]) as any[];
    // avg at 6: (90+90+150)/3 = 110 > 100 → raise; at 9: 107.5; at 12: window (2,12] = 90,150,90,30 → 90 → clear.
    expect(out.map((a) => [a.state, (a.ts - T0) / MIN, a.data.value])).toEqual([['raise', 6, 110], ['clear', 12, 90]]);
    expect(out[0].data).toMatchObject({ windowMinutes: 10, samples: 3 });
  });

  it('matches by station/outlet/pollutant; sources are separate situations', () => {
    const eng = new AlertEngine([rule({ id: 'r', kind: 'limit', match: { station: ['plant7'], outlet: 'FQ01', pollutant: ['SO2', 'NOx'] }, limit: 10 })]);
    const out = run(eng, [rd(0, 20), rd(0, 20, 'N', { pollutant: 'NOx' }), rd(0, 20, 'N', { outlet: 'FQ02' }), rd(0, 20, 'N', { station: 'other' }), rd(1, 30)]) as any[];
    expect(out.map((a) => a.source)).toEqual(['plant7/FQ01/SO2', 'plant7/FQ01/NOx']);
  });

  it('rejects duplicate ids and inverted hysteresis with coded errors', () => {
    expect(() => new AlertEngine([so2, so2])).toThrow(expect.objectContaining({ code: 'ALERT_RULE_DUPLICATE' }));
    try {
      new AlertEngine([rule({ id: 'x', kind: 'limit', match: {}, limit: 10, clearAt: 20 })]);
      throw new Error('accepted');
    } catch (err) {
      expect(isCoded(err, 'ALERT_RULE_INVALID')).toBe(true);
    }
  });
});

describe('AlertEngine instrument and missing rules', () => {
  it('instrument status raises an instrument alert once and clears on N', () => {
    const eng = new AlertEngine([rule({ id: 'inst', kind: 'instrument', match: {} })]);
    const out = run(eng, [rd(0, 1), rd(1, 1, 'C'), rd(2, 1, 'C'), rd(3, 1, 'D', { status: 'BadSensorFailure' }), rd(4, 1), rd(5, 1)]) as any[];
    expect(out.map((a) => [a.state, (a.ts - T0) / MIN])).toEqual([['raise', 1], ['clear', 4]]);
    expect(out[0]).toMatchObject({ severity: 'warning', data: { type: 'instrument', flag: 'C' } });
    expect(out[1].data.flagsSeen).toEqual(['C', 'D']);
  });

  it('instrument rule honours consecutive', () => {
    const eng = new AlertEngine([rule({ id: 'inst', kind: 'instrument', match: {}, flags: ['C'], consecutive: 3 })]);
    expect(run(eng, [rd(0, 1, 'C'), rd(1, 1, 'C'), rd(2, 1), rd(3, 1, 'C'), rd(4, 1, 'C')])).toEqual([]);
    expect(run(eng, [rd(5, 1, 'C')]).map((a: any) => a.state)).toEqual(['raise']);
  });

  it('data missing for N minutes raises once (explicit clock), clears on the next reading', () => {
    const eng = new AlertEngine([rule({ id: 'gap', kind: 'missing', match: {}, afterMinutes: 10, expect: [{ station: 'never', pollutant: 'PM10' }] })]);
    expect(eng.tick(T0)).toEqual([]);
    run(eng, [rd(0, 1)]);
    expect(eng.tick(T0 + 9 * MIN)).toEqual([]);
    const raised = eng.tick(T0 + 10 * MIN) as any[];
    expect(raised.map((a) => a.source).sort()).toEqual(['never/PM10', 'plant7/FQ01/SO2']);
    expect(eng.tick(T0 + 30 * MIN)).toEqual([]);
    const cleared = run(eng, [rd(31, 1)]) as any[];
    expect(cleared).toMatchObject([{ state: 'clear', source: 'plant7/FQ01/SO2' }]);
  });

  it('snapshot/restore keeps an open alert open across a restart: no second raise, one clear', () => {
    const so2 = rule({ id: 'so2', kind: 'limit', match: {}, limit: 100 });
    const a = new AlertEngine([so2]);
    expect(run(a, [rd(0, 200)]).length).toBe(1);
    const b = new AlertEngine([so2]);
    b.restore(JSON.parse(JSON.stringify(a.snapshot())));
    expect(b.stats().open).toBe(1);
    expect(run(b, [rd(1, 300)])).toEqual([]);
    expect(run(b, [rd(2, 50)]).map((x: any) => x.state)).toEqual(['clear']);
    expect(b.snapshot().raised).toEqual([]);
  });
});

describe('AlertEngine undo journal (failed outbox commit)', () => {
  it('rollback() returns every touched key to its state before begin(); commit() keeps the changes', () => {
    const eng = new AlertEngine([
      rule({ id: 'so2', kind: 'limit', match: { pollutant: 'SO2' }, limit: 100, consecutive: 2 }),
      rule({ id: 'inst', kind: 'instrument', match: {}, flags: ['C'] }),
      rule({ id: 'gap', kind: 'missing', match: { pollutant: 'NOx' }, afterMinutes: 10, expect: [{ station: 'plant7', outlet: 'FQ01', pollutant: 'NOx' }] }),
    ]);
    eng.tick(T0);
    run(eng, [rd(0, 150)]);
    const before = { snap: eng.snapshot(), stats: eng.stats() };
    eng.begin();
    const out = [...run(eng, [rd(1, 160), rd(2, 50, 'C', { pollutant: 'CO' })]), ...eng.tick(T0 + 20 * MIN)];
    expect(out.map((a: any) => [a.rule, a.state])).toEqual([['so2', 'raise'], ['inst', 'raise'], ['gap', 'raise']]);
    eng.rollback();
    expect(eng.snapshot()).toEqual(before.snap);
    expect(eng.stats()).toEqual(before.stats);
    // the same readings produce the same alerts again (nothing lost), and are kept after commit
    eng.begin();
    const again = [...run(eng, [rd(1, 160), rd(2, 50, 'C', { pollutant: 'CO' })]), ...eng.tick(T0 + 20 * MIN)];
    eng.commit();
    expect(again.map((a: any) => [a.rule, a.state, a.ts])).toEqual(out.map((a: any) => [a.rule, a.state, a.ts]));
    expect(eng.snapshot().raised).toHaveLength(3);
    eng.rollback(); // no journal open: no-op
    expect(eng.snapshot().raised).toHaveLength(3);
  });
});

describe('AlertEngine exceedance multiple and basis (超标倍数)', () => {
  it('a raised exceedance states its multiple (HJ 663: (value − limit) / limit) and the basis, in data and in the message (en and zh-CN)', () => {
    const eng = new AlertEngine([rule({ id: 'so2', kind: 'limit', match: { pollutant: 'SO2' }, limit: 100, clearAt: 80 })], { basis: (r) => (r.station === 'plant7' ? 'converted' : 'raw') });
    const [raise] = run(eng, [rd(0, 150)]) as any[];
    expect(raise.data).toMatchObject({ type: 'exceedance', value: 150, limit: 100, multiple: 0.5, basis: 'converted', pollutant: 'SO2', station: 'plant7' });
    expect(raise.message).toContain('converted concentration 150 mg/m3 above limit 100');
    expect(raise.message).toContain('exceedance multiple 0.50');
    expect(raise.message).toContain('折算浓度 150 mg/m3，限值 100，超标倍数 0.50');
    const [clear] = run(eng, [rd(1, 60)]) as any[];
    expect(clear.data).toMatchObject({ value: 60, basis: 'converted' });
    expect(clear.data.multiple).toBeUndefined(); // nothing exceeds at a clear
    expect(clear.message).toContain('超标解除');
    // the default basis is raw (measured, 实测浓度); an average rule states its window
    const avg = new AlertEngine([rule({ id: 'avg', kind: 'limit', match: {}, limit: 40, average: { windowMinutes: 60, minSamples: 1 } })]);
    const [a] = run(avg, [rd(0, 50)]) as any[];
    expect(a.data).toMatchObject({ basis: 'raw', multiple: 0.25, value: 50 });
    expect(a.message).toContain('60分钟平均实测浓度 50 mg/m3，限值 40，超标倍数 0.25');
    for (const x of [raise, clear, a]) expect(checkers.alert.Check(stamp(x))).toBe(true);
  });

  it('no multiple when the limit is not positive', () => {
    const eng = new AlertEngine([rule({ id: 'z', kind: 'limit', match: {}, limit: 0 })]);
    const [raise] = run(eng, [rd(0, 5)]) as any[];
    expect(raise.data.multiple).toBeUndefined();
    expect(raise.data.basis).toBe('raw');
  });
});

describe('AlertEngine state across a restart (snapshot → restore)', () => {
  it('a consecutive streak and a rolling average resume where they were: no late raise, no late clear', () => {
    const rules = [
      rule({ id: 'c3', kind: 'limit', match: { pollutant: 'SO2' }, limit: 100, consecutive: 3 }),
      rule({ id: 'avg', kind: 'limit', match: { pollutant: 'SO2' }, limit: 80, average: { windowMinutes: 240, minSamples: 3 } }),
    ];
    const before = new AlertEngine(rules);
    // two hours over 100: the streak is at 2, the 4-hour average window holds two samples
    expect(run(before, [rd(0, 150), rd(1, 150)]).filter((x: any) => x.rule === 'c3')).toEqual([]);
    const snap = JSON.parse(JSON.stringify(before.snapshot())); // as the outbox checkpoint stores it
    const after = new AlertEngine(rules);
    after.restore(snap);
    // the third consecutive hour over 100 raises at once (it would need three more without the streak)
    const out = run(after, [rd(2, 150)]) as any[];
    expect(out.filter((x) => x.rule === 'c3').map((x) => x.state)).toEqual(['raise']);
    // and the rolling average has its three samples (150, 150, 150 > 80): raised now, not an hour late
    expect(out.filter((x) => x.rule === 'avg').map((x) => x.state)).toEqual(['raise']);
  });
});
