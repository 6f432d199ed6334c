import { afterAll, describe, expect, it } from 'vitest';
import type { Cloud } from '../../cloud/cloud.ts';
import type { Edge } from '../../edge/edge.ts';
import { edgeConfig, startCloud, startEdge } from '../harness.ts';
import { freePort, waitFor } from '../peers/ports.ts';

describe('after a reconnect live data goes first and the backlog drains beside it at a bounded rate', () => {
  let edge: Edge | undefined;
  let cloud: Cloud | undefined;
  afterAll(async () => { await edge?.stop(); await cloud?.stop(); });

  it('keeps live latency low while a 3,000-item backlog drains at about 1,000 items/s', async () => {
    const port = await freePort();
    const BACKLOG = 3000;
    const RATE = 1000;
    edge = await startEdge(edgeConfig({
      site: 'site-l', password: 'site-l-password-1', url: `mqtt://127.0.0.1:${port}`,
      uplink: { backlogRate: RATE, batchMaxItems: 100 },
      sources: [{ type: 'synthetic', id: 'old', count: BACKLOG, ratePerSec: 100_000, batch: 100, measurement: 'backlog' }],
    }));
    await waitFor(() => edge!.outbox.size === BACKLOG, { what: 'backlog built' });
    cloud = await startCloud({ broker: { port } });
    await cloud.ctx.devices.add('site-l', 'site-l-password-1');
    await waitFor(() => edge!.uplink.stats().connected, { timeoutMs: 10_000, what: 'connected' });
    const t0 = Date.now();
    // live readings at 20/s while the backlog drains
    let i = 0;
    const live = setInterval(() => { edge!.emit([{ kind: 'telemetry', ts: Date.now(), m: 'live', tags: {}, fields: { i: i++ } }]); }, 50);
    await waitFor(() => edge!.outbox.size === 0 && i > 40, { timeoutMs: 30_000, what: 'backlog drained' });
    clearInterval(live);
    const drainSeconds = (Date.now() - t0) / 1000;
    await cloud.ctx.ingest.flush();
    // bounded: ~3 s at 1,000/s (the bucket starts with one second of burst)
    expect(drainSeconds).toBeGreaterThan((BACKLOG - RATE) / RATE * 0.8);
    const q = await cloud.ctx.store.query({ measurement: 'live', fields: ['i', 'received_ms'], from: t0 - 1000, to: Date.now() + 1000, site: 'site-l' });
    const lags = q.series[0].values.map((v) => (v[2] as number) - (v[0] as number)).sort((a, b) => a - b);
    expect(lags.length).toBeGreaterThanOrEqual(40);
    // live items were not queued behind the backlog
    expect(lags[Math.floor(lags.length * 0.95)]).toBeLessThan(300);
    const backlog = await cloud.ctx.store.query({ measurement: 'backlog', fields: ['value'], from: 1_700_000_000_000, to: 1_700_000_000_000 + BACKLOG, site: 'site-l', windowMs: 10_000_000, agg: 'count' });
    expect(backlog.series[0].values[0][1]).toBe(BACKLOG);
  });
});
