/**
 * Model registry storage: bundles as content-addressed files `<dataDir>/models/blobs/<aa>/<sha256>.bundle`
 * (same bytes → same file), metadata in the cloud SQLite DB. An upload is streamed to a temp file with
 * a size cap, verified (structure, digests, signature, and trust when trusted keys are configured), and
 * only then moved into place. A name@version is immutable: re-uploading other bytes under it is a 409.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { CodedError, errMessage } from '../../lib/errors.ts';
import { verifyBundle } from '../../models/bundle/bundle.ts';
import type { TrustedKeys } from '../../models/bundle/keys.ts';
import type { CloudDb } from '../db.ts';
import { migrate } from '../migrations.ts';
import { MODELS_SCHEMA } from './schema.ts';

export interface BundleRow {
  name: string;
  version: string;
  digest: string;
  size: number;
  keyId: string;
  family: string;
  latencyBudgetMs: number;
  card: unknown;
  created: number;
  uploadedBy: string;
}

export class ModelRegistry {
  readonly blobs: string;
  constructor(private readonly db: CloudDb, dataDir: string, private readonly trusted: TrustedKeys | null) {
    this.blobs = path.join(dataDir, 'models', 'blobs');
    fs.mkdirSync(this.blobs, { recursive: true });
    migrate(db, [MODELS_SCHEMA]); // a no-op when the cloud applied it at start
  }

  blobPath(digest: string): string {
    return path.join(this.blobs, digest.slice(0, 2), `${digest}.bundle`);
  }

  /** Stream an upload in (size-capped), verify, store. Idempotent for identical bytes. */
  async put(body: Readable, maxBytes: number, by: string): Promise<BundleRow & { stored: boolean }> {
    const tmp = path.join(this.blobs, `upload-${crypto.randomUUID()}.tmp`);
    const hash = crypto.createHash('sha256');
    let size = 0;
    const fd = fs.openSync(tmp, 'w');
    try {
      for await (const chunk of body) {
        size += (chunk as Buffer).length;
        if (size > maxBytes) throw new CodedError('MODEL_BUNDLE_TOO_LARGE', `bundle exceeds ${maxBytes} B (models.maxBundleBytes)`, { status: 413 });
        hash.update(chunk as Buffer);
        fs.writeSync(fd, chunk as Buffer);
      }
      fs.fsyncSync(fd);
    } catch (err) {
      fs.closeSync(fd);
      fs.rmSync(tmp, { force: true });
      if (err instanceof CodedError) throw err;
      throw new CodedError('MODEL_UPLOAD_FAILED', `upload broke off after ${size} B: ${errMessage(err)}`);
    }
    fs.closeSync(fd);
    try {
      const digest = hash.digest('hex');
      let v;
      try {
        v = verifyBundle(fs.readFileSync(tmp), this.trusted);
      } catch (err) {
        const code = (err as CodedError).code ?? 'MODEL_BUNDLE_CORRUPT';
        throw new CodedError(code, errMessage(err), { status: code === 'MODEL_UNTRUSTED_KEY' ? 403 : 422 });
      }
      const existing = this.get(v.manifest.name, v.manifest.version);
      if (existing) {
        if (existing.digest !== digest) throw new CodedError('MODEL_VERSION_EXISTS', `${v.manifest.name}@${v.manifest.version} is already in the registry with other bytes (${existing.digest.slice(0, 12)}…); versions are immutable, publish a new version`, { status: 409 });
        return { ...existing, stored: false };
      }
      const dest = this.blobPath(digest);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.renameSync(tmp, dest);
      const row: BundleRow = { name: v.manifest.name, version: v.manifest.version, digest, size, keyId: v.keyId, family: v.manifest.family, latencyBudgetMs: v.card.latencyBudgetMs, card: v.card, created: Date.now(), uploadedBy: by };
      this.db.prepare('INSERT INTO model_bundles (name, version, digest, size, key_id, family, budget, card, created, uploaded_by) VALUES (?,?,?,?,?,?,?,?,?,?)')
        .run(row.name, row.version, digest, size, row.keyId, row.family, row.latencyBudgetMs, JSON.stringify(v.card), row.created, by);
      return { ...row, stored: true };
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }

  private static row(r: Record<string, unknown>): BundleRow {
    return { name: r.name as string, version: r.version as string, digest: r.digest as string, size: r.size as number, keyId: r.key_id as string, family: r.family as string, latencyBudgetMs: r.budget as number, card: JSON.parse(r.card as string), created: r.created as number, uploadedBy: r.uploaded_by as string };
  }

  get(name: string, version: string): BundleRow | undefined {
    const r = this.db.prepare('SELECT * FROM model_bundles WHERE name = ? AND version = ?').get(name, version) as Record<string, unknown> | undefined;
    return r ? ModelRegistry.row(r) : undefined;
  }

  byDigest(digest: string): BundleRow | undefined {
    const r = this.db.prepare('SELECT * FROM model_bundles WHERE digest = ?').get(digest) as Record<string, unknown> | undefined;
    return r ? ModelRegistry.row(r) : undefined;
  }

  list(name?: string): BundleRow[] {
    const rows = (name ? this.db.prepare('SELECT * FROM model_bundles WHERE name = ? ORDER BY created').all(name) : this.db.prepare('SELECT * FROM model_bundles ORDER BY name, created').all()) as Array<Record<string, unknown>>;
    return rows.map(ModelRegistry.row);
  }
}
