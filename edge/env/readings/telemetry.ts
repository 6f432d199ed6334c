import type { NewItem } from '../../../protocol/schemas.ts';
import type { Reading } from '../../../lib/contract/reading.ts';

export interface TelemetryOptions {
  /** Measurement name; default `env`. */
  measurement?: string;
}

/**
 * Protocol telemetry item: m `env`, tags {station, pollutant[, outlet]}, fields {value, flag, unit[, qc, status]}.
 * A non-finite value is not representable in JSON: the field is left out and qc says why.
 */
export function toTelemetry(r: Reading, opts: TelemetryOptions = {}): NewItem {
  const fields: Record<string, number | string | boolean> = { flag: r.flag, unit: r.unit };
  if (Number.isFinite(r.value)) fields.value = r.value;
  if (r.qc) fields.qc = r.qc;
  else if (!Number.isFinite(r.value)) fields.qc = 'not_finite';
  if (r.status) fields.status = r.status;
  const tags: Record<string, string> = { station: r.station, pollutant: r.pollutant };
  if (r.outlet) tags.outlet = r.outlet;
  return { kind: 'telemetry', ts: r.observedAt, m: opts.measurement ?? 'env', tags, fields };
}
