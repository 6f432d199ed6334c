import crypto from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { validateConfig } from '../../lib/config.ts';
import type { CloudDb } from '../db.ts';
import type { Role } from './tokens.ts';
import { CONSOLE_SCHEMA } from './users.ts';
import { migrate } from '../migrations.ts';

/** The `console:` block of the cloud config (sessions of people signed in to the console). */
export const ConsoleConfigSchema = Type.Object({
  session: Type.Object({
    idleMinutes: Type.Number({ minimum: 1, default: 30, description: 'a session unused this long ends' }),
    absoluteHours: Type.Number({ minimum: 0.01, default: 12, description: 'a session ends this long after sign-in, used or not' }),
  }, { additionalProperties: false, default: {} }),
  secureCookie: Type.Union([Type.Literal('auto'), Type.Literal('always'), Type.Literal('never')], { default: 'auto', description: 'auto: Secure when the request came over TLS (or X-Forwarded-Proto https behind trustProxy)' }),
  streamPollMs: Type.Integer({ minimum: 50, maximum: 10_000, default: 250, description: 'how often the live stream looks for new alerts, events and site status' }),
  timezone: Type.String({ default: 'Asia/Shanghai', description: 'time zone of sites without their own (PUT /api/v1/sites/:site/info)' }),
  assetsDir: Type.Optional(Type.String({ description: 'built console (default: dist/console of the package)' })),
}, { additionalProperties: false, default: {} });
export type ConsoleConfig = Static<typeof ConsoleConfigSchema>;

export function parseConsoleConfig(raw: unknown): ConsoleConfig {
  return validateConfig(ConsoleConfigSchema, raw ?? {}, 'cloud config /console', 'CONSOLE_CONFIG_INVALID');
}

export const SESSION_COOKIE = 'ce_session';
export const CSRF_HEADER = 'x-csrf-token';

export interface SessionPrincipal { id: number; name: string; role: Role; csrf: string; created: number; expires: number; idleExpires: number }

const hashId = (id: string) => crypto.createHash('sha256').update(id).digest('hex');
/** Sessions touch last_seen at most this often (one write per request would be wasteful). */
const TOUCH_MS = 10_000;

/**
 * Server-side sessions: the cookie holds 32 random bytes; the table holds their SHA-256 (a stolen
 * database gives no usable cookies), the user, a CSRF synchronizer token, and the idle and
 * absolute expiry. An expired session is deleted when it is next presented.
 */
export class SessionStore {
  private readonly idleMs: number;
  private readonly absoluteMs: number;
  constructor(private readonly db: CloudDb, cfg: ConsoleConfig['session'], private readonly now: () => number = Date.now) {
    migrate(db, [CONSOLE_SCHEMA]);
    this.idleMs = cfg.idleMinutes * 60_000;
    this.absoluteMs = cfg.absoluteHours * 3_600_000;
  }

  get maxAgeSec(): number { return Math.ceil(this.absoluteMs / 1000); }

  create(userId: number, address?: string): { id: string; csrf: string } {
    const id = crypto.randomBytes(32).toString('base64url');
    const csrf = crypto.randomBytes(24).toString('base64url');
    const t = this.now();
    this.db.prepare('INSERT INTO sessions (id, user_id, csrf, created, last_seen, expires, address) VALUES (?, ?, ?, ?, ?, ?, ?)').run(hashId(id), userId, csrf, t, t, t + this.absoluteMs, address ?? null);
    if (Math.random() < 0.05) this.prune();
    return { id, csrf };
  }

  lookup(id: string): SessionPrincipal | undefined {
    const h = hashId(id);
    const r = this.db.prepare('SELECT s.user_id, s.csrf, s.created, s.last_seen, s.expires, u.name, u.role FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ?').get(h) as
      { user_id: number; csrf: string; created: number; last_seen: number; expires: number; name: string; role: Role } | undefined;
    if (!r) return undefined;
    const t = this.now();
    if (t >= r.expires || t - r.last_seen >= this.idleMs) {
      this.db.prepare('DELETE FROM sessions WHERE id = ?').run(h);
      return undefined;
    }
    let lastSeen = r.last_seen;
    if (t - r.last_seen >= TOUCH_MS) { this.db.prepare('UPDATE sessions SET last_seen = ? WHERE id = ?').run(t, h); lastSeen = t; }
    return { id: r.user_id, name: r.name, role: r.role, csrf: r.csrf, created: r.created, expires: r.expires, idleExpires: Math.min(r.expires, lastSeen + this.idleMs) };
  }

  destroy(id: string): boolean {
    return this.db.prepare('DELETE FROM sessions WHERE id = ?').run(hashId(id)).changes > 0;
  }

  /** Delete expired sessions. */
  prune(): number {
    const t = this.now();
    return this.db.prepare('DELETE FROM sessions WHERE expires <= ? OR last_seen <= ?').run(t, t - this.idleMs).changes;
  }

  static csrfMatches(expected: string, got: string | undefined): boolean {
    if (!got) return false;
    const a = Buffer.from(expected);
    const b = Buffer.from(got);
    return a.length === b.length && crypto.timingSafeEqual(a, b);
  }
}

/** The value of one cookie in a Cookie header. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return undefined;
}
