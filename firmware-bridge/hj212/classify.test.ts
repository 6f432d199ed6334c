import { describe, expect, it } from 'vitest';
import { isCoded } from '../../lib/errors.ts';
import { buildCp, decodeFrame, encodeFrame } from './codec.ts';
import { classifyFrame } from './classify.ts';
import { frameValues, isDataFrame } from './values.ts';
import { valuesToItems } from '../../edge/sources/hj212.ts';
import { sharedFrames, standardExamples } from '../../test/support/hj212.ts';

function codeOf(fn: () => unknown): string {
  try { fn(); } catch (err) { return isCoded(err) ? err.code : 'THROWN'; }
  return 'NO_ERROR';
}
const frame = (cn: string, cp: string, flag = 5) => decodeFrame(encodeFrame({ qn: '20260305100000000', st: '31', cn, pw: '123456', mn: 'PLANT7FQ01', flag, cp }));
const cls = (cn: string, cp: string) => classifyFrame(frame(cn, cp));

describe('classifyFrame: direction and kind of every frame', () => {
  it('classifies every frame of frames_valid.txt', () => {
    const got = sharedFrames('frames_valid.txt').map((f) => { const d = decodeFrame(f); const c = classifyFrame(d); return [d.cn, c.kind, c.direction, c.period ?? c.answer ?? '-']; });
    expect(got).toEqual([
      ['2011', 'data', 'up', 'rt'], ['2011', 'data', 'up', 'rt'], ['2011', 'data', 'up', 'rt'], ['2011', 'data', 'up', 'rt'],
      ['9011', 'answer', 'either', 'request-reply'],
      ['2081', 'data', 'up', '-'], // logger restart time: an upload, without monitoring values
      ['2011', 'data', 'up', 'rt'], ['2061', 'data', 'up', 'hour'], ['2051', 'data', 'up', 'min'],
      ['2011', 'data', 'up', 'rt'], // the 2005-era frame (no QN, no Flag)
    ]);
    expect(classifyFrame(decodeFrame(sharedFrames('frames_valid.txt')[4])).qnRtn).toBe(1);
  });

  it("classifies the standards' examples: 2017 §6.3 set interval, 2025 A.1 read clock (empty CP), A.2 minute data (plain and SM4)", () => {
    const got = standardExamples().map((e) => { const d = decodeFrame(e.frame, { keyFor: () => e.key }); const c = classifyFrame(d); return [e.name, c.kind, c.direction, c.period ?? '-']; });
    expect(got).toEqual([
      ['std2017-1062', 'request', 'down', '-'],
      ['std2025-A1', 'request', 'down', '-'],
      ['std2025-A2-plain2', 'data', 'up', 'min'], ['std2025-A2-enc2', 'data', 'up', 'min'],
      ['std2025-A2-plain4', 'data', 'up', 'min'], ['std2025-A2-enc4', 'data', 'up', 'min'],
    ]);
  });

  it('requests without data decode as requests: CN 2011 with an empty CP, history windows, stop commands', () => {
    expect(cls('2011', '')).toMatchObject({ kind: 'request', direction: 'down', period: 'rt', name: 'real-time data' });
    expect(cls('2061', 'BeginTime=20260305000000;EndTime=20260305060000')).toMatchObject({ kind: 'request', period: 'hour', window: { begin: '20260305000000', end: '20260305060000' } });
    expect(cls('2051', 'BeginTime=20260305000000;EndTime=20260305000000')).toMatchObject({ kind: 'request', period: 'min' });
    expect(cls('2031', 'BeginTime=20260301000000;EndTime=20260305000000')).toMatchObject({ kind: 'request', period: 'day' });
    expect(cls('2012', '')).toMatchObject({ kind: 'request', name: 'stop real-time data' });
    for (const [cn, cp] of [['2011', ''], ['2061', 'BeginTime=20260305000000;EndTime=20260305060000']]) {
      expect(frameValues(frame(cn, cp))).toEqual([]);
      expect(isDataFrame(frame(cn, cp))).toBe(false);
    }
  });

  it('parameter commands by direction: a get without values is a request, with values the logger answers', () => {
    expect(cls('1011', '')).toMatchObject({ kind: 'request', direction: 'down' });
    expect(cls('1011', 'SystemTime=20260305100000')).toMatchObject({ kind: 'answer', direction: 'up', answer: 'parameters' });
    expect(cls('1012', 'SystemTime=20260305100000')).toMatchObject({ kind: 'request', name: 'set logger time' });
    expect(cls('1061', '')).toMatchObject({ kind: 'request' });
    expect(cls('1061', 'RtdInterval=30')).toMatchObject({ kind: 'answer', answer: 'parameters' });
    expect(cls('1062', 'RtdInterval=60')).toMatchObject({ kind: 'request' });
    expect(cls('1063', 'MinInterval=10')).toMatchObject({ kind: 'answer' });
    expect(cls('1064', 'MinInterval=5')).toMatchObject({ kind: 'request' });
    expect(cls('1013', '')).toMatchObject({ kind: 'notification', direction: 'up' });
    expect(cls('3020', 'DataTime=20260305100000;i12001-Info=1')).toMatchObject({ kind: 'answer', direction: 'up' });
    expect(cls('3011', 'PolId=a21026')).toMatchObject({ kind: 'request', direction: 'down' });
  });

  it('answers and notifications 9011/9012/9013/9014, heartbeat 9015, other CNs passed through', () => {
    expect(cls('9011', 'QnRtn=1')).toMatchObject({ kind: 'answer', answer: 'request-reply', qnRtn: 1 });
    expect(cls('9012', 'ExeRtn=100')).toMatchObject({ kind: 'answer', answer: 'execution-result', direction: 'up', exeRtn: 100 });
    expect(cls('9013', '')).toMatchObject({ kind: 'answer', answer: 'notification-reply', direction: 'down' });
    expect(cls('9014', '')).toMatchObject({ kind: 'answer', answer: 'data-ack', direction: 'down' });
    expect(cls('9015', '')).toMatchObject({ kind: 'heartbeat', direction: 'up' });
    expect(cls('4001', 'x=1')).toMatchObject({ kind: 'other', direction: 'either', name: 'CN 4001' });
  });

  it('malformed command fields are coded refusals (HJ212_BAD_FIELD), never a plain throw', () => {
    const bad: Array<[string, string]> = [
      ['2061', 'BeginTime=20260305000000'], // no EndTime
      ['2061', 'BeginTime=20260305060000;EndTime=20260305000000'], // begin after end
      ['2061', 'BeginTime=2026030500;EndTime=20260305060000'], // not YYYYMMDDhhmmss
      ['2061', 'a21026-Avg=1'], // factor items without DataTime
      ['9011', ''], ['9011', 'QnRtn=x'], ['9012', ''], ['1012', ''], ['1012', 'SystemTime=now'],
      ['1062', ''], ['1062', 'RtdInterval=0'], ['1064', 'MinInterval=-5'], ['1061', 'RtdInterval=abc'],
    ];
    for (const [cn, cp] of bad) expect(codeOf(() => cls(cn, cp)), `${cn} ${cp}`).toBe('HJ212_BAD_FIELD');
  });
});

describe('values of data frames', () => {
  it('electric-quantity fields (Ia, Ua, Pt) are kept, each under its name; non-numeric extras stay text', () => {
    const cp = buildCp({ DataTime: '20260305100000' }, [
      { code: 'e10101', fields: { Ia: 12.5, Ub: 380, Pt: 3.21, EFlag: 'A1', Flag: 'N' } },
      { code: 'e10102', fields: { Ia: 'n/a', Flag: 'D' } },
    ]);
    const vs = frameValues(frame('2011', cp));
    expect(vs.filter((v) => v.code === 'e10101').map((v) => [v.statistic, v.field, v.value, v.flag, v.extra?.EFlag])).toEqual([
      ['named', 'Ia', 12.5, 'N', 'A1'], ['named', 'Ub', 380, 'N', 'A1'], ['named', 'Pt', 3.21, 'N', 'A1'],
    ]);
    // a factor whose only field is not numeric still reports its flag (one empty value, kept)
    expect(vs.filter((v) => v.code === 'e10102')).toMatchObject([{ value: null, qc: 'not_numeric', flag: 'D', extra: { Ia: 'n/a' } }]);
    const items = valuesToItems(vs);
    expect(items[0]).toMatchObject({ tags: { code: 'e10101' }, fields: { Ia: 12.5, Ub: 380, Pt: 3.21, flag: 'N', qc: 'ok' } });
    // a factor with more named fields than an item can hold still makes a valid item (the protocol's 64 fields)
    const many = Object.fromEntries(Array.from({ length: 80 }, (_, i) => [`P${i}`, i]));
    const big = valuesToItems(frameValues(frame('2011', buildCp({ DataTime: '20260305100000' }, [{ code: 'e10103', fields: { Rtd: 1, ZsRtd: 2, ...many, Flag: 'N' } }]))))[0] as { fields: Record<string, unknown> };
    expect(Object.keys(big.fields)).toHaveLength(64);
    expect(big.fields).toMatchObject({ rtd: 1, zsRtd: 2, zsSource: 'logger', flag: 'N', qc: 'ok', P0: 0 });
  });

  it("the logger's converted concentrations (ZsRtd/ZsAvg/ZsMin/ZsMax) are values with basis converted", () => {
    const cp = buildCp({ DataTime: '20260305100000' }, [{ code: 'a21026', fields: { Avg: 80, Min: 60, Max: 95, ZsAvg: 130, ZsMin: 100, ZsMax: 150, Flag: 'N' } }]);
    const vs = frameValues(frame('2061', cp));
    expect(vs.filter((v) => v.basis === 'converted').map((v) => [v.statistic, v.field, v.value, v.zsSource])).toEqual([
      ['avg', 'ZsAvg', 130, 'logger'], ['min', 'ZsMin', 100, 'logger'], ['max', 'ZsMax', 150, 'logger'],
    ]);
    expect((valuesToItems(vs)[0] as { fields: unknown }).fields).toEqual({ avg: 80, min: 60, max: 95, zsAvg: 130, zsMin: 100, zsMax: 150, zsSource: 'logger', flag: 'N', unit: 'mg/m3', qc: 'ok' });
  });
});
