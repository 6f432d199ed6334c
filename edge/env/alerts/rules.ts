import { Type, type Static } from '@sinclair/typebox';
import { FlagSchema, type Reading } from '../../../lib/contract/reading.ts';

/** Which readings a rule looks at. Each omitted field matches everything. */
export const MatchSchema = Type.Object(
  {
    station: Type.Optional(Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })])),
    outlet: Type.Optional(Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })])),
    pollutant: Type.Optional(Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })])),
  },
  { additionalProperties: false, default: {} },
);
export type Match = Static<typeof MatchSchema>;

const Severity = Type.Union([Type.Literal('info'), Type.Literal('warning'), Type.Literal('critical')]);
const RuleId = Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$' });

/**
 * Limit exceeded: raise after `consecutive` valid readings above `limit`, or — with `average` —
 * when the rolling average of the valid readings of the last `windowMinutes` is above `limit`.
 * Clear (hysteresis) once the value/average is ≤ `clearAt` (default: the limit) for
 * `clearConsecutive` valid readings in a row. Readings whose flag is not N (or carry an edge QC
 * mark) neither count towards nor break a streak: they are the instrument rule's business.
 */
export const LimitRuleSchema = Type.Object(
  {
    id: RuleId,
    kind: Type.Literal('limit'),
    match: MatchSchema,
    limit: Type.Number(),
    clearAt: Type.Optional(Type.Number()),
    consecutive: Type.Integer({ minimum: 1, maximum: 1000, default: 1 }),
    clearConsecutive: Type.Integer({ minimum: 1, maximum: 1000, default: 1 }),
    average: Type.Optional(Type.Object({
      windowMinutes: Type.Integer({ minimum: 1, maximum: 7 * 24 * 60 }),
      /** Fewest valid readings in the window before the average is trusted (HJ 663-style validity). */
      minSamples: Type.Integer({ minimum: 1, default: 1 }),
    }, { additionalProperties: false })),
    severity: Type.Optional(Severity),
    /** Free text for people, e.g. the legal basis "GB 13223-2011 table 1". */
    description: Type.Optional(Type.String({ maxLength: 256 })),
  },
  { additionalProperties: false },
);

/** No reading of a matched station+pollutant for `afterMinutes`; clears with the next reading. */
export const MissingRuleSchema = Type.Object(
  {
    id: RuleId,
    kind: Type.Literal('missing'),
    match: MatchSchema,
    afterMinutes: Type.Number({ exclusiveMinimum: 0, maximum: 7 * 24 * 60 }),
    /** Station/pollutant pairs expected from the start, so one that never reports is noticed too. */
    expect: Type.Array(Type.Object({ station: Type.String(), outlet: Type.Optional(Type.String()), pollutant: Type.String() }, { additionalProperties: false }), { default: [] }),
    severity: Type.Optional(Severity),
    description: Type.Optional(Type.String({ maxLength: 256 })),
  },
  { additionalProperties: false },
);

/** Instrument status: a reading flagged with one of `flags` raises; the next reading flagged N clears. */
export const InstrumentRuleSchema = Type.Object(
  {
    id: RuleId,
    kind: Type.Literal('instrument'),
    match: MatchSchema,
    flags: Type.Array(FlagSchema, { minItems: 1, default: ['F', 'M', 'D', 'C', 'B'] }),
    /** Raise only after this many flagged readings in a row (e.g. to ignore one short calibration). */
    consecutive: Type.Integer({ minimum: 1, maximum: 1000, default: 1 }),
    severity: Type.Optional(Severity),
    description: Type.Optional(Type.String({ maxLength: 256 })),
  },
  { additionalProperties: false },
);

export const RuleSchema = Type.Union([LimitRuleSchema, MissingRuleSchema, InstrumentRuleSchema]);
export const RulesSchema = Type.Array(RuleSchema, { default: [] });
export type LimitRule = Static<typeof LimitRuleSchema>;
export type MissingRule = Static<typeof MissingRuleSchema>;
export type InstrumentRule = Static<typeof InstrumentRuleSchema>;
export type Rule = Static<typeof RuleSchema>;

function hit(want: string | string[] | undefined, v: string | undefined): boolean {
  if (want === undefined) return true;
  if (v === undefined) return false;
  return Array.isArray(want) ? want.includes(v) : want === v;
}

export function matches(m: Match, r: Pick<Reading, 'station' | 'outlet' | 'pollutant'>): boolean {
  return hit(m.station, r.station) && (m.outlet === undefined || hit(m.outlet, r.outlet)) && hit(m.pollutant, r.pollutant);
}
