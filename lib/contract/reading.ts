import { Type, type Static } from '@sinclair/typebox';

/**
 * HJ 212 data flags (HJ 212-2017 §6.6, data flag code table "数据标记"; same letters in the 2025 revision):
 * N normal, F stopped (停运), M maintenance (维护), S manual input (手工输入),
 * D fault (故障), C calibration (校准), T out of limit (超测上限), B communication abnormal (通讯异常).
 */
export const FLAGS = ['N', 'F', 'M', 'S', 'D', 'C', 'T', 'B'] as const;
export type Flag = (typeof FLAGS)[number];
export const FlagSchema = Type.Union(FLAGS.map((f) => Type.Literal(f)));
export const FLAG_MEANING: Record<Flag, string> = {
  N: 'normal', F: 'stopped', M: 'maintenance', S: 'manual input', D: 'fault', C: 'calibration', T: 'out of limit', B: 'communication abnormal',
};

export function isFlag(x: unknown): x is Flag {
  return typeof x === 'string' && (FLAGS as readonly string[]).includes(x);
}

/** Edge-side quality checks (never change the instrument's flag; they add a mark next to it). */
export const QC_MARKS = ['below_min', 'above_max', 'not_finite'] as const;
export type QcMark = (typeof QC_MARKS)[number];

/**
 * One normalised reading, whatever protocol it came from (HJ 212, Modbus, OPC UA).
 * `flag` is the instrument's own flag, carried unchanged end to end; `qc` is the edge's
 * range check; `status` keeps the source's raw status text (OPC UA status code name,
 * Modbus status register value) so nothing the device said is lost.
 */
export const ReadingSchema = Type.Object(
  {
    station: Type.String({ minLength: 1, maxLength: 64 }),
    /** HJ 212 outlet / sampling point, when the station has several. */
    outlet: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
    pollutant: Type.String({ minLength: 1, maxLength: 64 }),
    value: Type.Number(),
    unit: Type.String({ maxLength: 32 }),
    /** Observed time, epoch milliseconds. */
    observedAt: Type.Integer(),
    flag: FlagSchema,
    /** Which adapter produced it, e.g. `modbus:stack-1`, `opcua:cems`, `hj212:<MN>`. */
    source: Type.String({ minLength: 1, maxLength: 128 }),
    qc: Type.Optional(Type.Union(QC_MARKS.map((q) => Type.Literal(q)))),
    status: Type.Optional(Type.String({ maxLength: 128 })),
  },
  { additionalProperties: false },
);
export type Reading = Static<typeof ReadingSchema>;

/** Valid for averages and exceedance checks: flag N from the instrument and no edge QC mark. */
export function isValid(r: Reading): boolean {
  return r.flag === 'N' && r.qc === undefined && Number.isFinite(r.value);
}

/**
 * The flag a consumer should treat the reading as having: the instrument's flag when it is not N;
 * T when the instrument said N but the edge range check marked it (HJ 212 T = beyond the limit).
 */
export function effectiveFlag(r: Reading): Flag {
  if (r.flag !== 'N') return r.flag;
  return r.qc === undefined ? 'N' : 'T';
}

/** Field/tag safe pollutant names: `PM2.5` stays as a tag value (tags allow any text). */
export function readingKey(r: Pick<Reading, 'station' | 'outlet' | 'pollutant'>): string {
  return r.outlet ? `${r.station}/${r.outlet}/${r.pollutant}` : `${r.station}/${r.pollutant}`;
}
