import crypto from 'node:crypto';

/**
 * Random bytes come from a pool refilled 4 KB at a time (randomFillSync for every id was the
 * top cost of appending to the outbox); the timestamp's hex is made once per millisecond.
 */
const POOL_SIZE = 4000;
const pool = Buffer.alloc(POOL_SIZE);
let offset = POOL_SIZE;
/** The first 14 characters (48-bit millisecond timestamp and its two dashes) of the last millisecond's ids. */
let prefixMs = -1;
let prefix = '';
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * Time-ordered unique message id (UUIDv7, RFC 9562): the Unix time in ms (48 bits), version 7,
 * then 74 random bits (rand_a, variant 10, rand_b); sorts by creation time (to the ms), no coordination.
 */
export function newMessageId(): string {
  const now = Date.now();
  if (now !== prefixMs) {
    const hex = now.toString(16).padStart(12, '0').slice(-12);
    prefix = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-`;
    prefixMs = now;
  }
  if (offset + 10 > POOL_SIZE) {
    crypto.randomFillSync(pool);
    offset = 0;
  }
  const b = pool;
  const o = offset;
  offset += 10;
  return `${prefix}7${HEX[b[o]][1]}${HEX[b[o + 1]]}-${HEX[(b[o + 2] & 0x3f) | 0x80]}${HEX[b[o + 3]]}-${HEX[b[o + 4]]}${HEX[b[o + 5]]}${HEX[b[o + 6]]}${HEX[b[o + 7]]}${HEX[b[o + 8]]}${HEX[b[o + 9]]}`;
}

export const MESSAGE_ID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$';
