import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FLAGS } from '../../lib/contract/reading.ts';
import { flagOfStatus, severityOf } from './status-flags.ts';

describe('OPC UA status → HJ 212 flag', () => {
  it('maps the codes an analyser uses', async () => {
    const { StatusCodes } = await import('node-opcua');
    const cases: Array<[keyof typeof StatusCodes, string]> = [
      ['Good', 'N'], ['GoodLocalOverride', 'S'], ['UncertainSensorCalibration', 'C'], ['UncertainEngineeringUnitsExceeded', 'T'],
      ['UncertainLastUsableValue', 'B'], ['UncertainSubNormal', 'D'], ['BadOutOfService', 'M'], ['BadSensorFailure', 'D'],
      ['BadNoCommunication', 'B'], ['BadNodeIdUnknown', 'D'], ['BadTimeout', 'B'],
    ];
    for (const [name, flag] of cases) expect([name, flagOfStatus((StatusCodes[name] as any).value)]).toEqual([name, flag]);
  });

  it('ignores info bits; every 32-bit code maps to a flag consistent with its severity (property)', () => {
    expect(flagOfStatus(0x420a0000 | 0x0400)).toBe('C');
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (code) => {
      const f = flagOfStatus(code);
      expect(FLAGS).toContain(f);
      if (severityOf(code) !== 'good') expect(f).not.toBe('N');
    }), { numRuns: 500 });
  });
});
