import { afterEach, describe, expect, it, vi } from 'vitest';
import { dataFile } from '../../lib/data-dir.ts';
import { checkers } from '../../protocol/schemas.ts';
import { memoryContext } from '../../test/support/source-context.ts';
import { beijingTime, readPrsaCsv } from '../../lib/prsa-csv.ts';
import { EnvEmitter, EnvPipeline, parsePipelineConfig } from './pipeline.ts';

afterEach(() => vi.useRealTimers());

describe('EnvPipeline', () => {
  it('rejects unknown config keys with a coded error', () => {
    expect(() => parsePipelineConfig({ alerts: [], bogus: 1 })).toThrow(expect.objectContaining({ code: 'ENV_CONFIG_INVALID' }));
  });

  it('replays Beijing data (observed clock): raw telemetry, hourly aggregates, alerts; every item valid', () => {
    const cfg = parsePipelineConfig({
      clock: 'observed',
      aggregate: { periodsSec: [3600, 86400], graceMs: 0 },
      alerts: [{ id: 'pm25-1h', kind: 'limit', match: { pollutant: 'PM2.5' }, limit: 150, clearAt: 115, consecutive: 3, clearConsecutive: 2 }],
    });
    const p = new EnvPipeline(cfg);
    const rs = readPrsaCsv(dataFile('air_quality', 'PRSA_Data_Aotizhongxin_20130301-20170228.csv'), { from: beijingTime(2013, 3, 5), to: beijingTime(2013, 3, 10) });
    const out = [...p.push(rs), ...p.push([{ ...rs[0], value: Number.NaN }]), ...p.push([{ bogus: true } as any])];
    const byKind = (k: string) => out.filter((i) => i.kind === k) as any[];
    expect(byKind('telemetry')).toHaveLength(rs.length + 1);
    const alerts = byKind('alert');
    expect(alerts.map((a) => [a.state, a.ts])).toEqual([['raise', beijingTime(2013, 3, 5, 15)], ['clear', beijingTime(2013, 3, 8, 18)]]);
    // Hour aggregates of hourly data: each one carries that hour's value.
    const pm25h = byKind('aggregate').filter((a) => a.tags.pollutant === 'PM2.5' && a.tags.period === '1h');
    expect(pm25h.length).toBeGreaterThanOrEqual(119);
    const h15 = pm25h.find((a) => a.ts === beijingTime(2013, 3, 5, 15));
    expect(h15.fields).toMatchObject({ count: 1, avg: 165, min: 165, max: 165 });
    // Daily windows (UTC days) close as the watermark passes them.
    const day = byKind('aggregate').find((a) => a.tags.pollutant === 'PM2.5' && a.tags.period === '24h' && a.ts === Date.UTC(2013, 2, 6));
    expect(day.fields.count).toBe(24);
    for (const i of out) expect(checkers.item.Check({ id: '0190a5a0-0000-7000-8000-000000000001', seq: 1, ...i })).toBe(true);
    expect(p.stats()).toMatchObject({ rejected: 1, range: { not_finite: 1 } });
  });

  it('EnvEmitter: wall-clock ticks close windows and raise missing-data alerts; alert state is checkpointed', () => {
    vi.useFakeTimers({ now: Date.UTC(2024, 0, 1, 12, 0, 0) });
    const { ctx, items, checkpoints: cps } = memoryContext();
    const cfg = parsePipelineConfig({ tickMs: 1000, aggregate: { periodsSec: [60], graceMs: 1000 }, alerts: [{ id: 'gap', kind: 'missing', match: {}, afterMinutes: 2 }, { id: 'hi', kind: 'limit', match: {}, limit: 10 }] });
    const em = new EnvEmitter(ctx, new EnvPipeline(cfg), 'mb1');
    em.start();
    em.emit([{ station: 's', pollutant: 'NOx', value: 50, unit: 'mg/m3', observedAt: Date.now(), flag: 'N', source: 'modbus:mb1' }]);
    expect(items.filter((i) => i.kind === 'alert')).toHaveLength(1);
    expect(JSON.parse(cps.get('env.alerts:mb1')!).raised).toEqual([{ rule: 'hi', source: 's/NOx' }]);
    vi.advanceTimersByTime(61_000);
    expect(items.filter((i) => i.kind === 'aggregate')).toHaveLength(1);
    vi.advanceTimersByTime(60_000);
    const gap = items.filter((i) => i.kind === 'alert' && i.rule === 'gap');
    expect(gap).toMatchObject([{ state: 'raise', source: 's/NOx' }]);
    vi.advanceTimersByTime(600_000);
    expect(items.filter((i) => i.kind === 'alert')).toHaveLength(2);
    em.stop();
    // A restarted emitter restores the open alerts from the checkpoint: no second raise.
    const em2 = new EnvEmitter(ctx, new EnvPipeline(cfg), 'mb1');
    expect(em2.pipeline.alerts.stats().open).toBe(2);
  });
});
