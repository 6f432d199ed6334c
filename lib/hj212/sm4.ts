import crypto from 'node:crypto';
import { CodedError } from '../errors.ts';
import { HJ212_ERRORS } from './codes.ts';

/**
 * SM4 encryption of the CP data area, HJ 212-2025 §6.4.2 and Appendix A.2:
 *  - SM4, 16-byte (128-bit) key, ECB mode, "Nopadding", applied to the characters
 *    between "CP=&&" and the closing "&&" (§6.4.2);
 *  - "每16个字符为一组加密 … 不足16个字符的部分使用明文，先完成CRC校验并组包，再对数据段加密"
 *    (A.2): every whole 16-character group is encrypted, a trailing remainder shorter
 *    than 16 characters stays plaintext, and the CRC is computed over the plaintext
 *    frame *before* encryption;
 *  - the Appendix A.2 examples print the cipher bytes as `{0xE4,0x3E,…,0x41}` followed
 *    by the plaintext tail (e.g. `…0x03,0xA4}g=N&&B541`), and keep the *plaintext*
 *    length in the 4-digit length field (0295 for a 1128-character wire segment).
 * Test key of Appendix A.2: sixteen 0x30 bytes ("密钥使用16个0x30").
 * Node's OpenSSL provides `sm4-ecb`; auto padding is switched off (NoPadding).
 */

export function parseSm4Key(key: string | Buffer): Buffer {
  if (Buffer.isBuffer(key)) {
    if (key.length !== 16) throw new CodedError('HJ212_CONFIG', `SM4 key must be 16 bytes, got ${key.length}`);
    return key;
  }
  if (/^[0-9a-fA-F]{32}$/.test(key)) return Buffer.from(key, 'hex');
  if (Buffer.byteLength(key) === 16) return Buffer.from(key, 'latin1');
  throw new CodedError('HJ212_CONFIG', 'SM4 key must be 32 hex digits or a 16-character string (HJ 212-2025 §6.4.2: 16-byte key)');
}

function ecb(key: Buffer, data: Buffer, decrypt: boolean): Buffer {
  const c = decrypt ? crypto.createDecipheriv('sm4-ecb', key, null) : crypto.createCipheriv('sm4-ecb', key, null);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(data), c.final()]);
}

/** Encrypt a plaintext CP data area into its wire form `{0x..,…}tail`. */
export function encryptRegion(region: string, key: Buffer): string {
  const bytes = Buffer.from(region, 'utf8');
  const full = bytes.length - (bytes.length % 16);
  if (full === 0) return region; // nothing to encrypt: the whole area is a <16 char tail
  const cipher = ecb(key, bytes.subarray(0, full), false);
  let hex = '{';
  for (let i = 0; i < cipher.length; i++) hex += (i ? ',0x' : '0x') + (cipher[i] < 16 ? '0' : '') + cipher[i].toString(16).toUpperCase();
  return hex + '}' + bytes.subarray(full).toString('utf8');
}

/** Whether a CP data area is in the encrypted wire form. */
export function looksEncrypted(region: string): boolean {
  return region.length >= 6 && region.charCodeAt(0) === 0x7b /* { */ && region.startsWith('{0x');
}

/** Decrypt `{0x..,…}tail` back to the plaintext data area. Throws HJ212_DECRYPT on malformed input. */
export function decryptRegion(region: string, key: Buffer): string {
  const close = region.indexOf('}');
  if (!region.startsWith('{') || close < 0) throw new CodedError(HJ212_ERRORS.DECRYPT, 'encrypted CP data area is not of the form {0x..,...}', {});
  const body = region.slice(1, close);
  const items = body.split(',');
  if (items.length % 16 !== 0) throw new CodedError(HJ212_ERRORS.DECRYPT, `encrypted CP data area holds ${items.length} bytes, not a multiple of the 16-byte SM4 block (HJ 212-2025 A.2)`, { bytes: items.length });
  const bytes = Buffer.allocUnsafe(items.length);
  for (let i = 0; i < items.length; i++) {
    const it = items[i].trim();
    if (!/^0[xX][0-9a-fA-F]{2}$/.test(it)) throw new CodedError(HJ212_ERRORS.DECRYPT, `encrypted CP data area item ${i} is not 0xNN: ${JSON.stringify(it.slice(0, 8))}`, { index: i });
    bytes[i] = parseInt(it.slice(2), 16);
  }
  const plain = ecb(key, bytes, true);
  // Plaintext CP is text: control bytes mean the key (or the cipher text) is wrong.
  for (const b of plain) {
    if (b < 0x20 || b === 0x7f) throw new CodedError(HJ212_ERRORS.DECRYPT, 'SM4 decryption produced non-text bytes: wrong SM4 key for this station, or corrupted cipher text', {});
  }
  return plain.toString('utf8') + region.slice(close + 1);
}
