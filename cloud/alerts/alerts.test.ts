import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/peers/ports.ts';
import { verifySignature } from './signature.ts';
import { alertItem, api, ingestAlerts, startCloudWithAlerts, webhookReceiver } from '../../test/support/alerts.ts';

const cleanup: Array<() => unknown> = [];
afterEach(async () => { for (const f of cleanup.splice(0).reverse()) await f(); });

async function setup(alerts: Record<string, unknown> = {}, o: Parameters<typeof startCloudWithAlerts>[1] = {}) {
  const { cloud, feature } = await startCloudWithAlerts({ escalation: false, mqtt: { enabled: false }, ...alerts }, o);
  cleanup.push(() => cloud.stop());
  const viewer = cloud.ctx.tokens.create('wall-display', 'viewer').token;
  const env = cloud.ctx.tokens.create('li.wei', 'env').token;
  return { cloud, feature, viewer, env };
}

describe('alert lifecycle through ingest and the HTTP API', () => {
  it('one open alert per (site, rule, source); ack by token name; cleared by data; resolved by a person; coded errors', async () => {
    const { cloud, feature, viewer, env } = await setup();
    const raise = (source: string, extra: object = {}) => alertItem({ rule: 'pm25-hour', source, state: 'raise', ...extra });
    await ingestAlerts(cloud, 'site-a', [raise('AOTI/PM2.5', { data: { value: 180 } })]);
    await ingestAlerts(cloud, 'site-a', [raise('AOTI/PM2.5', { data: { value: 220 }, ts: Date.UTC(2013, 2, 5, 8) }), raise('AOTI/PM2.5', { ts: Date.UTC(2013, 2, 5, 9), data: { value: 240 } })]);
    await ingestAlerts(cloud, 'site-b', [raise('AOTI/PM2.5')]); // same rule+source at another site: its own alert

    let list = await api(cloud, viewer, 'GET', '/api/v1/alerts?site=site-a');
    expect(list.status).toBe(200);
    expect(list.body.alerts).toHaveLength(1);
    const a = list.body.alerts[0];
    expect(a).toMatchObject({ site: 'site-a', rule: 'pm25-hour', source: 'AOTI/PM2.5', state: 'open', raiseCount: 3, firstTs: Date.UTC(2013, 2, 5, 7), lastTs: Date.UTC(2013, 2, 5, 9), data: { value: 240 } });
    expect((await api(cloud, viewer, 'GET', '/api/v1/alerts?state=open')).body.alerts).toHaveLength(2);

    // roles: a viewer may not acknowledge; the env role may, and its token name is recorded
    expect((await api(cloud, viewer, 'POST', `/api/v1/alerts/${a.id}/ack`, {})).status).toBe(403);
    const ack = await api(cloud, env, 'POST', `/api/v1/alerts/${a.id}/ack`, { note: 'called the station' });
    expect(ack.status).toBe(200);
    expect(ack.body.alert).toMatchObject({ state: 'acknowledged', ack: { by: 'li.wei', note: 'called the station' } });
    const again = await api(cloud, env, 'POST', `/api/v1/alerts/${a.id}/ack`, {});
    expect(again).toMatchObject({ status: 409, body: { code: 'ALERT_BAD_TRANSITION' } });

    // still raised while acknowledged: refreshed, not duplicated
    await ingestAlerts(cloud, 'site-a', [raise('AOTI/PM2.5', { ts: Date.UTC(2013, 2, 5, 10) })]);
    expect((await api(cloud, viewer, 'GET', '/api/v1/alerts?site=site-a')).body.alerts).toMatchObject([{ id: a.id, state: 'acknowledged', raiseCount: 4 }]);

    // the data clears it
    await ingestAlerts(cloud, 'site-a', [alertItem({ rule: 'pm25-hour', source: 'AOTI/PM2.5', state: 'clear', ts: Date.UTC(2013, 2, 8, 10) })]);
    const detail = await api(cloud, viewer, 'GET', `/api/v1/alerts/${a.id}`);
    expect(detail.body.alert).toMatchObject({ state: 'resolved', clearedTs: Date.UTC(2013, 2, 8, 10), resolution: { how: 'data', by: 'edge:site-a' } });
    expect(detail.body.history.map((h: { action: string }) => h.action)).toEqual(['raise', 'acknowledge', 'clear']);
    expect(detail.body.history[1]).toMatchObject({ actor: 'li.wei', note: 'called the station' });
    expect((await api(cloud, env, 'POST', `/api/v1/alerts/${a.id}/resolve`, { note: 'x' })).body.code).toBe('ALERT_BAD_TRANSITION');

    // a new raise after resolution opens a new alert; a person resolves it with a note
    await ingestAlerts(cloud, 'site-a', [raise('AOTI/PM2.5', { ts: Date.UTC(2013, 2, 9, 1) })]);
    list = await api(cloud, viewer, 'GET', '/api/v1/alerts?site=site-a&state=open');
    const b = list.body.alerts[0];
    expect(b.id).not.toBe(a.id);
    expect((await api(cloud, env, 'POST', `/api/v1/alerts/${b.id}/resolve`, {})).body.code).toBe('API_BAD_REQUEST');
    expect((await api(cloud, env, 'POST', `/api/v1/alerts/${b.id}/resolve`, { note: '  ' })).body.code).toBe('ALERT_NOTE_REQUIRED');
    const res = await api(cloud, env, 'POST', `/api/v1/alerts/${b.id}/resolve`, { note: 'analyser replaced, values confirmed' });
    expect(res.body.alert).toMatchObject({ state: 'resolved', resolution: { how: 'person', by: 'li.wei', note: 'analyser replaced, values confirmed' } });
    // the edge's later clear finds no open alert: ignored, counted
    await ingestAlerts(cloud, 'site-a', [alertItem({ rule: 'pm25-hour', source: 'AOTI/PM2.5', state: 'clear', ts: Date.UTC(2013, 2, 9, 2) })]);
    expect((await api(cloud, viewer, 'GET', '/api/v1/alerts?site=site-a&state=open')).body.alerts).toHaveLength(0);

    expect(await api(cloud, viewer, 'GET', '/api/v1/alerts/99999')).toMatchObject({ status: 404, body: { code: 'ALERT_NOT_FOUND' } });
    expect((await api(cloud, viewer, 'GET', '/api/v1/alerts?state=bogus')).status).toBe(400);
    expect((await api(cloud, viewer, 'GET', `/api/v1/alerts?site=site-a&from=${Date.UTC(2013, 2, 9)}`)).body.alerts.map((x: { id: number }) => x.id)).toEqual([b.id]);
    expect((await api(cloud, viewer, 'GET', '/api/v1/alerts?limit=1')).body.next).toBeGreaterThan(0);
    const metrics = await cloud.ctx.metrics.metrics();
    expect(metrics).toMatch(/cityedge_alerts_items_total\{result="ignored"\} 1/);
    expect(metrics).toMatch(/cityedge_alerts_items_total\{result="refreshed"\} 3/);
    expect(metrics).toMatch(/cityedge_alerts_transitions_total\{event="acknowledged"\} 1/);
    const openapi = await (await fetch(`${cloud.httpUrl}/openapi.json`)).json();
    expect(Object.keys(openapi.paths)).toEqual(expect.arrayContaining(['/api/v1/alerts', '/api/v1/alerts/{id}', '/api/v1/alerts/{id}/ack', '/api/v1/alerts/{id}/resolve']));
    expect(feature.store.applyItems([])).toMatchObject({ opened: 0 });
  });

  it('is idempotent when ingest hands the same item twice', async () => {
    const { cloud, feature } = await setup();
    const it1 = alertItem({ rule: 'r', source: 's', state: 'raise' });
    const spooled = [{ site: 'site-a', received: Date.now(), item: it1 }];
    expect(feature.store.applyItems(spooled)).toMatchObject({ opened: 1 });
    expect(feature.store.applyItems(spooled)).toMatchObject({ opened: 0, refreshed: 0, duplicates: 1 });
    expect(feature.store.list({ site: 'site-a' })[0].raiseCount).toBe(1);
    void cloud;
  });

  it('escalates an unacknowledged alert after N minutes (severity bump + notification), not an acknowledged one', async () => {
    let now = Date.now();
    const hook = await webhookReceiver();
    cleanup.push(() => hook.close());
    const { cloud, feature, env } = await setup({ escalation: { afterMinutes: 30, maxLevel: 2, checkIntervalMs: 3_600_000 }, webhooks: [{ name: 'duty', url: hook.url, secret: 'duty-officer-secret-1', events: ['escalated'] }] }, { now: () => now });
    await ingestAlerts(cloud, 'site-a', [alertItem({ rule: 'so2', source: 'P7/FQ01/SO2', state: 'raise', severity: 'warning' }), alertItem({ rule: 'so2', source: 'P7/FQ02/SO2', state: 'raise', severity: 'warning' })]);
    const [x2, x1] = feature.store.list({});
    await api(cloud, env, 'POST', `/api/v1/alerts/${x2.id}/ack`, {});
    now += 29 * 60_000;
    expect(feature.escalateNow()).toBe(0);
    now += 2 * 60_000;
    expect(feature.escalateNow()).toBe(1);
    expect(feature.store.get(x1.id)).toMatchObject({ severity: 'critical', raisedSeverity: 'warning', escalationLevel: 1 });
    expect(feature.escalateNow()).toBe(0);
    now += 30 * 60_000;
    expect(feature.escalateNow()).toBe(1);
    now += 300 * 60_000;
    expect(feature.escalateNow()).toBe(0); // maxLevel 2
    expect(feature.store.get(x1.id)).toMatchObject({ severity: 'critical', escalationLevel: 2 });
    expect(feature.store.get(x2.id)).toMatchObject({ severity: 'warning', escalationLevel: 0 });
    expect(feature.store.history(x1.id).map((h) => h.action)).toEqual(['raise', 'escalate', 'escalate']);
    await waitFor(() => hook.got.length === 2, { what: 'escalation webhooks' });
    expect(hook.got.map((g) => JSON.parse(g.raw).event)).toEqual(['escalated', 'escalated']);
  });
});

describe('webhook notifications', () => {
  it('signs the body (HMAC-SHA256), retries with backoff, and survives a cloud restart with the queue in SQLite', async () => {
    let down = true;
    const hook = await webhookReceiver(() => (down ? 503 : 204));
    cleanup.push(() => hook.close());
    const secret = 'a-long-shared-webhook-secret';
    const alerts = { webhooks: [{ name: 'ops', url: hook.url, secret }], retry: { initialMs: 100, maxMs: 400, maxAttempts: 50, pollMs: 20 } };
    const dataDir = (await import('../../test/peers/ports.ts')).tempDir('alerts-restart-');
    const first = await setup(alerts, { dataDir });
    await ingestAlerts(first.cloud, 'site-a', [alertItem({ rule: 'r1', source: 'X/NOx', state: 'raise' })]);
    await waitFor(() => hook.got.length >= 3, { what: '3 failed attempts', timeoutMs: 5000 });
    const gaps = hook.got.slice(1, 3).map((g, i) => g.at - hook.got[i].at);
    expect(gaps[0]).toBeGreaterThanOrEqual(70); // 100 ms ± 20 % jitter, then 200 ms
    expect(gaps[1]).toBeGreaterThanOrEqual(150);
    expect(first.feature.notifier.rows()).toMatchObject([{ state: 'pending', event: 'raised' }]);
    await first.cloud.stop();
    cleanup.shift();
    const attemptsBefore = hook.got.length;

    down = false;
    const second = await setup(alerts, { dataDir });
    await waitFor(() => second.feature.notifier.rows().every((r) => r.state === 'delivered'), { what: 'delivery after restart', timeoutMs: 5000 });
    const ok = hook.got.slice(attemptsBefore).find((g) => g.status === 204)!;
    const body = JSON.parse(ok.raw);
    expect(body).toMatchObject({ v: 1, event: 'raised', alert: { rule: 'r1', source: 'X/NOx', site: 'site-a', state: 'open' } });
    expect(ok.headers['x-cityedge-delivery']).toBe(body.id);
    expect(ok.headers['x-cityedge-event']).toBe('raised');
    const signed = { deliveryId: body.id, body: ok.raw, header: ok.headers['x-cityedge-signature'] as string };
    expect(verifySignature(secret, signed)).toMatchObject({ ok: true });
    expect(verifySignature('wrong-secret-wrong-secret', signed)).toMatchObject({ ok: false, reason: 'mismatch' });
    expect(verifySignature(secret, { ...signed, body: ok.raw.replace('X/NOx', 'X/SO2') })).toMatchObject({ ok: false, reason: 'mismatch' });
    expect(verifySignature(secret, { ...signed, now: Date.now() + 10 * 60_000 })).toMatchObject({ ok: false, reason: 'too_old' });
    // every attempt carried the same delivery id (receivers dedupe on it)
    expect(new Set(hook.got.map((g) => g.headers['x-cityedge-delivery'])).size).toBe(1);
    expect(await second.cloud.ctx.metrics.metrics()).toMatch(/cityedge_alert_notifications_total\{target="webhook:ops",result="delivered"\} 1/);
  });

  it('marks a notification failed after maxAttempts; a refreshed raise sends nothing', async () => {
    const hook = await webhookReceiver(() => 500);
    cleanup.push(() => hook.close());
    const { cloud, feature } = await setup({ webhooks: [{ name: 'x', url: hook.url, secret: 'sixteen-chars-ok!' }], retry: { initialMs: 10, maxMs: 20, maxAttempts: 3, pollMs: 10 } });
    await ingestAlerts(cloud, 'site-a', [alertItem({ rule: 'r', source: 's', state: 'raise' })]);
    await ingestAlerts(cloud, 'site-a', [alertItem({ rule: 'r', source: 's', state: 'raise' })]);
    await waitFor(() => feature.notifier.rows()[0]?.state === 'failed', { what: 'failed state', timeoutMs: 5000 });
    expect(feature.notifier.rows()).toHaveLength(1);
    expect(feature.notifier.rows()[0]).toMatchObject({ attempts: 3, last_error: expect.stringContaining('HTTP 500') });
    expect(hook.got).toHaveLength(3);
  });

  it('rejects bad alerts config with a coded error', async () => {
    const { alertsFeature } = await import('./feature.ts');
    expect(() => alertsFeature({ webhooks: [{ name: 'a', url: 'ftp://x', secret: 'x' }] })).toThrow(expect.objectContaining({ code: 'ALERT_CONFIG_INVALID' }));
    expect(() => alertsFeature({ escalation: { afterMinutes: 5, bogus: 1 } })).toThrow(expect.objectContaining({ code: 'ALERT_CONFIG_INVALID' }));
    const w = { url: 'http://127.0.0.1:1/h', secret: 'sixteen-chars-ok!' };
    expect(() => alertsFeature({ webhooks: [{ name: 'a', ...w }, { name: 'a', ...w }] })).toThrow(expect.objectContaining({ code: 'ALERT_CONFIG_INVALID' }));
  });
});
