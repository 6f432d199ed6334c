import crypto from 'node:crypto';
import { promisify } from 'node:util';
import { CodedError } from '../../lib/errors.ts';
import type { CloudDb } from '../db.ts';
import { migrate, type SchemaComponent } from '../migrations.ts';
import { ROLES, type Role } from './tokens.ts';

/**
 * People who sign in to the console: name, role (the API's roles), scrypt password hash; their
 * sessions; and site metadata the console shows (location, time zone). The `console` component
 * of the cloud's migrations, applied by UserStore when it is built (a no-op when current).
 */
export const CONSOLE_SCHEMA: SchemaComponent = {
  component: 'console',
  migrations: [
    {
      version: 1,
      name: 'console users, sessions, site locations and time zones',
      up: `
CREATE TABLE users (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL,
  salt BLOB NOT NULL,
  hash BLOB NOT NULL,
  created INTEGER NOT NULL,
  updated INTEGER NOT NULL
);
CREATE TABLE sessions (
  id TEXT PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  csrf TEXT NOT NULL,
  created INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  expires INTEGER NOT NULL,
  address TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE TABLE site_info (
  site TEXT PRIMARY KEY,
  name TEXT,
  lat REAL,
  lon REAL,
  timezone TEXT,
  updated INTEGER NOT NULL
);
`,
    },
  ],
};

const scrypt = promisify(crypto.scrypt) as (pw: crypto.BinaryLike, salt: crypto.BinaryLike, len: number, opts: crypto.ScryptOptions) => Promise<Buffer>;
/** The device registry's scrypt parameters (cloud/devices/registry.ts): N=2^15, r=8, p=1, 32-byte key. */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const KEY_LEN = 32;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
export const MIN_PASSWORD = 10;

export interface UserInfo { id: number; name: string; role: Role; created: number; updated: number }

/** Console users: passwords stored only as scrypt hashes with a per-user salt, like device passwords. */
export class UserStore {
  constructor(private readonly db: CloudDb, private readonly now: () => number = Date.now) {
    migrate(db, [CONSOLE_SCHEMA]);
  }

  private static checkRole(role: string): Role {
    if (!ROLES.includes(role as Role)) throw new CodedError('USER_BAD_ROLE', `role must be one of ${ROLES.join(', ')}`);
    return role as Role;
  }

  private static checkPassword(pw: string): void {
    if (pw.length < MIN_PASSWORD) throw new CodedError('USER_WEAK_PASSWORD', `passwords must be at least ${MIN_PASSWORD} characters`);
  }

  /** Add a user; returns the password (generated when none is given; shown once, never stored). */
  async add(name: string, role: string, password?: string): Promise<{ user: UserInfo; password: string }> {
    if (!NAME_RE.test(name)) throw new CodedError('USER_BAD_NAME', `user name ${JSON.stringify(name)} must be 1–64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit`);
    const r = UserStore.checkRole(role);
    if (this.db.prepare('SELECT 1 FROM users WHERE name = ?').get(name)) throw new CodedError('USER_EXISTS', `user ${name} exists; change the password with \`cityedge user passwd\``, { status: 409 });
    const pw = password ?? crypto.randomBytes(12).toString('base64url');
    UserStore.checkPassword(pw);
    const salt = crypto.randomBytes(16);
    const hash = await scrypt(pw, salt, KEY_LEN, SCRYPT);
    const t = this.now();
    this.db.prepare('INSERT INTO users (name, role, salt, hash, created, updated) VALUES (?, ?, ?, ?, ?, ?)').run(name, r, salt, hash, t, t);
    return { user: this.get(name)!, password: pw };
  }

  /** New password; every session of the user ends. */
  async setPassword(name: string, password?: string): Promise<string> {
    if (!this.get(name)) throw new CodedError('USER_NOT_FOUND', `no user ${name}`, { status: 404 });
    const pw = password ?? crypto.randomBytes(12).toString('base64url');
    UserStore.checkPassword(pw);
    const salt = crypto.randomBytes(16);
    const hash = await scrypt(pw, salt, KEY_LEN, SCRYPT);
    this.db.transaction(() => {
      this.db.prepare('UPDATE users SET salt = ?, hash = ?, updated = ? WHERE name = ?').run(salt, hash, this.now(), name);
      this.db.prepare('DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = ?)').run(name);
    })();
    return pw;
  }

  setRole(name: string, role: string): UserInfo {
    const r = UserStore.checkRole(role);
    if (this.db.prepare('UPDATE users SET role = ?, updated = ? WHERE name = ?').run(r, this.now(), name).changes === 0) throw new CodedError('USER_NOT_FOUND', `no user ${name}`, { status: 404 });
    return this.get(name)!;
  }

  /** Remove a user and end their sessions. */
  remove(name: string): boolean {
    return this.db.transaction(() => {
      this.db.prepare('DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = ?)').run(name);
      return this.db.prepare('DELETE FROM users WHERE name = ?').run(name).changes > 0;
    })();
  }

  get(name: string): UserInfo | undefined {
    return this.db.prepare('SELECT id, name, role, created, updated FROM users WHERE name = ?').get(name) as UserInfo | undefined;
  }

  list(): UserInfo[] {
    return this.db.prepare('SELECT id, name, role, created, updated FROM users ORDER BY name').all() as UserInfo[];
  }

  /** The user when the password matches (constant time; unknown names are hashed too). */
  async verify(name: string, password: string): Promise<UserInfo | undefined> {
    const row = this.db.prepare('SELECT id, salt, hash FROM users WHERE name = ?').get(name) as { id: number; salt: Buffer; hash: Buffer } | undefined;
    const hash = await scrypt(password, row?.salt ?? Buffer.alloc(16), KEY_LEN, SCRYPT);
    if (!row || !crypto.timingSafeEqual(hash, row.hash)) return undefined;
    return this.get(name);
  }
}
