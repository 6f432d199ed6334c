import { Type, type Static } from '@sinclair/typebox';

/** Cloud configuration (YAML/JSON file, `${ENV}` interpolation; unknown keys are errors). */
export const CloudConfigSchema = Type.Object({
  dataDir: Type.String({ default: './.cityedge/cloud', description: 'SQLite files (devices, tokens, spool, dead letters, embedded series), snapshots' }),
  broker: Type.Object({
    mode: Type.Union([Type.Literal('embedded'), Type.Literal('external')], { default: 'embedded' }),
    host: Type.String({ default: '0.0.0.0' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 1883 }),
    tlsCert: Type.Optional(Type.String()),
    tlsKey: Type.Optional(Type.String()),
    revocationPollMs: Type.Integer({ minimum: 100, default: 2000 }),
    url: Type.Optional(Type.String({ description: 'external broker URL (mode: external)' })),
    username: Type.Optional(Type.String()),
    password: Type.Optional(Type.String()),
    clientId: Type.String({ default: 'cityedge-ingest' }),
    shareGroup: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]+$' })),
  }, { additionalProperties: false, default: {} }),
  influx: Type.Object({
    url: Type.String({ default: '', description: 'InfluxDB 1.x URL; empty = embedded SQLite series store' }),
    database: Type.String({ default: 'cityedge' }),
  }, { additionalProperties: false, default: {} }),
  http: Type.Object({
    host: Type.String({ default: '0.0.0.0' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
  }, { additionalProperties: false, default: {} }),
  alerts: Type.Optional(Type.Unknown({ description: 'alert lifecycle: escalation, webhooks, MQTT topic (see cloud/alerts/README.md); validated by the alerts feature' })),
  gbfs: Type.Optional(Type.Unknown({ description: 'GBFS feeds (see cloud/gbfs/README.md); validated by the GBFS feature' })),
  models: Type.Optional(Type.Unknown({ description: 'model registry and rollouts (see cloud/models/README.md); validated by the models feature' })),
  ingest: Type.Object({
    maxMessageBytes: Type.Integer({ minimum: 1024, default: 2 * 1024 * 1024 }),
    maxFutureMs: Type.Integer({ minimum: 0, default: 5 * 60_000 }),
    writeBatch: Type.Integer({ minimum: 1, maximum: 50_000, default: 5000 }),
    lingerMs: Type.Integer({ minimum: 0, maximum: 10_000, default: 20 }),
  }, { additionalProperties: false, default: {} }),
}, { additionalProperties: false });

export type CloudConfig = Static<typeof CloudConfigSchema>;
