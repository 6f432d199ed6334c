import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { isCoded } from '../../lib/errors.ts';
import { buildCp, decodeFrame, encodeFrame } from './codec.ts';
import { frameValues } from './values.ts';
import { Hj212Server, type AcceptedFrame } from './server.ts';
import { valuesToItems } from '../../edge/sources/hj212.ts';
import { waitFor } from '../../test/peers/ports.ts';

/**
 * Defects of issue 13 on the decoding side, written before the fix:
 *  - a well-formed request without data (a platform asking for real-time data: CN 2011 with an
 *    empty CP; a history request CN 2061 with BeginTime/EndTime) was refused as a "data frame
 *    without DataTime" (HJ212_BAD_FIELD) instead of decoding as a request;
 *  - an electric-quantity factor with several named fields on one code (Ia, Ua, Pt) yielded one
 *    empty (not_numeric) reading and lost every field.
 */
const HEAD = (cn: string) => ({ qn: '20260305100000000', st: '31', cn, pw: '123456', mn: 'PLANT7FQ01', flag: 5 });

function codeOf(fn: () => unknown): string {
  try { fn(); } catch (err) { return isCoded(err) ? err.code : 'THROWN'; }
  return 'NO_ERROR';
}

const cleanup: Array<() => unknown> = [];
afterEach(async () => { for (const f of cleanup.splice(0).reverse()) await f(); });

describe('requests without data are not refused', () => {
  it('CN 2011 with an empty CP (a platform asking for real-time data) decodes and yields no readings', () => {
    const f = decodeFrame(encodeFrame({ ...HEAD('2011'), cp: '' }));
    expect(codeOf(() => frameValues(f))).toBe('NO_ERROR');
    expect(frameValues(f)).toEqual([]);
  });

  it('CN 2051/2061/2031 with BeginTime/EndTime decode and yield no readings', () => {
    for (const cn of ['2051', '2061', '2031']) {
      const f = decodeFrame(encodeFrame({ ...HEAD(cn), cp: 'BeginTime=20260305000000;EndTime=20260305060000' }));
      expect(codeOf(() => frameValues(f))).toBe('NO_ERROR');
    }
  });

  it('the server accepts such a request instead of refusing it (no HJ212_BAD_FIELD)', async () => {
    const accepted: AcceptedFrame[] = [];
    const server = new Hj212Server({ host: '127.0.0.1', port: 0, stations: [{ mn: 'PLANT7FQ01', password: '123456' }], onFrame: (ev) => { accepted.push(ev); } });
    const port = await server.listen();
    cleanup.push(() => server.close());
    const sock = net.connect(port, '127.0.0.1');
    cleanup.push(() => sock.destroy());
    await new Promise((r) => sock.once('connect', r));
    sock.write(encodeFrame({ ...HEAD('2011'), flag: 4, cp: '' }) + encodeFrame({ ...HEAD('2061'), flag: 4, cp: 'BeginTime=20260305000000;EndTime=20260305060000' }));
    await waitFor(() => accepted.length + Object.values(server.stats().rejected).reduce((a, b) => a + b, 0) >= 2, { timeoutMs: 3000, what: 'two frames handled' });
    expect(server.stats().rejected).toEqual({});
    expect(accepted.map((a) => a.frame.cn)).toEqual(['2011', '2061']);
    expect(accepted.every((a) => a.values.length === 0)).toBe(true);
  });
});

describe('electric-quantity factors keep every named field', () => {
  it('Ia, Ua, Pt on one code become fields of one item, not one empty reading', () => {
    const cp = buildCp({ DataTime: '20260305100000' }, [{ code: 'e10101', fields: { Ia: 12.5, Ua: 220.4, Pt: 3.21, Flag: 'N' } }]);
    const f = decodeFrame(encodeFrame({ ...HEAD('2011'), cp }));
    const items = valuesToItems(frameValues(f));
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ m: 'hj212', tags: { station: 'PLANT7FQ01', code: 'e10101', period: 'rt' }, fields: { Ia: 12.5, Ua: 220.4, Pt: 3.21, flag: 'N', qc: 'ok' } });
  });
});
