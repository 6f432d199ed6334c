import { Type, type Static } from '@sinclair/typebox';

const Pt = Type.Tuple([Type.Number({ minimum: 0, maximum: 1 }), Type.Number({ minimum: 0, maximum: 1 })]);
/** Polygon in normalised frame coordinates (0..1, origin top-left). */
const Polygon = Type.Array(Pt, { minItems: 3, maxItems: 64 });
const Classes = Type.Array(Type.String({ minLength: 1 }), { minItems: 1, default: ['person'] });
const Id = Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' });

export const DwellRule = Type.Object({
  id: Id, type: Type.Literal('dwell'), zone: Polygon, classes: Classes,
  /** Start an event when one object stays longer than this in the zone. */
  seconds: Type.Number({ minimum: 0.1 }),
  /** Leaving for less than this does not end the dwell (hysteresis). */
  exitGraceS: Type.Number({ minimum: 0, default: 1 }),
  /** After an end, the same track cannot start a new dwell event for this long. */
  cooldownS: Type.Number({ minimum: 0, default: 30 }),
  snapshot: Type.Boolean({ default: true }),
}, { additionalProperties: false });

export const LineRule = Type.Object({
  id: Id, type: Type.Literal('line'), line: Type.Tuple([Pt, Pt]), classes: Classes,
  /** Names of the two directions. `forward` = the direction a→b turned 90° counter-clockwise on screen: for a line drawn top→bottom, forward is left→right; for left→right, forward is bottom→top. */
  names: Type.Object({ forward: Type.String(), backward: Type.String() }, { additionalProperties: false, default: { forward: 'in', backward: 'out' } }),
  /** The anchor must be this far (normalised) from the line on each side before a side counts (hysteresis). */
  margin: Type.Number({ minimum: 0, maximum: 0.2, default: 0.01 }),
  cooldownS: Type.Number({ minimum: 0, default: 2 }),
  snapshot: Type.Boolean({ default: false }),
}, { additionalProperties: false });

export const CrowdRule = Type.Object({
  id: Id, type: Type.Literal('crowd'), zone: Polygon, classes: Classes,
  threshold: Type.Integer({ minimum: 1 }),
  /** Count must stay ≥ threshold this long to start, and < threshold this long to end. */
  onS: Type.Number({ minimum: 0, default: 2 }),
  offS: Type.Number({ minimum: 0, default: 3 }),
  cooldownS: Type.Number({ minimum: 0, default: 30 }),
  snapshot: Type.Boolean({ default: true }),
}, { additionalProperties: false });

export const CountRule = Type.Object({
  id: Id, type: Type.Literal('count'), zone: Polygon, classes: Classes,
}, { additionalProperties: false });

export const Rule = Type.Union([DwellRule, LineRule, CrowdRule, CountRule]);
export type Rule = Static<typeof Rule>;
export type DwellRule = Static<typeof DwellRule>;
export type LineRule = Static<typeof LineRule>;
export type CrowdRule = Static<typeof CrowdRule>;
export type CountRule = Static<typeof CountRule>;
