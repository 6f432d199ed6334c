/**
 * Factor (pollutant/parameter) codes → canonical pollutant name and unit, as data.
 *
 * Sources:
 *  - HJ 212-2017 Appendix B (normative), B.1 water and B.2 air monitoring factor
 *    codes (6-character codes a*****, w*****); carried over in HJ 212-2025 Appendix
 *    B.2 "气监测参数编码表" (e.g. a00000 flue-gas flow, a34013 particulate matter,
 *    a21026 SO2, a21002 NOx, a19001 O2, a01011..a01014 flue velocity/temp/pressure/
 *    humidity — cross-checked against an implementation that transcribed the 2025
 *    appendix, pages 35-38).
 *  - HJ/T 212-2005 Appendix (pollutant codes of the 2005-era frames: 3-character
 *    water codes like 011 COD, 060 NH3-N, 2-character gas codes like 02 SO2, flow
 *    codes B01/B02, S01.. flue parameters). Only the codes we are confident of are
 *    listed; anything else decodes with `known: false` and its raw code — it is
 *    never dropped.
 *
 * Units: the standard's default unit per code is for pollution *sources* (mg/m3 for
 * flue gas). Ambient air stations (ST=22) report the gaseous pollutants and PM in
 * µg/m3 (CO in mg/m3) as GB 3095 / HJ 633 require, so `ambientUnit` overrides for
 * ST=22 frames. A configured per-station unit map can override both.
 */
export interface FactorInfo {
  code: string;
  /** Canonical short name; the AQI module uses PM2.5, PM10, SO2, NO2, CO, O3. */
  pollutant: string;
  name: string;
  unit?: string;
  ambientUnit?: string;
  /** Plausible physical range for range checks [min, max] in `unit`/`ambientUnit`. */
  range?: [number, number];
  /** For 2005 codes: the equivalent 2017 code. */
  code2017?: string;
  edition: '2005' | '2017';
}

type Row = [code: string, pollutant: string, name: string, unit: string | undefined, ambientUnit: string | undefined, range: [number, number] | undefined, code2017?: string];

const ROWS_2017: Row[] = [
  // air / flue gas (HJ 212-2017 Appendix B.2)
  ['a00000', 'flue_gas_flow', 'flue gas flow', 'm3/s', undefined, [0, 1e6]],
  ['a01001', 'temperature', 'air temperature', 'degC', 'degC', [-60, 70]],
  ['a01002', 'humidity', 'relative humidity', '%', '%', [0, 100]],
  ['a01006', 'pressure', 'air pressure', 'kPa', 'kPa', [30, 120]],
  ['a01007', 'wind_speed', 'wind speed', 'm/s', 'm/s', [0, 75]],
  ['a01008', 'wind_direction', 'wind direction', 'deg', 'deg', [0, 360]],
  ['a01011', 'flue_velocity', 'flue gas velocity', 'm/s', undefined, [0, 100]],
  ['a01012', 'flue_temperature', 'flue gas temperature', 'degC', undefined, [-40, 1500]],
  ['a01013', 'flue_pressure', 'flue gas pressure', 'kPa', undefined, [-100, 1000]],
  ['a01014', 'flue_humidity', 'flue gas humidity', '%', undefined, [0, 100]],
  ['a19001', 'O2', 'oxygen content', '%', undefined, [0, 25]],
  ['a21001', 'NH3', 'ammonia', 'mg/m3', 'ug/m3', [0, 1e5]],
  ['a21002', 'NOx', 'nitrogen oxides', 'mg/m3', 'ug/m3', [0, 1e5]],
  ['a21003', 'NO', 'nitric oxide', 'mg/m3', 'ug/m3', [0, 1e5]],
  ['a21004', 'NO2', 'nitrogen dioxide', 'mg/m3', 'ug/m3', [0, 1e5]],
  ['a21005', 'CO', 'carbon monoxide', 'mg/m3', 'mg/m3', [0, 1e5]],
  ['a21026', 'SO2', 'sulfur dioxide', 'mg/m3', 'ug/m3', [0, 1e5]],
  ['a05024', 'O3', 'ozone', 'mg/m3', 'ug/m3', [0, 1e5]],
  ['a24088', 'NMHC', 'non-methane hydrocarbons', 'mg/m3', 'mg/m3', [0, 1e5]],
  ['a34001', 'TSP', 'total suspended particulates', 'mg/m3', 'ug/m3', [0, 1e5]],
  ['a34002', 'PM10', 'PM10', 'mg/m3', 'ug/m3', [0, 1e5]],
  ['a34004', 'PM2.5', 'PM2.5', 'mg/m3', 'ug/m3', [0, 1e5]],
  ['a34013', 'PM', 'particulate matter (smoke dust)', 'mg/m3', undefined, [0, 1e5]],
  // water (HJ 212-2017 Appendix B.1)
  ['w00000', 'wastewater_flow', 'wastewater flow', 'L/s', undefined, [0, 1e6]],
  ['w01001', 'pH', 'pH', 'pH', undefined, [0, 14]],
  ['w01003', 'turbidity', 'turbidity', 'NTU', undefined, [0, 1e5]],
  ['w01009', 'DO', 'dissolved oxygen', 'mg/L', undefined, [0, 50]],
  ['w01010', 'water_temperature', 'water temperature', 'degC', undefined, [-5, 100]],
  ['w01014', 'conductivity', 'conductivity', 'uS/cm', undefined, [0, 2e5]],
  ['w01018', 'COD', 'chemical oxygen demand', 'mg/L', undefined, [0, 1e6]],
  ['w21001', 'TN', 'total nitrogen', 'mg/L', undefined, [0, 1e5]],
  ['w21003', 'NH3-N', 'ammonia nitrogen', 'mg/L', undefined, [0, 1e5]],
  ['w21011', 'TP', 'total phosphorus', 'mg/L', undefined, [0, 1e5]],
];

const ROWS_2005: Row[] = [
  // HJ/T 212-2005 Appendix (pollutant codes); code2017 = the 2017 replacement
  ['001', 'pH', 'pH', 'pH', undefined, [0, 14], 'w01001'],
  ['011', 'COD', 'chemical oxygen demand', 'mg/L', undefined, [0, 1e6], 'w01018'],
  ['060', 'NH3-N', 'ammonia nitrogen', 'mg/L', undefined, [0, 1e5], 'w21003'],
  ['101', 'TP', 'total phosphorus', 'mg/L', undefined, [0, 1e5], 'w21011'],
  ['B01', 'wastewater_flow', 'wastewater flow', 'L/s', undefined, [0, 1e6], 'w00000'],
  ['B02', 'flue_gas_flow', 'flue gas flow', 'm3/s', undefined, [0, 1e6], 'a00000'],
  ['01', 'PM', 'smoke dust', 'mg/m3', undefined, [0, 1e5], 'a34013'],
  ['02', 'SO2', 'sulfur dioxide', 'mg/m3', undefined, [0, 1e5], 'a21026'],
  ['03', 'NOx', 'nitrogen oxides', 'mg/m3', undefined, [0, 1e5], 'a21002'],
  ['S01', 'O2', 'oxygen content', '%', undefined, [0, 25], 'a19001'],
];

/** Codes that appear in field frames but are not in the standard (seen in the wild). */
const ALIASES: Record<string, string> = { O3: 'a05024', LA: 'LA' };

const TABLE = new Map<string, FactorInfo>();
for (const [rows, edition] of [[ROWS_2017, '2017'], [ROWS_2005, '2005']] as const) {
  for (const [code, pollutant, name, unit, ambientUnit, range, code2017] of rows) {
    TABLE.set(code, { code, pollutant, name, edition, ...(unit ? { unit } : {}), ...(ambientUnit ? { ambientUnit } : {}), ...(range ? { range } : {}), ...(code2017 ? { code2017 } : {}) });
  }
}
TABLE.set('LA', { code: 'LA', pollutant: 'noise_LA', name: 'A-weighted sound level', unit: 'dB(A)', ambientUnit: 'dB(A)', range: [0, 200], edition: '2017' });

export function factorInfo(code: string): FactorInfo | undefined {
  return TABLE.get(code) ?? (ALIASES[code] ? TABLE.get(ALIASES[code]) : undefined);
}

export function allFactors(): FactorInfo[] {
  return [...TABLE.values()];
}
