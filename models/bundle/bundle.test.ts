import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/peers/ports.ts';
import { dataFile } from '../../lib/data-dir.ts';
import { packBundle, signBundle, verifyBundle, sha256 } from './bundle.ts';
import { generateKeyFiles, loadPrivateKey, loadTrustedKeys } from './keys.ts';
import { readTar, writeTar } from './tar.ts';

const codeOf = (fn: () => unknown): string | undefined => {
  try { fn(); return undefined; } catch (err) { return (err as { code?: string }).code; }
};

describe('ustar', () => {
  it('round-trips entries and is deterministic', () => {
    const entries = [{ name: 'a.txt', data: Buffer.from('hello') }, { name: 'empty', data: Buffer.alloc(0) }, { name: 'b.bin', data: crypto.randomBytes(1500) }];
    const t = writeTar(entries);
    expect(t.length % 512).toBe(0);
    expect(sha256(writeTar(entries))).toBe(sha256(t));
    const back = readTar(t);
    expect(back.map((e) => e.name)).toEqual(['a.txt', 'empty', 'b.bin']);
    expect(Buffer.compare(back[2].data, entries[2].data)).toBe(0);
  });
  it('refuses truncation, bad checksums and garbage with MODEL_BUNDLE_CORRUPT (fuzz)', () => {
    const t = writeTar([{ name: 'x', data: Buffer.from('payload') }]);
    expect(codeOf(() => readTar(t.subarray(0, 700)))).toBe('MODEL_BUNDLE_CORRUPT');
    const bad = Buffer.from(t); bad[10] ^= 1;
    expect(codeOf(() => readTar(bad))).toBe('MODEL_BUNDLE_CORRUPT');
    fc.assert(fc.property(fc.uint8Array({ maxLength: 3000 }), fc.integer({ min: 0, max: 1535 }), (junk, at) => {
      const mutated = Buffer.from(t);
      mutated.set(junk.subarray(0, Math.max(0, mutated.length - at)), at);
      try { readTar(mutated); } catch (err) { expect((err as { code?: string }).code).toBe('MODEL_BUNDLE_CORRUPT'); }
      try { readTar(Buffer.from(junk)); } catch (err) { expect((err as { code?: string }).code).toBe('MODEL_BUNDLE_CORRUPT'); }
    }), { numRuns: 300 });
  });
});

describe('bundle pack / sign / verify', () => {
  let dir: string;
  let unsigned: Buffer;
  let signed: Buffer;
  beforeAll(() => {
    dir = tempDir('bundle-');
    generateKeyFiles(dir, 'ops');
    fs.mkdirSync(path.join(dir, 'other'));
    generateKeyFiles(path.join(dir, 'other'), 'mallory');
    unsigned = packBundle({ card: 'nanodet_m_320', created: 1 });
    signed = signBundle(unsigned, loadPrivateKey(path.join(dir, 'ops.key')));
  });

  it('verifies a signed bundle against the trusted key directory', () => {
    const trusted = loadTrustedKeys([dir]);
    const v = verifyBundle(signed, trusted);
    expect(v.manifest.name).toBe('nanodet_m_320');
    expect(v.card.sha256).toBe(sha256(v.files.get('model.onnx')!));
    expect(trusted.has(v.keyId)).toBe(true);
    expect(v.digest).toBe(sha256(signed));
    expect(packBundle({ card: 'nanodet_m_320', created: 1 }).equals(unsigned)).toBe(true);
  });

  it('refuses unsigned, untrusted, tampered bytes and tampered signatures with codes', () => {
    const trusted = loadTrustedKeys([dir]);
    expect(codeOf(() => verifyBundle(unsigned, trusted))).toBe('MODEL_BUNDLE_UNSIGNED');
    const byMallory = signBundle(unsigned, loadPrivateKey(path.join(dir, 'other', 'mallory.key')));
    expect(codeOf(() => verifyBundle(byMallory, trusted))).toBe('MODEL_UNTRUSTED_KEY');
    expect(codeOf(() => verifyBundle(byMallory, null))).toBeUndefined();
    // flip one byte inside model.onnx's data (tar checksums cover headers only)
    const entries = readTar(signed);
    const onnx = entries.find((e) => e.name === 'model.onnx')!;
    const tampered = Buffer.from(signed);
    tampered[onnx.data.byteOffset - signed.byteOffset + 1000] ^= 0xff;
    expect(codeOf(() => verifyBundle(tampered, trusted))).toBe('MODEL_DIGEST_MISMATCH');
    // change the manifest after signing
    const m = entries.find((e) => e.name === 'manifest.json')!;
    const forged = writeTar(entries.map((e) => (e.name === 'manifest.json' ? { name: e.name, data: Buffer.from(m.data.toString().replace('"created": 1', '"created": 2')) } : e)));
    expect(codeOf(() => verifyBundle(forged, trusted))).toBe('MODEL_SIGNATURE_INVALID');
    // corrupt the signature bytes
    const sig = JSON.parse(entries.find((e) => e.name === 'signature.json')!.data.toString());
    const s = Buffer.from(sig.signature, 'base64'); s[3] ^= 1;
    const badSig = writeTar(entries.map((e) => (e.name === 'signature.json' ? { name: e.name, data: Buffer.from(JSON.stringify({ ...sig, signature: s.toString('base64') })) } : e)));
    expect(codeOf(() => verifyBundle(badSig, trusted))).toBe('MODEL_SIGNATURE_INVALID');
    expect(codeOf(() => verifyBundle(signed.subarray(0, signed.length - 2000), trusted))).toBe('MODEL_BUNDLE_CORRUPT');
  });

  it('refuses to pack weights that are not the card\'s', () => {
    expect(codeOf(() => packBundle({ card: 'nanodet_m_320', weights: dataFile('models', 'nanodet_m_416.onnx') }))).toBe('MODEL_DIGEST_MISMATCH');
  });
});
