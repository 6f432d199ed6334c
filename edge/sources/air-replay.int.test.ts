import { afterAll, describe, expect, it } from 'vitest';
import type { Cloud } from '../../cloud/cloud.ts';
import type { Edge } from '../edge.ts';
import { Outbox } from '../outbox/outbox.ts';
import { edgeConfig, startCloud, startEdge } from '../../test/harness.ts';
import { tempDir, waitFor } from '../../test/peers/ports.ts';

describe('air-replay source (real Beijing hourly data)', () => {
  let cloud: Cloud;
  let edge: Edge | undefined;
  afterAll(async () => { await edge?.stop(); await cloud?.stop(); });

  it('replays rows with their Beijing time and values, resumes after a restart without repeating a row, and stops at maxRows over both runs', async () => {
    cloud = await startCloud();
    const password = await cloud.ctx.devices.add('site-aq');
    const cfg = edgeConfig({ site: 'site-aq', password, url: `mqtt://127.0.0.1:${cloud.mqttPort}`, stateDir: tempDir('edge-aq-'), sources: [{ type: 'air-replay', id: 'aq', rowsPerSecond: 40, maxRows: 60 }] });
    edge = await startEdge(cfg);
    await waitFor(() => Number(edge!.outbox.checkpoint('air-replay:aq') ?? -1) >= 20, { what: 'first rows' });
    await edge.stop();
    const closed = new Outbox(`${cfg.stateDir}/outbox.db`, { capBytes: 1 << 20 });
    const stoppedAt = Number(closed.checkpoint('air-replay:aq'));
    closed.close();
    edge = await startEdge(cfg); // resumes at the row after the checkpoint
    await waitFor(() => Number(edge!.outbox.checkpoint('air-replay:aq')) >= stoppedAt + 30, { what: 'resumed rows' });
    // maxRows counts rows of the data, not of one process: rows 0..59, then the source is done
    await waitFor(() => edge!.outbox.checkpoint('air-replay:aq') === '59', { what: 'the last of the 60 rows' });
    await new Promise((r) => setTimeout(r, 300)); // 12 more rows' time at 40 rows/s
    expect(edge.outbox.checkpoint('air-replay:aq')).toBe('59');
    await waitFor(() => edge!.outbox.size === 0, { what: 'delivered' });
    await cloud.ctx.ingest.flush();
    const r = await cloud.ctx.store.query({ measurement: 'air', fields: ['pm25', 'co', 'temp'], from: 0, to: 2e12, site: 'site-aq' });
    const values = r.series[0].values;
    // CSV row 1: 2013-03-01 00:00 Beijing time (UTC+8), PM2.5 4, CO 300 µg/m³, TEMP -0.7 °C
    expect(values[0]).toEqual([Date.UTC(2013, 2, 1, 0) - 8 * 3600_000, 4, 300, -0.7]);
    expect(values[1]).toEqual([Date.UTC(2013, 2, 1, 1) - 8 * 3600_000, 8, 300, -1.1]);
    // one point per hour, no gap and no repeat across the restart
    for (let i = 1; i < values.length; i++) expect((values[i][0] as number) - (values[i - 1][0] as number)).toBe(3600_000);
    expect((await cloud.ctx.ingest.counts())['items.accepted']).toBe(values.length);
    expect(values.length).toBe(60);
  });
});
