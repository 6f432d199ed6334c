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
import { cameraEvent, ENV_SITE, GATE_RULES, seed, STATION } from './seed.ts';
import { status } from '../support/console.ts';

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

/** A signed bundle pushed to the registry through the API, once (the rollout tests share it). */
let pushed: Promise<{ name: string; version: string }> | undefined;
function pushBundle(): Promise<{ name: string; version: string }> {
  pushed ??= (async () => {
    const keys = generateKeyFiles(tempDir('console-keys-'), 'ops');
    const bundle = signBundle(packBundle({ card: 'nanodet_m_320' }), loadPrivateKey(keys.keyFile));
    const up = await fetch(`${cloud.httpUrl}/api/v1/models`, { method: 'PUT', headers: { authorization: `Bearer ${tokens.ops}`, 'content-type': 'application/octet-stream' }, body: new Uint8Array(bundle) });
    expect(up.status).toBeLessThan(300);
    return await up.json() as { name: string; version: string };
  })();
  return pushed;
}

/** A write from the page with the session's CSRF token, as the console makes it. */
const pageWrite = (page: Page, path: string, body: unknown) => page.evaluate(async ([p, b]) => {
  const me = await (await fetch('/api/v1/session')).json();
  const r = await fetch(p as string, { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrf }, body: JSON.stringify(b) });
  return { status: r.status, body: await r.json() };
}, [path, body] as const);

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
    const model = await pushBundle();
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

  it('an ops user starts a rollout from the models page (sites, canary share, a gate) and sees its per-site status; env and viewer get no form and the API refuses them', async () => {
    for (const site of ['cam-b', 'cam-c']) await cloud.ctx.devices.add(site).catch(() => undefined);
    const model = await pushBundle();
    const page = await signIn('ops');
    await page.goto('/#/models');
    await page.click('[data-testid=rollout-form-open]'); // folded away until asked for
    const form = page.locator('[data-testid=rollout-form]');
    await form.waitFor();
    await page.selectOption('#ro-model', `${model.name}@${model.version}`);
    await expect.poll(() => page.locator('[data-testid=ro-site]').count(), { timeout: 5000 }).toBeGreaterThan(1);
    await page.fill('#ro-filter', 'cam-');
    await page.check('[data-testid=ro-site][value=cam-b]');
    await page.check('[data-testid=ro-site][value=cam-c]');
    expect(await page.textContent('.start-rollout .muted.small')).toContain('2');
    await page.fill('#ro-canary-percent', '50');
    await page.click('.start-rollout summary');
    await page.fill('#ro-gate-minFrames', '5');
    await page.fill('#ro-observe', '30');
    await page.click('[data-testid=rollout-start]');
    const started = page.locator('[data-testid=rollout-started]');
    await started.waitFor({ timeout: 5000 });
    const id = (await started.getAttribute('data-rollout'))!;
    const card = page.locator(`[data-testid=rollout][data-rollout="${id}"]`);
    await card.waitFor({ timeout: 5000 });
    expect(await card.locator('h3').textContent()).toBe(`${model.name}@${model.version}`);
    expect(await card.locator('[data-testid=rollout-state]').textContent()).toBe('canary');
    // per-site status: both sites, the first one the canary (50 % of 2), each with its state
    await expect.poll(() => card.locator('[data-testid=rollout-site]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-site')).sort()), { timeout: 5000 }).toEqual(['cam-b', 'cam-c']);
    expect(await card.locator('[data-testid=rollout-site][data-site=cam-b] [data-testid=rollout-site-canary]').count()).toBe(1);
    expect(await card.locator('[data-testid=rollout-site][data-site=cam-c] [data-testid=rollout-site-canary]').count()).toBe(0);
    for (const site of ['cam-b', 'cam-c']) expect(['pending', 'deploying', 'observing']).toContain(await card.locator(`[data-testid=rollout-site][data-site=${site}] [data-testid=rollout-site-state]`).textContent());
    // what the form sent is what the cloud runs
    const api = await (await fetch(`${cloud.httpUrl}/api/v1/rollouts/${id}`, { headers: { authorization: `Bearer ${tokens.viewer}` } })).json() as { spec: { gates: { minFrames: number; maxErrorRate: number }; observeMs: number }; sites: Array<{ site: string; stage: string }> };
    expect(api.spec.gates).toMatchObject({ minFrames: 5, maxErrorRate: 0.01 });
    expect(api.spec.observeMs).toBe(30_000);
    expect(api.sites.map((x) => [x.site, x.stage]).sort()).toEqual([['cam-b', 'canary'], ['cam-c', 'rest']]);
    // a refused start shows the API's code: the same sites are in a running rollout now
    await page.check('[data-testid=ro-site][value=cam-b]');
    await page.click('[data-testid=rollout-start]');
    await expect.poll(() => page.textContent('[data-testid=rollout-error]').catch(() => ''), { timeout: 5000 }).toContain('ROLLOUT_CONFLICT');
    // env and viewer: the rollouts, no form; the API refuses their start
    for (const role of ['env', 'viewer'] as const) {
      const p = await signIn(role);
      await p.goto('/#/models');
      await p.locator(`[data-testid=rollout][data-rollout="${id}"]`).waitFor();
      expect(await p.locator('[data-testid=rollout-form-box], [data-testid=rollout-form], [data-testid=rollout-start]').count()).toBe(0);
      expect(await pageWrite(p, '/api/v1/rollouts', { name: model.name, version: model.version, sites: ['cam-a'] })).toMatchObject({ status: 403, body: { code: 'API_FORBIDDEN' } });
    }
  });

  it('the cameras page shows the latest frame with the camera\'s counting line and zone drawn over it at their coordinates, labelled with their counts', async () => {
    const page = await signIn('viewer');
    await cameraEvent(cloud);
    // a site reporting geometry outside the frame: refused by the protocol check, nothing drawn
    status(cloud, 'cam-z', true, { sources: { 'gate-9': { online: true, framesIn: 10, dropped: 0, rules: [{ id: 'bad', type: 'line', line: [[0.2, 1.5], [0.4, 0.2]], names: { forward: 'in', backward: 'out' } }] } } });
    await page.goto('/#/cameras');
    const cam = page.locator('[data-testid=camera][data-camera=gate-1]');
    const img = cam.locator('[data-testid=camera-frame-img]');
    await img.waitFor({ timeout: 5000 });
    await expect.poll(() => img.evaluate((el) => (el as HTMLImageElement).naturalWidth), { timeout: 5000 }).toBe(640);
    // the frame is the newest frame snapshot of the camera
    const cams = await (await fetch(`${cloud.httpUrl}/api/v1/cameras`, { headers: { authorization: `Bearer ${tokens.viewer}` } })).json() as Array<{ site: string; camera: string; rules: unknown[]; rulesError?: { code: string }; frame?: { sha256: string } }>;
    const gate = cams.find((c) => c.camera === 'gate-1')!;
    expect(gate.rules).toEqual(GATE_RULES);
    expect(await img.getAttribute('src')).toBe(`/api/v1/snapshots/${gate.frame!.sha256}`);
    expect(cams.find((c) => c.camera === 'gate-9')).toMatchObject({ site: 'cam-z', rules: [], rulesError: { code: 'PROTO_CAMERA_RULES' } });
    expect(await page.locator('[data-testid=camera][data-camera=gate-9] [data-testid=overlay-line], [data-testid=camera][data-camera=gate-9] [data-testid=overlay-zone]').count()).toBe(0);
    const svg = cam.locator('[data-testid=overlay]');
    await expect.poll(() => svg.getAttribute('viewBox'), { timeout: 5000 }).toBe('0 0 1000 563'); // the frame's 640×360 aspect
    const [w, h] = [1000, 563];
    // the overlay covers the image exactly
    const [ib, sb] = [await img.boundingBox(), await svg.boundingBox()];
    for (const k of ['x', 'y', 'width', 'height'] as const) expect(Math.abs(ib![k] - sb![k])).toBeLessThan(1.5);
    const line = cam.locator('[data-testid=overlay-line][data-rule=crossing] line');
    expect(await line.count()).toBe(1);
    const [x1, y1, x2, y2] = await Promise.all(['x1', 'y1', 'x2', 'y2'].map(async (a) => Number(await line.getAttribute(a))));
    const L = GATE_RULES[0].line;
    for (const [got, want] of [[x1 / w, L[0][0]], [y1 / h, L[0][1]], [x2 / w, L[1][0]], [y2 / h, L[1][1]]]) expect(got).toBeCloseTo(want, 3);
    const poly = cam.locator('[data-testid=overlay-zone][data-rule=lamp] polygon');
    expect(await poly.count()).toBe(1);
    const pts = (await poly.getAttribute('points'))!.split(' ').map((p) => p.split(',').map(Number));
    expect(pts.length).toBe(GATE_RULES[1].zone.length);
    pts.forEach(([x, y], i) => { expect(x / w).toBeCloseTo(GATE_RULES[1].zone[i][0], 3); expect(y / h).toBeCloseTo(GATE_RULES[1].zone[i][1], 3); });
    // labels: the rule and its latest counts (camera_stats line_crossing_east/west, zone_lamp)
    await expect.poll(() => cam.locator('[data-testid=overlay-line][data-rule=crossing] [data-testid=overlay-label]').textContent(), { timeout: 5000 }).toBe('crossing: east 63 · west 30');
    expect(await cam.locator('[data-testid=overlay-zone][data-rule=lamp] [data-testid=overlay-label]').textContent()).toBe('lamp: 0 in the zone');
    // the drawn line is where the picture is: its on-screen x is 45 % across the image
    const lb = (await line.boundingBox())!;
    expect((lb.x + lb.width / 2 - ib!.x) / ib!.width).toBeCloseTo(0.45, 2);
  });

  it('on a phone (390×844) the alerts, sites, bikes and models pages do not overflow sideways; rows open their details by tap and by keyboard', async () => {
    for (const lang of ['en-US', 'zh-CN']) {
      const page = await signIn('ops', { viewport: SCREENS.phone, locale: lang });
      for (const [url, ready] of [['/#/alerts', '[data-testid=alert-row]'], ['/#/sites', '[data-testid=site-row]'], ['/#/bikes', '[data-testid=bike-row]'], ['/#/models', '[data-testid=rollout-form-open]']]) {
        await page.goto(url);
        await page.waitForSelector(ready, { timeout: 10_000 });
        if (url === '/#/models') { await page.click(ready); await page.waitForSelector('[data-testid=rollout-form]'); } // with the start form open
        await page.waitForTimeout(150);
        const { sw, iw } = await page.evaluate(() => ({ sw: document.scrollingElement!.scrollWidth, iw: window.innerWidth }));
        expect(sw, `${url} ${lang}: scrollWidth ${sw} > innerWidth ${iw}`).toBeLessThanOrEqual(iw);
        // nothing inside sticks out of the screen either (a clipped table is not usable)
        const wide = await page.evaluate(() => [...document.querySelectorAll('main *')].filter((e) => { const b = e.getBoundingClientRect(); return b.width > 0 && b.right > window.innerWidth + 1 && getComputedStyle(e).position !== 'fixed' && !e.closest('.vlist, .site-picks, .u-legend, .chart'); }).map((e) => `${e.tagName}.${e.className}`).slice(0, 5));
        expect(wide, `${url} ${lang}`).toEqual([]);
      }
    }
    const page = await signIn('ops', { viewport: SCREENS.phone });
    await page.goto('/#/sites');
    const row = page.locator('[data-testid=site-row][data-site=cam-a]');
    await page.fill('#site-q', 'cam-a');
    await row.waitFor();
    expect(await row.locator('.hide-phone').first().isVisible()).toBe(false); // a column subset on the phone
    await row.locator('[data-testid=site-open]').click();
    const details = page.locator('[data-testid=site-details]');
    await details.waitFor();
    expect(await details.textContent()).toMatch(/Items waiting to be sent\s*2/);
    expect(await details.textContent()).toContain('nanodet_m_320@1.0.0');
    // keyboard: Escape closes and gives focus back to the row; Enter opens it again
    await page.keyboard.press('Escape');
    await expect.poll(() => details.count()).toBe(0);
    const focused = () => page.evaluate(() => document.activeElement?.getAttribute('data-testid'));
    await expect.poll(focused, { timeout: 2000 }).toBe('site-open');
    await page.keyboard.press('Enter');
    await details.waitFor();
    await expect.poll(focused, { timeout: 2000 }).toBe('details-close');
    // the details sheet stays on the screen and its text is readable (contrast ≥ 4.5:1)
    const box = (await details.boundingBox())!;
    expect(box.x).toBeGreaterThanOrEqual(0);
    expect(box.x + box.width).toBeLessThanOrEqual(390.5);
    const ratios = await details.evaluate((el) => {
      const lum = (c: string) => { const [r, g, b] = c.match(/\d+/g)!.slice(0, 3).map((v) => { const s = Number(v) / 255; return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
      const bg = lum(getComputedStyle(el).backgroundColor);
      return [...el.querySelectorAll('dt, dd')].map((e) => { const f = lum(getComputedStyle(e).color); return (Math.max(f, bg) + 0.05) / (Math.min(f, bg) + 0.05); });
    });
    expect(Math.min(...ratios)).toBeGreaterThanOrEqual(4.5);
    await page.screenshot({ path: artifact('sites-details-en-phone.png') });
    await details.locator('[data-testid=details-close]').click();
    // bikes: tap a station for its details
    await page.goto('/#/bikes');
    await page.locator('[data-testid=bike-open]').first().click();
    const bd = page.locator('[data-testid=bike-details]');
    await bd.waitFor();
    expect(await bd.textContent()).toMatch(/Docks available/);
    // models: the registry and the per-site tables are stacked cards, each value with its column's name
    await page.goto('/#/models');
    const cell = page.locator('[data-testid=rollout-site] td').first();
    await cell.waitFor();
    expect(await cell.evaluate((el) => getComputedStyle(el, '::before').content)).toBe('"Site"');
  });

  it('an alert reads in the reader\'s language from its fields (zh-CN and en), whatever language the edge wrote; an unknown rule type shows the stored message', async () => {
    const [so2] = await ingest(cloud, ENV_SITE, 'alerts', [{ kind: 'alert', rule: 'so2-1h', source: `${STATION}/SO2`, state: 'raise', severity: 'warning', ts: Date.now(), message: `SO2 at ${STATION}: 612 ug/m3 > 500 (3 readings)`, data: { type: 'exceedance', station: STATION, pollutant: 'SO2', unit: 'ug/m3', value: 612, limit: 500, multiple: 0.224, basis: 'raw', consecutive: 3 } }]);
    await ingest(cloud, ENV_SITE, 'alerts', [{ kind: 'alert', rule: 'vendor-door', source: 'cabinet-1', state: 'raise', severity: 'info', ts: Date.now(), message: 'Cabinet door open', data: { type: 'vendor', door: 1 } }]);
    const en = `SO₂ at ${STATION}: measured concentration 612 µg/m³ above the limit 500 µg/m³, exceedance multiple 0.22, 3 consecutive readings`;
    const zh = `${STATION} 二氧化硫 超标：实测浓度 612 µg/m³，限值 500 µg/m³，超标倍数 0.22，连续3次`;
    const page = await signIn('env');
    const row = page.locator('[data-testid=alert-row]', { hasText: 'µg/m³' }).filter({ hasText: '612' });
    await row.waitFor({ timeout: 5000 });
    expect((await row.locator('[data-testid=alert-text]').textContent())!.trim()).toBe(en);
    const other = page.locator('[data-testid=alert-row]', { hasText: 'Cabinet door open' });
    await other.waitFor();
    await page.click('[data-testid=lang-zh]');
    expect((await row.locator('[data-testid=alert-text]').textContent())!.trim()).toBe(zh);
    expect(await other.count()).toBe(1); // the stored message: no structured fields to read it from
    const id = Number(await row.getAttribute('data-alert-id'));
    await page.goto(`/#/alerts/${id}`);
    await expect.poll(() => page.textContent('[data-testid=alert-message]'), { timeout: 5000 }).toBe(zh);
    expect(await page.textContent('[data-testid=alert-stored]')).toContain('612 ug/m3 > 500'); // what the edge wrote stays available
    await page.click('[data-testid=lang-en]');
    expect(await page.textContent('[data-testid=alert-message]')).toBe(en);
    // a browser in zh-CN starts in Chinese
    const zhPage = await signIn('viewer', { locale: 'zh-CN' });
    await zhPage.goto(`/#/alerts/${id}`);
    await expect.poll(() => zhPage.textContent('[data-testid=alert-message]'), { timeout: 5000 }).toBe(zh);
    expect(so2.id).toBeTruthy();
  });

  it('screenshots of every page, both languages, both screen sizes', async () => {
    const id = (await (await fetch(`${cloud.httpUrl}/api/v1/alerts?rule=pm25-1h&limit=1`, { headers: { authorization: `Bearer ${tokens.viewer}` } })).json()).alerts[0].id as number;
    const pages: Array<[string, string, string]> = [['alerts', '/#/alerts', '[data-testid=alert-row]'], ['alert', `/#/alerts/${id}`, 'canvas'], ['air', '/#/air', 'canvas'], ['cameras', '/#/cameras', '[data-testid=camera-frame-img]'], ['bikes', '/#/bikes', '[data-testid=bike-row]'], ['sites', '/#/sites', '[data-testid=site-row]'], ['models', '/#/models', '[data-testid=rollout]']];
    let n = 0;
    for (const lang of ['en', 'zh'] as const) {
      for (const [size, viewport] of Object.entries(SCREENS)) {
        const ctx = await browser.newContext({ locale: lang === 'zh' ? 'zh-CN' : 'en-US', viewport, baseURL: cloud.httpUrl, deviceScaleFactor: 1 });
        contexts.push(ctx);
        const page = await ctx.newPage();
        await page.goto('/');
        await page.waitForSelector('#login-name');
        await page.screenshot({ path: artifact(`login-${lang}-${size}.png`) });
        await page.fill('#login-name', 'ops-1'); await page.fill('#login-password', PASSWORD); await page.click('#login-submit');
        await page.waitForSelector('[data-testid=sign-out]');
        for (const [name, url, ready] of pages) {
          await page.goto(url);
          await page.waitForSelector(ready, { timeout: 10_000 });
          await page.waitForTimeout(250);
          await page.screenshot({ path: artifact(`${name}-${lang}-${size}.png`) });
          n++;
          if (name === 'models') { // and the start form, open
            await page.click('[data-testid=rollout-form-open]');
            await page.waitForSelector('[data-testid=rollout-form]');
            await page.screenshot({ path: artifact(`models-form-${lang}-${size}.png`), fullPage: true });
          }
        }
        await ctx.close();
      }
    }
    expect(n).toBe(pages.length * 4);
  });
});
