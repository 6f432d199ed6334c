import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cloud } from '../cloud.ts';
import { openCloudDb } from '../db.ts';
import { tempDir } from '../../test/peers/ports.ts';
import { ingest, PASSWORD, startConsoleCloud, status } from '../../test/support/console.ts';
import { SessionStore } from './sessions.ts';
import { UserStore } from './users.ts';
import path from 'node:path';

describe('console users and sessions (stores)', () => {
  it('hashes passwords with scrypt, verifies, changes, removes; sessions expire idle and absolute', async () => {
    const db = openCloudDb(path.join(tempDir('sessions-'), 'cloud.db'));
    let t = 1_000_000;
    const users = new UserStore(db, () => t);
    const { user, password } = await users.add('li.wei', 'env');
    expect(password.length).toBeGreaterThanOrEqual(10);
    expect(JSON.stringify(db.prepare('SELECT * FROM users').all())).not.toContain(password);
    expect(await users.verify('li.wei', password)).toMatchObject({ name: 'li.wei', role: 'env' });
    expect(await users.verify('li.wei', 'wrong password')).toBeUndefined();
    expect(await users.verify('nobody', password)).toBeUndefined();
    await expect(users.add('li.wei', 'env')).rejects.toMatchObject({ code: 'USER_EXISTS' });
    await expect(users.add('x', 'root')).rejects.toMatchObject({ code: 'USER_BAD_ROLE' });
    await expect(users.add('y', 'env', 'short')).rejects.toMatchObject({ code: 'USER_WEAK_PASSWORD' });

    const sessions = new SessionStore(db, { idleMinutes: 30, absoluteHours: 2 }, () => t);
    const a = sessions.create(user.id);
    expect(db.prepare('SELECT id FROM sessions').pluck().get()).not.toBe(a.id); // stored hashed
    expect(sessions.lookup(a.id)).toMatchObject({ name: 'li.wei', role: 'env', csrf: a.csrf });
    t += 29 * 60_000;
    expect(sessions.lookup(a.id)).toBeDefined(); // used: idle clock restarts
    t += 29 * 60_000;
    expect(sessions.lookup(a.id)).toBeDefined();
    t += 31 * 60_000;
    expect(sessions.lookup(a.id)).toBeUndefined(); // idle 31 min
    const b = sessions.create(user.id);
    for (let i = 0; i < 4; i++) { t += 25 * 60_000; expect(sessions.lookup(b.id)).toBeDefined(); }
    t += 25 * 60_000;
    expect(sessions.lookup(b.id)).toBeUndefined(); // 2 h 5 min after sign-in, used all along
    const c = sessions.create(user.id);
    await users.setPassword('li.wei', 'a new password here');
    expect(sessions.lookup(c.id)).toBeUndefined(); // a new password ends sessions
    const d = sessions.create(user.id);
    expect(users.remove('li.wei')).toBe(true);
    expect(sessions.lookup(d.id)).toBeUndefined();
    db.close();
  });
});

describe('sign-in, sign-out, throttling and the live stream over HTTP', () => {
  let cloud: Cloud;
  beforeAll(async () => {
    ({ cloud } = await startConsoleCloud({ console: { session: { idleMinutes: 30, absoluteHours: 1 } } }));
  }, 60_000);
  afterAll(async () => { await cloud?.stop(); });

  const login = (name: string, password: string, ip = '127.0.0.9') => cloud.api.inject({ method: 'POST', url: '/api/v1/session', payload: { name, password }, remoteAddress: ip });

  it('sets an httpOnly SameSite=Strict cookie (Secure only under TLS), serves the CSRF token, signs out', async () => {
    const res = await login('env-1', PASSWORD);
    expect(res.statusCode).toBe(200);
    const set = String(res.headers['set-cookie']);
    expect(set).toMatch(/^ce_session=[A-Za-z0-9_-]{40,}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=3600$/);
    const cookie = set.split(';')[0];
    const me = await cloud.api.inject({ url: '/api/v1/session', headers: { cookie } });
    expect(me.json()).toMatchObject({ name: 'env-1', role: 'env', via: 'session', csrf: res.json().csrf });
    const tls = await cloud.api.inject({ method: 'POST', url: '/api/v1/session', payload: { name: 'env-1', password: PASSWORD }, headers: { 'x-forwarded-proto': 'https' } });
    expect(String(tls.headers['set-cookie'])).not.toMatch(/Secure/); // no trustProxy: a header alone is not TLS
    const out = await cloud.api.inject({ method: 'DELETE', url: '/api/v1/session', headers: { cookie, 'x-csrf-token': res.json().csrf } });
    expect(out.json()).toEqual({ signedOut: true });
    expect(String(out.headers['set-cookie'])).toMatch(/Max-Age=0/);
    const after = await cloud.api.inject({ url: '/api/v1/alerts', headers: { cookie } });
    expect(after.statusCode).toBe(401);
    expect(after.json().code).toBe('API_SESSION_EXPIRED');
  });

  it('repeated wrong passwords back off (429 API_AUTH_THROTTLED with Retry-After), even for the right password', async () => {
    for (let i = 0; i < 5; i++) expect((await login('ops-1', 'wrong password', '127.0.0.20')).json().code).toBe('API_BAD_CREDENTIALS');
    const blocked = await login('ops-1', PASSWORD, '127.0.0.21');
    expect(blocked.statusCode).toBe(429);
    expect(blocked.json().code).toBe('API_AUTH_THROTTLED');
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    expect((await login('viewer-1', PASSWORD, '127.0.0.21')).statusCode).toBe(200); // other users are not locked out
  });

  it('the stream sends new alerts, events and status with ids, and resumes from Last-Event-ID', async () => {
    const { tokens } = { tokens: { viewer: cloud.ctx.tokens.create('sse', 'viewer').token } };
    const read = async (headers: Record<string, string>, until: (text: string) => boolean) => {
      const ac = new AbortController();
      const res = await fetch(`${cloud.httpUrl}/api/v1/stream`, { headers: { authorization: `Bearer ${tokens.viewer}`, ...headers }, signal: ac.signal });
      expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
      const reader = res.body!.getReader();
      let text = '';
      const deadline = Date.now() + 10_000;
      while (!until(text) && Date.now() < deadline) { const { value } = await reader.read(); text += new TextDecoder().decode(value); }
      ac.abort();
      return text;
    };
    const first = await read({}, (t) => t.includes('event: hello'));
    const cursor = /id: (\S+)\nevent: hello/.exec(first)![1];
    // while nobody listens: an alert, a camera event and a status
    await ingest(cloud, 'env-a', 'alerts', [{ kind: 'alert', rule: 'pm25-1h', source: 'S1/PM2.5', state: 'raise', severity: 'critical', message: 'PM2.5 165 > 150', data: { value: 165, limit: 150 } }]);
    await ingest(cloud, 'cam-a', 'events', [{ kind: 'event', type: 'line.cross', source: 'gate-1', phase: 'instant', data: { rule: 'crossing', direction: 'east' } }]);
    status(cloud, 'env-a', true, { outbox: { rows: 3 } });
    await new Promise((r) => setTimeout(r, 10));
    const resumed = await read({ 'last-event-id': cursor }, (t) => t.includes('event: hello'));
    const events = [...resumed.matchAll(/id: (\S+)\nevent: (\w+)\ndata: (.*)\n/g)].map((m) => ({ id: m[1], event: m[2], data: JSON.parse(m[3]) }));
    expect(events.map((e) => e.event)).toEqual(['alert', 'event', 'status', 'hello']);
    expect(events[0].data).toMatchObject({ site: 'env-a', rule: 'pm25-1h', state: 'open' });
    expect(events[1].data).toMatchObject({ site: 'cam-a', type: 'line.cross' });
    expect(events[2].data).toMatchObject({ site: 'env-a', online: true });
    expect(new Set(events.map((e) => e.id)).size).toBe(3); // the last change and hello share the head cursor
    // resuming from the head again misses nothing and repeats nothing
    const again = await read({ 'last-event-id': events[3].id }, (t) => t.includes('event: hello'));
    expect(again).not.toMatch(/event: (alert|event|status)/);
    // live: a change while listening arrives without reconnecting
    const live = read({}, (t) => t.includes('event: alert'));
    await new Promise((r) => setTimeout(r, 300));
    await ingest(cloud, 'env-a', 'alerts', [{ kind: 'alert', rule: 'pm25-1h', source: 'S1/PM2.5', state: 'clear', severity: 'critical', message: 'cleared', data: {} }]);
    expect(await live).toMatch(/event: alert\ndata: .*"state":"resolved"/);
  });
});
