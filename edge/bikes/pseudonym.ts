import { createHmac } from 'node:crypto';
import { CodedError } from '../../lib/errors.ts';

/**
 * Rider card ids never leave the site raw: they become a keyed HMAC-SHA256 pseudonym
 * (stable per key, so trips of one card can be joined; not reversible without the key,
 * and not guessable by hashing all card numbers, unlike a plain hash).
 * Rotating the key unlinks all past pseudonyms.
 */
export class CardPseudonymiser {
  private readonly key: Buffer;
  constructor(key: string) {
    if (typeof key !== 'string' || key.length < 16) {
      throw new CodedError('BIKES_CARD_KEY', 'cardKey must be at least 16 characters; set it from a secret, e.g. cardKey: ${BIKES_CARD_KEY}');
    }
    this.key = Buffer.from(key, 'utf8');
  }

  /** `p_` + 22 base64url chars (128 bits of the HMAC). */
  pseudonym(card: string): string {
    return 'p_' + createHmac('sha256', this.key).update(card, 'utf8').digest('base64url').slice(0, 22);
  }
}
