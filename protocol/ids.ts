import crypto from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';

/**
 * Random bytes come from a pool refilled 4 KiB at a time: the uuid package otherwise
 * calls randomFillSync for every id, which was the top cost of appending to the outbox.
 */
const POOL_SIZE = 4096;
const pool = Buffer.alloc(POOL_SIZE);
let offset = POOL_SIZE;

/** Time-ordered unique message id (UUIDv7, RFC 9562): sorts by creation time, no coordination. */
export function newMessageId(): string {
  if (offset + 16 > POOL_SIZE) {
    crypto.randomFillSync(pool);
    offset = 0;
  }
  const random = pool.subarray(offset, offset + 16);
  offset += 16;
  return uuidv7({ random });
}

export const MESSAGE_ID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$';
