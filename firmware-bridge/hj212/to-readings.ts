import type { FactorValue } from './values.ts';
import { type Reading, isFlag } from '../../lib/contract/reading.ts';

/**
 * Adapter from the HJ 212 bridge's values (one per factor per statistic) to env readings, so
 * HJ 212 stations go through the same pipeline (range QC, aggregates, alert rules) as Modbus and
 * OPC UA. By default the real-time value (CN 2011 `Rtd`) and the period average (CN 2051/2061/2031
 * `Avg`) are taken; Min/Max/Cou and named fields (Ia, Ua, …) stay in the bridge's own telemetry.
 *  - a missing value (not numeric) becomes NaN → qc not_finite (kept, never dropped);
 *  - a factor sent without a Flag field is taken as N (there is no instrument flag to carry);
 *  - a flag letter outside N/F/M/S/D/C/T/B becomes D, with the original kept in `status`.
 *
 * `basis(station, code)` says which value the limits of a factor are defined on. For `converted`
 * the reading carries the converted concentration (status `converted`; from the logger's Zs* or
 * computed, see convert.ts); when there is none, the reading is NaN (qc not_finite: invisible to
 * limit rules, never an exceedance on the wrong basis) with status `no converted value: <why>`.
 * For `raw` (the default) converted values are not turned into readings.
 */
export interface FromHj212Options {
  statistics?: readonly string[];
  basis?: (station: string, code: string) => 'raw' | 'converted';
}

export function fromHj212(rs: readonly FactorValue[], opts: FromHj212Options = {}): Reading[] {
  const stats = opts.statistics ?? ['rtd', 'avg'];
  const basisOf = opts.basis ?? (() => 'raw' as const);
  const key = (r: FactorValue) => `${r.station}|${r.code}|${r.period}|${r.statistic}|${r.observedAt}`;
  const converted = new Map<string, FactorValue>();
  const measured = new Set<string>();
  for (const r of rs) {
    if (r.basis === 'converted') converted.set(key(r), r);
    else measured.add(key(r));
  }
  const out: Reading[] = [];
  for (const r of rs) {
    if (!stats.includes(r.statistic) || !r.station) continue;
    const onConverted = basisOf(r.station, r.code) === 'converted';
    const status: string[] = [];
    let value = r.value;
    if (onConverted) {
      if (r.basis === 'converted') {
        if (measured.has(key(r))) continue; // taken with its measured value below
        status.push('converted');
      } else {
        const c = converted.get(key(r));
        if (c) { value = c.value; status.push('converted'); }
        else { value = null; status.push(`no converted value: ${r.zsMissing ?? 'none sent'}`); }
      }
    } else if (r.basis === 'converted') continue;
    const reading: Reading = {
      station: r.station,
      pollutant: r.pollutant,
      value: value ?? Number.NaN,
      unit: r.unit ?? '',
      observedAt: r.observedAt,
      flag: r.flag === undefined ? 'N' : isFlag(r.flag) ? r.flag : 'D',
      source: `hj212:${r.station}`,
    };
    if (r.flag !== undefined && !isFlag(r.flag)) status.unshift(`flag=${r.flag}`);
    if (r.period !== 'rt') status.push(`${r.period}-${r.statistic}`);
    if (r.resent) status.push('resent');
    if (status.length) reading.status = status.join(' ').slice(0, 128);
    out.push(reading);
  }
  return out;
}
