/**
 * Which instrument data flags make a record valid for the validity rate (有效率), and the
 * effective flag of a factor once manual corrections apply.
 *
 * HJ 212-2017 data flags (carried unchanged in 2025; see lib/hj212/codes.ts DATA_FLAGS):
 *   N 正常 normal            — valid: the instrument measured under normal operation.
 *   F 停运 stopped            — not valid: the source (or system) was stopped; no emission was measured.
 *   M 维护 maintenance        — not valid: HJ 75-2017 treats data during maintenance as invalid.
 *   S 手工输入 manual input   — not valid: a value set by hand is not an automatic measurement.
 *   D 故障 fault              — not valid: the instrument was faulty.
 *   C 校准 calibration        — not valid: the reading is the calibration gas / standard solution.
 *   T 超测量上限 over range   — not valid: the true value is unknown (above the range).
 *   B 通讯异常 comm. failure  — not valid: the value did not come from the instrument intact.
 * Any other flag (e.g. the 2005-era H) is not valid either (conservative). A factor without a
 * flag counts as N (HJ 212 frames may omit it for normal data).
 *
 * A record — (MN, period, DataTime) — is valid when every factor in it is valid after
 * corrections: a faulty flow meter or O₂ analyser makes the converted concentrations and the
 * emission amount of that record unusable too.
 */
export const DATA_FLAG_CODES = ['N', 'F', 'M', 'S', 'D', 'C', 'T', 'B'] as const;
export type DataFlag = (typeof DATA_FLAG_CODES)[number];

export const VALID_FLAGS: ReadonlySet<string> = new Set(['N']);
export const isValidFlag = (flag: string | undefined): boolean => VALID_FLAGS.has(flag ?? 'N');
export const isDataFlag = (s: string): s is DataFlag => (DATA_FLAG_CODES as readonly string[]).includes(s);

/** A correction row: code '' is the whole record. */
export interface Correction { code: string; flag: string; reason: string; by: string; at: number }

/** The flag a factor has after corrections: its own correction, else the record's, else the original. */
export function effectiveFlag(code: string, original: string | undefined, corrections: readonly Correction[]): string {
  return corrections.find((c) => c.code === code)?.flag ?? corrections.find((c) => c.code === '')?.flag ?? original ?? 'N';
}

/** Summary of a record's flags: the one flag when all factors agree, else `code=flag;…`. */
export function flagSummary(flags: Record<string, string>): string {
  const vals = [...new Set(Object.values(flags))];
  if (vals.length <= 1) return vals[0] ?? 'N';
  return Object.entries(flags).sort(([a], [b]) => a.localeCompare(b)).map(([c, f]) => `${c}=${f}`).join(';');
}
