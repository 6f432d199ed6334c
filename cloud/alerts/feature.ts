import { component } from '../../lib/log.ts';
import { Counter, Gauge } from 'prom-client';
import { errMessage } from '../../lib/errors.ts';
import type { CloudFeature } from '../cloud.ts';
import type { CloudContext } from '../context.ts';
import { parseAlertsConfig, type AlertsConfig } from './config.ts';
import { Notifier, mqttPublisher, type AlertPublisher } from './notifier.ts';
import { alertRoutes } from './routes.ts';
import { ALERTS_SCHEMA } from './schema.ts';
import { AlertStore } from './store.ts';

/**
 * Optional hook a cloud may offer to publish on its own broker (embedded aedes or the external
 * one it is attached to). Not part of CloudContext yet — see cloud/alerts/README.md "MQTT".
 */
type PublishHook = { publish?: (topic: string, payload: Buffer | string, opts?: { qos?: 0 | 1; retain?: boolean }) => Promise<void> };

export interface AlertsFeature extends CloudFeature {
  readonly config: AlertsConfig;
  /** Available after the cloud started (or after sinks() ran). */
  readonly store: AlertStore;
  readonly notifier: Notifier;
  /** Run escalation now (tests; otherwise on the configured interval). */
  escalateNow(): number;
}

/**
 * The alert lifecycle as a cloud feature: an ingest sink for `alert` items, the /api/v1/alerts
 * routes, escalation of unacknowledged alerts and a durable notification queue (webhooks + MQTT).
 * Its tables are the `alerts` migrations (schema.ts), applied when the cloud opens its database.
 */
export function alertsFeature(raw: unknown, opts: { now?: () => number; publisher?: AlertPublisher } = {}): AlertsFeature {
  const cfg = parseAlertsConfig(raw);
  const now = opts.now ?? Date.now;
  let store: AlertStore | undefined;
  let notifier: Notifier | undefined;
  let ctxRef: CloudContext | undefined;
  let m: { items: Counter; transitions: Counter } | undefined;
  let escTimer: NodeJS.Timeout | undefined;

  const ensure = (ctx: CloudContext): AlertStore => {
    if (store) return store;
    ctxRef = ctx;
    const log = component(ctx.log, 'cloud.alerts');
    notifier = new Notifier(ctx.db, cfg, opts.publisher, log, ctx.metrics, now);
    const reg = [ctx.metrics];
    const transitions = new Counter({ name: 'cityedge_alerts_transitions_total', help: 'alert lifecycle transitions', labelNames: ['event'], registers: reg });
    m = {
      items: new Counter({ name: 'cityedge_alerts_items_total', help: 'alert items from sites by outcome (opened, refreshed, cleared, ignored, duplicates, stale: observed before the newest item of its rule and source)', labelNames: ['result'], registers: reg }),
      transitions,
    };
    const n = notifier;
    store = new AlertStore(ctx.db, (alert, event) => { transitions.inc({ event }); n.enqueue(alert, event); }, now);
    const s = store;
    new Gauge({
      name: 'cityedge_alerts_unresolved', help: 'unresolved alerts by state and severity', labelNames: ['state', 'severity'], registers: reg,
      collect() { this.reset(); for (const r of s.openCounts()) this.set({ state: r.state, severity: r.severity }, r.n); },
    });
    return store;
  };

  const feature: AlertsFeature = {
    config: cfg,
    schema: [ALERTS_SCHEMA],
    get store() { if (!store) throw new Error('alerts feature not started'); return store; },
    get notifier() { if (!notifier) throw new Error('alerts feature not started'); return notifier; },
    escalateNow() {
      if (!store || cfg.escalation === false) return 0;
      return store.escalateDue(cfg.escalation.afterMinutes * 60_000, cfg.escalation.maxLevel).length;
    },
    sinks: (ctx) => {
      ensure(ctx);
      return [{
        name: 'alerts',
        kinds: ['alert'],
        async write(items) {
          const r = store!.applyItems(items);
          for (const [k, v] of Object.entries(r)) if (v) m!.items.inc({ result: k }, v);
        },
      }];
    },
    routes: [async (app, ctx) => { ensure(ctx); await alertRoutes(() => store!)(app); }],
    async start(ctx) {
      ensure(ctx);
      const log = component(ctx.log, 'cloud.alerts');
      if (cfg.mqtt.enabled && !opts.publisher) {
        const hook = (ctx as unknown as PublishHook).publish;
        if (cfg.mqtt.url) notifier!.setPublisher(await mqttPublisher(cfg.mqtt, log));
        else if (hook) notifier!.setPublisher({ publish: (topic, payload) => hook(topic, payload, { qos: 1 }) });
        else log.info({ topic: cfg.mqtt.topic }, 'no MQTT publish hook in this cloud and no alerts.mqtt.url: alert notifications go to webhooks and the alert history only');
      }
      notifier!.start();
      escTimer = setInterval(() => {
        try {
          feature.escalateNow();
          store!.pruneSeen(cfg.seenRetentionHours * 3600_000);
        } catch (err) { log.error({ err: errMessage(err) }, 'alert escalation check failed'); }
      }, cfg.escalation === false ? 60_000 : cfg.escalation.checkIntervalMs);
      escTimer.unref();
      ctx.readiness.set('alerts', () => !!ctxRef?.db.open);
    },
    async stop() {
      clearInterval(escTimer);
      await notifier?.stop();
    },
  };
  return feature;
}
