import { describe, expect, it } from 'vitest';
import { signDelivery, verifySignature } from './signature.ts';

const secret = 'duty-desk-webhook-secret-01';
const body = JSON.stringify({ v: 1, id: 'd-1', event: 'raised', alert: { id: 7, source: 'AOTI/PM2.5' } });
const T = 1_767_225_600_000;

/**
 * Webhook signatures cover the timestamp, the delivery id and the raw body (Stripe/Slack style),
 * so a captured delivery cannot be replayed later, nor its body sent under another delivery id.
 */
describe('webhook signature', () => {
  const header = signDelivery(secret, { deliveryId: 'd-1', body, now: T });

  it('verifies the delivery it signed within the tolerance window', () => {
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verifySignature(secret, { deliveryId: 'd-1', body, header, now: T + 60_000 })).toMatchObject({ ok: true });
  });

  it('refuses a captured delivery replayed after the tolerance window, with the reason', () => {
    expect(verifySignature(secret, { deliveryId: 'd-1', body, header, now: T + 6 * 60_000 })).toEqual({ ok: false, reason: 'too_old' });
    expect(verifySignature(secret, { deliveryId: 'd-1', body, header, now: T - 6 * 60_000 })).toEqual({ ok: false, reason: 'too_new' });
    expect(verifySignature(secret, { deliveryId: 'd-1', body, header, now: T + 20 * 60_000, toleranceMs: 30 * 60_000 })).toMatchObject({ ok: true });
  });

  it('refuses the body under another delivery id, a changed body, a wrong secret, a malformed header', () => {
    expect(verifySignature(secret, { deliveryId: 'd-2', body, header, now: T })).toEqual({ ok: false, reason: 'mismatch' });
    expect(verifySignature(secret, { deliveryId: 'd-1', body: body.replace('PM2.5', 'SO2'), header, now: T })).toEqual({ ok: false, reason: 'mismatch' });
    expect(verifySignature('another-secret-another-1', { deliveryId: 'd-1', body, header, now: T })).toEqual({ ok: false, reason: 'mismatch' });
    for (const bad of [undefined, '', 'sha256=abc', `v1=${'0'.repeat(64)}`, 't=abc,v1=00', `t=${T / 1000}`]) {
      expect(verifySignature(secret, { deliveryId: 'd-1', body, header: bad, now: T })).toEqual({ ok: false, reason: 'malformed' });
    }
  });

  it('a header may carry several v1 signatures (secret rotation): any one matching is enough', () => {
    const old = signDelivery('old-secret-old-secret-0001', { deliveryId: 'd-1', body, now: T });
    const both = `${header},v1=${old.split('v1=')[1]}`;
    expect(verifySignature('old-secret-old-secret-0001', { deliveryId: 'd-1', body, header: both, now: T })).toMatchObject({ ok: true });
  });
});
