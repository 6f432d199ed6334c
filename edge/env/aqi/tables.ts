/**
 * AQI breakpoint tables as data, selected by standard id.
 *
 * HJ 633-2012 "环境空气质量指数（AQI）技术规定（试行）" Table 1 (IAQI breakpoints) with its
 * notes: (1) the 1-hour SO2/NO2/CO values are for real-time reports only, daily reports
 * use the 24-hour values; (2) 1-hour SO2 above 800 µg/m³: no IAQI from the 1-hour
 * table, SO2 is reported with its 24-hour IAQI; (3) 8-hour O3 above 800 µg/m³: no
 * IAQI from the 8-hour table, O3 is reported with its 1-hour IAQI. Real-time reports
 * use the 1-hour PM concentrations against the 24-hour PM columns (there is no 1-hour
 * PM column). Table 2: levels/categories/colours.
 *
 * HJ 633-2026 (MEE, released with GB 3095-2026, in force 2026-03-01): "更新了AQI中PM2.5和
 * PM10的分级浓度限值" (MEE announcement, Feb 2026). The revised PM columns used here
 * (PM2.5: 0,35,60,115,150,250,350,500; PM10: 0,50,120,250,350,420,500,600; all other
 * columns unchanged) could NOT be read from the standard's own text; they are
 * corroborated by several independent public implementations citing "HJ 633-2026
 * Table 3" (incl. open-meteo's ChinaAirQuality) and match the GB 3095-2026
 * transitional 24-hour limits (PM2.5 60, PM10 120 µg/m³ → IAQI 100). See README.
 *
 * US EPA AQI: Technical Assistance Document for the Reporting of Daily Air Quality
 * (EPA-454/B-24-002, May 2024), Table 6, with the 2024 PM2.5 breakpoints.
 */
export type Pollutant = 'PM2.5' | 'PM10' | 'SO2' | 'NO2' | 'CO' | 'O3';
export type Averaging = '1h' | '8h' | '24h';
export type StandardId = 'HJ633-2012' | 'HJ633-2026' | 'US-EPA-2024';
export const POLLUTANTS: Pollutant[] = ['PM2.5', 'PM10', 'SO2', 'NO2', 'CO', 'O3'];

/** HJ 633 tables: concentration breakpoints at IAQI 0,50,100,150,200,300,400,500. */
export const HJ_IAQI = [0, 50, 100, 150, 200, 300, 400, 500];

export interface HjTable {
  id: 'HJ633-2012' | 'HJ633-2026';
  /** Epoch ms from which it is in force (China Standard Time midnight). */
  effectiveFrom: number;
  columns: Partial<Record<`${Pollutant}/${Averaging}`, number[]>>;
  /** Unit of each pollutant's columns. */
  units: Record<Pollutant, 'ug/m3' | 'mg/m3'>;
}

const HJ633_2012: HjTable = {
  id: 'HJ633-2012',
  effectiveFrom: Date.UTC(2012, 1, 29) - 8 * 3600_000,
  units: { 'PM2.5': 'ug/m3', PM10: 'ug/m3', SO2: 'ug/m3', NO2: 'ug/m3', CO: 'mg/m3', O3: 'ug/m3' },
  columns: {
    'SO2/24h': [0, 50, 150, 475, 800, 1600, 2100, 2620],
    'SO2/1h': [0, 150, 500, 650, 800],
    'NO2/24h': [0, 40, 80, 180, 280, 565, 750, 940],
    'NO2/1h': [0, 100, 200, 700, 1200, 2340, 3090, 3840],
    'PM10/24h': [0, 50, 150, 250, 350, 420, 500, 600],
    'CO/24h': [0, 2, 4, 14, 24, 36, 48, 60],
    'CO/1h': [0, 5, 10, 35, 60, 90, 120, 150],
    'O3/1h': [0, 160, 200, 300, 400, 800, 1000, 1200],
    'O3/8h': [0, 100, 160, 215, 265, 800],
    'PM2.5/24h': [0, 35, 75, 115, 150, 250, 350, 500],
  },
};

const HJ633_2026: HjTable = {
  id: 'HJ633-2026',
  effectiveFrom: Date.UTC(2026, 2, 1) - 8 * 3600_000,
  units: HJ633_2012.units,
  columns: {
    ...HJ633_2012.columns,
    'PM2.5/24h': [0, 35, 60, 115, 150, 250, 350, 500],
    'PM10/24h': [0, 50, 120, 250, 350, 420, 500, 600],
  },
};

export const HJ_TABLES: Record<HjTable['id'], HjTable> = { 'HJ633-2012': HJ633_2012, 'HJ633-2026': HJ633_2026 };

/** HJ 633 Table 2 (and Appendix A colours). */
export const HJ_CATEGORIES = [
  { level: 1, max: 50, zh: '优', en: 'excellent', color: '#00E400' },
  { level: 2, max: 100, zh: '良', en: 'good', color: '#FFFF00' },
  { level: 3, max: 150, zh: '轻度污染', en: 'lightly polluted', color: '#FF7E00' },
  { level: 4, max: 200, zh: '中度污染', en: 'moderately polluted', color: '#FF0000' },
  { level: 5, max: 300, zh: '重度污染', en: 'heavily polluted', color: '#99004C' },
  { level: 6, max: Infinity, zh: '严重污染', en: 'severely polluted', color: '#7E0023' },
];

/** US EPA rows: [Clo, Chi, Ilo, Ihi]; units ppm (O3, CO), ppb (SO2, NO2), µg/m³ (PM). */
export interface EpaColumn { unit: 'ppm' | 'ppb' | 'ug/m3'; decimals: number; rows: Array<[number, number, number, number]> }
export const EPA_2024: Partial<Record<`${Pollutant}/${Averaging}`, EpaColumn>> = {
  'O3/8h': { unit: 'ppm', decimals: 3, rows: [[0, 0.054, 0, 50], [0.055, 0.07, 51, 100], [0.071, 0.085, 101, 150], [0.086, 0.105, 151, 200], [0.106, 0.2, 201, 300]] },
  'O3/1h': { unit: 'ppm', decimals: 3, rows: [[0.125, 0.164, 101, 150], [0.165, 0.204, 151, 200], [0.205, 0.404, 201, 300], [0.405, 0.604, 301, 500]] },
  'PM2.5/24h': { unit: 'ug/m3', decimals: 1, rows: [[0, 9, 0, 50], [9.1, 35.4, 51, 100], [35.5, 55.4, 101, 150], [55.5, 125.4, 151, 200], [125.5, 225.4, 201, 300], [225.5, 325.4, 301, 500]] },
  'PM10/24h': { unit: 'ug/m3', decimals: 0, rows: [[0, 54, 0, 50], [55, 154, 51, 100], [155, 254, 101, 150], [255, 354, 151, 200], [355, 424, 201, 300], [425, 604, 301, 500]] },
  'CO/8h': { unit: 'ppm', decimals: 1, rows: [[0, 4.4, 0, 50], [4.5, 9.4, 51, 100], [9.5, 12.4, 101, 150], [12.5, 15.4, 151, 200], [15.5, 30.4, 201, 300], [30.5, 50.4, 301, 500]] },
  'SO2/1h': { unit: 'ppb', decimals: 0, rows: [[0, 35, 0, 50], [36, 75, 51, 100], [76, 185, 101, 150], [186, 304, 151, 200]] },
  'SO2/24h': { unit: 'ppb', decimals: 0, rows: [[305, 604, 201, 300], [605, 1004, 301, 500]] },
  'NO2/1h': { unit: 'ppb', decimals: 0, rows: [[0, 53, 0, 50], [54, 100, 51, 100], [101, 360, 101, 150], [361, 649, 151, 200], [650, 1249, 201, 300], [1250, 2049, 301, 500]] },
};

export const EPA_CATEGORIES = [
  { level: 1, max: 50, en: 'Good', color: '#00E400' },
  { level: 2, max: 100, en: 'Moderate', color: '#FFFF00' },
  { level: 3, max: 150, en: 'Unhealthy for Sensitive Groups', color: '#FF7E00' },
  { level: 4, max: 200, en: 'Unhealthy', color: '#FF0000' },
  { level: 5, max: 300, en: 'Very Unhealthy', color: '#8F3F97' },
  { level: 6, max: Infinity, en: 'Hazardous', color: '#7E0023' },
];

/** Molar masses (g/mol) for ppm/ppb <-> µg/m³ at 25 °C, 1 atm (molar volume 24.45 L). */
export const MOLAR_MASS: Partial<Record<Pollutant, number>> = { SO2: 64.066, NO2: 46.0055, CO: 28.01, O3: 47.997 };
