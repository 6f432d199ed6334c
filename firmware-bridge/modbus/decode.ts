import { CodedError } from '../../lib/errors.ts';
import { type RegisterType, WORDS } from './config.ts';

export interface DecodeSpec {
  type: RegisterType;
  scale: number;
  offset: number;
  byteOrder: 'BE' | 'LE';
  wordOrder: 'BE' | 'LE';
}

/**
 * Decode the registers of one value. Modbus Application Protocol v1.1b3 §4.2 sends each
 * register big-endian; multi-register values have no standard order, hence byteOrder/wordOrder
 * ("ABCD" = BE/BE, "CDAB" = BE/LE word swap, "BADC" = LE/BE, "DCBA" = LE/LE).
 */
export function decodeRegisters(words: readonly number[], spec: DecodeSpec): number {
  const n = WORDS[spec.type];
  if (words.length < n) throw new CodedError('MODBUS_DECODE', `a ${spec.type} needs ${n} registers, got ${words.length}`);
  const ordered = words.slice(0, n);
  if (spec.wordOrder === 'LE') ordered.reverse();
  const buf = Buffer.alloc(n * 2);
  ordered.forEach((w, i) => {
    const hi = (w >> 8) & 0xff;
    const lo = w & 0xff;
    buf[i * 2] = spec.byteOrder === 'BE' ? hi : lo;
    buf[i * 2 + 1] = spec.byteOrder === 'BE' ? lo : hi;
  });
  let raw: number;
  switch (spec.type) {
    case 'int16': raw = buf.readInt16BE(0); break;
    case 'uint16': raw = buf.readUInt16BE(0); break;
    case 'int32': raw = buf.readInt32BE(0); break;
    case 'uint32': raw = buf.readUInt32BE(0); break;
    case 'float32': raw = buf.readFloatBE(0); break;
  }
  return raw * spec.scale + spec.offset;
}

/** The inverse, for tests and simulators: the registers a device would hold for `value`. */
export function encodeRegisters(value: number, spec: DecodeSpec): number[] {
  const raw = (value - spec.offset) / spec.scale;
  const n = WORDS[spec.type];
  const buf = Buffer.alloc(n * 2);
  switch (spec.type) {
    case 'int16': buf.writeInt16BE(Math.round(raw), 0); break;
    case 'uint16': buf.writeUInt16BE(Math.round(raw), 0); break;
    case 'int32': buf.writeInt32BE(Math.round(raw), 0); break;
    case 'uint32': buf.writeUInt32BE(Math.round(raw), 0); break;
    case 'float32': buf.writeFloatBE(raw, 0); break;
  }
  const words: number[] = [];
  for (let i = 0; i < n; i++) {
    const a = buf[i * 2];
    const b = buf[i * 2 + 1];
    words.push(spec.byteOrder === 'BE' ? (a << 8) | b : (b << 8) | a);
  }
  if (spec.wordOrder === 'LE') words.reverse();
  return words;
}

export interface Block { function: 'holding' | 'input'; start: number; count: number }

/** Group wanted registers into read requests: ≤ 125 registers each (MODBUS spec §6.3/§6.4), gaps ≤ maxGap. */
export function planBlocks(wants: Array<{ function: 'holding' | 'input'; address: number; words: number }>, maxGap: number): Block[] {
  const out: Block[] = [];
  for (const fn of ['holding', 'input'] as const) {
    const spans = wants.filter((w) => w.function === fn).map((w) => [w.address, w.address + w.words] as const).sort((a, b) => a[0] - b[0]);
    let cur: Block | undefined;
    for (const [s, e] of spans) {
      if (cur && s <= cur.start + cur.count + maxGap && Math.max(e, cur.start + cur.count) - cur.start <= 125) {
        cur.count = Math.max(cur.count, e - cur.start);
      } else {
        cur = { function: fn, start: s, count: e - s };
        out.push(cur);
      }
    }
  }
  return out;
}
