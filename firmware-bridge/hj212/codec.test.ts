import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isCoded } from '../../lib/errors.ts';
import { crc16, crc16Reference, crcHex } from './crc.ts';
import { buildCp, decodeFrame, encodeFrame, parseDataTime } from './codec.ts';
import { parseFlag } from './codes.ts';
import { frameValues } from './values.ts';
import { sharedFrames, standardExamples } from '../../test/support/hj212.ts';

function codeOf(fn: () => unknown): string {
  try { fn(); } catch (err) { if (isCoded(err)) return err.code; throw err; }
  return 'NO_ERROR';
}

describe('CRC (HJ 212 Appendix A)', () => {
  it('matches the test vectors and the bitwise reference', () => {
    expect(crcHex(crc16(Buffer.from('123456789')))).toBe('2F80');
    for (let i = 0; i < 300; i++) {
      const b = crypto.randomBytes(i % 64);
      expect(crc16(b)).toBe(crc16Reference(b));
    }
  });
});

describe('decodeFrame on the shared data', () => {
  it('decodes every frame of frames_valid.txt', () => {
    const frames = sharedFrames('frames_valid.txt');
    expect(frames.length).toBe(10);
    for (const f of frames) {
      const d = decodeFrame(f, { requireCrlf: true });
      expect(d.cn).toMatch(/^\d{4}$/);
      expect(d.mn).toBeTruthy();
    }
    const hourly = decodeFrame(frames.find((f) => f.includes('CN=2061'))!);
    expect(hourly.revision).toBe('2017');
    expect(hourly.flagBits).toMatchObject({ needsAck: true, split: false, version: 1 });
    expect(hourly.factors.a34006).toEqual({ Avg: '2.69700', Flag: 'N' });
    const old = decodeFrame(frames.find((f) => f.includes('LD130133000015'))!);
    expect(old.revision).toBe('2005');
    expect(old.factors['011']).toEqual({ Rtd: '231.0', Flag: 'N' });
  });

  it('rejects every frame of frames_bad_crc.txt with HJ212_BAD_CRC', () => {
    const frames = sharedFrames('frames_bad_crc.txt');
    expect(frames.length).toBe(3);
    for (const f of frames) expect(codeOf(() => decodeFrame(f))).toBe('HJ212_BAD_CRC');
  });
});

describe("the standards' own examples", () => {
  const ex = Object.fromEntries(standardExamples().map((e) => [e.name, e]));

  it('decode (2017 §6.3 example, 2025 Appendix A.1 and A.2)', () => {
    expect(decodeFrame(ex['std2017-1062'].frame).cp.RtdInterval).toBe('30');
    const a1 = decodeFrame(ex['std2025-A1'].frame);
    expect(a1).toMatchObject({ revision: '2025', cn: '1011', flag: 9, crc: '2200', length: 87 });
    for (const n of ['2', '4']) {
      const plain = decodeFrame(ex[`std2025-A2-plain${n}`].frame);
      const enc = decodeFrame(ex[`std2025-A2-enc${n}`].frame, { keyFor: () => ex[`std2025-A2-enc${n}`].key });
      expect(enc.encrypted).toBe(true);
      expect(enc.cpText).toBe(plain.cpText);
      expect(enc.factors).toEqual(plain.factors);
      expect(enc.length).toBe(plain.length); // the standard keeps the plaintext length
    }
  });

  it('the encoder reproduces the Appendix A.2 encrypted frames byte for byte', () => {
    for (const n of ['2', '4']) {
      const plain = decodeFrame(ex[`std2025-A2-plain${n}`].frame);
      const text = encodeFrame({ qn: plain.qn, st: plain.st, cn: plain.cn, pw: plain.pw, mn: plain.mn, flag: plain.flag, cp: plain.cpText }, { sm4Key: ex[`std2025-A2-enc${n}`].key });
      expect(text).toBe(ex[`std2025-A2-enc${n}`].frame);
      expect(encodeFrame({ qn: plain.qn, st: plain.st, cn: plain.cn, pw: plain.pw, mn: plain.mn, flag: plain.flag, cp: plain.cpText })).toBe(ex[`std2025-A2-plain${n}`].frame);
    }
  });

  it('a wrong SM4 key or a missing key is a coded error', () => {
    const e = ex['std2025-A2-enc2'];
    expect(codeOf(() => decodeFrame(e.frame, { keyFor: () => Buffer.alloc(16, 0x31) }))).toBe('HJ212_DECRYPT');
    expect(codeOf(() => decodeFrame(e.frame))).toBe('HJ212_NO_KEY');
    // a wrong key whose garbage happens to be printable is still caught by the plaintext CRC
    const t = encodeFrame({ qn: '20260101000000000', st: '22', cn: '2011', pw: '1', mn: 'M', flag: 9, cp: 'DataTime=20260101000000;a34004-Rtd=1' }, { sm4Key: Buffer.alloc(16, 7) });
    for (let k = 0; k < 20; k++) expect(['HJ212_DECRYPT']).toContain(codeOf(() => decodeFrame(t, { keyFor: () => crypto.randomBytes(16) })));
  });
});

describe('fields and errors', () => {
  const frame = (cp: string, head = 'QN=20260301120000000;ST=22;CN=2011;PW=123456;MN=AIR1;Flag=5;') => {
    const seg = `${head}CP=&&${cp}&&`;
    return `##${String(Buffer.byteLength(seg)).padStart(4, '0')}${seg}${crcHex(crc16(Buffer.from(seg)))}\r\n`;
  };

  it('reads the revision from the Flag version bits', () => {
    for (const f of [4, 5, 6, 7]) expect(parseFlag(f).revision).toBe('2017');
    for (const f of [8, 9, 10, 11]) expect(parseFlag(f).revision).toBe('2025');
    expect(parseFlag(9)).toMatchObject({ needsAck: true, split: false });
    expect(parseFlag(10)).toMatchObject({ needsAck: false, split: true });
  });

  it('rejects malformed frames with stable codes', () => {
    const good = frame('DataTime=20260301120000;a34004-Rtd=35,a34004-Flag=N');
    expect(codeOf(() => decodeFrame(good))).toBe('NO_ERROR');
    expect(codeOf(() => decodeFrame(good.replace('##', '#!')))).toBe('HJ212_BAD_FRAME');
    expect(codeOf(() => decodeFrame(good.slice(0, 2) + '9' + good.slice(3)))).toBe('HJ212_BAD_LENGTH');
    expect(codeOf(() => decodeFrame(good.slice(0, 2) + 'x' + good.slice(3)))).toBe('HJ212_BAD_LENGTH');
    expect(codeOf(() => decodeFrame(good, { maxFrameBytes: 64 }))).toBe('HJ212_TOO_LARGE');
    expect(codeOf(() => decodeFrame(frame('DataTime=2026')))).toBe('HJ212_BAD_FIELD');
    expect(codeOf(() => decodeFrame(frame('x', 'QN=1;ST=22;CN=2011;PW=1;MN=A;Flag=9;RF=0;')))).toBe('HJ212_BAD_FIELD');
    expect(codeOf(() => decodeFrame(frame('x=1', 'QN=1;ST=22;CN=2011;PW=1;MN=A;Flag=11;PNUM=2;')))).toBe('HJ212_BAD_FIELD');
    expect(codeOf(() => decodeFrame(frame('x=1', 'QN=1;ST=22;CN=20;PW=1;MN=A;Flag=9;')))).toBe('HJ212_BAD_FIELD');
    expect(codeOf(() => decodeFrame(frame('x=1', 'QN=1;ST=22;CN=2011;PW=1;MN=A;Flag=999;')))).toBe('HJ212_BAD_FIELD');
    expect(codeOf(() => decodeFrame(frame('noequals')))).toBe('HJ212_BAD_FIELD');
  });

  it('parses packet splitting and the re-sent marker', () => {
    const d = decodeFrame(frame('DataTime=20260301120000;a34004-Avg=3', 'QN=1;ST=22;CN=2061;PW=1;MN=A;Flag=11;PNUM=3;PNO=2;RF=1;'));
    expect(d).toMatchObject({ pnum: 3, pno: 2, resent: true, revision: '2025' });
  });

  it('normalises readings and carries every instrument flag', () => {
    const cp = buildCp({ DataTime: '20260301120000' }, [
      { code: 'a34004', fields: { Avg: 35, Min: 20, Max: 50, Cou: 12, Flag: 'N' } },
      { code: 'a21026', fields: { Avg: 8, Flag: 'C' } },
      { code: 'a21005', fields: { Avg: 0.8, Flag: 'Q' } },
      { code: 'a21004', fields: { Avg: -5, Flag: 'N' } },
      { code: 'x99999', fields: { Avg: 'abc', Flag: 'D' } },
    ]);
    const d = decodeFrame(frame(cp, 'QN=1;ST=22;CN=2061;PW=1;MN=AIR1;Flag=5;'));
    const rs = frameValues(d);
    expect(rs.filter((r) => r.code === 'a34004').map((r) => r.statistic).sort()).toEqual(['avg', 'cou', 'max', 'min']);
    const pm = rs.find((r) => r.code === 'a34004' && r.statistic === 'avg')!;
    expect(pm).toMatchObject({ station: 'AIR1', pollutant: 'PM2.5', value: 35, unit: 'ug/m3', flag: 'N', period: 'hour', qc: 'ok', observedAt: parseDataTime('20260301120000') });
    expect(pm.observedAt).toBe(Date.UTC(2026, 2, 1, 4));
    expect(rs.find((r) => r.code === 'a21026')).toMatchObject({ flag: 'C', flagMeaning: 'calibration' });
    expect(rs.find((r) => r.code === 'a21005')).toMatchObject({ flag: 'Q', flagKnown: false, unit: 'mg/m3' });
    expect(rs.find((r) => r.code === 'a21004')!.qc).toBe('out_of_range');
    expect(rs.find((r) => r.code === 'x99999')).toMatchObject({ value: null, qc: 'not_numeric', flag: 'D', known: false });
  });
});
