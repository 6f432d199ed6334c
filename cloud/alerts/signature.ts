import crypto from 'node:crypto';

/** Header carrying the HMAC of a webhook body (GitHub's `X-Hub-Signature-256` scheme). */
export const SIGNATURE_HEADER = 'x-cityedge-signature';
export const DELIVERY_HEADER = 'x-cityedge-delivery';
export const EVENT_HEADER = 'x-cityedge-event';

/** `sha256=<hex>` = HMAC-SHA256(secret, raw body bytes). */
export function signBody(secret: string, body: string | Buffer): string {
  return `sha256=${crypto.createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * What a receiver does: recompute over the RAW body bytes (before any JSON parsing) and compare
 * in constant time. Returns false for a missing or malformed header.
 */
export function verifySignature(secret: string, body: string | Buffer, header: string | undefined | null): boolean {
  if (!header || !/^sha256=[0-9a-f]{64}$/.test(header)) return false;
  const want = Buffer.from(signBody(secret, body));
  const got = Buffer.from(header);
  return want.length === got.length && crypto.timingSafeEqual(want, got);
}
