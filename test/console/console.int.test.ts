import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { Cloud } from '../../cloud/cloud.ts';
import { generateKeyFiles, loadPrivateKey } from '../../models/bundle/keys.ts';
import { packBundle, signBundle } from '../../models/bundle/bundle.ts';
import { edgeConfig, spawnEdge } from '../harness.ts';
import { tempDir, waitFor } from '../peers/ports.ts';
import type { OwnedProcess } from '../peers/process.ts';
import { artifact, launchChromium, SCREENS } from '../support/browser.ts';
import { ingest, PASSWORD, startConsoleCloud } from '../support/console.ts';
import type { Role } from '../../cloud/api/tokens.ts';
import { cameraEvent, ENV_SITE, seed, STATION } from './seed.ts';

/**
 * The operator console in real headless Chromium (Debian's, through playwright-core) against a
 * real cloud: one browser, a context per person. Run `npm run build` first (the console bundle
 * is dist/console; the killed edge is the dist CLI).
 */
let cloud: Cloud;
let tokens: Record<Role, string>;
let browser: Browser;
let edge: OwnedProcess | undefined;
let stations: string[] = [];
const contexts: BrowserContext[] = [];

async function signIn(role: Role, o: { locale?: string; viewport?: { width: number; height: number } } = {}): Promise<Page> {
  const ctx = await browser.newContext({ locale: o.locale ?? 'en-US', viewport: o.viewport ?? SCREENS.control, baseURL: cloud.httpUrl });
  contexts.push(ctx);
  const page = await ctx.newPage();
  await page.goto('/');
  await page.fill('#login-name', `${role}-1`);
  await page.fill('#login-password', PASSWORD);
  await page.click('#login-submit');
  await page.waitForSelector('[data-testid=sign-out]');
  return page;
}

const alertItem = (state: 'raise' | 'clear', value: number) => ({
  kind: 'alert', rule: 'pm25-1h', source: `${STATION}/PM2.5`, state, severity: 'critical',
  message: state === 'raise' ? `PM2.5 at ${STATION}: ${value} µg/m³ > 150 for 3 h` : `PM2.5 at ${STATION}: ${value} µg/m³, cleared`,
  data: { type: 'exceedance', station: STATION, pollutant: 'PM2.5', unit: 'ug/m3', value, limit: 150 },
});

beforeAll(async () => {
  ({ cloud, tokens } = await startConsoleCloud());
  browser = await launchChromium();
  ({ stations } = await seed(cloud, tokens.ops));
}, 60_000);
afterAll(async () => {
  await edge?.stop();
  for (const c of contexts) await c.close().catch(() => undefined);
  await browser?.close();
  await cloud?.stop();
});

describe('operator console in Chromium', () => {
  it('loads within the budget: ≤ 300 KB compressed, interactive ≤ 1 s; assets hashed, immutable, precompressed; no other origin', async () => {
    const ctx = await browser.newContext({ baseURL: cloud.httpUrl });
    contexts.push(ctx);
    const page = await ctx.newPage();
    const origins = new Set<string>();
    page.on('request', (r) => origins.add(new URL(r.url()).origin));
    const t0 = Date.now();
    await page.goto('/');
    await page.waitForSelector('#login-name');
    const ready = await page.evaluate(() => (window as unknown as { __consoleReady: number }).__consoleReady);
    const bytes = await page.evaluate(() => performance.getEntriesByType('resource').concat(performance.getEntriesByType('navigation')).reduce((n, e) => n + ((e as PerformanceResourceTiming).transferSize || 0), 0));
    console.log(`console first load: ${(bytes / 1024).toFixed(1)} KiB transferred, interactive at ${ready.toFixed(0)} ms (wall ${Date.now() - t0} ms)`);
    expect(bytes).toBeLessThanOrEqual(300 * 1024);
    expect(ready).toBeLessThan(1000);
    expect([...origins]).toEqual([cloud.httpUrl]);
    const html = await fetch(`${cloud.httpUrl}/`, { headers: { 'accept-encoding': 'br' } });
    expect(html.headers.get('cache-control')).toBe('no-cache');
    expect(html.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    const js = /src="(\/assets\/app-[A-Z0-9]+\.js)"/.exec(await (await fetch(`${cloud.httpUrl}/`)).text())![1];
    const asset = await fetch(`${cloud.httpUrl}${js}`, { headers: { 'accept-encoding': 'br, gzip' } });
    expect(asset.headers.get('content-encoding')).toBe('br');
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
  });

  it('env staff sign in, see a new exceedance alert appear live, acknowledge it with a note, and see it resolve when the data clears', async () => {
    const page = await signIn('env');
    await expect.poll(() => page.textContent('[data-testid=live]'), { timeout: 5000 }).toBe('Live');
    await ingest(cloud, ENV_SITE, 'alerts', [{ ...alertItem('raise', 165), ts: Date.now() - 60_000 }]);
    const row = page.locator('[data-testid=alert-row]', { hasText: '165 µg/m³' });
    await row.waitFor({ timeout: 5000 }); // no reload: it came over the stream
    await row.locator('a').click();
    await page.waitForSelector('[data-testid=ack]');
    await page.fill('#note', 'dust from the site next door; inspector sent');
    await page.click('[data-testid=ack]');
    await expect.poll(() => page.textContent('[data-testid=ack-by]'), { timeout: 5000 }).toMatch(/env-1 .*dust from the site next door/);
    await page.fill('#assignee', 'ops-1');
    await page.click('[data-testid=assign]');
    await expect.poll(() => page.textContent('[data-testid=assignee]'), { timeout: 5000 }).toBe('ops-1');
    await page.fill('#note', 'called the site manager');
    await page.click('[data-testid=comment]');
    await expect.poll(() => page.textContent('[data-testid=history]'), { timeout: 5000 }).toMatch(/called the site manager/);
    // the data clears at the edge: the page shows it resolved without a reload
    await ingest(cloud, ENV_SITE, 'alerts', [{ ...alertItem('clear', 98), ts: Date.now() }]);
    await expect.poll(() => page.textContent('[data-testid=resolution]'), { timeout: 5000 }).toMatch(/Resolved by the data/);
    expect(await page.locator('canvas').count()).toBeGreaterThan(0); // the readings chart
    // the history shows who did what
    const history = await page.textContent('[data-testid=history]');
    for (const s of ['raised', 'acknowledged', 'assigned to ops-1', 'comment', 'cleared by the data']) expect(history).toContain(s);
  });

  it('a viewer sees no acknowledge control, and the API refuses the acknowledgement', async () => {
    await ingest(cloud, ENV_SITE, 'alerts', [{ ...alertItem('raise', 171), ts: Date.now() }]);
    const id = (await (await fetch(`${cloud.httpUrl}/api/v1/alerts?state=open`, { headers: { authorization: `Bearer ${tokens.viewer}` } })).json()).alerts[0].id as number;
    const page = await signIn('viewer');
    await page.goto(`/#/alerts/${id}`);
    await page.waitForSelector('[data-testid=alert-message]');
    expect(await page.locator('[data-testid=ack]').count()).toBe(0);
    expect(await page.locator('[data-testid=resolve], [data-testid=assign], [data-testid=bulk-ack]').count()).toBe(0);
    const refused = await page.evaluate(async (alertId) => {
      const me = await (await fetch('/api/v1/session')).json();
      const r = await fetch(`/api/v1/alerts/${alertId}/ack`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrf }, body: '{}' });
      return { status: r.status, body: await r.json() };
    }, id);
    expect(refused).toMatchObject({ status: 403, body: { code: 'API_FORBIDDEN' } });
  });

  it('an ops user pauses and resumes a rollout', async () => {
    await cloud.ctx.devices.add('cam-a').catch(() => undefined);
    const keys = generateKeyFiles(tempDir('console-keys-'), 'ops');
    const bundle = signBundle(packBundle({ card: 'nanodet_m_320' }), loadPrivateKey(keys.keyFile));
    const up = await fetch(`${cloud.httpUrl}/api/v1/models`, { method: 'PUT', headers: { authorization: `Bearer ${tokens.ops}`, 'content-type': 'application/octet-stream' }, body: new Uint8Array(bundle) });
    const model = await up.json() as { name: string; version: string };
    expect(up.status).toBeLessThan(300);
    const ro = await fetch(`${cloud.httpUrl}/api/v1/rollouts`, { method: 'POST', headers: { authorization: `Bearer ${tokens.ops}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: model.name, version: model.version, sites: ['cam-a'] }) });
    expect(ro.status).toBe(201);
    const page = await signIn('ops');
    await page.goto('/#/models');
    const card = page.locator('[data-testid=rollout]').first();
    await card.locator('[data-testid=rollout-pause]').click();
    await expect.poll(() => card.locator('[data-testid=rollout-state]').textContent(), { timeout: 5000 }).toBe('paused');
    await card.locator('[data-testid=rollout-resume]').click();
    await expect.poll(() => card.locator('[data-testid=rollout-state]').textContent(), { timeout: 5000 }).toBe('canary');
    // an env user sees the rollout but no controls
    const env = await signIn('env');
    await env.goto('/#/models');
    await env.locator('[data-testid=rollout]').first().waitFor();
    expect(await env.locator('[data-testid=rollout-pause], [data-testid=rollout-abort]').count()).toBe(0);
  });

  it('a camera event shows its snapshot', async () => {
    const page = await signIn('viewer');
    await page.goto('/#/cameras');
    await page.waitForSelector('h1');
    await cameraEvent(cloud);
    const img = page.locator('[data-testid=event-snapshot]').first();
    await img.waitFor({ timeout: 5000 });
    await expect.poll(() => img.evaluate((el) => (el as HTMLImageElement).naturalWidth), { timeout: 5000 }).toBe(640);
  });

  it('the bikes page shows the numbers of the GBFS station_status feed', async () => {
    const page = await signIn('viewer');
    await page.goto('/#/bikes');
    await page.waitForSelector('[data-testid=bike-row]');
    const feed = await (await fetch(`${cloud.httpUrl}/gbfs/en/station_status.json`)).json() as { data: { stations: Array<{ station_id: string; num_bikes_available: number; num_docks_available: number; num_docks_disabled: number }> } };
    expect(feed.data.stations.map((s) => s.station_id).sort()).toEqual([...stations].sort());
    for (const s of feed.data.stations) {
      const row = page.locator(`[data-testid=bike-row][data-station="${s.station_id}"]`);
      expect(await row.locator('[data-testid=bikes]').textContent()).toBe(String(s.num_bikes_available));
      expect(await row.locator('[data-testid=docks]').textContent()).toBe(String(s.num_docks_available));
    }
    const sum = (f: (s: typeof feed.data.stations[0]) => number) => String(feed.data.stations.reduce((n, s) => n + f(s), 0));
    expect(await page.textContent('[data-testid=total-bikes]')).toBe(sum((s) => s.num_bikes_available));
    expect(await page.textContent('[data-testid=total-docks]')).toBe(sum((s) => s.num_docks_available));
    expect(await page.textContent('[data-testid=total-empty]')).toBe(String(feed.data.stations.filter((s) => s.num_bikes_available === 0).length));
    expect(await page.textContent('[data-testid=total-full]')).toBe(String(feed.data.stations.filter((s) => s.num_docks_available === 0).length));
    expect(await page.textContent('[data-testid=total-faults]')).toBe(sum((s) => s.num_docks_disabled));
  });

  it('the sites page shows a site offline within seconds of killing its edge process', async () => {
    const password = await cloud.ctx.devices.add('edge-kill');
    const spawned = spawnEdge(edgeConfig({ site: 'edge-kill', password, url: `mqtt://127.0.0.1:${cloud.mqttPort}` }));
    edge = spawned.proc;
    const page = await signIn('ops');
    await page.goto('/#/sites');
    await page.fill('#site-q', 'edge-kill');
    const state = page.locator('[data-testid=site-row][data-site=edge-kill] [data-testid=site-state]');
    await expect.poll(() => state.textContent().catch(() => ''), { timeout: 30_000, interval: 200 }).toBe('online');
    const killed = Date.now();
    await edge.kill9();
    await expect.poll(() => state.textContent(), { timeout: 10_000, interval: 100 }).toBe('offline');
    const s = (Date.now() - killed) / 1000;
    console.log(`sites page: edge-kill offline ${s.toFixed(1)} s after kill -9 of its edge process`);
    expect(s).toBeLessThan(10);
  });

  it('the page switches to zh-CN (and starts in it for a zh browser), and keeps the choice', async () => {
    const page = await signIn('env');
    expect(await page.textContent('[data-testid=nav-alerts]')).toBe('Alerts');
    await page.click('[data-testid=lang-zh]');
    expect(await page.textContent('[data-testid=nav-alerts]')).toBe('告警中心');
    expect(await page.getAttribute('html', 'lang')).toBe('zh-CN');
    expect(await page.textContent('[data-testid=me]')).toContain('环保业务人员');
    await page.reload();
    await page.waitForSelector('[data-testid=nav-alerts]');
    expect(await page.textContent('[data-testid=nav-alerts]')).toBe('告警中心');
    const zh = await signIn('viewer', { locale: 'zh-CN' });
    expect(await zh.textContent('[data-testid=nav-sites]')).toBe('站点');
    expect(await zh.textContent('[data-testid=alert-total]')).toMatch(/北京时间/);
  });

  it('screenshots of every page, both languages, both screen sizes', async () => {
    const id = (await (await fetch(`${cloud.httpUrl}/api/v1/alerts?limit=1`, { headers: { authorization: `Bearer ${tokens.viewer}` } })).json()).alerts[0].id as number;
    const pages: Array<[string, string, string]> = [['alerts', '/#/alerts', '[data-testid=alert-row]'], ['alert', `/#/alerts/${id}`, 'canvas'], ['air', '/#/air', 'canvas'], ['cameras', '/#/cameras', '[data-testid=event-snapshot]'], ['bikes', '/#/bikes', '[data-testid=bike-row]'], ['sites', '/#/sites', '[data-testid=site-row]'], ['models', '/#/models', '[data-testid=rollout]']];
    let n = 0;
    for (const lang of ['en', 'zh'] as const) {
      for (const [size, viewport] of Object.entries(SCREENS)) {
        const ctx = await browser.newContext({ locale: lang === 'zh' ? 'zh-CN' : 'en-US', viewport, baseURL: cloud.httpUrl, deviceScaleFactor: 1 });
        contexts.push(ctx);
        const page = await ctx.newPage();
        await page.goto('/');
        await page.waitForSelector('#login-name');
        await page.screenshot({ path: artifact(`login-${lang}-${size}.png`) });
        await page.fill('#login-name', 'env-1'); await page.fill('#login-password', PASSWORD); await page.click('#login-submit');
        await page.waitForSelector('[data-testid=sign-out]');
        for (const [name, url, ready] of pages) {
          await page.goto(url);
          await page.waitForSelector(ready, { timeout: 10_000 });
          await page.waitForTimeout(250);
          await page.screenshot({ path: artifact(`${name}-${lang}-${size}.png`) });
          n++;
        }
        await ctx.close();
      }
    }
    expect(n).toBe(pages.length * 4);
  });
});
