/**
 * CRC of HJ 212 frames — HJ 212-2017 Appendix A and HJ 212-2025 Appendix A.1
 * ("ANSI CRC16"): register 0xFFFF; for each byte `reg = (reg >> 8) ^ byte`, then
 * 8 x { lsb = reg & 1; reg >>= 1; if (lsb) reg ^= 0xA001 }. Note the byte is XORed
 * into the register *after* shifting out the high byte — this is NOT CRC-16/MODBUS.
 * Verified: "123456789" -> 2F80; the 2025 Appendix A.1 example segment -> 2200.
 */

// The 8 inner steps only depend on the low byte of (reg >> 8) ^ b, and shift the
// high byte right by 8 together with it, so the loop collapses into a table lookup.
const TABLE = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  let r = i;
  for (let k = 0; k < 8; k++) r = r & 1 ? (r >>> 1) ^ 0xa001 : r >>> 1;
  TABLE[i] = r;
}

/** CRC over bytes [start, end) of a buffer. */
export function crc16(buf: Uint8Array, start = 0, end = buf.length): number {
  let reg = 0xffff;
  for (let i = start; i < end; i++) {
    // reg = (reg >> 8) ^ b  : the high byte of reg is 0 after the shift, so the
    // new value is < 0x100 | ... ; then 8 shift/xor steps = TABLE lookup.
    const x = (reg >>> 8) ^ buf[i];
    reg = TABLE[x & 0xff] ^ (x >>> 8);
  }
  return reg;
}

/** Reference bit-by-bit implementation (used by tests to check the table version). */
export function crc16Reference(buf: Uint8Array): number {
  let reg = 0xffff;
  for (const b of buf) {
    reg = (reg >>> 8) ^ b;
    for (let k = 0; k < 8; k++) {
      const lsb = reg & 1;
      reg >>>= 1;
      if (lsb) reg ^= 0xa001;
    }
  }
  return reg;
}

export function crcHex(value: number): string {
  return value.toString(16).toUpperCase().padStart(4, '0');
}

export function crc16Text(text: string): string {
  return crcHex(crc16(Buffer.from(text, 'utf8')));
}
