import crypto from 'node:crypto';
import net from 'node:net';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../../lib/log.ts';

/** `security.authFailures` in the cloud config (cloud/config.ts). */
export interface AuthFailuresConfig {
  /** Failures of one username within windowMs that start a back-off. */
  max: number;
  /** Failures from one remote address within windowMs that start a back-off. */
  maxPerAddress: number;
  windowMs: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Records kept per key space (usernames, addresses); the least recently seen go first. */
  maxTracked: number;
}

export const DEFAULT_AUTH_FAILURES: AuthFailuresConfig = { max: 5, maxPerAddress: 20, windowMs: 60_000, baseDelayMs: 1000, maxDelayMs: 300_000, maxTracked: 10_000 };

interface Entry {
  /** Times of the latest failures within the window (at most `max`). */
  hits: number[];
  /** Back-offs started so far: the next one lasts baseDelayMs · 2^strikes. */
  strikes: number;
  blockedUntil: number;
}

/**
 * Failure records of one key space (usernames or addresses).
 *
 * - The `max`-th failure within a sliding `windowMs` starts a back-off of `baseDelayMs`. From then
 *   on, while the record lives, every further failure starts a back-off twice as long as the
 *   previous one, up to `maxDelayMs`.
 * - Attempts during a back-off are refused by the caller without checking credentials and are
 *   not counted (they neither extend the back-off nor reveal anything).
 * - A record is forgotten `windowMs` after its last failure or the end of its back-off, whichever
 *   is later, and by `forget` (a successful login).
 * - At most `maxTracked` records (a Map in least-recently-seen order): a new one evicts the oldest
 *   record that is not in a back-off (of the 32 oldest; failing that, the oldest).
 */
export class FailureTracker {
  private readonly entries = new Map<string, Entry>();
  constructor(private readonly max: number, private readonly cfg: Pick<AuthFailuresConfig, 'windowMs' | 'baseDelayMs' | 'maxDelayMs' | 'maxTracked'>, private readonly now: () => number = Date.now) {}

  get size(): number { return this.entries.size; }

  /** Milliseconds left of the key's back-off, 0 when it may try. */
  blockedFor(key: string): number {
    const e = this.live(key);
    if (!e) return 0;
    const left = e.blockedUntil - this.now();
    if (left <= 0) return 0;
    this.touch(key, e); // a key under attack stays remembered
    return left;
  }

  /** Record a failure; returns the back-off it started (ms) or 0. */
  fail(key: string): number {
    const now = this.now();
    const e = this.live(key) ?? { hits: [], strikes: 0, blockedUntil: 0 };
    const since = now - this.cfg.windowMs;
    e.hits = e.hits.filter((t) => t > since);
    e.hits.push(now);
    if (e.hits.length > this.max) e.hits.shift();
    let delay = 0;
    if (e.strikes > 0 || e.hits.length >= this.max) {
      delay = Math.min(this.cfg.maxDelayMs, this.cfg.baseDelayMs * 2 ** Math.min(e.strikes, 40));
      e.strikes++;
      e.blockedUntil = now + delay;
    }
    this.touch(key, e);
    return delay;
  }

  forget(key: string): void { this.entries.delete(key); }

  private live(key: string): Entry | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    const last = Math.max(e.hits[e.hits.length - 1] ?? 0, e.blockedUntil);
    if (this.now() - last >= this.cfg.windowMs) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }

  private touch(key: string, e: Entry): void {
    this.entries.delete(key);
    this.entries.set(key, e);
    if (this.entries.size <= this.cfg.maxTracked) return;
    const now = this.now();
    let victim: string | undefined;
    let seen = 0;
    for (const [k, v] of this.entries) {
      victim ??= k;
      if (v.blockedUntil <= now && k !== key) { victim = k; break; }
      if (++seen >= 32) break;
    }
    if (victim !== undefined) this.entries.delete(victim);
  }
}

/** The key of a remote address: IPv4 as is (also when IPv4-mapped), IPv6 by its /64 (one host usually has a whole /64). */
export function addressKey(address: string | undefined): string {
  if (!address) return 'unknown';
  const a = address.startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
  if (!net.isIPv6(a)) return a;
  const [head, tail = ''] = a.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = a.includes('::') ? [...h, ...new Array(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t] : h;
  return `${groups.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}

/** Usernames are keyed as they are up to 128 characters, longer ones by a hash (MQTT allows 64 KiB). */
function userKey(username: string): string {
  return username.length <= 128 ? username : `sha256:${crypto.createHash('sha256').update(username).digest('hex')}`;
}

export type Surface = 'mqtt' | 'api';
export interface Throttled { scope: 'username' | 'address'; retryAfterMs: number }

function throttledCounter(registry: Registry): Counter<'surface' | 'scope'> {
  const name = 'cityedge_auth_throttled_total';
  return (registry.getSingleMetric(name) as Counter<'surface' | 'scope'> | undefined)
    ?? new Counter({ name, help: 'authentication attempts refused without checking credentials, during a back-off after repeated failures', labelNames: ['surface', 'scope'], registers: [registry] });
}

/**
 * Back-off on repeated authentication failures, per username and per remote address, for one
 * surface (the embedded broker's CONNECT, the API's bearer tokens). Callers: `check` before
 * verifying credentials (refuse quickly when it returns something), then `failure` or `success`.
 */
export class AuthThrottle {
  private readonly users: FailureTracker;
  private readonly addresses: FailureTracker;
  private readonly throttled: Counter<'surface' | 'scope'>;

  constructor(cfg: AuthFailuresConfig, private readonly surface: Surface, registry: Registry, private readonly log?: Logger, now: () => number = Date.now) {
    this.users = new FailureTracker(cfg.max, cfg, now);
    this.addresses = new FailureTracker(cfg.maxPerAddress, cfg, now);
    this.throttled = throttledCounter(registry);
  }

  /** Records held (usernames + addresses). */
  size(): number { return this.users.size + this.addresses.size; }

  /** Undefined when this attempt may go ahead; otherwise it is refused (and counted). */
  check(username: string | undefined, address: string | undefined): Throttled | undefined {
    const a = this.addresses.blockedFor(addressKey(address));
    const out: Throttled | undefined = a > 0 ? { scope: 'address', retryAfterMs: a }
      : username !== undefined && this.users.blockedFor(userKey(username)) > 0 ? { scope: 'username', retryAfterMs: this.users.blockedFor(userKey(username)) }
      : undefined;
    if (out) this.throttled.inc({ surface: this.surface, scope: out.scope });
    return out;
  }

  failure(username: string | undefined, address: string | undefined): void {
    const aKey = addressKey(address);
    const a = this.addresses.fail(aKey);
    if (a) this.log?.warn({ code: 'AUTH_THROTTLED', surface: this.surface, address: aKey, backoffMs: a }, `repeated authentication failures from ${aKey}: further attempts from it are refused for ${a} ms`);
    if (username === undefined) return;
    const u = this.users.fail(userKey(username));
    if (u) this.log?.warn({ code: 'AUTH_THROTTLED', surface: this.surface, username: username.slice(0, 128), address: aKey, backoffMs: u }, `repeated authentication failures for ${JSON.stringify(username.slice(0, 128))}: further attempts with it are refused for ${u} ms`);
  }

  /** A successful login clears the username's record (not the address's: one good credential must not reset a guesser's address). */
  success(username: string): void {
    this.users.forget(userKey(username));
  }
}
