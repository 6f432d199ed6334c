import crypto from 'node:crypto';
import { promisify } from 'node:util';
import { CodedError } from '../../lib/errors.ts';
import { isValidSiteId } from '../../protocol/topics.ts';
import type { CloudDb } from '../db.ts';

const scrypt = promisify(crypto.scrypt) as (pw: crypto.BinaryLike, salt: crypto.BinaryLike, len: number, opts: crypto.ScryptOptions) => Promise<Buffer>;
/** scrypt parameters (OWASP: N=2^17 r=8 p=1 for interactive logins; devices log in rarely, 2^15 keeps a broker restart storm cheap). */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const KEY_LEN = 32;

export interface DeviceInfo { site: string; created: number; revoked: number | null }

/**
 * Device credentials of street sites: one MQTT identity per site (username = site id),
 * the password stored only as an scrypt hash with a per-device salt.
 */
export class DeviceRegistry {
  constructor(private readonly db: CloudDb) {}

  /** Provision a site; returns the generated password (shown once, never stored). */
  async add(site: string, password?: string): Promise<string> {
    if (!isValidSiteId(site)) throw new CodedError('DEVICE_BAD_SITE', `site id ${JSON.stringify(site)} must be lowercase letters, digits and '-', 1–63 chars, starting with a letter or digit`);
    // The cloud's own broker users (cityedge-ingest, cityedge-ingest-<n> in docker/mosquitto/acl) read
    // every site's topics: a device must never be provisioned under such a name.
    if (site === 'cityedge' || site.startsWith('cityedge-')) throw new CodedError('DEVICE_RESERVED_SITE', `site id ${JSON.stringify(site)} is reserved for the cloud's own broker users (cityedge-*); choose another name`);
    const existing = this.db.prepare('SELECT revoked FROM devices WHERE site = ?').get(site) as { revoked: number | null } | undefined;
    if (existing && existing.revoked === null) throw new CodedError('DEVICE_EXISTS', `site ${site} is already provisioned; revoke it first to issue new credentials`, { status: 409 });
    const pw = password ?? crypto.randomBytes(18).toString('base64url');
    if (pw.length < 12) throw new CodedError('DEVICE_WEAK_PASSWORD', 'device passwords must be at least 12 characters');
    const salt = crypto.randomBytes(16);
    const hash = await scrypt(pw, salt, KEY_LEN, SCRYPT);
    this.db.prepare('INSERT INTO devices (site, salt, hash, created, revoked) VALUES (?, ?, ?, ?, NULL) ON CONFLICT(site) DO UPDATE SET salt = excluded.salt, hash = excluded.hash, created = excluded.created, revoked = NULL')
      .run(site, salt, hash, Date.now());
    return pw;
  }

  /** True when the site exists, is not revoked and the password matches (constant-time compare). */
  async verify(site: string, password: Buffer | string | undefined): Promise<boolean> {
    const row = this.db.prepare('SELECT salt, hash, revoked FROM devices WHERE site = ?').get(site) as { salt: Buffer; hash: Buffer; revoked: number | null } | undefined;
    // Hash even for unknown sites so timing does not tell which sites exist.
    const salt = row?.salt ?? Buffer.alloc(16);
    const hash = await scrypt(password ?? '', salt, KEY_LEN, SCRYPT);
    if (!row || row.revoked !== null || !password) return false;
    return crypto.timingSafeEqual(hash, row.hash);
  }

  revoke(site: string): boolean {
    return this.db.prepare('UPDATE devices SET revoked = ? WHERE site = ? AND revoked IS NULL').run(Date.now(), site).changes > 0;
  }

  isActive(site: string): boolean {
    const row = this.db.prepare('SELECT revoked FROM devices WHERE site = ?').get(site) as { revoked: number | null } | undefined;
    return !!row && row.revoked === null;
  }

  list(): DeviceInfo[] {
    return this.db.prepare('SELECT site, created, revoked FROM devices ORDER BY site').all() as DeviceInfo[];
  }

  /** Sites revoked after `since` (ms) — the broker polls this to cut revoked devices off. */
  revokedSince(since: number): string[] {
    return (this.db.prepare('SELECT site FROM devices WHERE revoked > ?').all(since) as Array<{ site: string }>).map((r) => r.site);
  }
}
