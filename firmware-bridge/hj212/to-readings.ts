import type { FactorValue } from './values.ts';
import { type Reading, isFlag } from '../../lib/contract/reading.ts';

/**
 * Adapter from the HJ 212 bridge's readings (one per factor per statistic) to env readings, so
 * HJ 212 stations go through the same pipeline (range QC, aggregates, alert rules) as Modbus and
 * OPC UA. By default the real-time value (CN 2011 `Rtd`) and the period average (CN 2051/2061/2031
 * `Avg`) are taken; Min/Max/Cou stay in the bridge's own telemetry.
 *  - a missing value (not numeric) becomes NaN → qc not_finite (kept, never dropped);
 *  - a factor sent without a Flag field is taken as N (there is no instrument flag to carry);
 *  - a flag letter outside N/F/M/S/D/C/T/B becomes D, with the original kept in `status`.
 */
export function fromHj212(rs: readonly FactorValue[], opts: { statistics?: readonly string[] } = {}): Reading[] {
  const stats = opts.statistics ?? ['rtd', 'avg'];
  const out: Reading[] = [];
  for (const r of rs) {
    if (!stats.includes(r.statistic) || !r.station) continue;
    const reading: Reading = {
      station: r.station,
      pollutant: r.pollutant,
      value: r.value ?? Number.NaN,
      unit: r.unit ?? '',
      observedAt: r.observedAt,
      flag: r.flag === undefined ? 'N' : isFlag(r.flag) ? r.flag : 'D',
      source: `hj212:${r.station}`,
    };
    const status: string[] = [];
    if (r.flag !== undefined && !isFlag(r.flag)) status.push(`flag=${r.flag}`);
    if (r.period !== 'rt') status.push(`${r.period}-${r.statistic}`);
    if (r.resent) status.push('resent');
    if (status.length) reading.status = status.join(' ');
    out.push(reading);
  }
  return out;
}
