import { allFactors } from './factors.ts';
import type { FactorValue, Statistic } from './values.ts';

/**
 * Converted (reference-oxygen) concentrations of flue gas, HJ 75-2017 (and HJ 212's `Zs*` fields):
 *
 *     C = C′ × (21 − O₂ref) / (21 − O₂measured)
 *
 * C′ the measured concentration, O₂ref the reference oxygen content of the outlet's emission
 * standard (e.g. GB 13223-2011 coal-fired boilers 6 %, gas turbines 15 %; GB 13271-2014 coal 9 %,
 * oil/gas 3.5 %; GB 18485-2014 waste incineration 11 %), O₂measured the O₂ of the same frame and
 * DataTime (factor `o2Code`, default a19001).
 *
 * - When the logger sent converted values for a factor (`ZsRtd/ZsAvg/ZsMin/ZsMax`) those are kept
 *   (`zsSource: 'logger'`) and nothing is computed for that factor.
 * - Otherwise each measured Rtd/Avg/Min/Max of a factor in `convert` gets a computed value
 *   (`zsSource: 'computed'`, `o2` = the O₂ used): Rtd uses the O₂ Rtd; Avg, Min and Max use the
 *   O₂ Avg of the period (a frame has no O₂ reading simultaneous with the minimum or maximum), each
 *   falling back to the other statistic when only one is sent.
 * - No converted value, and the measured value is marked `zsMissing`, when the O₂ is absent or
 *   not numeric (`o2_missing`), ≥ 21 % (`o2_not_below_21`: the formula has no meaning), or
 *   flagged other than N / out of range / negative (`o2_invalid`).
 * Values are rounded to 3 decimals. Cou (amounts) are never converted.
 */
export interface ConversionConfig {
  /** Reference O₂ content, % (0 ≤ o2Ref < 21). */
  o2Ref: number;
  /** Factor code of the measured O₂ (default a19001). */
  o2Code?: string;
  /** Factor codes to convert (default DEFAULT_CONVERT_CODES). */
  convert?: readonly string[];
}

/** SO₂, NOx and particulate matter (烟尘) codes of factors.ts: 2017 a21026, a21002, a34013 and their 2005 codes 02, 03, 01. */
export const DEFAULT_CONVERT_CODES: readonly string[] = allFactors().filter((f) => ['SO2', 'NOx', 'PM'].includes(f.pollutant)).map((f) => f.code);
export const DEFAULT_O2_CODE = 'a19001';

export type ZsMissing = NonNullable<FactorValue['zsMissing']>;

/** C′ × (21 − ref) / (21 − o2), rounded to 3 decimals; undefined when o2 ≥ 21 or an input is not finite. */
export function convertedConcentration(measured: number, o2Ref: number, o2: number): number | undefined {
  if (!Number.isFinite(measured) || !Number.isFinite(o2Ref) || !Number.isFinite(o2) || o2 >= 21) return undefined;
  return Math.round(((measured * (21 - o2Ref)) / (21 - o2)) * 1000) / 1000;
}

const CONVERTIBLE: ReadonlySet<Statistic | 'named'> = new Set(['rtd', 'avg', 'min', 'max']);

/**
 * Add computed converted values to the values of one frame (as frameValues returns them) and mark
 * measured ones that cannot be converted. Returns a new array (the inputs are not mutated) and the
 * count of values left unconverted per reason.
 */
export function convertValues(values: readonly FactorValue[], cfg: ConversionConfig): { values: FactorValue[]; missing: Partial<Record<ZsMissing, number>> } {
  const o2Code = cfg.o2Code ?? DEFAULT_O2_CODE;
  const codes = new Set(cfg.convert ?? DEFAULT_CONVERT_CODES);
  const missing: Partial<Record<ZsMissing, number>> = {};
  // O₂ by (period, observedAt) and statistic; a frame has one DataTime, but be safe with a batch.
  const o2 = new Map<string, { rtd?: FactorValue; avg?: FactorValue }>();
  const loggerZs = new Set<string>();
  for (const v of values) {
    const at = `${v.station}|${v.period}|${v.observedAt}`;
    if (v.code === o2Code && v.basis === undefined && (v.statistic === 'rtd' || v.statistic === 'avg')) {
      const e = o2.get(at) ?? {};
      e[v.statistic] = v;
      o2.set(at, e);
    }
    if (v.basis === 'converted') loggerZs.add(`${at}|${v.code}`);
  }
  const out: FactorValue[] = [];
  for (const v of values) {
    const at = `${v.station}|${v.period}|${v.observedAt}`;
    if (!codes.has(v.code) || v.basis !== undefined || !CONVERTIBLE.has(v.statistic) || v.value === null || loggerZs.has(`${at}|${v.code}`)) {
      out.push(v);
      continue;
    }
    const e = o2.get(at);
    const o = v.statistic === 'rtd' ? e?.rtd ?? e?.avg : e?.avg ?? e?.rtd;
    let why: ZsMissing | undefined;
    if (!o || o.value === null) why = 'o2_missing';
    else if ((o.flag !== undefined && o.flag !== 'N') || o.qc !== 'ok' || o.value < 0) why = 'o2_invalid';
    else if (o.value >= 21) why = 'o2_not_below_21';
    const zs = why ? undefined : convertedConcentration(v.value, cfg.o2Ref, o!.value!);
    if (zs === undefined) {
      why ??= 'o2_not_below_21';
      missing[why] = (missing[why] ?? 0) + 1;
      out.push({ ...v, zsMissing: why });
      continue;
    }
    out.push(v);
    const c: FactorValue = { ...v, field: `Zs${v.field ? v.field : v.statistic[0].toUpperCase() + v.statistic.slice(1)}`, value: zs, basis: 'converted', zsSource: 'computed', o2: o!.value! };
    delete c.zsMissing;
    out.push(c);
  }
  return { values: out, missing };
}
