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
  console: Type.Optional(Type.Unknown({ description: 'operator console at / : session expiry, Secure cookie, live stream polling (see README.md "Console"); validated by cloud/api/sessions.ts' })),
  hj212: Type.Optional(Type.Unknown({ description: 'HJ 212 supervision: enterprise/outlet registry, transmission effective rates, reports, flag corrections, upstream forwarding, remote commands (see cloud/hj212/README.md); validated by the hj212 feature' })),
  security: Type.Object({
    /**
     * Back-off on repeated authentication failures (MQTT CONNECT on the embedded broker, API bearer
     * tokens): see cloud/broker/README.md "Authentication failures".
     */
    authFailures: Type.Object({
      max: Type.Integer({ minimum: 1, default: 5, description: 'failures of one username within windowMs that start a back-off' }),
      maxPerAddress: Type.Integer({ minimum: 1, default: 20, description: 'failures from one remote address (IPv6: its /64) within windowMs that start a back-off; higher than max, as many sites may share a NAT address' }),
      windowMs: Type.Integer({ minimum: 1, default: 60_000, description: 'sliding window the failures are counted in; a record is forgotten after this long without failure once its back-off is over' }),
      baseDelayMs: Type.Integer({ minimum: 1, default: 1000, description: 'first back-off; each further one doubles' }),
      maxDelayMs: Type.Integer({ minimum: 1, default: 300_000, description: 'longest back-off' }),
      maxTracked: Type.Integer({ minimum: 16, default: 10_000, description: 'usernames and addresses remembered each (least recently seen dropped first), so a flood of random names cannot grow memory' }),
    }, { additionalProperties: false, default: {} }),
  }, { additionalProperties: false, default: {} }),
  ingest: Type.Object({
    maxMessageBytes: Type.Integer({ minimum: 1024, default: 2 * 1024 * 1024 }),
    maxFutureMs: Type.Integer({ minimum: 0, default: 5 * 60_000 }),
    writeBatch: Type.Integer({ minimum: 1, maximum: 50_000, default: 5000 }),
    lingerMs: Type.Integer({ minimum: 0, maximum: 10_000, default: 20 }),
    workers: Type.Union([Type.Literal('auto'), Type.Integer({ minimum: 0, maximum: 32 })], { default: 'auto', description: 'worker threads that parse and validate telemetry messages and make their InfluxDB lines off the thread that speaks MQTT (auto: one per core beside it, 2-4; 0: none)' }),
    durability: Type.Union([Type.Literal('process'), Type.Literal('power')], { default: 'process', description: 'process: a PUBACK follows a commit that survives kill -9 (WAL, synchronous=NORMAL); power: it also survives power loss (synchronous=FULL, fsync at every commit)' }),
    spoolCap: Type.Object({
      bytes: Type.Union([Type.String({ pattern: '^\\s*[0-9.]+\\s*([KkMmGgTt]i?[Bb]|[Bb])?\\s*$' }), Type.Integer({ minimum: 0 })], { default: '2GiB', description: 'spooled payload bytes (512MiB, 2GB or a number; 0 = unbounded) at which new messages are refused, not acknowledged' }),
      items: Type.Integer({ minimum: 0, default: 10_000_000, description: 'spooled items at which new messages are refused (0 = unbounded)' }),
      holdMs: Type.Integer({ minimum: 0, maximum: 60_000, default: 2000, description: 'how long a publish that finds the spool full waits for room before it is refused' }),
    }, { additionalProperties: false, default: {} }),
    receipts: Type.Object({
      enabled: Type.Boolean({ default: true, description: 'confirm to each site what is safely spooled (ce/v1/<site>/cmd/_receipt), so edges in uplink.confirm: receipt mode delete rows only then' }),
      lingerMs: Type.Integer({ minimum: 0, maximum: 5000, default: 50, description: 'coalesce the receipts of this long into one message per site and stream' }),
      maxRanges: Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 }),
    }, { additionalProperties: false, default: {} }),
  }, { additionalProperties: false, default: {} }),
}, { additionalProperties: false });

export type CloudConfig = Static<typeof CloudConfigSchema>;
