import { describe, expect, it } from 'vitest';
import { isCoded } from '../../lib/errors.ts';
import { parseRequestArgs } from './commands.ts';

const codeOf = (fn: () => unknown) => { try { fn(); } catch (err) { return isCoded(err) ? err.code : 'THROWN'; } return 'NO_ERROR'; };

describe('hj212.request arguments', () => {
  it('accepts the remote commands of the brief, with their CP', () => {
    const now = Date.UTC(2026, 2, 5, 2, 30); // 10:30 Beijing
    expect(parseRequestArgs({ mn: 'FQ01', cn: '1011' })).toEqual({ mn: 'FQ01', cn: '1011', cp: {} });
    expect(parseRequestArgs({ mn: 'FQ01', cn: '1012' }, { now }).cp).toEqual({ SystemTime: '20260305103000' }); // default: the edge's clock, Beijing time
    expect(parseRequestArgs({ mn: 'FQ01', cn: '1012', cp: { SystemTime: '20260305103005' }, timeoutMs: 5000 })).toEqual({ mn: 'FQ01', cn: '1012', cp: { SystemTime: '20260305103005' }, timeoutMs: 5000 });
    expect(parseRequestArgs({ mn: 'FQ01', cn: '1062', cp: { RtdInterval: 60 } }).cp).toEqual({ RtdInterval: '60' });
    expect(parseRequestArgs({ mn: 'FQ01', cn: '1064', cp: { MinInterval: '5' } }).cp).toEqual({ MinInterval: '5' });
    expect(parseRequestArgs({ mn: 'FQ01', cn: '2061', cp: { BeginTime: '20260305000000', EndTime: '20260305060000' } }).cn).toBe('2061');
  });

  it('refuses anything else with HJ212_BAD_COMMAND', () => {
    const bad: unknown[] = [
      null, [], 'x', { cn: '1011' }, { mn: '', cn: '1011' }, { mn: 'FQ01', cn: '9011' }, { mn: 'FQ01', cn: '1072' }, { mn: 'FQ01', cn: '1011', extra: 1 },
      { mn: 'FQ01', cn: '1011', cp: { SystemTime: '20260305103000' } }, // that would be the logger's answer, not a request
      { mn: 'FQ01', cn: '1012', cp: { SystemTime: 'tomorrow' } },
      { mn: 'FQ01', cn: '1062', cp: { RtdInterval: '5' } }, { mn: 'FQ01', cn: '1064', cp: { MinInterval: '7' } },
      { mn: 'FQ01', cn: '2061' }, { mn: 'FQ01', cn: '2061', cp: { BeginTime: '20260305060000', EndTime: '20260305000000' } },
      { mn: 'FQ01', cn: '2061', cp: { BeginTime: '20260305000000', EndTime: '20260305060000;CN=1072' } }, // no frame injection
      { mn: 'FQ;01', cn: '1011' }, { mn: 'FQ01', cn: '1011', timeoutMs: 50 }, { mn: 'FQ01', cn: '1011', cp: { 'bad key': '1' } },
    ];
    for (const a of bad) expect(codeOf(() => parseRequestArgs(a)), JSON.stringify(a)).toBe('HJ212_BAD_COMMAND');
  });
});
