import http from 'node:http';
import net from 'node:net';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cloud } from '../../cloud/cloud.ts';
import { startCloud } from '../harness.ts';

// Small numbers so the tests stay short: 3 failures of a username (6 of an address) within 5 s
// start a back-off of 400 ms, then 800 ms, capped at 1.6 s.
const authFailures = { max: 3, maxPerAddress: 6, windowMs: 5000, baseDelayMs: 400, maxDelayMs: 1600 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CONNECT from a chosen loopback source address (all of 127/8 is local on Linux); resolves to 'ok' or the refusal. */
function mqttConnect(port: number, from: string, username: string, password: string, clientId = username): Promise<string> {
  return new Promise((resolve) => {
    const c = new mqtt.MqttClient(() => net.createConnection({ host: '127.0.0.1', port, localAddress: from }), { username, password, clientId, reconnectPeriod: 0, protocolVersion: 4, connectTimeout: 5000 });
    c.once('connect', () => { c.end(true); resolve('ok'); });
    c.once('error', (err) => { c.end(true); resolve(err.message); });
  });
}

/** GET from a chosen loopback source address. */
function get(url: string, from: string, token?: string): Promise<{ status: number; body: { code?: string }; retryAfter?: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { localAddress: from, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      let data = '';
      res.on('data', (d) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: data ? JSON.parse(data) : {}, retryAfter: res.headers['retry-after'] as string | undefined }));
    });
    req.on('error', reject);
  });
}
const metric = async (cloud: Cloud, re: RegExp) => Number(re.exec(await (await fetch(`${cloud.httpUrl}/metrics`)).text())?.[1] ?? 0);

describe('back-off on repeated authentication failures', () => {
  let cloud: Cloud;
  const pw: Record<string, string> = {};
  let token: string;
  beforeAll(async () => {
    cloud = await startCloud({ security: { authFailures } });
    for (const s of ['site-a', 'site-b', 'site-c', 'site-d']) pw[s] = await cloud.ctx.devices.add(s);
    token = cloud.ctx.tokens.create('viewer', 'viewer').token;
  });
  afterAll(async () => { await cloud?.stop(); });

  it('MQTT: wrong passwords for one site get it throttled; another site is unaffected; the right password works after the back-off and resets the count', async () => {
    const from = '127.0.0.3';
    for (let i = 0; i < 3; i++) expect(await mqttConnect(cloud.mqttPort, from, 'site-a', 'wrong-password-123')).toMatch(/Bad username or password/);
    // now even the right password is refused, without checking it
    const t0 = Date.now();
    expect(await mqttConnect(cloud.mqttPort, from, 'site-a', pw['site-a'])).toMatch(/Not authorized/);
    expect(Date.now() - t0).toBeLessThan(300);
    expect(await metric(cloud, /cityedge_auth_throttled_total\{surface="mqtt",scope="username"\} (\d+)/)).toBeGreaterThanOrEqual(1);
    // another site from the same address is not affected
    expect(await mqttConnect(cloud.mqttPort, from, 'site-b', pw['site-b'])).toBe('ok');
    // after the back-off the right password works, and the success clears site-a's record
    await sleep(authFailures.baseDelayMs + 50);
    expect(await mqttConnect(cloud.mqttPort, from, 'site-a', pw['site-a'])).toBe('ok');
    for (let i = 0; i < 2; i++) expect(await mqttConnect(cloud.mqttPort, from, 'site-a', 'wrong-password-123')).toMatch(/Bad username or password/);
    expect(await mqttConnect(cloud.mqttPort, from, 'site-a', pw['site-a'])).toBe('ok');
  });

  it('MQTT: each further failure after a back-off doubles it', async () => {
    const from = '127.0.0.5';
    for (let i = 0; i < 3; i++) await mqttConnect(cloud.mqttPort, from, 'site-b', 'wrong-password-123');
    await sleep(authFailures.baseDelayMs + 50);
    expect(await mqttConnect(cloud.mqttPort, from, 'site-b', 'wrong-password-123')).toMatch(/Bad username or password/); // a 4th failure: 800 ms now
    await sleep(authFailures.baseDelayMs + 50);
    expect(await mqttConnect(cloud.mqttPort, from, 'site-b', pw['site-b'])).toMatch(/Not authorized/); // still in the longer back-off
    await sleep(2 * authFailures.baseDelayMs);
    expect(await mqttConnect(cloud.mqttPort, from, 'site-b', pw['site-b'])).toBe('ok');
  });

  it('MQTT: failures from one address with many usernames throttle that address only; the tracked records stay bounded', async () => {
    const from = '127.0.0.2';
    for (let i = 0; i < 6; i++) expect(await mqttConnect(cloud.mqttPort, from, `guess-${i}`, 'wrong-password-123')).toMatch(/Bad username or password/);
    expect(await mqttConnect(cloud.mqttPort, from, 'site-c', pw['site-c'])).toMatch(/Not authorized/);
    // further random usernames from the throttled address are refused before they are even recorded
    const before = cloud.broker!.throttle.size();
    const flood = await Promise.all(Array.from({ length: 20 }, (_, i) => mqttConnect(cloud.mqttPort, from, `flood-${i}`, 'wrong-password-123')));
    for (const outcome of flood) expect(outcome).toMatch(/Not authorized/);
    expect(cloud.broker!.throttle.size()).toEqual(before);
    expect(await metric(cloud, /cityedge_auth_throttled_total\{surface="mqtt",scope="address"\} (\d+)/)).toBeGreaterThanOrEqual(21);
    // another address is not affected
    expect(await mqttConnect(cloud.mqttPort, '127.0.0.1', 'site-c', pw['site-c'])).toBe('ok');
    await sleep(authFailures.baseDelayMs + 50);
    expect(await mqttConnect(cloud.mqttPort, from, 'site-c', pw['site-c'])).toBe('ok');
  });

  it("MQTT: a client id that is not the site's counts as a failure of that site", async () => {
    const from = '127.0.0.7';
    for (let i = 0; i < 3; i++) expect(await mqttConnect(cloud.mqttPort, from, 'site-d', pw['site-d'], 'site-a')).toMatch(/Identifier rejected/);
    expect(await mqttConnect(cloud.mqttPort, from, 'site-d', pw['site-d'])).toMatch(/Not authorized/);
    await sleep(authFailures.baseDelayMs + 50);
    expect(await mqttConnect(cloud.mqttPort, from, 'site-d', pw['site-d'])).toBe('ok');
  });

  it('API: wrong bearer tokens from one address get it throttled (429 + Retry-After); another address is unaffected; the token works after the back-off', async () => {
    const url = `${cloud.httpUrl}/api/v1/sites`;
    const from = '127.0.0.2'; // in a back-off on the broker after the test above: the API keeps its own records
    for (let i = 0; i < 6; i++) expect((await get(url, from, `ce_wrong-token-${i}`)).status).toBe(401);
    const throttled = await get(url, from, token);
    expect(throttled).toMatchObject({ status: 429, body: { code: 'API_AUTH_THROTTLED' } });
    expect(Number(throttled.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(await metric(cloud, /cityedge_auth_throttled_total\{surface="api",scope="address"\} (\d+)/)).toBe(1);
    expect(await metric(cloud, /cityedge_api_rejected_total\{code="API_AUTH_THROTTLED"\} (\d+)/)).toBe(1);
    expect((await get(url, '127.0.0.4', token)).status).toBe(200); // another address
    expect((await get(`${cloud.httpUrl}/health`, from)).status).toBe(200); // routes without a role are not gated
    await sleep(authFailures.baseDelayMs + 50);
    expect((await get(url, from, token)).status).toBe(200);
  });

  it('API: requests without any token are 401 but are not counted as guesses', async () => {
    const url = `${cloud.httpUrl}/api/v1/sites`;
    for (let i = 0; i < 10; i++) expect((await get(url, '127.0.0.6')).status).toBe(401);
    expect((await get(url, '127.0.0.6', token)).status).toBe(200);
  });
});
