/**
 * Model bundles: one ustar file (tar.ts) holding, in this order,
 *   manifest.json   {format, name, version, family, created, selfTestInput, files:[{path,size,sha256}]}
 *   card.json       the model card (models/card.ts schema); card.sha256 = sha256(model.onnx)
 *   labels.txt      one class name per line
 *   model.onnx      the weights
 *   selftest.<ext>  golden input image for the card's self-test
 *   signature.json  {alg:'ed25519', keyId, publicKey (SPKI DER base64), signature (base64)} — added by `sign`
 * The signature is ed25519 over the exact bytes of manifest.json; the manifest pins every
 * other file by sha256, so one signature covers the whole bundle. See README.md.
 */
import crypto, { type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { CodedError, errMessage } from '../../lib/errors.ts';
import { dataDir } from '../../lib/data-dir.ts';
import { loadCard, loadManifest, resolveModel, validateCard, type Manifest, type ModelCard } from '../card.ts';
import { keyIdOf, type TrustedKeys } from './keys.ts';
import { readTar, writeTar, type TarEntry } from './tar.ts';

export const BUNDLE_FORMAT = 'cityedge-model-bundle/1';
const Sha = Type.String({ pattern: '^[0-9a-f]{64}$' });
const FileName = Type.String({ pattern: '^[a-z0-9_.-]{1,64}$' });

export const BundleManifestSchema = Type.Object({
  format: Type.Literal(BUNDLE_FORMAT),
  name: Type.String({ pattern: '^[a-z0-9_.-]{1,64}$' }),
  version: Type.String({ pattern: '^[A-Za-z0-9_.+-]{1,64}$' }),
  family: Type.String(),
  created: Type.Integer({ minimum: 0 }),
  selfTestInput: FileName,
  files: Type.Array(Type.Object({ path: FileName, size: Type.Integer({ minimum: 0 }), sha256: Sha }, { additionalProperties: false }), { minItems: 4, maxItems: 16 }),
}, { additionalProperties: false });
export type BundleManifest = Static<typeof BundleManifestSchema>;

export const SignatureSchema = Type.Object({
  alg: Type.Literal('ed25519'),
  keyId: Type.String({ pattern: '^[0-9a-f]{16}$' }),
  publicKey: Type.String({ maxLength: 200 }),
  signature: Type.String({ maxLength: 200 }),
}, { additionalProperties: false });
export type BundleSignature = Static<typeof SignatureSchema>;

const manifestCheck = TypeCompiler.Compile(BundleManifestSchema);
const sigCheck = TypeCompiler.Compile(SignatureSchema);
const REQUIRED = ['card.json', 'labels.txt', 'model.onnx'];

export const sha256 = (b: Buffer | Uint8Array): string => crypto.createHash('sha256').update(b).digest('hex');

export interface PackOptions {
  /** Card name or file. */
  card: string | ModelCard;
  /** Weights; default: resolved through models/manifest.json in the data dir. */
  weights?: string;
  labels?: string;
  /** Golden input; default <data dir>/<card.selfTest.image>. */
  selfTestImage?: string;
  /** Override the card's version (e.g. a retrained model under the same card). */
  version?: string;
  created?: number;
}

/** Build an unsigned bundle. Refuses weights whose sha256 differs from the card. */
export function packBundle(o: PackOptions): Buffer {
  let card = typeof o.card === 'string' ? loadCard(o.card) : validateCard(o.card);
  if (o.version) card = { ...card, version: o.version };
  let weightsFile = o.weights;
  let labelsFile = o.labels;
  if (!weightsFile || !labelsFile) {
    const manifest: Manifest = loadManifest();
    const resolved = resolveModel({ ...card }, { manifest });
    weightsFile ??= resolved.modelPath;
    labelsFile ??= path.join(dataDir(), 'models', manifest.artifacts.find((a) => a.name === card.labels)!.file);
  }
  const read = (f: string, what: string) => {
    try { return fs.readFileSync(f); } catch (err) { throw new CodedError('MODEL_FILE_MISSING', `cannot read ${what} ${f}: ${errMessage(err)}`, { file: f }); }
  };
  const weights = read(weightsFile, 'weights');
  const digest = sha256(weights);
  if (digest !== card.sha256) throw new CodedError('MODEL_DIGEST_MISMATCH', `weights ${weightsFile} have sha256 ${digest}, card ${card.name} says ${card.sha256}; pack the weights the card describes`, { file: weightsFile });
  const imgFile = o.selfTestImage ?? path.join(dataDir(), card.selfTest.image);
  const ext = (path.extname(imgFile).toLowerCase() || '.jpg').replace(/[^a-z0-9.]/g, '');
  const files: TarEntry[] = [
    { name: 'card.json', data: Buffer.from(JSON.stringify(card, null, 2) + '\n') },
    { name: 'labels.txt', data: read(labelsFile, 'labels') },
    { name: 'model.onnx', data: weights },
    { name: `selftest${ext}`, data: read(imgFile, 'self-test image') },
  ];
  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT, name: card.name, version: card.version, family: card.decoder.family, created: o.created ?? Date.now(),
    selfTestInput: `selftest${ext}`,
    files: files.map((f) => ({ path: f.name, size: f.data.length, sha256: sha256(f.data) })),
  };
  return writeTar([{ name: 'manifest.json', data: Buffer.from(JSON.stringify(manifest, null, 2) + '\n') }, ...files]);
}

/** Add (or replace) the publisher's signature over manifest.json. */
export function signBundle(bundle: Buffer, privateKey: KeyObject): Buffer {
  const entries = readTar(bundle).filter((e) => e.name !== 'signature.json');
  const manifest = entries.find((e) => e.name === 'manifest.json');
  if (!manifest) throw new CodedError('MODEL_BUNDLE_CORRUPT', 'bundle has no manifest.json; pack it with `cityedge model pack`');
  const pub = crypto.createPublicKey(privateKey);
  const sig: BundleSignature = {
    alg: 'ed25519',
    keyId: keyIdOf(pub),
    publicKey: pub.export({ type: 'spki', format: 'der' }).toString('base64'),
    signature: crypto.sign(null, manifest.data, privateKey).toString('base64'),
  };
  return writeTar([...entries, { name: 'signature.json', data: Buffer.from(JSON.stringify(sig) + '\n') }]);
}

export interface VerifiedBundle {
  manifest: BundleManifest;
  card: ModelCard;
  files: Map<string, Buffer>;
  keyId: string;
  /** sha256 of the whole bundle file (its content address in the registry). */
  digest: string;
  size: number;
}

function parseJson(data: Buffer | undefined, what: string): unknown {
  if (!data) throw new CodedError('MODEL_BUNDLE_INCOMPLETE', `bundle has no ${what}`, { file: what });
  try { return JSON.parse(data.toString('utf8')); } catch (err) { throw new CodedError('MODEL_BUNDLE_CORRUPT', `${what} is not JSON: ${errMessage(err)}`, { file: what }); }
}

/**
 * Verify structure, signature and digests. `trusted` null checks integrity only (the signature
 * must still be valid for its embedded key); otherwise the key must be one of `trusted`.
 * Codes: MODEL_BUNDLE_CORRUPT, MODEL_BUNDLE_INCOMPLETE, MODEL_BUNDLE_UNSIGNED, MODEL_SIGNATURE_INVALID,
 * MODEL_UNTRUSTED_KEY, MODEL_DIGEST_MISMATCH, MODEL_CARD_INVALID.
 */
export function verifyBundle(bundle: Buffer, trusted: TrustedKeys | null): VerifiedBundle {
  const files = new Map(readTar(bundle).map((e) => [e.name, e.data]));
  const manifestBytes = files.get('manifest.json');
  const manifest = parseJson(manifestBytes, 'manifest.json');
  if (!manifestCheck.Check(manifest)) {
    const e = manifestCheck.Errors(manifest).First();
    throw new CodedError('MODEL_BUNDLE_CORRUPT', `manifest.json ${e?.path || '/'}: ${e?.message}`, { file: 'manifest.json' });
  }
  const sigRaw = files.get('signature.json');
  if (!sigRaw) throw new CodedError('MODEL_BUNDLE_UNSIGNED', `bundle ${manifest.name}@${manifest.version} is not signed; sign it with \`cityedge model sign --key <publisher.key>\``);
  const sig = parseJson(sigRaw, 'signature.json');
  if (!sigCheck.Check(sig)) throw new CodedError('MODEL_SIGNATURE_INVALID', 'signature.json does not match its schema', { file: 'signature.json' });
  let pub: KeyObject;
  try {
    pub = crypto.createPublicKey({ key: Buffer.from(sig.publicKey, 'base64'), format: 'der', type: 'spki' });
  } catch {
    throw new CodedError('MODEL_SIGNATURE_INVALID', 'signature.json carries an unreadable public key');
  }
  if (pub.asymmetricKeyType !== 'ed25519' || keyIdOf(pub) !== sig.keyId) throw new CodedError('MODEL_SIGNATURE_INVALID', `signature key id ${sig.keyId} does not match the embedded ed25519 key`, { keyId: sig.keyId });
  let ok = false;
  try { ok = crypto.verify(null, manifestBytes!, pub, Buffer.from(sig.signature, 'base64')); } catch { ok = false; }
  if (!ok) throw new CodedError('MODEL_SIGNATURE_INVALID', `signature of ${manifest.name}@${manifest.version} does not verify against key ${sig.keyId}: the manifest was changed after signing or the signature was forged`, { keyId: sig.keyId });
  if (trusted && !trusted.has(sig.keyId)) {
    throw new CodedError('MODEL_UNTRUSTED_KEY', `bundle ${manifest.name}@${manifest.version} is signed by key ${sig.keyId}, which this site does not trust (trusted: ${[...trusted.keys()].join(', ') || 'none'}); add the publisher's .pub to the trusted keys`, { keyId: sig.keyId });
  }
  const listed = new Set(manifest.files.map((f) => f.path));
  for (const r of [...REQUIRED, manifest.selfTestInput]) if (!listed.has(r)) throw new CodedError('MODEL_BUNDLE_INCOMPLETE', `manifest does not list ${r}`, { file: r });
  for (const name of files.keys()) if (name !== 'manifest.json' && name !== 'signature.json' && !listed.has(name)) throw new CodedError('MODEL_BUNDLE_CORRUPT', `bundle holds ${name}, which the manifest does not list`, { file: name });
  for (const f of manifest.files) {
    const data = files.get(f.path);
    if (!data) throw new CodedError('MODEL_BUNDLE_INCOMPLETE', `bundle lacks ${f.path}, which the manifest lists`, { file: f.path });
    const d = sha256(data);
    if (data.length !== f.size || d !== f.sha256) throw new CodedError('MODEL_DIGEST_MISMATCH', `${f.path}: sha256 ${d} (${data.length} B) differs from the signed manifest (${f.sha256}, ${f.size} B); the bundle was altered`, { file: f.path, expected: f.sha256, actual: d });
  }
  const card = validateCard(parseJson(files.get('card.json'), 'card.json'), `${manifest.name}@${manifest.version} card.json`);
  if (card.name !== manifest.name || card.version !== manifest.version) throw new CodedError('MODEL_CARD_INVALID', `card names ${card.name}@${card.version}, manifest ${manifest.name}@${manifest.version}`);
  if (card.sha256 !== sha256(files.get('model.onnx')!)) throw new CodedError('MODEL_DIGEST_MISMATCH', `card sha256 ${card.sha256} is not the sha256 of model.onnx`, { file: 'card.json' });
  return { manifest, card, files, keyId: sig.keyId, digest: sha256(bundle), size: bundle.length };
}

/** The detector-loader view of an extracted bundle (models/card.ts ResolveOptions). */
export function resolveOptionsFor(v: Pick<VerifiedBundle, 'card' | 'manifest'>, dir: string): { manifest: Manifest; modelsDir: string } {
  const digest = (p: string) => v.manifest.files.find((f) => f.path === p)!.sha256;
  return {
    modelsDir: dir,
    manifest: {
      version: 1,
      artifacts: [
        { name: v.card.artifact, version: v.card.version, file: 'model.onnx', sha256: digest('model.onnx'), sourceUrl: `bundle:${v.card.name}@${v.card.version}` },
        { name: v.card.labels, version: v.card.version, file: 'labels.txt', sha256: digest('labels.txt'), sourceUrl: `bundle:${v.card.name}@${v.card.version}` },
      ],
    },
  };
}

/** Write the verified files into `dir` (created via a temp dir + rename, so it is complete or absent). */
export function extractBundle(v: VerifiedBundle, dir: string): void {
  if (fs.existsSync(path.join(dir, 'manifest.json'))) return;
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  for (const [name, data] of v.files) fs.writeFileSync(path.join(tmp, name), data);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
}

/** Re-check an extracted bundle directory against its manifest (after a restart). */
export function checkExtracted(dir: string): { manifest: BundleManifest; card: ModelCard } {
  const manifest = parseJson(fs.existsSync(path.join(dir, 'manifest.json')) ? fs.readFileSync(path.join(dir, 'manifest.json')) : undefined, 'manifest.json');
  if (!manifestCheck.Check(manifest)) throw new CodedError('MODEL_BUNDLE_CORRUPT', `${dir}/manifest.json does not match its schema`);
  for (const f of manifest.files) {
    const p = path.join(dir, f.path);
    if (!fs.existsSync(p) || sha256(fs.readFileSync(p)) !== f.sha256) throw new CodedError('MODEL_DIGEST_MISMATCH', `${p} is missing or differs from its manifest`, { file: p });
  }
  return { manifest, card: validateCard(JSON.parse(fs.readFileSync(path.join(dir, 'card.json'), 'utf8'))) };
}
