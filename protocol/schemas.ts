/**
 * Payload schemas of protocol v1. Both ends validate against these compiled checkers:
 * the edge before an item enters its outbox, the cloud before an item enters ingest.
 */
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { MESSAGE_ID_PATTERN } from './ids.ts';
import { SITE_ID_PATTERN, type UpstreamChannel } from './topics.ts';

const Name = Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_.\\-]{0,63}$' });
/** Line protocol (InfluxDB 1.x) cannot carry line breaks in tag values or string fields. */
const TagValue = Type.String({ minLength: 1, maxLength: 256, pattern: '^[^\\r\\n]*$' });
const FieldValue = Type.Union([Type.Number(), Type.String({ maxLength: 4096, pattern: '^[^\\r\\n]*$' }), Type.Boolean()]);
/** Observed time, Unix epoch milliseconds. */
const Millis = Type.Integer({ minimum: 946_684_800_000 /* 2000-01-01 */, maximum: 32_503_680_000_000 });

const Base = {
  /** Time-ordered unique id (UUIDv7). */
  id: Type.String({ pattern: MESSAGE_ID_PATTERN }),
  /** Per-site (per outbox stream) sequence number, gap-free at append time. */
  seq: Type.Integer({ minimum: 1 }),
  /** Observed time (device or edge clock). The cloud adds the received time. */
  ts: Millis,
};

export const TelemetryItem = Type.Object(
  {
    ...Base,
    kind: Type.Union([Type.Literal('telemetry'), Type.Literal('aggregate')]),
    /** Measurement name, e.g. `air`, `camera_stats`. */
    m: Name,
    tags: Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$' }), TagValue, { maxProperties: 16 }),
    fields: Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_.]{0,63}$' }), FieldValue, { minProperties: 1, maxProperties: 64 }),
  },
  { additionalProperties: false },
);

export const EventItem = Type.Object(
  {
    ...Base,
    kind: Type.Literal('event'),
    /** Event type, e.g. `camera.offline`, `zone.dwell`, `bike.rental`. */
    type: Name,
    /** What raised it (camera id, station id, device id). */
    source: Type.String({ minLength: 1, maxLength: 128 }),
    /** `start`/`end` for situations with a duration, `instant` otherwise. */
    phase: Type.Union([Type.Literal('start'), Type.Literal('end'), Type.Literal('instant')]),
    /** Groups the start and end of one situation. */
    key: Type.Optional(Type.String({ maxLength: 128 })),
    data: Type.Record(Type.String(), Type.Unknown(), { maxProperties: 64 }),
  },
  { additionalProperties: false },
);

export const AlertItem = Type.Object(
  {
    ...Base,
    kind: Type.Literal('alert'),
    /** Rule id that raised it; one open alert per (site, rule, source) in the cloud. */
    rule: Type.String({ minLength: 1, maxLength: 128 }),
    source: Type.String({ minLength: 1, maxLength: 128 }),
    /** `raise` opens (or refreshes) an alert, `clear` says the data cleared it. */
    state: Type.Union([Type.Literal('raise'), Type.Literal('clear')]),
    severity: Type.Union([Type.Literal('info'), Type.Literal('warning'), Type.Literal('critical')]),
    message: Type.String({ maxLength: 1024 }),
    data: Type.Record(Type.String(), Type.Unknown(), { maxProperties: 64 }),
  },
  { additionalProperties: false },
);

export const SnapshotItem = Type.Object(
  {
    ...Base,
    kind: Type.Literal('snapshot'),
    /** Id of the event this evidence belongs to. */
    ref: Type.String({ pattern: MESSAGE_ID_PATTERN }),
    role: Type.Union([Type.Literal('frame'), Type.Literal('crop')]),
    contentType: Type.Literal('image/jpeg'),
    /** Base64 of the image bytes. */
    data: Type.String({ maxLength: 1_400_000 }),
  },
  { additionalProperties: false },
);

export const CommandResultItem = Type.Object(
  {
    ...Base,
    kind: Type.Literal('cmdres'),
    cmdId: Type.String({ minLength: 1, maxLength: 128 }),
    ok: Type.Boolean(),
    result: Type.Record(Type.String(), Type.Unknown()),
  },
  { additionalProperties: false },
);

export const Item = Type.Union([TelemetryItem, EventItem, AlertItem, SnapshotItem, CommandResultItem]);
export type TelemetryItem = Static<typeof TelemetryItem>;
export type EventItem = Static<typeof EventItem>;
export type AlertItem = Static<typeof AlertItem>;
export type SnapshotItem = Static<typeof SnapshotItem>;
export type CommandResultItem = Static<typeof CommandResultItem>;
export type Item = Static<typeof Item>;
export type ItemKind = Item['kind'];
/** An item before the outbox stamps it with id and seq. */
export type NewItem = Item extends infer I ? (I extends Item ? Omit<I, 'id' | 'seq'> : never) : never;

export const MAX_BATCH_ITEMS = 2000;

/** One upstream MQTT message: a batch of items of one channel from one outbox stream. */
export const Batch = Type.Object(
  {
    v: Type.Literal(1),
    site: Type.String({ pattern: SITE_ID_PATTERN }),
    /** Id of the outbox stream (a new outbox file starts a new stream, seq restarts at 1). */
    stream: Type.String({ pattern: '^[A-Za-z0-9_-]{8,40}$' }),
    sentAt: Millis,
    items: Type.Array(Type.Unknown(), { minItems: 1, maxItems: MAX_BATCH_ITEMS }),
  },
  { additionalProperties: false },
);
export type Batch = Static<typeof Batch>;

export const SiteStatus = Type.Object(
  {
    v: Type.Literal(1),
    site: Type.String({ pattern: SITE_ID_PATTERN }),
    online: Type.Boolean(),
    ts: Millis,
    /** Free-form health of the site: outbox depth, autonomy hours, models, cameras… */
    health: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
);
export type SiteStatus = Static<typeof SiteStatus>;

/** A point in normalised frame coordinates (0..1, origin top-left). */
const NormPoint = Type.Tuple([Type.Number({ minimum: 0, maximum: 1 }), Type.Number({ minimum: 0, maximum: 1 })]);
/**
 * The geometry of one camera rule, as the edge reports it in its status
 * (`health.sources.<camera>.rules`): a counting line (two points, with its direction names) or a
 * zone polygon (dwell, crowd, count), in normalised frame coordinates. The console draws these
 * over the camera's latest frame.
 */
export const CameraRuleGeometry = Type.Union([
  Type.Object({
    id: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' }),
    type: Type.Literal('line'),
    line: Type.Tuple([NormPoint, NormPoint]),
    names: Type.Object({ forward: Type.String({ minLength: 1, maxLength: 128 }), backward: Type.String({ minLength: 1, maxLength: 128 }) }, { additionalProperties: false }),
  }, { additionalProperties: false }),
  Type.Object({
    id: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' }),
    type: Type.Union([Type.Literal('dwell'), Type.Literal('crowd'), Type.Literal('count')]),
    zone: Type.Array(NormPoint, { minItems: 3, maxItems: 64 }),
  }, { additionalProperties: false }),
]);
export type CameraRuleGeometry = Static<typeof CameraRuleGeometry>;
export const CameraRulesGeometry = Type.Array(CameraRuleGeometry, { maxItems: 64 });

export const Command = Type.Object(
  {
    v: Type.Literal(1),
    id: Type.String({ minLength: 1, maxLength: 128 }),
    name: Type.String({ pattern: '^[a-z][a-z0-9.-]{0,63}$' }),
    args: Type.Record(Type.String(), Type.Unknown()),
    issuedAt: Millis,
    expiresAt: Type.Optional(Millis),
  },
  { additionalProperties: false },
);
export type Command = Static<typeof Command>;

/**
 * A receipt, cloud → edge on `ce/v1/<site>/cmd/_receipt` (QoS 1): these sequence numbers of this
 * stream are safely in the cloud's spool (admitted, known duplicates, or dead-lettered for good),
 * so the edge may delete their rows. Ranges are inclusive `[from, to]`, ascending, not overlapping.
 * Receipts make delivery independent of any broker's persistence: a row whose receipt never comes
 * is sent again, and the cloud's dedupe admits it once.
 */
export const Receipt = Type.Object(
  {
    v: Type.Literal(1),
    stream: Type.String({ pattern: '^[A-Za-z0-9_-]{8,40}$' }),
    ranges: Type.Array(Type.Tuple([Type.Integer({ minimum: 1 }), Type.Integer({ minimum: 1 })]), { minItems: 1, maxItems: 10_000 }),
    at: Millis,
  },
  { additionalProperties: false },
);
export type Receipt = Static<typeof Receipt>;

export const checkers = {
  batch: TypeCompiler.Compile(Batch),
  item: TypeCompiler.Compile(Item),
  telemetry: TypeCompiler.Compile(TelemetryItem),
  event: TypeCompiler.Compile(EventItem),
  alert: TypeCompiler.Compile(AlertItem),
  snapshot: TypeCompiler.Compile(SnapshotItem),
  cmdres: TypeCompiler.Compile(CommandResultItem),
  status: TypeCompiler.Compile(SiteStatus),
  command: TypeCompiler.Compile(Command),
  receipt: TypeCompiler.Compile(Receipt),
  cameraRules: TypeCompiler.Compile(CameraRulesGeometry),
};

/** Which channel carries each kind, and which kinds a channel accepts. */
export const CHANNEL_OF_KIND: Record<ItemKind, UpstreamChannel> = {
  telemetry: 'telemetry',
  aggregate: 'telemetry',
  event: 'events',
  alert: 'alerts',
  snapshot: 'snapshots',
  cmdres: 'cmdres',
};

/**
 * Outbox priority of each kind; lower sends first and is evicted last
 * (alert > event > aggregate > raw telemetry > snapshot).
 */
export const PRIORITY_OF_KIND: Record<ItemKind, number> = {
  alert: 0,
  cmdres: 1,
  event: 1,
  aggregate: 2,
  telemetry: 3,
  snapshot: 4,
};
export const PRIORITY_NAMES = ['alert', 'event', 'aggregate', 'telemetry', 'snapshot'] as const;
