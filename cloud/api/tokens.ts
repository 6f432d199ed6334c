import crypto from 'node:crypto';
import { CodedError } from '../../lib/errors.ts';
import type { CloudDb } from '../db.ts';

/** Roles of API users. Each role includes the rights of those before it. */
export const ROLES = ['viewer', 'env', 'ops', 'admin'] as const;
export type Role = (typeof ROLES)[number];
export const ROLE_DESCRIPTIONS: Record<Role, string> = {
  viewer: 'read series, events, status, feeds',
  env: 'environmental staff: also acknowledge and resolve alerts',
  ops: 'operations: also devices, models and rollouts',
  admin: 'everything, including API tokens',
};

export function roleAtLeast(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

export interface TokenInfo { id: number; name: string; role: Role; created: number; revoked: number | null }

/**
 * API tokens: 32 random bytes shown once as `ce_<base64url>`; stored as SHA-256
 * (a token has 256 bits of entropy, so a slow hash adds nothing but latency per request).
 */
export class TokenStore {
  constructor(private readonly db: CloudDb) {}

  static hash(token: string): string {
    return crypto.createHash('sha256').update(token).digest('hex');
  }

  create(name: string, role: Role): { token: string; id: number } {
    if (!ROLES.includes(role)) throw new CodedError('TOKEN_BAD_ROLE', `role must be one of ${ROLES.join(', ')}`);
    const token = `ce_${crypto.randomBytes(32).toString('base64url')}`;
    const r = this.db.prepare('INSERT INTO api_tokens (name, role, hash, created) VALUES (?, ?, ?, ?)').run(name, role, TokenStore.hash(token), Date.now());
    return { token, id: Number(r.lastInsertRowid) };
  }

  /** The role of a valid token, or undefined. */
  lookup(token: string): { id: number; name: string; role: Role } | undefined {
    return this.db.prepare('SELECT id, name, role FROM api_tokens WHERE hash = ? AND revoked IS NULL').get(TokenStore.hash(token)) as { id: number; name: string; role: Role } | undefined;
  }

  revoke(id: number): boolean {
    return this.db.prepare('UPDATE api_tokens SET revoked = ? WHERE id = ? AND revoked IS NULL').run(Date.now(), id).changes > 0;
  }

  list(): TokenInfo[] {
    return this.db.prepare('SELECT id, name, role, created, revoked FROM api_tokens ORDER BY id').all() as TokenInfo[];
  }

  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM api_tokens WHERE revoked IS NULL').get() as { n: number }).n;
  }
}
