import { Type, type Static } from '@sinclair/typebox';

/** Config block of the `model-manager` source (one per site; see README.md). */
export const ModelManagerConfigSchema = Type.Object({
  type: Type.Literal('model-manager'),
  id: Type.String({ minLength: 1 }),
  slot: Type.String({ default: 'main', description: 'slot name the camera sources use' }),
  trustedKeys: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'publisher public keys (.pub PEM files or directories of them), relative to the config file' }),
  registryUrl: Type.Optional(Type.String({ description: 'cloud HTTP base URL; deploy commands carry a path below it' })),
  initial: Type.Optional(Type.Object({
    card: Type.Optional(Type.String({ description: 'repository card name used until the first deploy' })),
    bundle: Type.Optional(Type.String({ description: 'signed bundle file used until the first deploy' })),
  }, { additionalProperties: false })),
  threads: Type.Integer({ minimum: 1, maximum: 16, default: 1 }),
  keepPreviousLoaded: Type.Boolean({ default: true, description: 'keep the previous model loaded for an instant rollback' }),
  resumePending: Type.Boolean({ default: true, description: 'after a restart, resume a deploy that was interrupted' }),
  statsIntervalMs: Type.Integer({ minimum: 100, default: 10_000 }),
  download: Type.Object({
    maxBytesPerSec: Type.Optional(Type.Integer({ minimum: 1024 })),
    retries: Type.Integer({ minimum: 0, maximum: 20, default: 3 }),
  }, { additionalProperties: false, default: {} }),
  selfTest: Type.Object({
    runs: Type.Integer({ minimum: 1, maximum: 20, default: 3 }),
    latencyFactor: Type.Number({ exclusiveMinimum: 0, default: 1.5, description: 'best self-test run must be ≤ card budget × this' }),
  }, { additionalProperties: false, default: {} }),
}, { additionalProperties: false });
export type ModelManagerConfig = Static<typeof ModelManagerConfigSchema>;
