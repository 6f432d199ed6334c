/**
 * Daily (日报) and monthly (月报) reports per enterprise and outlet, from the hourly records in the
 * series store (measurement `hj212`, period `hour`) with the flags as corrected by hand:
 *
 * - per factor: hours received, valid hours (effective flag N), min / avg / max of the measured
 *   (实测) and converted (折算) concentrations over the valid hours — min of the hourly Min (or Avg),
 *   arithmetic mean of the hourly Avg, max of the hourly Max (or Avg);
 * - converted values: the logger's / edge's ZsAvg/ZsMin/ZsMax; where absent and the outlet has a
 *   reference O₂, C = C′ × (21 − O₂ref) / (21 − O₂) with the hour's O₂ (HJ 75-2017);
 * - exceedance hours (超标小时数): valid hours whose hourly average on the limit's basis exceeds the
 *   limit; the largest exceedance multiple (超标倍数) = (C − limit) / limit;
 * - emission amount (排放量, kg) where flow is measured: Σ over hours where the factor and the flow
 *   are valid of measured concentration × the hour's flow volume. The volume is the flow's Cou (m³)
 *   when sent, else its Avg × 3600 s (m³/s), × 3.6 (L/s → m³) or × 1 h (m³/h). kg = mg/m³ × m³ × 10⁻⁶
 *   (gas), mg/L × m³ × 10⁻³ (water);
 * - the outlet's transmission, validity and effective rate of the day / month (rates.ts).
 * CSV is UTF-8 with a BOM (EF BB BF) so spreadsheet software reads the Chinese headers, CRLF rows.
 */
import { factorInfo } from '../../lib/hj212/factors.ts';
import type { SeriesStore, Value } from '../store/types.ts';
import { flowCodeOf, limitBasis, type EnterpriseConfig, type OutletConfig, type Registry } from './config.ts';
import { effectiveFlag, isValidFlag } from './flags.ts';
import type { RateCalculator, RateRow } from './rates.ts';
import { HJ212_MEASUREMENT, type RecordStore } from './records.ts';

export type Lang = 'zh-CN' | 'en';
export interface ReportRow {
  period: string; enterprise: string; enterpriseName: string; outlet: string; outletName: string; mn: string;
  code: string; pollutant: string; unit: string | null;
  hours: number; validHours: number;
  min: number | null; avg: number | null; max: number | null;
  zsMin: number | null; zsAvg: number | null; zsMax: number | null;
  limit: number | null; limitBasis: 'converted' | 'raw' | null;
  exceedanceHours: number; maxMultiple: number | null;
  emissionKg: number | null;
  transmissionRate: number | null; validityRate: number | null; effectiveRate: number | null; belowThreshold: boolean;
}
export interface ReportTotal { code: string; pollutant: string; hours: number; validHours: number; exceedanceHours: number; emissionKg: number | null }
export interface Report { kind: 'daily' | 'monthly'; period: string; from: number; to: number; rows: ReportRow[]; totals: ReportTotal[] }

/** Column keys with their English and Chinese names (Chinese terms from the staff glossary). */
export const COLUMNS: Array<{ key: keyof ReportRow; en: string; zh: string }> = [
  { key: 'period', en: 'Period', zh: '日期' },
  { key: 'enterpriseName', en: 'Enterprise', zh: '企业' },
  { key: 'outletName', en: 'Outlet', zh: '排放口' },
  { key: 'mn', en: 'Data logger MN', zh: '数采仪MN' },
  { key: 'pollutant', en: 'Monitoring factor', zh: '监测因子' },
  { key: 'code', en: 'Factor code', zh: '因子编码' },
  { key: 'unit', en: 'Unit', zh: '单位' },
  { key: 'hours', en: 'Hourly data received', zh: '小时数据条数' },
  { key: 'validHours', en: 'Valid hours', zh: '有效小时数' },
  { key: 'min', en: 'Measured concentration min', zh: '实测浓度最小值' },
  { key: 'avg', en: 'Measured concentration avg', zh: '实测浓度平均值' },
  { key: 'max', en: 'Measured concentration max', zh: '实测浓度最大值' },
  { key: 'zsMin', en: 'Converted concentration min', zh: '折算浓度最小值' },
  { key: 'zsAvg', en: 'Converted concentration avg', zh: '折算浓度平均值' },
  { key: 'zsMax', en: 'Converted concentration max', zh: '折算浓度最大值' },
  { key: 'limit', en: 'Emission limit', zh: '排放限值' },
  { key: 'limitBasis', en: 'Limit applies to', zh: '限值适用' },
  { key: 'exceedanceHours', en: 'Exceedance hours', zh: '超标小时数' },
  { key: 'maxMultiple', en: 'Max exceedance multiple', zh: '最大超标倍数' },
  { key: 'emissionKg', en: 'Emission amount (kg)', zh: '排放量（kg）' },
  { key: 'transmissionRate', en: 'Transmission rate', zh: '传输率' },
  { key: 'validityRate', en: 'Validity rate', zh: '有效率' },
  { key: 'effectiveRate', en: 'Transmission effective rate', zh: '数据传输有效率' },
  { key: 'belowThreshold', en: 'Effective rate below threshold', zh: '数据传输有效率不达标' },
];
const WORDS: Record<string, { en: string; zh: string }> = {
  converted: { en: 'converted concentration', zh: '折算浓度' },
  raw: { en: 'measured concentration', zh: '实测浓度' },
  total: { en: 'Total', zh: '合计' },
  true: { en: 'yes', zh: '是' },
  false: { en: 'no', zh: '否' },
  monthHeader: { en: 'Month', zh: '月份' },
};

const FIELDS = ['avg', 'min', 'max', 'cou', 'flag', 'unit', 'zsAvg', 'zsMin', 'zsMax', 'o2'] as const;
type Hour = { ts: number } & Partial<Record<(typeof FIELDS)[number], Value>>;
const num = (v: Value | undefined): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const CONC_TO_KG: Record<string, number> = { 'mg/m3': 1e-6, 'ug/m3': 1e-9, 'mg/L': 1e-3 };
const O2_CODES = new Set(['a19001', 'S01']);

export interface ReportDeps { store: SeriesStore; records: RecordStore; registry: Registry; rates: RateCalculator }

export async function buildReport(d: ReportDeps, q: { kind: 'daily' | 'monthly'; from: number; to: number; label: string; enterprise?: string; outlet?: string }): Promise<Report> {
  const rows: ReportRow[] = [];
  const window = q.kind === 'daily' ? 'day' : 'month';
  const rateRows = d.rates.compute({ window, from: q.from, to: q.from + 1, enterprise: q.enterprise, outlet: q.outlet });
  for (const e of d.registry.enterprises) {
    if (q.enterprise && e.id !== q.enterprise) continue;
    for (const o of e.outlets) {
      if (q.outlet && o.id !== q.outlet) continue;
      const rate = rateRows.find((r) => r.enterprise === e.id && r.outlet === o.id);
      rows.push(...await outletRows(d, e, o, q, rate));
    }
  }
  const totals = new Map<string, ReportTotal>();
  for (const r of rows) {
    const t = totals.get(r.code) ?? { code: r.code, pollutant: r.pollutant, hours: 0, validHours: 0, exceedanceHours: 0, emissionKg: null };
    t.hours += r.hours; t.validHours += r.validHours; t.exceedanceHours += r.exceedanceHours;
    if (r.emissionKg !== null) t.emissionKg = (t.emissionKg ?? 0) + r.emissionKg;
    totals.set(r.code, t);
  }
  return { kind: q.kind, period: q.label, from: q.from, to: q.to, rows, totals: [...totals.values()].sort((a, b) => a.code.localeCompare(b.code)) };
}

async function outletRows(d: ReportDeps, e: EnterpriseConfig, o: OutletConfig, q: { from: number; to: number; label: string }, rate: RateRow | undefined): Promise<ReportRow[]> {
  const res = await d.store.query({ measurement: HJ212_MEASUREMENT, fields: [...FIELDS], from: q.from, to: q.to, tags: { station: o.mn, period: 'hour' }, groupBy: ['code', 'pollutant'] });
  const corr = d.records.correctionsIn([o.mn], 'hour', q.from, q.to);
  const byCode = new Map<string, { pollutant: string; hours: Hour[] }>();
  for (const s of res.series) {
    const code = s.tags.code;
    const g = byCode.get(code) ?? { pollutant: s.tags.pollutant || code, hours: [] };
    for (const v of s.values) {
      const h: Hour = { ts: Number(v[0]) };
      FIELDS.forEach((f, i) => { (h as Record<string, Value>)[f] = v[i + 1]; });
      g.hours.push(h);
    }
    byCode.set(code, g);
  }
  const valid = (code: string, h: Hour) => isValidFlag(effectiveFlag(code, typeof h.flag === 'string' ? h.flag : undefined, corr.get(`${o.mn}|${h.ts}`) ?? []));
  const flowCode = flowCodeOf(o);
  const flow = byCode.get(flowCode);
  const flowUnit = (flow?.hours.find((h) => typeof h.unit === 'string')?.unit as string | undefined) ?? o.flowUnit ?? factorInfo(flowCode)?.unit ?? 'm3/h';
  const volume = new Map<number, number>();
  for (const h of flow?.hours ?? []) {
    if (!valid(flowCode, h)) continue;
    const cou = num(h.cou);
    const avg = num(h.avg);
    const v = cou ?? (avg === undefined ? undefined : avg * (flowUnit === 'm3/s' ? 3600 : flowUnit === 'L/s' ? 3.6 : 1));
    if (v !== undefined) volume.set(h.ts, v);
  }
  const o2 = new Map<number, number>();
  for (const code of O2_CODES) for (const h of byCode.get(code)?.hours ?? []) { const v = num(h.avg); if (v !== undefined && valid(code, h)) o2.set(h.ts, v); }
  const basis = limitBasis(o);
  const out: ReportRow[] = [];
  for (const [code, g] of [...byCode].sort(([a], [b]) => a.localeCompare(b))) {
    const unit = (g.hours.find((h) => typeof h.unit === 'string')?.unit as string | undefined) ?? factorInfo(code)?.unit ?? null;
    const toKg = unit ? CONC_TO_KG[unit] : undefined;
    const isConc = toKg !== undefined && code !== flowCode;
    const convert = (c: number | undefined, ts: number): number | undefined => {
      if (c === undefined || o.o2Ref === undefined || !isConc || O2_CODES.has(code)) return undefined;
      const m = o2.get(ts) ?? num(g.hours.find((h) => h.ts === ts)?.o2);
      return m === undefined || m >= 21 ? undefined : (c * (21 - o.o2Ref)) / (21 - m);
    };
    const limit = o.limits[code] ?? null;
    const acc = { min: [] as number[], avg: [] as number[], max: [] as number[], zsMin: [] as number[], zsAvg: [] as number[], zsMax: [] as number[] };
    let validHours = 0, exceedanceHours = 0, maxMultiple: number | null = null, emission: number | null = null;
    for (const h of g.hours) {
      if (!valid(code, h)) continue;
      validHours++;
      const avg = num(h.avg);
      const mn = num(h.min) ?? avg, mx = num(h.max) ?? avg;
      const zsAvg = num(h.zsAvg) ?? convert(avg, h.ts);
      const zsMin = num(h.zsMin) ?? (num(h.zsAvg) !== undefined ? zsAvg : convert(mn, h.ts));
      const zsMax = num(h.zsMax) ?? (num(h.zsAvg) !== undefined ? zsAvg : convert(mx, h.ts));
      for (const [k, v] of [['min', mn], ['avg', avg], ['max', mx], ['zsMin', zsMin], ['zsAvg', zsAvg], ['zsMax', zsMax]] as const) if (v !== undefined) acc[k].push(v);
      const b = basis === 'converted' ? zsAvg : avg;
      if (limit !== null && b !== undefined && b > limit) {
        exceedanceHours++;
        maxMultiple = Math.max(maxMultiple ?? 0, (b - limit) / limit);
      }
      const vol = volume.get(h.ts);
      if (isConc && avg !== undefined && vol !== undefined) emission = (emission ?? 0) + avg * vol * toKg!;
    }
    const min = (xs: number[]) => (xs.length ? Math.min(...xs) : null);
    const max = (xs: number[]) => (xs.length ? Math.max(...xs) : null);
    const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
    out.push({
      period: q.label, enterprise: e.id, enterpriseName: e.name, outlet: o.id, outletName: o.name, mn: o.mn,
      code, pollutant: g.pollutant, unit, hours: g.hours.length, validHours,
      min: min(acc.min), avg: mean(acc.avg), max: max(acc.max), zsMin: min(acc.zsMin), zsAvg: mean(acc.zsAvg), zsMax: max(acc.zsMax),
      limit, limitBasis: limit !== null ? basis : null, exceedanceHours, maxMultiple, emissionKg: emission,
      transmissionRate: rate?.transmissionRate ?? null, validityRate: rate?.validityRate ?? null, effectiveRate: rate?.effectiveRate ?? null, belowThreshold: rate?.belowThreshold ?? false,
    });
  }
  return out;
}

/** A number as a report shows it: up to 6 decimals, no float noise. */
const fmt = (v: number): string => String(Number(v.toFixed(6)));

function cell(v: unknown, key: string, lang: Lang): string {
  if (v === null || v === undefined) return '';
  const l = lang === 'zh-CN' ? 'zh' : 'en';
  if (typeof v === 'boolean') return WORDS[String(v)][l];
  if (key === 'limitBasis') return WORDS[v as string][l];
  if (typeof v === 'number') return fmt(v);
  return String(v);
}
const csvEscape = (s: string): string => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

/** The report as CSV bytes: BOM, header in `lang`, one row per outlet and factor, then a total per factor. */
export function reportCsv(r: Report, lang: Lang): Buffer {
  const l = lang === 'zh-CN' ? 'zh' : 'en';
  const header = COLUMNS.map((c) => (c.key === 'period' && r.kind === 'monthly' ? WORDS.monthHeader[l] : c[l]));
  const lines = [header.map(csvEscape).join(',')];
  for (const row of r.rows) lines.push(COLUMNS.map((c) => csvEscape(cell(row[c.key], c.key, lang))).join(','));
  for (const t of r.totals) {
    const row: Partial<Record<keyof ReportRow, unknown>> = { period: WORDS.total[l], pollutant: t.pollutant, code: t.code, hours: t.hours, validHours: t.validHours, exceedanceHours: t.exceedanceHours, emissionKg: t.emissionKg };
    lines.push(COLUMNS.map((c) => csvEscape(cell(row[c.key], c.key, lang))).join(','));
  }
  return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(lines.join('\r\n') + '\r\n', 'utf8')]);
}
