import crypto from 'node:crypto';
import { Counter, Gauge, type Registry } from 'prom-client';
import { errMessage } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import type { CloudDb } from '../db.ts';
import { migrate } from '../migrations.ts';
import type { AlertsConfig, NotifyEvent, WebhookConfig } from './config.ts';
import { DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signDelivery } from './signature.ts';
import { ALERTS_SCHEMA } from './schema.ts';
import type { AlertView } from './store.ts';

/** Publishes a payload on an MQTT topic (QoS 1); rejects when it could not. */
export interface AlertPublisher {
  publish(topic: string, payload: string): Promise<void>;
  close?(): Promise<void>;
}

export interface NotificationRow { id: string; target: string; alert_id: number; event: string; body: string; state: string; attempts: number; next_at: number; created: number; done_at: number | null; last_error: string | null }

/**
 * Durable notification queue (SQLite) with delivery to webhooks (HMAC-SHA256 signed, retried with
 * exponential backoff) and to an MQTT topic. `enqueue` is called inside the alert transition's
 * transaction, so a committed transition always has its notifications queued, and a restart
 * delivers whatever was still pending. Delivery is at-least-once: receivers dedupe on the
 * notification `id` (also in the `X-Cityedge-Delivery` header).
 */
export class Notifier {
  private readonly st;
  private timer?: NodeJS.Timeout;
  private running = false;
  private again = false;
  private stopped = true;
  private readonly hooks: Map<string, WebhookConfig>;
  private readonly m;

  constructor(private readonly db: CloudDb, private readonly cfg: AlertsConfig, private publisher: AlertPublisher | undefined, private readonly log: Logger, registry: Registry, private readonly now: () => number = Date.now) {
    migrate(db, [ALERTS_SCHEMA]); // a no-op when the cloud applied it at start
    this.hooks = new Map(cfg.webhooks.map((w) => [`webhook:${w.name}`, w]));
    this.st = {
      insert: db.prepare('INSERT INTO alert_notifications (id, target, alert_id, event, body, next_at, created) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      due: db.prepare("SELECT * FROM alert_notifications WHERE state = 'pending' AND next_at <= ? ORDER BY created, rowid LIMIT 100"),
      done: db.prepare("UPDATE alert_notifications SET state = 'delivered', attempts = attempts + 1, done_at = ?, last_error = NULL WHERE id = ?"),
      retry: db.prepare('UPDATE alert_notifications SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE id = ?'),
      fail: db.prepare("UPDATE alert_notifications SET state = 'failed', attempts = attempts + 1, done_at = ?, last_error = ? WHERE id = ?"),
      pending: db.prepare("SELECT count(*) AS n FROM alert_notifications WHERE state = 'pending'"),
      all: db.prepare('SELECT * FROM alert_notifications ORDER BY created, rowid'),
    };
    const reg = [registry];
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    this.m = {
      sent: new Counter({ name: 'cityedge_alert_notifications_total', help: 'alert notification attempts by target and result (delivered, retry, failed)', labelNames: ['target', 'result'], registers: reg }),
      pending: new Gauge({ name: 'cityedge_alert_notifications_pending', help: 'alert notifications waiting in the durable queue', registers: reg, collect() { this.set(self.pendingCount()); } }),
    };
  }

  get mqttEnabled(): boolean {
    return this.cfg.mqtt.enabled && !!this.publisher;
  }

  setPublisher(p: AlertPublisher | undefined): void {
    this.publisher = p;
  }

  /** Queue the notifications of one transition (call inside the transition's transaction). */
  enqueue(alert: AlertView, event: NotifyEvent): void {
    const at = this.now();
    const targets: string[] = [];
    for (const [t, w] of this.hooks) if (w.events.includes(event)) targets.push(t);
    if (this.mqttEnabled && this.cfg.mqtt.events.includes(event)) targets.push('mqtt');
    for (const target of targets) {
      const id = crypto.randomUUID();
      const body = JSON.stringify({ v: 1, id, event, at, alert });
      this.st.insert.run(id, target, alert.id, event, body, at, at);
    }
    if (targets.length) this.kick();
  }

  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => this.kick(), this.cfg.retry.pollMs);
    this.timer.unref();
    this.kick();
  }

  /**
   * Deliver what is due, on a later turn of the event loop — never synchronously, because
   * enqueue() runs inside a transaction that has not committed yet.
   */
  kick(): void {
    if (this.stopped) return;
    if (this.running) { this.again = true; return; }
    this.running = true;
    setImmediate(() => {
      void this.run().catch((err) => this.log.error({ err: errMessage(err) }, 'alert notifier loop failed')).finally(() => {
        this.running = false;
        if (this.again && !this.stopped) { this.again = false; this.kick(); }
      });
    });
  }

  private async run(): Promise<void> {
    for (;;) {
      const rows = this.st.due.all(this.now()) as NotificationRow[];
      if (!rows.length || this.stopped) return;
      await Promise.all(rows.map((r) => this.deliver(r)));
    }
  }

  private async deliver(r: NotificationRow): Promise<void> {
    const kind = r.target === 'mqtt' ? 'mqtt' : 'webhook';
    try {
      if (kind === 'mqtt') {
        if (!this.publisher) throw new Error('no MQTT publisher');
        await this.publisher.publish(this.cfg.mqtt.topic, r.body);
      } else {
        const w = this.hooks.get(r.target);
        if (!w) throw new Error(`webhook ${r.target} is no longer configured`);
        await postSigned(w, r);
      }
      this.st.done.run(this.now(), r.id);
      this.m.sent.inc({ target: r.target, result: 'delivered' });
    } catch (err) {
      const msg = errMessage(err).slice(0, 500);
      const attempts = r.attempts + 1;
      if (attempts >= this.cfg.retry.maxAttempts || (kind === 'webhook' && !this.hooks.has(r.target))) {
        this.st.fail.run(this.now(), msg, r.id);
        this.m.sent.inc({ target: r.target, result: 'failed' });
        this.log.error({ target: r.target, alert: r.alert_id, event: r.event, attempts, err: msg }, 'alert notification failed for good');
        return;
      }
      const backoff = Math.min(this.cfg.retry.maxMs, this.cfg.retry.initialMs * 2 ** (attempts - 1));
      // ±20 % jitter so many failed deliveries do not retry in lock-step
      const delay = Math.round(backoff * (0.8 + Math.random() * 0.4));
      this.st.retry.run(this.now() + delay, msg, r.id);
      this.m.sent.inc({ target: r.target, result: 'retry' });
      if (attempts === 1 || attempts % 5 === 0) this.log.warn({ target: r.target, alert: r.alert_id, attempts, retryInMs: delay, err: msg }, 'alert notification not delivered; will retry');
    }
  }

  pendingCount(): number {
    return (this.st.pending.get() as { n: number }).n;
  }

  rows(): NotificationRow[] {
    return this.st.all.all() as NotificationRow[];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    while (this.running) await new Promise((r) => setTimeout(r, 10));
    await this.publisher?.close?.();
  }
}

async function postSigned(w: WebhookConfig, r: NotificationRow): Promise<void> {
  const res = await fetch(w.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'user-agent': 'cityedge-alerts/1',
      // signed at each attempt: the timestamp is the attempt's, the delivery id and body stay
      [SIGNATURE_HEADER]: signDelivery(w.secret, { deliveryId: r.id, body: r.body }),
      [DELIVERY_HEADER]: r.id,
      [EVENT_HEADER]: r.event,
    },
    body: r.body,
    signal: AbortSignal.timeout(w.timeoutMs),
  });
  await res.arrayBuffer().catch(() => undefined);
  if (res.status < 200 || res.status >= 300) throw new Error(`HTTP ${res.status} from ${new URL(w.url).host}`);
}

/** MQTT publisher on a broker URL (e.g. the external mosquitto the cloud already uses). */
export async function mqttPublisher(cfg: AlertsConfig['mqtt'], log: Logger): Promise<AlertPublisher> {
  const mqtt = await import('mqtt');
  const client = mqtt.connect(cfg.url!, { username: cfg.username, password: cfg.password, clientId: `${cfg.clientId}-${crypto.randomBytes(3).toString('hex')}`, reconnectPeriod: 1000, connectTimeout: 5000 });
  client.on('error', (err) => log.warn({ err: err.message }, 'alerts MQTT publisher error'));
  return {
    async publish(topic, payload) {
      if (!client.connected) throw new Error(`not connected to ${cfg.url}`);
      await client.publishAsync(topic, payload, { qos: 1 });
    },
    async close() { await client.endAsync(true).catch(() => undefined); },
  };
}
