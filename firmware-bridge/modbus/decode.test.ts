import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { REGISTER_TYPES } from './config.ts';
import { type DecodeSpec, decodeRegisters, encodeRegisters, planBlocks } from './decode.ts';
import { parseModbusConfig } from '../../edge/sources/modbus.ts';

const spec = (p: Partial<DecodeSpec>): DecodeSpec => ({ type: 'uint16', scale: 1, offset: 0, byteOrder: 'BE', wordOrder: 'BE', ...p });

describe('decodeRegisters', () => {
  it('decodes the four 32-bit orderings of one float (ABCD, CDAB, BADC, DCBA)', () => {
    // 123.456 as IEEE-754 float32 = 0x42F6E979
    expect(decodeRegisters([0x42f6, 0xe979], spec({ type: 'float32' }))).toBeCloseTo(123.456, 3);
    expect(decodeRegisters([0xe979, 0x42f6], spec({ type: 'float32', wordOrder: 'LE' }))).toBeCloseTo(123.456, 3);
    expect(decodeRegisters([0xf642, 0x79e9], spec({ type: 'float32', byteOrder: 'LE' }))).toBeCloseTo(123.456, 3);
    expect(decodeRegisters([0x79e9, 0xf642], spec({ type: 'float32', byteOrder: 'LE', wordOrder: 'LE' }))).toBeCloseTo(123.456, 3);
  });

  it('signed types, scale and offset', () => {
    expect(decodeRegisters([0xffff], spec({ type: 'int16' }))).toBe(-1);
    expect(decodeRegisters([0xffff], spec({ type: 'uint16' }))).toBe(65535);
    expect(decodeRegisters([0xffff, 0xfffe], spec({ type: 'int32' }))).toBe(-2);
    expect(decodeRegisters([0x0001, 0x0000], spec({ type: 'uint32' }))).toBe(65536);
    expect(decodeRegisters([355], spec({ scale: 0.1, offset: -5 }))).toBeCloseTo(30.5, 9);
    expect(() => decodeRegisters([1], spec({ type: 'uint32' }))).toThrow(expect.objectContaining({ code: 'MODBUS_DECODE' }));
  });

  it('encode/decode round-trip for every type and ordering (property)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...REGISTER_TYPES), fc.constantFrom('BE', 'LE'), fc.constantFrom('BE', 'LE'), fc.integer({ min: -32768, max: 32767 }), (type, byteOrder, wordOrder, n) => {
        const s = spec({ type, byteOrder: byteOrder as 'BE', wordOrder: wordOrder as 'BE' });
        const v = type.startsWith('uint') ? Math.abs(n) : n;
        const words = encodeRegisters(v, s);
        expect(words.every((w) => w >= 0 && w <= 0xffff)).toBe(true);
        expect(decodeRegisters(words, s)).toBe(v);
      }),
      { numRuns: 300 },
    );
  });

  it('never throws on any 2 words of any type (property)', () => {
    fc.assert(fc.property(fc.constantFrom(...REGISTER_TYPES), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), (type, a, b) => {
      expect(typeof decodeRegisters([a, b], spec({ type }))).toBe('number');
    }), { numRuns: 300 });
  });
});

describe('planBlocks and config', () => {
  it('merges close registers, splits far ones and at 125 registers, keeps functions apart', () => {
    const blocks = planBlocks([
      { function: 'holding', address: 0, words: 2 }, { function: 'holding', address: 4, words: 1 }, { function: 'holding', address: 100, words: 2 },
      { function: 'input', address: 4, words: 1 }, { function: 'holding', address: 200, words: 2 },
    ], 8);
    expect(blocks).toEqual([
      { function: 'holding', start: 0, count: 5 }, { function: 'holding', start: 100, count: 2 }, { function: 'holding', start: 200, count: 2 }, { function: 'input', start: 4, count: 1 },
    ]);
    const wide = planBlocks(Array.from({ length: 130 }, (_, i) => ({ function: 'holding' as const, address: i, words: 1 })), 0);
    expect(wide.map((b) => b.count)).toEqual([125, 5]);
  });

  it('rejects bad register maps with MODBUS_CONFIG', () => {
    const ok = { type: 'modbus', id: 'm1', station: 's', transport: { kind: 'tcp', host: '127.0.0.1', port: 502 }, registers: [{ pollutant: 'NOx', unit: 'mg/m3', address: 0 }] };
    const cfg = parseModbusConfig(ok);
    expect(cfg.registers[0]).toMatchObject({ function: 'holding', type: 'uint16', scale: 1, byteOrder: 'BE', wordOrder: 'BE' });
    expect(cfg.pipeline.raw).toBe(true);
    for (const bad of [
      { ...ok, registers: [{ pollutant: 'NOx', unit: 'x', address: 65535, type: 'float32' }] },
      { ...ok, registers: [{ pollutant: 'NOx', unit: 'x', address: 0, type: 'float64' }] },
      { ...ok, registers: [{ pollutant: 'NOx', unit: 'x', address: 0, fn: 'coil' }] },
      { ...ok, registers: [] },
      { ...ok, transport: { kind: 'tcp' } },
    ]) expect(() => parseModbusConfig(bad)).toThrow(expect.objectContaining({ code: 'MODBUS_CONFIG' }));
  });
});
