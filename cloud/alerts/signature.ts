import crypto from 'node:crypto';

/**
 * Webhook signatures, the way Stripe and Slack sign: the HMAC covers a timestamp, the delivery id
 * and the raw body, so a captured delivery cannot be replayed outside the tolerance window, nor
 * its body re-sent under another delivery id.
 *
 *   X-Cityedge-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<delivery id>.<raw body>")>
 *   X-Cityedge-Delivery:  <delivery id>
 *
 * A retry signs again with a new timestamp (same delivery id and body). A header may carry several
 * `v1=` values (while a secret is being rotated); one matching is enough.
 */
export const SIGNATURE_HEADER = 'x-cityedge-signature';
export const DELIVERY_HEADER = 'x-cityedge-delivery';
export const EVENT_HEADER = 'x-cityedge-event';
/** Default window for the timestamp, either side of the receiver's clock. */
export const DEFAULT_TOLERANCE_MS = 5 * 60_000;

const mac = (secret: string, t: number, deliveryId: string, body: string | Buffer) =>
  crypto.createHmac('sha256', secret).update(`${t}.${deliveryId}.`).update(body).digest('hex');

export function signDelivery(secret: string, d: { deliveryId: string; body: string | Buffer; now?: number }): string {
  const t = Math.floor((d.now ?? Date.now()) / 1000);
  return `t=${t},v1=${mac(secret, t, d.deliveryId, d.body)}`;
}

export type VerifyResult = { ok: true; timestamp: number } | { ok: false; reason: 'malformed' | 'too_old' | 'too_new' | 'mismatch' };

/**
 * What a receiver runs, over the RAW body bytes (before any JSON parsing), in constant time.
 * Then it should also drop a delivery id it has already processed within the window.
 */
export function verifySignature(secret: string, d: { deliveryId: string; body: string | Buffer; header: string | undefined | null; now?: number; toleranceMs?: number }): VerifyResult {
  let t: number | undefined;
  const sigs: string[] = [];
  for (const part of (d.header ?? '').split(',')) {
    const [k, v] = part.split('=', 2);
    if (k === 't' && /^\d{1,12}$/.test(v ?? '')) t = Number(v);
    else if (k === 'v1' && /^[0-9a-f]{64}$/.test(v ?? '')) sigs.push(v);
  }
  if (t === undefined || sigs.length === 0) return { ok: false, reason: 'malformed' };
  const age = (d.now ?? Date.now()) - t * 1000;
  const tolerance = d.toleranceMs ?? DEFAULT_TOLERANCE_MS;
  if (age > tolerance) return { ok: false, reason: 'too_old' };
  if (age < -tolerance) return { ok: false, reason: 'too_new' };
  const want = Buffer.from(mac(secret, t, d.deliveryId, d.body), 'hex');
  return sigs.some((s) => crypto.timingSafeEqual(want, Buffer.from(s, 'hex'))) ? { ok: true, timestamp: t * 1000 } : { ok: false, reason: 'mismatch' };
}
