/**
 * Bench: the operator console in Chromium (Debian's, through playwright-core) against a real cloud
 * holding 10,000 open alerts and 2,000 sites, all put in through the real ingest (alerts, status)
 * and the API (site locations). Measures time to first render — from navigation to the first
 * row on screen — of the alerts page and of the sites page (median and worst of 5 loads each),
 * plus the JavaScript heap after scrolling each list to its end. Needs `npm run build` first.
 * Ends with one JSON line.
 */
import { pathToFileURL } from 'node:url';
import { newMessageId } from '../protocol/ids.ts';
import { launchChromium, SCREENS } from '../test/support/browser.ts';
import { PASSWORD, startConsoleCloud } from '../test/support/console.ts';

const ALERTS = 10_000;
const SITES = 2_000;
const RUNS = 5;

export async function run(): Promise<Record<string, number>> {
  const { cloud } = await startConsoleCloud();
  const t0 = Date.now();
  let seq = 0;
  for (let b = 0; b < ALERTS / 2000; b++) {
    const items = Array.from({ length: 2000 }, (_, i) => ({ kind: 'alert', id: newMessageId(), seq: ++seq, ts: Date.now() - (ALERTS - seq) * 1000, rule: `pm25-1h`, source: `ST${String(b * 2000 + i).padStart(5, '0')}/PM2.5`, state: 'raise', severity: i % 7 ? 'critical' : 'warning', message: `PM2.5 at ST${b * 2000 + i}: 160 µg/m³ > 150 for 3 h`, data: { value: 160, limit: 150 } }));
    const site = `env-${String(b).padStart(2, '0')}`;
    const r = cloud.ctx.ingest.accept(`ce/v1/${site}/alerts`, Buffer.from(JSON.stringify({ v: 1, site, stream: 'benchstream1', sentAt: Date.now(), items })), site);
    if (!r.ok) throw new Error(JSON.stringify(r));
  }
  for (let i = 0; i < SITES; i++) {
    const site = `street-${String(i).padStart(4, '0')}`;
    cloud.ctx.ingest.accept(`ce/v1/${site}/status`, Buffer.from(JSON.stringify({ v: 1, site, online: i % 50 !== 0, ts: Date.now(), health: { outbox: { rows: i % 300, autonomyHours: 20 + (i % 100), evicted: {} }, sources: {} } })), site);
    cloud.ctx.db.prepare('INSERT INTO site_info (site, lat, lon, timezone, updated) VALUES (?, ?, ?, ?, ?)').run(site, 39.7 + (i % 50) * 0.012, 116.1 + Math.floor(i / 50) * 0.015, 'Asia/Shanghai', Date.now());
  }
  await cloud.ctx.ingest.flush();
  const open = (cloud.ctx.db.prepare("SELECT count(*) AS n FROM alerts WHERE state = 'open'").get() as { n: number }).n;
  const seedS = (Date.now() - t0) / 1000;

  const browser = await launchChromium();
  const ctx = await browser.newContext({ viewport: SCREENS.control, baseURL: cloud.httpUrl });
  const page = await ctx.newPage();
  await page.goto('/');
  await page.fill('#login-name', 'viewer-1');
  await page.fill('#login-password', PASSWORD);
  await page.click('#login-submit');
  await page.waitForSelector('[data-testid=sign-out]');
  const time = async (route: string, selector: string) => {
    const xs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      await page.goto('about:blank');
      const s = Date.now();
      await page.goto(`/#${route}`);
      await page.waitForSelector(selector);
      xs.push(Date.now() - s);
    }
    return xs.sort((a, b) => a - b);
  };
  const alerts = await time('/alerts', '[data-testid=alert-row]');
  const totalText = await page.textContent('[data-testid=alert-total]');
  // scroll the inbox to its end: pages of 200 load as it goes; the DOM keeps only the rows in view
  const scrollEnd = async () => page.evaluate(async () => {
    const el = document.querySelector('.vlist') as HTMLElement;
    const s = performance.now();
    for (let i = 0; i < 400 && el.scrollTop + el.clientHeight < el.scrollHeight - 2; i++) { el.scrollTop = el.scrollHeight; await new Promise((r) => setTimeout(r, 30)); }
    return { ms: performance.now() - s, rows: document.querySelectorAll('.vrow').length, height: el.scrollHeight };
  });
  const alertScroll = await scrollEnd();
  const sites = await time('/sites', '[data-testid=site-row]');
  const siteCounts = await page.textContent('[data-testid=site-counts]');
  const siteScroll = await scrollEnd();
  const heap = await page.evaluate(() => (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? 0);
  await browser.close();
  await cloud.stop();
  const fig = {
    openAlerts: open, sites: SITES, seedS: Math.round(seedS * 10) / 10,
    alertsFirstRenderP50Ms: alerts[Math.floor(RUNS / 2)], alertsFirstRenderMaxMs: alerts[RUNS - 1],
    sitesFirstRenderP50Ms: sites[Math.floor(RUNS / 2)], sitesFirstRenderMaxMs: sites[RUNS - 1],
    alertsScrollToEndMs: Math.round(alertScroll.ms), alertsRowsInDom: alertScroll.rows,
    sitesScrollToEndMs: Math.round(siteScroll.ms), sitesRowsInDom: siteScroll.rows,
    heapMiB: Math.round(heap / 1048576),
  };
  console.log(`\nconsole bench — ${open} open alerts (${totalText}), ${SITES} sites (${siteCounts}), Chromium ${SCREENS.control.width}×${SCREENS.control.height}`);
  console.table({
    'alerts page: first row on screen, median ms': { value: fig.alertsFirstRenderP50Ms },
    'alerts page: first row on screen, worst of 5 ms': { value: fig.alertsFirstRenderMaxMs },
    'sites page: first row on screen, median ms': { value: fig.sitesFirstRenderP50Ms },
    'sites page: first row on screen, worst of 5 ms': { value: fig.sitesFirstRenderMaxMs },
    'alerts: scroll to the end (10,000 rows, paged) ms': { value: fig.alertsScrollToEndMs },
    'alerts: rows in the DOM at the end': { value: fig.alertsRowsInDom },
    'sites: scroll to the end ms': { value: fig.sitesScrollToEndMs },
    'sites: rows in the DOM at the end': { value: fig.sitesRowsInDom },
    'JS heap after both MiB': { value: fig.heapMiB },
  });
  console.log(JSON.stringify({ bench: 'console', ...fig }));
  return fig;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await run();
