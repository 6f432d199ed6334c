/**
 * Model cards and the artifact manifest.
 *
 * A card (models/cards/<name>.json) says everything the detector needs to run a model
 * exactly like its reference recipe (../shared/data/models/MODEL_IO.md): input tensor,
 * colour order, normalisation, letterbox, decoder family, thresholds, and a golden
 * self-test. The weights are found through models/manifest.json (file relative to
 * <data dir>/models/) and their sha256 is verified before a session is created.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { CodedError } from '../lib/errors.ts';
import { validateConfig } from '../lib/config.ts';
import { dataDir, projectPath } from '../lib/data-dir.ts';

const Sha256 = Type.String({ pattern: '^[0-9a-f]{64}$' });
const Box = Type.Tuple([Type.Number(), Type.Number(), Type.Number(), Type.Number()]);
const Triple = Type.Tuple([Type.Number(), Type.Number(), Type.Number()]);

export const ModelCardSchema = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z0-9_.-]{1,64}$' }),
    version: Type.String({ minLength: 1 }),
    /** Manifest artifact holding the weights. */
    artifact: Type.String({ minLength: 1 }),
    description: Type.Optional(Type.String()),
    sha256: Sha256,
    input: Type.Object(
      {
        name: Type.String({ minLength: 1 }),
        /** NCHW; N must be 1 and C 3. */
        shape: Type.Tuple([Type.Literal(1), Type.Literal(3), Type.Integer({ minimum: 32 }), Type.Integer({ minimum: 32 })]),
        colorOrder: Type.Union([Type.Literal('RGB'), Type.Literal('BGR')]),
        /** Per channel in `colorOrder` order: x = (pixel - mean) / std, pixel in 0..255. */
        mean: Triple,
        std: Triple,
        /** `top-left`: YOLOX (paste at 0,0); `center`: NanoDet (pad both sides); `stretch`: no aspect keep. */
        letterbox: Type.Union([Type.Literal('top-left'), Type.Literal('center'), Type.Literal('stretch')]),
        padValue: Type.Integer({ minimum: 0, maximum: 255 }),
        /** `bilinear` = cv2.INTER_LINEAR, `area` = cv2.INTER_AREA. */
        resize: Type.Union([Type.Literal('bilinear'), Type.Literal('area')]),
      },
      { additionalProperties: false },
    ),
    decoder: Type.Object(
      {
        family: Type.Union([Type.Literal('yolox'), Type.Literal('nanodet')]),
        strides: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, maxItems: 5 }),
        /** NanoDet GFL: bins per side = regMax + 1. */
        regMax: Type.Optional(Type.Integer({ minimum: 1, maximum: 32 })),
        topKPerLevel: Type.Optional(Type.Integer({ minimum: 1 })),
        outputs: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
      },
      { additionalProperties: false },
    ),
    /** Manifest artifact with one class name per line (0-based model index). */
    labels: Type.String({ minLength: 1 }),
    thresholds: Type.Object(
      {
        score: Type.Number({ minimum: 0, maximum: 1 }),
        nms: Type.Number({ minimum: 0, maximum: 1 }),
        /** true: one NMS over all classes (both reference repos); false: NMS per class. */
        classAgnostic: Type.Boolean({ default: false }),
        maxDetections: Type.Integer({ minimum: 1, default: 100 }),
      },
      { additionalProperties: false },
    ),
    latencyBudgetMs: Type.Number({ minimum: 1 }),
    selfTest: Type.Object(
      {
        /** Relative to the data dir. */
        image: Type.String({ minLength: 1 }),
        minIoU: Type.Number({ minimum: 0, maximum: 1 }),
        expect: Type.Array(Type.Object({ class: Type.String(), box: Box }, { additionalProperties: false }), { minItems: 1 }),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export type ModelCard = Static<typeof ModelCardSchema>;

export const ManifestSchema = Type.Object(
  {
    version: Type.Literal(1),
    description: Type.Optional(Type.String()),
    artifacts: Type.Array(
      Type.Object(
        { name: Type.String({ minLength: 1 }), version: Type.String({ minLength: 1 }), file: Type.String({ minLength: 1 }), sha256: Sha256, sourceUrl: Type.String({ minLength: 1 }) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type Manifest = Static<typeof ManifestSchema>;

function readJson(file: string, code: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new CodedError('MODEL_CARD_NOT_FOUND', `cannot read ${file}: ${(err as Error).message}`, { file });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CodedError(code, `${file}: not valid JSON: ${(err as Error).message}`, { file });
  }
}

/** Validate a parsed card: schema first, then the cross-field rules the schema cannot say. */
export function validateCard(raw: unknown, source = 'model card'): ModelCard {
  const card = validateConfig(ModelCardSchema, raw, source, 'MODEL_CARD_INVALID');
  const problems: string[] = [];
  if (card.input.std.some((s) => s === 0)) problems.push('/input/std: must not contain 0');
  const d = card.decoder;
  if (d.family === 'nanodet') {
    if (d.regMax === undefined) problems.push('/decoder/regMax: required for nanodet');
    if (d.outputs.length !== 2 * d.strides.length) problems.push(`/decoder/outputs: nanodet needs cls and dis outputs per stride (${2 * d.strides.length}), got ${d.outputs.length}`);
  } else if (d.outputs.length !== 1) problems.push('/decoder/outputs: yolox has exactly one output');
  for (const s of d.strides) {
    if (card.input.shape[2] % s !== 0 || card.input.shape[3] % s !== 0) problems.push(`/decoder/strides: ${s} does not divide input ${card.input.shape[2]}x${card.input.shape[3]}`);
  }
  if (problems.length) throw new CodedError('MODEL_CARD_INVALID', `${source}: invalid model card:\n  ${problems.join('\n  ')}`, { source, problems });
  return card;
}

/** `ref` is a card name (models/cards/<name>.json) or a path to a card file. */
export function loadCard(ref: string): ModelCard {
  const file = ref.endsWith('.json') || ref.includes('/') ? path.resolve(ref) : projectPath('models', 'cards', `${ref}.json`);
  return validateCard(readJson(file, 'MODEL_CARD_INVALID'), file);
}

export function loadManifest(file = projectPath('models', 'manifest.json')): Manifest {
  return validateConfig(ManifestSchema, readJson(file, 'MODEL_MANIFEST_INVALID'), file, 'MODEL_MANIFEST_INVALID');
}

export function sha256File(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

export interface ResolveOptions {
  manifest?: Manifest;
  /** Folder the manifest's files are relative to; default <data dir>/models. */
  modelsDir?: string;
}

function artifactPath(manifest: Manifest, name: string, modelsDir: string, expectSha?: string): string {
  const a = manifest.artifacts.find((x) => x.name === name);
  if (!a) throw new CodedError('MODEL_NOT_IN_MANIFEST', `artifact "${name}" is not listed in the model manifest; add it to models/manifest.json`, { name });
  if (expectSha && expectSha !== a.sha256) {
    throw new CodedError('MODEL_DIGEST_MISMATCH', `card sha256 ${expectSha} differs from manifest sha256 ${a.sha256} of "${name}"; card and manifest must name the same weights`, { name, card: expectSha, manifest: a.sha256 });
  }
  const file = path.resolve(modelsDir, a.file);
  if (!fs.existsSync(file)) throw new CodedError('MODEL_FILE_MISSING', `model file ${file} (artifact "${name}") does not exist; check CITYEDGE_DATA`, { name, file });
  const actual = sha256File(file);
  if (actual !== a.sha256) {
    throw new CodedError('MODEL_DIGEST_MISMATCH', `${file}: sha256 ${actual} does not match the manifest (${a.sha256}); the file is damaged or not the listed artifact`, { name, file, expected: a.sha256, actual });
  }
  return file;
}

export interface ResolvedModel {
  card: ModelCard;
  modelPath: string;
  labels: string[];
}

/** Find weights + labels through the manifest, verifying sha256 of both. */
export function resolveModel(card: ModelCard, opts: ResolveOptions = {}): ResolvedModel {
  const manifest = opts.manifest ?? loadManifest();
  const modelsDir = opts.modelsDir ?? path.join(dataDir(), 'models');
  const modelPath = artifactPath(manifest, card.artifact, modelsDir, card.sha256);
  // Labels live next to the weights; a custom modelsDir (e.g. a site's own model folder) may omit them.
  const labelsEntry = manifest.artifacts.find((a) => a.name === card.labels);
  const labelsDir = labelsEntry && !fs.existsSync(path.resolve(modelsDir, labelsEntry.file)) ? path.join(dataDir(), 'models') : modelsDir;
  const labelsFile = artifactPath(manifest, card.labels, labelsDir);
  const labels = fs.readFileSync(labelsFile, 'utf8').split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  for (const e of card.selfTest.expect) {
    if (!labels.includes(e.class)) throw new CodedError('MODEL_CARD_INVALID', `card ${card.name}: self-test class "${e.class}" is not in labels "${card.labels}"`, { card: card.name });
  }
  return { card, modelPath, labels };
}
