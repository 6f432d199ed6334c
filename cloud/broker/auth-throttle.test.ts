import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { AuthThrottle, FailureTracker, addressKey } from './auth-throttle.ts';

const cfg = { max: 3, maxPerAddress: 5, windowMs: 1000, baseDelayMs: 100, maxDelayMs: 800, maxTracked: 50 };
function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => { t += ms; } };
}

describe('FailureTracker', () => {
  it('blocks after max failures within the window, for baseDelayMs; other keys are unaffected', () => {
    const c = clock();
    const f = new FailureTracker(3, cfg, c.now);
    expect(f.fail('a')).toBe(0);
    expect(f.fail('a')).toBe(0);
    expect(f.blockedFor('a')).toBe(0);
    expect(f.fail('a')).toBe(100);
    expect(f.blockedFor('a')).toBe(100);
    expect(f.blockedFor('b')).toBe(0);
    c.advance(60);
    expect(f.blockedFor('a')).toBe(40);
    c.advance(40);
    expect(f.blockedFor('a')).toBe(0);
  });

  it('doubles the back-off with each further failure, capped at maxDelayMs', () => {
    const c = clock();
    const f = new FailureTracker(3, cfg, c.now);
    f.fail('a'); f.fail('a');
    const delays = [];
    for (let i = 0; i < 6; i++) {
      const d = f.fail('a');
      delays.push(d);
      c.advance(d); // wait the back-off out, then fail again
    }
    expect(delays).toEqual([100, 200, 400, 800, 800, 800]);
  });

  it('counts failures in a sliding window: spread out further than windowMs they never block', () => {
    const c = clock();
    const f = new FailureTracker(3, cfg, c.now);
    for (let i = 0; i < 20; i++) {
      expect(f.fail('a')).toBe(0);
      c.advance(501); // two per window at most
    }
  });

  it('forgets a record after windowMs without failure once the back-off is over, and on forget()', () => {
    const c = clock();
    const f = new FailureTracker(3, cfg, c.now);
    f.fail('a'); f.fail('a'); f.fail('a'); // blocked 100
    c.advance(100 + 1000);
    expect(f.fail('a')).toBe(0); // a fresh record: max failures again before a (base) back-off
    expect(f.fail('a')).toBe(0);
    expect(f.fail('a')).toBe(100);
    f.forget('a');
    expect(f.blockedFor('a')).toBe(0);
    expect(f.fail('a')).toBe(0);
  });

  it('stays bounded under a flood of random keys, and keeps the blocked ones', () => {
    const c = clock();
    const f = new FailureTracker(3, cfg, c.now);
    f.fail('victim'); f.fail('victim'); f.fail('victim');
    for (let i = 0; i < 100_000; i++) {
      f.fail(`random-${Math.random().toString(36).slice(2)}`);
      expect(f.size).toBeLessThanOrEqual(cfg.maxTracked);
    }
    expect(f.blockedFor('victim')).toBeGreaterThan(0);
  });
});

describe('AuthThrottle', () => {
  it('throttles per username and per address; a success clears the username only; counts refusals', async () => {
    const c = clock();
    const registry = new Registry();
    const t = new AuthThrottle(cfg, 'mqtt', registry, undefined, c.now);
    for (let i = 0; i < 3; i++) t.failure('site-a', '10.0.0.1');
    expect(t.check('site-a', '10.0.0.2')).toMatchObject({ scope: 'username', retryAfterMs: 100 });
    expect(t.check('site-b', '10.0.0.1')).toBeUndefined(); // 3 < maxPerAddress
    t.failure('site-b', '10.0.0.1');
    t.failure('site-c', '10.0.0.1');
    expect(t.check('site-d', '10.0.0.1')).toMatchObject({ scope: 'address' });
    expect(t.check('site-d', '10.0.0.9')).toBeUndefined();
    c.advance(100);
    t.success('site-a');
    expect(t.check('site-a', '10.0.0.2')).toBeUndefined();
    t.failure('site-a', '10.0.0.2');
    expect(t.check('site-a', '10.0.0.2')).toBeUndefined(); // the count started again
    // a second throttle on the same registry shares the metric
    new AuthThrottle(cfg, 'api', registry, undefined, c.now).check(undefined, '10.0.0.1');
    const text = await registry.metrics();
    expect(text).toMatch(/cityedge_auth_throttled_total\{surface="mqtt",scope="username"\} 1/);
    expect(text).toMatch(/cityedge_auth_throttled_total\{surface="mqtt",scope="address"\} 1/);
  });

  it('keys long usernames by a hash (memory per record stays small)', () => {
    const t = new AuthThrottle(cfg, 'mqtt', new Registry());
    const long = 'x'.repeat(60_000);
    for (let i = 0; i < 3; i++) t.failure(long, '10.0.0.1');
    expect(t.check(long, '10.0.0.7')).toMatchObject({ scope: 'username' });
    expect(t.check(`${long}y`, '10.0.0.7')).toBeUndefined();
  });
});

describe('addressKey', () => {
  it('unwraps IPv4-mapped IPv6 and keys IPv6 by its /64', () => {
    expect(addressKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'));
    expect(addressKey('2001:db8:1:2::1')).not.toBe(addressKey('2001:db8:1:3::1'));
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey(undefined)).toBe('unknown');
  });
});
