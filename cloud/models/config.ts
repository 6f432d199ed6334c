import { Type, type Static } from '@sinclair/typebox';

/** `models:` block of the cloud config (see cloud/models/README.md). */
export const ModelsConfigSchema = Type.Object({
  trustedKeys: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'publisher public keys (.pub files or directories); when set, uploads must be signed by one of them' })),
  maxBundleBytes: Type.Integer({ minimum: 1024, default: 256 * 1024 * 1024 }),
  /** Base URL sites download from; empty: deploy commands carry a path relative to the site's registryUrl. */
  publicUrl: Type.String({ default: '' }),
  downloadTokenTtlSec: Type.Integer({ minimum: 60, default: 86_400 }),
  rollout: Type.Object({
    tickMs: Type.Integer({ minimum: 20, default: 1000 }),
    observeMs: Type.Integer({ minimum: 0, default: 120_000, description: 'how long a canary runs before its gates are evaluated' }),
    deployTimeoutMs: Type.Integer({ minimum: 1000, default: 600_000 }),
    resendMs: Type.Integer({ minimum: 500, default: 30_000, description: 'republish a deploy that has no result yet (same command id)' }),
    batchSize: Type.Integer({ minimum: 1, default: 20, description: 'sites deploying at once after the canary' }),
    statsRetentionMs: Type.Integer({ minimum: 60_000, default: 7 * 86_400_000 }),
  }, { additionalProperties: false, default: {} }),
}, { additionalProperties: false });
export type ModelsConfig = Static<typeof ModelsConfigSchema>;
