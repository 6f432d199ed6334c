import { v7 as uuidv7 } from 'uuid';

/** Time-ordered unique message id (UUIDv7, RFC 9562): sorts by creation time, no coordination. */
export function newMessageId(): string {
  return uuidv7();
}

export const MESSAGE_ID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$';
