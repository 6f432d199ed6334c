import { Type, type Static } from '@sinclair/typebox';
import { validateConfig } from '../../lib/config.ts';
import { CodedError } from '../../lib/errors.ts';

/** Lifecycle events that produce notifications (a repeated raise of an open alert does not). */
export const NOTIFY_EVENTS = ['raised', 'escalated', 'acknowledged', 'resolved'] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];
const EventList = Type.Array(Type.Union(NOTIFY_EVENTS.map((e) => Type.Literal(e))), { minItems: 1, default: [...NOTIFY_EVENTS] });

export const WebhookSchema = Type.Object(
  {
    /** Short name used in the notification queue, metrics and logs. */
    name: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' }),
    url: Type.String({ pattern: '^https?://' }),
    /** HMAC-SHA256 key; the receiver verifies `X-Cityedge-Signature: sha256=<hex>` over the raw body. */
    secret: Type.String({ minLength: 16, maxLength: 512 }),
    events: EventList,
    timeoutMs: Type.Integer({ minimum: 100, maximum: 60_000, default: 5000 }),
  },
  { additionalProperties: false },
);

/**
 * The `alerts:` block of the cloud config (see cloud/alerts/README.md).
 * Unknown keys are rejected with ALERT_CONFIG_INVALID.
 */
export const AlertsConfigSchema = Type.Object(
  {
    escalation: Type.Union([
      Type.Object({
        /** Escalate an alert that stays unacknowledged this long after it opened (and again after each further period, up to maxLevel). */
        afterMinutes: Type.Number({ exclusiveMinimum: 0, maximum: 7 * 24 * 60, default: 30 }),
        maxLevel: Type.Integer({ minimum: 1, maximum: 10, default: 2 }),
        checkIntervalMs: Type.Integer({ minimum: 50, default: 30_000 }),
      }, { additionalProperties: false, default: {} }),
      Type.Literal(false),
    ], { default: {} }),
    webhooks: Type.Array(WebhookSchema, { default: [], maxItems: 32 }),
    retry: Type.Object({
      initialMs: Type.Integer({ minimum: 10, default: 1000 }),
      maxMs: Type.Integer({ minimum: 10, default: 5 * 60_000 }),
      /** After this many failed attempts a notification is marked failed (kept in the queue table for inspection). */
      maxAttempts: Type.Integer({ minimum: 1, maximum: 1000, default: 20 }),
      /** How often the queue is polled for due retries (new notifications are sent at once). */
      pollMs: Type.Integer({ minimum: 10, default: 1000 }),
    }, { additionalProperties: false, default: {} }),
    mqtt: Type.Object({
      enabled: Type.Boolean({ default: true }),
      topic: Type.String({ minLength: 1, maxLength: 256, default: 'ce/v1/_cloud/alerts' }),
      events: EventList,
      /** Publish through this broker (e.g. the external mosquitto); without it the cloud's own broker hook is used when present. */
      url: Type.Optional(Type.String({ pattern: '^(mqtts?|wss?|tcp)://' })),
      username: Type.Optional(Type.String()),
      password: Type.Optional(Type.String()),
      clientId: Type.String({ default: 'cityedge-alerts' }),
    }, { additionalProperties: false, default: {} }),
    /** How long ids of applied alert items are kept to make re-delivery idempotent. */
    seenRetentionHours: Type.Number({ exclusiveMinimum: 0, default: 72 }),
  },
  { additionalProperties: false, default: {} },
);
export type AlertsConfig = Static<typeof AlertsConfigSchema>;
export type WebhookConfig = Static<typeof WebhookSchema>;

export function parseAlertsConfig(raw: unknown, source = 'cloud config /alerts'): AlertsConfig {
  const cfg = validateConfig(AlertsConfigSchema, raw === true ? {} : raw ?? {}, source, 'ALERT_CONFIG_INVALID');
  const names = new Set<string>();
  for (const w of cfg.webhooks) {
    if (names.has(w.name)) throw new CodedError('ALERT_CONFIG_INVALID', `${source}: webhook name "${w.name}" is used twice; give each webhook its own name`);
    names.add(w.name);
  }
  return cfg;
}
