import { Counter, Gauge } from 'prom-client';
import { errMessage } from '../../lib/errors.ts';
import { component } from '../../lib/log.ts';
import type { CloudFeature } from '../cloud.ts';
import type { CloudContext } from '../context.ts';
import type { IngestSink } from '../ingest/ingest.ts';
import { CommandStore } from './commands.ts';
import { parseHj212Config, type Hj212Config, type Period, type Registry } from './config.ts';
import { dayStart, monthStart, RateCalculator, ratePoints } from './rates.ts';
import { RecordStore } from './records.ts';
import { hj212Routes } from './routes.ts';
import { HJ212_SCHEMA } from './schema.ts';
import { UpstreamLink } from './upstream.ts';

export interface Hj212Feature extends CloudFeature {
  readonly config: Hj212Config;
  readonly registry: Registry;
  /** Available once the cloud built the sinks (or started). */
  readonly records: RecordStore;
  readonly rates: RateCalculator;
  readonly upstreams: readonly UpstreamLink[];
  /** Recompute the recent day and month rates and write them as `hj212_rates` points (the periodic job). */
  writeRatesNow(): Promise<number>;
}

/** The ingest sink of the feature: hj212 telemetry → records (+ upstream outboxes), cmdres → command answers. */
export function hj212Sink(records: RecordStore, onQueued: () => void = () => {}): IngestSink {
  return {
    name: 'hj212',
    kinds: ['telemetry', 'cmdres'],
    async write(items) {
      const r = records.applyItems(items);
      if (r.created || r.changed) onQueued();
    },
  };
}

/**
 * HJ 212 supervision as a cloud feature (README.md): the registry of enterprises and outlets,
 * records per (MN, period, DataTime), transmission effective rates (API + `hj212_rates` series),
 * daily/monthly reports, manual flag corrections with audit, forwarding to upstream platforms
 * with a durable outbox each, and remote commands to loggers through their edge site.
 */
export function hj212Feature(raw: unknown, opts: { now?: () => number } = {}): Hj212Feature {
  const { config, registry } = parseHj212Config(raw);
  const now = opts.now ?? Date.now;
  let parts: { records: RecordStore; rates: RateCalculator; commands: CommandStore; upstreams: UpstreamLink[]; ctx: CloudContext } | undefined;
  let timer: NodeJS.Timeout | undefined;
  let jobRunning: Promise<number> | undefined;

  const ensure = (ctx: CloudContext) => {
    if (parts) return parts;
    const log = component(ctx.log, 'cloud.hj212');
    const upstreams: UpstreamLink[] = [];
    const forwardTo = (mn: string, period: Period) => upstreams.filter((u) => u.forwardsRecord(mn, period)).map((u) => u.cfg.id);
    const records = new RecordStore(ctx.db, forwardTo, now);
    for (const u of config.upstreams) upstreams.push(new UpstreamLink(u, { db: ctx.db, records, store: ctx.store, registry, offsetMinutes: config.offsetMinutes, log, now }));
    const rates = new RateCalculator(ctx.db, records, registry, config, now);
    const commands = new CommandStore(ctx, records, registry, config.offsetMinutes, now);
    const reg = [ctx.metrics];
    new Gauge({
      name: 'cityedge_hj212_upstream_pending', help: 'records queued for an upstream platform, not yet acknowledged (9014)', labelNames: ['upstream'], registers: reg,
      collect() { this.reset(); for (const u of upstreams) this.set({ upstream: u.cfg.id }, u.status().pending); },
    });
    new Counter({
      name: 'cityedge_hj212_upstream_frames_total', help: 'data frames sent to upstream platforms, by result (sent, acked, timeout, history)', labelNames: ['upstream', 'result'], registers: reg,
      collect() { this.reset(); for (const u of upstreams) { const c = u.counters; this.inc({ upstream: u.cfg.id, result: 'sent' }, c.sent); this.inc({ upstream: u.cfg.id, result: 'acked' }, c.acked); this.inc({ upstream: u.cfg.id, result: 'timeout' }, c.timeouts); this.inc({ upstream: u.cfg.id, result: 'history' }, c.historyFrames); } },
    });
    parts = { records, rates, commands, upstreams, ctx };
    return parts;
  };
  const need = () => { if (!parts) throw new Error('hj212 feature not started'); return parts; };

  const writeRates = async (): Promise<number> => {
    const p = need();
    const t = now();
    const off = config.offsetMinutes;
    const days = p.rates.compute({ window: 'day', from: dayStart(t, off) - (config.rateJob.recomputeDays - 1) * 86_400_000, to: t + 1 });
    const months = p.rates.compute({ window: 'month', from: monthStart(monthStart(t, off) - 1, off), to: t + 1 });
    const points = ratePoints([...days, ...months], config.rateThreshold);
    if (points.length) await p.ctx.store.write(points);
    p.records.prune(t - config.retention.rtDays * 86_400_000, t - config.retention.days * 86_400_000);
    return points.length;
  };

  const feature: Hj212Feature = {
    config, registry,
    schema: [HJ212_SCHEMA],
    get records() { return need().records; },
    get rates() { return need().rates; },
    get upstreams() { return need().upstreams; },
    writeRatesNow() {
      // one run at a time: the timer and a test may both ask
      jobRunning ??= writeRates().finally(() => { jobRunning = undefined; });
      return jobRunning;
    },
    sinks: (ctx) => {
      const p = ensure(ctx);
      return [hj212Sink(p.records, () => { for (const u of p.upstreams) u.notify(); })];
    },
    routes: [async (app, ctx) => {
      const p = ensure(ctx);
      await hj212Routes(() => ({ config, registry, records: p.records, rates: p.rates, commands: p.commands, store: ctx.store, upstreams: p.upstreams, now, onCorrection: () => { for (const u of p.upstreams) u.notify(); } }))(app);
    }],
    async start(ctx) {
      const p = ensure(ctx);
      const log = component(ctx.log, 'cloud.hj212');
      for (const u of p.upstreams) u.start();
      timer = setInterval(() => { feature.writeRatesNow().catch((err) => log.warn({ err: errMessage(err) }, 'hj212 rate job failed; retried at the next run')); }, config.rateJob.intervalMs);
      timer.unref();
      ctx.readiness.set('hj212', () => ctx.db.open);
    },
    async stop() {
      clearInterval(timer);
      await jobRunning?.catch(() => {});
      for (const u of parts?.upstreams ?? []) await u.stop();
    },
  };
  return feature;
}
