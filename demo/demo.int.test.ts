import { afterAll, describe, expect, it } from 'vitest';
import { tempDir, waitFor } from '../test/peers/ports.ts';
import { runDemo } from './demo.ts';

/** The demo as a newcomer runs it, on free ports: every part shows what it promises, then it stops cleanly. */
describe('npm run demo', () => {
  let demo: Awaited<ReturnType<typeof runDemo>> | undefined;
  afterAll(async () => { await demo?.stop(); });

  it('runs the whole city: air quality, HJ 212 alerts, GBFS, camera events and a model rollout', async () => {
    const log = console.log;
    const lines: string[] = [];
    console.log = (...a: unknown[]) => { lines.push(a.join(' ')); };
    try {
      demo = await runDemo({ dataDir: tempDir('demo-'), httpPort: 0, mqttPort: 0, rowsPerSecond: 8 });
    } finally {
      console.log = log;
    }
    const banner = lines.join('\n');
    const token = /admin token +(ce_\S+)/.exec(banner)![1];
    const api = demo.cloud.httpUrl;
    const get = async (p: string) => (await fetch(`${api}${p}`, { headers: { authorization: `Bearer ${token}` } })).json();
    expect(banner).toMatch(/cityedge demo running/);
    // the console URL comes first, with one account per role, and each can sign in
    expect(banner).toMatch(new RegExp(`cityedge demo running\\n  console +${api}/ `));
    for (const role of ['viewer', 'env', 'ops', 'admin']) {
      const m = new RegExp(`(demo-${role}) +/ (\\S+) +\\(${role}\\)`).exec(banner)!;
      const signIn = await fetch(`${api}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: m[1], password: m[2] }) });
      expect(await signIn.json()).toMatchObject({ name: `demo-${role}`, role });
    }
    expect((await fetch(`${api}/`)).headers.get('content-type')).toMatch(/text\/html/);

    await waitFor(async () => {
      const sites = await get('/api/v1/sites') as Array<{ site: string; online: boolean }>;
      return ['street-north', 'street-east', 'street-south', 'env-beijing', 'bikes-oslo', 'cam-plaza'].every((s) => sites.find((x) => x.site === s)?.online);
    }, { timeoutMs: 60_000, what: 'all demo sites online' });
    await waitFor(async () => (await get('/api/v1/series?site=street-north&measurement=air&fields=pm25&from=-10m')).series?.[0]?.values.length > 5, { what: 'air quality series' });
    await waitFor(async () => (await get('/gbfs/en/station_status.json')).data?.stations?.length > 200, { timeoutMs: 60_000, what: 'GBFS station_status' });
    await waitFor(async () => (await get('/api/v1/events?site=cam-plaza&kind=event&type=line.cross')).length > 0, { timeoutMs: 60_000, what: 'camera line crossings' });
    await waitFor(async () => (await get('/api/v1/alerts')).alerts?.length > 0, { timeoutMs: 60_000, what: 'an HJ 212 alert' });
    const rollout = await waitFor(async () => {
      const r = await get('/api/v1/rollouts') as Array<{ state: string; name: string }> | { rollouts?: Array<{ state: string; name: string }> };
      const list = Array.isArray(r) ? r : r.rollouts ?? [];
      return list.find((x) => x.name === 'yolox_nano_416' && x.state === 'completed');
    }, { timeoutMs: 90_000, intervalMs: 500, what: 'the YOLOX-nano rollout to complete' });
    expect(rollout.state).toBe('completed');
    await demo.stop();
    demo = undefined;
  });
});
