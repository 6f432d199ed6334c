/**
 * Publisher keys (ed25519, RFC 8032) as PEM files: `<name>.key` (PKCS#8, private, mode 0600)
 * and `<name>.pub` (SPKI). A key id is the first 16 hex digits of sha256(SPKI DER), so
 * a bundle names the key that signed it and a site finds it among its trusted keys.
 */
import crypto, { type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CodedError, errMessage } from '../../lib/errors.ts';

export interface TrustedKey {
  keyId: string;
  file: string;
  key: KeyObject;
}

export type TrustedKeys = Map<string, TrustedKey>;

export function keyIdOf(pub: KeyObject): string {
  return crypto.createHash('sha256').update(pub.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

/** Write `<dir>/<name>.key` and `<dir>/<name>.pub`; refuses to overwrite an existing key. */
export function generateKeyFiles(dir: string, name: string): { keyFile: string; pubFile: string; keyId: string } {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw new CodedError('MODEL_KEY_BAD_NAME', `key name ${JSON.stringify(name)}: letters, digits, '_', '.', '-' only`);
  fs.mkdirSync(dir, { recursive: true });
  const keyFile = path.join(dir, `${name}.key`);
  const pubFile = path.join(dir, `${name}.pub`);
  if (fs.existsSync(keyFile) || fs.existsSync(pubFile)) throw new CodedError('MODEL_KEY_EXISTS', `${keyFile} or ${pubFile} already exists; choose another name or remove the old key deliberately`);
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
  fs.writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  fs.writeFileSync(pubFile, publicKey.export({ type: 'spki', format: 'pem' }));
  return { keyFile, pubFile, keyId: keyIdOf(publicKey) };
}

export function loadPrivateKey(file: string): KeyObject {
  let key: KeyObject;
  try {
    key = crypto.createPrivateKey(fs.readFileSync(file));
  } catch (err) {
    throw new CodedError('MODEL_KEY_UNREADABLE', `cannot read private key ${file}: ${errMessage(err)}`, { file });
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new CodedError('MODEL_KEY_UNREADABLE', `${file} is a ${key.asymmetricKeyType} key; bundles are signed with ed25519 (cityedge model keygen)`, { file });
  return key;
}

export function loadPublicKey(file: string): KeyObject {
  let key: KeyObject;
  try {
    key = crypto.createPublicKey(fs.readFileSync(file));
  } catch (err) {
    throw new CodedError('MODEL_KEY_UNREADABLE', `cannot read public key ${file}: ${errMessage(err)}`, { file });
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new CodedError('MODEL_KEY_UNREADABLE', `${file} is a ${key.asymmetricKeyType} key, not ed25519`, { file });
  return key;
}

/**
 * Trusted publisher keys of a site: each entry is a PEM public key file or a directory whose
 * `*.pub` / `*.pem` files are public keys. Relative paths resolve against `baseDir`.
 */
export function loadTrustedKeys(entries: string[], baseDir = process.cwd()): TrustedKeys {
  const out: TrustedKeys = new Map();
  for (const e of entries) {
    const p = path.resolve(baseDir, e);
    let files: string[];
    try {
      files = fs.statSync(p).isDirectory()
        ? fs.readdirSync(p).filter((f) => f.endsWith('.pub') || f.endsWith('.pem')).sort().map((f) => path.join(p, f))
        : [p];
    } catch (err) {
      throw new CodedError('MODEL_KEY_UNREADABLE', `trusted key path ${p}: ${errMessage(err)}`, { file: p });
    }
    for (const f of files) {
      const key = loadPublicKey(f);
      const keyId = keyIdOf(key);
      out.set(keyId, { keyId, file: f, key });
    }
  }
  return out;
}
