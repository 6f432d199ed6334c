import { Type, type Static } from '@sinclair/typebox';
import type { Reading } from '../../../lib/contract/reading.ts';

/**
 * Plausibility ranges per pollutant (config data). A reading outside its range is kept and
 * marked (`qc: below_min | above_max`), never dropped, and its instrument flag is left as is.
 */
export const RangeSchema = Type.Object(
  {
    min: Type.Optional(Type.Number()),
    max: Type.Optional(Type.Number()),
  },
  { additionalProperties: false },
);
export const RangesSchema = Type.Record(Type.String({ minLength: 1 }), RangeSchema, { default: {} });
export type Ranges = Static<typeof RangesSchema>;

/** Defaults for the pollutants of the Beijing data and common stack parameters (µg/m³ unless noted). */
export const DEFAULT_RANGES: Ranges = {
  'PM2.5': { min: 0, max: 2000 },
  PM10: { min: 0, max: 3000 },
  SO2: { min: 0, max: 5000 },
  NO2: { min: 0, max: 3000 },
  CO: { min: 0, max: 100_000 },
  O3: { min: 0, max: 2000 },
};

export class RangeChecker {
  private counts = { checked: 0, below_min: 0, above_max: 0, not_finite: 0 };
  constructor(private readonly ranges: Ranges = DEFAULT_RANGES) {}

  /** Returns the reading, with `qc` set when it fails a check (a new object; the input is not mutated). */
  check(r: Reading): Reading {
    this.counts.checked++;
    if (!Number.isFinite(r.value)) {
      this.counts.not_finite++;
      return { ...r, qc: 'not_finite' };
    }
    const range = this.ranges[r.pollutant];
    if (!range) return r;
    if (range.min !== undefined && r.value < range.min) {
      this.counts.below_min++;
      return { ...r, qc: 'below_min' };
    }
    if (range.max !== undefined && r.value > range.max) {
      this.counts.above_max++;
      return { ...r, qc: 'above_max' };
    }
    return r;
  }

  stats(): Record<string, number> {
    return { ...this.counts };
  }
}
