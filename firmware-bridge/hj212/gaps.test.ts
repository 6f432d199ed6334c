import { describe, expect, it } from 'vitest';
import { GapTracker, type BackfillOptions } from './gaps.ts';
import { parseDataTime } from './codec.ts';

const MIN = 60_000;
const H = 3600_000;
const bj = (s: string) => parseDataTime(s); // YYYYMMDDhhmmss Beijing time → epoch ms
const T0 = bj('20260305000000'); // 2026-03-05 00:00 Beijing
const opts: Partial<BackfillOptions> = { graceMs: { min: 2 * MIN, hour: 10 * MIN, day: H }, maxRequestsPerMinute: 2, maxAttempts: 3, retryBaseMs: MIN, retryMaxMs: 10 * MIN, lookbackMs: 24 * H, maxRecordsPerRequest: 4 };
const all = () => true;

function tracker(o: Partial<BackfillOptions> = {}) {
  return new GapTracker([{ mn: 'A', intervals: { minute: 10, hour: true, day: true } }, { mn: 'B', intervals: { hour: true } }], { ...opts, ...o });
}

describe('GapTracker: detection', () => {
  it('a slot becomes a gap once its period + grace is over, not before; tracking starts at the first record', () => {
    const g = tracker();
    g.scan(T0 + 5 * H, T0 + 5 * H); // nothing received yet: nothing tracked
    expect(g.counts('A', 'hour')).toEqual({ open: 0, requested: 0, filled: 0, abandoned: 0 });
    g.receive('A', 'hour', T0, ['a21026']);
    g.scan(T0 + 2 * H + 9 * MIN, T0 + 2 * H + 9 * MIN); // hour 01:00 ends 02:00, grace 10 min: not yet
    expect(g.counts('A', 'hour').open).toBe(0);
    g.scan(T0 + 2 * H + 10 * MIN, T0 + 2 * H + 10 * MIN);
    expect(g.counts('A', 'hour').open).toBe(1);
    g.receive('A', 'min', T0 + 10 * MIN, ['a21026']);
    g.scan(T0 + 62 * MIN, T0 + 62 * MIN); // minute slots 00:20 … 00:50 are due (00:50 + 10 + 2 = 01:02)
    expect(g.counts('A', 'min').open).toBe(4);
  });

  it('daily slots align to Beijing midnight; a record anywhere inside a slot covers it', () => {
    const g = new GapTracker([{ mn: 'A', intervals: { day: true, minute: 10 } }], opts);
    expect(g.slotOf(bj('20260305073000'), 86_400_000)).toBe(bj('20260305000000'));
    g.receive('A', 'day', bj('20260301000000'), ['w01018']);
    g.receive('A', 'day', bj('20260302000000'), ['w01018']);
    g.scan(bj('20260304020000'), bj('20260304020000')); // day 03-03 is due at 03-04 01:00 (grace 1 h)
    expect(g.counts('A', 'day').open).toBe(1);
    g.receive('A', 'min', bj('20260305100700'), ['a21026']); // DataTime 10:07 covers the 10:00 slot
    g.scan(bj('20260305102100'), bj('20260305102100')); // the 10:00 slot is due at 10:12: covered; 10:10 is not due before 10:22
    expect(g.counts('A', 'min').open).toBe(0);
    g.scan(bj('20260305102200'), bj('20260305102200'));
    expect(g.counts('A', 'min').open).toBe(1);
  });

  it('filled when the record arrives (and the record is backfill); counts summed per station and period', () => {
    const g = tracker();
    g.receive('A', 'hour', T0, ['a21026']);
    g.scan(T0 + 4 * H, T0 + 4 * H); // hours 1, 2 missing (hour 3 not due yet)
    expect(g.counts('A', 'hour')).toMatchObject({ open: 2 });
    expect(g.isGap('A', 'hour', T0 + H)).toBe(true);
    expect(g.receive('A', 'hour', T0 + H, ['a21026'])).toEqual({ keep: new Set(['a21026']), backfill: true });
    expect(g.receive('A', 'hour', T0 + 3 * H, ['a21026']).backfill).toBe(false); // on time
    expect(g.counts('A', 'hour')).toEqual({ open: 1, requested: 0, filled: 1, abandoned: 0 });
  });
});

describe('GapTracker: requests', () => {
  it('one request per run of consecutive gaps (at most maxRecordsPerRequest), the CN of the period and the standard window', () => {
    const g = tracker();
    g.receive('A', 'min', T0, ['a21026']);
    g.receive('A', 'min', T0 + 60 * MIN, ['a21026']);
    g.scan(T0 + 75 * MIN, T0 + 75 * MIN); // 00:10 … 00:50 missing (5 slots), 01:00 received
    const [r] = g.plan(T0 + 75 * MIN, all);
    expect(r).toMatchObject({ mn: 'A', period: 'min', cn: '2051', beginTime: '20260305001000', endTime: '20260305004000', slots: 4 });
    expect(g.counts('A', 'min')).toMatchObject({ open: 1, requested: 4 });
    expect(g.plan(T0 + 75 * MIN, all)).toEqual([]); // one outstanding request per station
    g.finish(r.id, T0 + 76 * MIN, true);
    // the 4 are still missing (the logger had nothing): back to open with back-off 1 min
    expect(g.counts('A', 'min')).toMatchObject({ open: 5, requested: 0 });
    const [r2] = g.plan(T0 + 76 * MIN, all); // only 00:50 is due now (never tried)
    expect(r2).toMatchObject({ beginTime: '20260305005000', endTime: '20260305005000', slots: 1 });
  });

  it('hourly → 2061, daily → 2031; requests only to connected loggers', () => {
    const g = tracker();
    g.receive('B', 'hour', T0, ['a34013']);
    g.receive('A', 'day', T0 - 3 * 86_400_000, ['a34013']);
    g.scan(T0 + 3 * H, T0 + 3 * H);
    expect(g.plan(T0 + 3 * H, () => false)).toEqual([]);
    const rs = g.plan(T0 + 3 * H, all);
    expect(rs.map((r) => [r.mn, r.cn, r.beginTime, r.endTime]).sort()).toEqual([
      ['A', '2031', '20260304000000', '20260304000000'], // 03-03 is missing too, but beyond the 24-h look-back
      ['B', '2061', '20260305010000', '20260305010000'],
    ]);
  });

  it('rate limit (token bucket over all stations), back-off doubling, abandoned after maxAttempts', () => {
    const g = new GapTracker(['A', 'B', 'C'].map((mn) => ({ mn, intervals: { hour: true } })), { ...opts, maxRequestsPerMinute: 2 });
    for (const mn of ['A', 'B', 'C']) g.receive(mn, 'hour', T0, ['x']);
    let now = T0 + 3 * H;
    g.scan(now, now);
    const first = g.plan(now, all);
    expect(first).toHaveLength(2); // 2 tokens
    for (const r of first) g.finish(r.id, now, false);
    expect(g.plan(now, all)).toHaveLength(0); // no token left at the same instant…
    now += 30_000;
    expect(g.plan(now, all).map((r) => r.mn)).toHaveLength(1); // …one token per 30 s
    // attempt timeline of station A's gap: tried at now0, back-off 1 min, then 2 min, then abandoned
    const a = new GapTracker([{ mn: 'A', intervals: { hour: true } }], opts);
    a.receive('A', 'hour', T0, ['x']);
    let t = T0 + 2 * H + 10 * MIN;
    a.scan(t, t);
    const tries: number[] = [];
    for (let i = 0; i < 40; i++, t += 30_000) {
      for (const r of a.plan(t, all)) { tries.push((t - (T0 + 2 * H + 10 * MIN)) / 1000); a.finish(r.id, t, false); }
    }
    expect(tries).toEqual([0, 60, 180]);
    expect(a.counts('A', 'hour')).toEqual({ open: 0, requested: 0, filled: 0, abandoned: 1 });
    // a late record for an abandoned gap moves it to filled
    expect(a.receive('A', 'hour', T0 + H, ['x']).backfill).toBe(true);
    expect(a.counts('A', 'hour')).toEqual({ open: 0, requested: 0, filled: 1, abandoned: 0 });
  });

  it('gaps older than the look-back are abandoned, older slots are not tracked', () => {
    const g = new GapTracker([{ mn: 'A', intervals: { hour: true } }], { ...opts, lookbackMs: 6 * H });
    g.receive('A', 'hour', T0, ['x']);
    g.scan(T0 + 3 * H, T0 + 3 * H);
    expect(g.counts('A', 'hour').open).toBe(1); // hour 1
    g.scan(T0 + 30 * H, T0 + 30 * H); // a day later: hour 1 is beyond the look-back; only hours 24…28 (due, within 6 h) are gaps
    expect(g.counts('A', 'hour')).toMatchObject({ open: 5, abandoned: 1 });
  });
});

describe('GapTracker: dedupe, groups, restart, rollback', () => {
  it('a code already stored for a DataTime is dropped; another code of the same DataTime is kept (split packets)', () => {
    const g = tracker();
    expect([...g.receive('A', 'hour', T0, ['a21026', 'a21002']).keep]).toEqual(['a21026', 'a21002']);
    expect([...g.receive('A', 'hour', T0, ['a21026', 'a34013']).keep]).toEqual(['a34013']);
    expect([...g.receive('A', 'hour', T0, ['a21026']).keep]).toEqual([]);
    expect([...g.receive('A', 'rt', T0, ['a21026']).keep]).toEqual(['a21026']); // real-time data is not tracked
  });

  it('factor groups are tracked separately', () => {
    const g = new GapTracker([{ mn: 'A', intervals: { hour: true }, groups: { gas: ['a21026', 'a19001'], flow: ['a00000'] } }], opts);
    g.receive('A', 'hour', T0, ['a21026', 'a19001', 'a00000']);
    g.receive('A', 'hour', T0 + H, ['a21026']); // the flow analyser's record is missing for hour 1
    g.scan(T0 + 2 * H + 10 * MIN, T0 + 2 * H + 10 * MIN);
    expect(g.counts('A', 'hour').open).toBe(1);
    const [r] = g.plan(T0 + 2 * H + 10 * MIN, all);
    expect(r).toMatchObject({ cn: '2061', beginTime: '20260305010000' });
    // the answer carries both groups: the gas record is a duplicate, the flow record fills the gap
    expect(g.receive('A', 'hour', T0 + H, ['a21026', 'a00000'])).toEqual({ keep: new Set(['a00000']), backfill: true });
    expect([...g.receive('A', 'hour', T0 + H, ['z99999']).keep]).toEqual(['z99999']); // in no group: untracked, kept
  });

  it('state survives a restart (save → JSON → restore): gaps, totals, and stored DataTimes for dedupe; a request in flight comes back open', () => {
    const g = tracker();
    for (let h = 0; h < 3; h++) g.receive('A', 'hour', T0 + h * H, ['a21026']);
    g.scan(T0 + 6 * H, T0 + 6 * H); // hours 3, 4 missing
    g.receive('A', 'hour', T0 + 3 * H, ['a21026']); // one filled
    const [r] = g.plan(T0 + 6 * H, all);
    expect(r.beginTime).toBe('20260305040000');
    const saved = JSON.parse(JSON.stringify(g.save()));
    const g2 = tracker();
    g2.restore(saved);
    expect(g2.counts('A', 'hour')).toEqual({ open: 1, requested: 0, filled: 1, abandoned: 0 });
    expect([...g2.receive('A', 'hour', T0 + H, ['a21026', 'a34013']).keep]).toEqual([]); // stored before the restart: any code of it is a duplicate
    const [again] = g2.plan(T0 + 6 * H, all);
    expect(again).toMatchObject({ beginTime: '20260305040000', endTime: '20260305040000' });
    g2.scan(T0 + 7 * H, T0 + 7 * H); // no re-detection of old slots
    expect(g2.counts('A', 'hour')).toMatchObject({ requested: 1, open: 1 }); // hour 5 is new
    expect(g2.save().series['A|hour|*'].recv).toEqual([[T0, 4]]); // run-length: 4 consecutive hours
  });

  it('rollback restores the state before begin() (a failed outbox commit); commit keeps it', () => {
    const g = tracker();
    g.receive('A', 'hour', T0, ['a21026']);
    g.commit();
    const before = JSON.stringify(g.save());
    expect(g.dirty()).toBe(false);
    g.begin();
    g.receive('A', 'hour', T0 + 3 * H, ['a21026']);
    g.scan(T0 + 5 * H, T0 + 5 * H);
    g.plan(T0 + 5 * H, all);
    expect(g.dirty()).toBe(true);
    g.rollback();
    expect(JSON.stringify(g.save())).toBe(before);
    expect(g.dirty()).toBe(false);
    expect(g.outstanding('A')).toBeUndefined();
    // the same record is new again (not taken for a duplicate)
    expect([...g.receive('A', 'hour', T0 + 3 * H, ['a21026']).keep]).toEqual(['a21026']);
  });

  it('gap telemetry when the counts change and every minute', () => {
    const g = new GapTracker([{ mn: 'A', intervals: { hour: true } }], opts);
    expect(g.dueCounts(T0).map((d) => d.mn)).toEqual(['A']);
    expect(g.dueCounts(T0 + 1000)).toEqual([]);
    g.receive('A', 'hour', T0, ['x']);
    g.scan(T0 + 2 * H + 10 * MIN, T0 + 2 * H + 10 * MIN);
    expect(g.dueCounts(T0 + 2000)).toEqual([{ mn: 'A', period: 'hour', counts: { open: 1, requested: 0, filled: 0, abandoned: 0 } }]);
    expect(g.dueCounts(T0 + 3000)).toEqual([]);
    expect(g.dueCounts(T0 + 62_000)).toHaveLength(1);
  });
});
