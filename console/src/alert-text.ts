import type { Alert } from './api.ts';
import { t, tk, num, unit, type Lang } from './i18n.ts';
import { store } from './store.ts';

/**
 * An alert's text in the reader's language, built from its structured fields (the `data` the
 * edge rule wrote: type, station/outlet, pollutant, value, limit, unit, flag…) through the string
 * catalogue — not the message the edge wrote, which is in the edge's language. Only an alert of a
 * rule type the console does not know falls back to the stored message (for a bilingual stored
 * message `en | zh`, the reader's half).
 */
const POL_KEY: Record<string, string> = { 'PM2.5': 'pm25', pm25: 'pm25', PM10: 'pm10', pm10: 'pm10', SO2: 'so2', so2: 'so2', NO2: 'no2', no2: 'no2', CO: 'co', co: 'co', O3: 'o3', o3: 'o3' };
const str = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);
const nr = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** A monitoring factor as staff name it (PM2.5, 二氧化硫 …); unknown codes as they are. */
export function factorName(p: string): string {
  return POL_KEY[p] ? tk('pol', POL_KEY[p]) : p;
}

/** The stored message, in the reader's half when the edge wrote `english | 中文`. */
export function storedMessage(message: string, lang: Lang = store.get().lang): string {
  const parts = message.split(' | ');
  if (parts.length !== 2) return message;
  const zhFirst = /[\u4e00-\u9fff]/.test(parts[0]) && !/[\u4e00-\u9fff]/.test(parts[1]);
  const [enPart, zhPart] = zhFirst ? [parts[1], parts[0]] : parts;
  return lang === 'zh' ? zhPart : enPart;
}

/** The alert's text in the current language; `structured` says whether it came from the fields. */
export function alertText(a: Pick<Alert, 'rule' | 'source' | 'message' | 'data'>): { text: string; structured: boolean } {
  const d = a.data ?? {};
  const type = str(d.type);
  const station = str(d.station);
  const where = station ? (str(d.outlet) ? `${station}/${str(d.outlet)}` : station) : a.source;
  const pollutant = str(d.pollutant);
  const u = unit(str(d.unit));
  const v = nr(d.value);
  const limit = nr(d.limit);
  if (type === 'exceedance' && pollutant && v !== undefined && limit !== undefined) {
    const basis = d.basis === 'converted' ? t('at.converted') : t('at.measured');
    const what = nr(d.windowMinutes) !== undefined ? t('at.average', { m: num(nr(d.windowMinutes)), basis }) : basis;
    const parts = [t('at.exceedance', { factor: factorName(pollutant), where, what, value: `${num(v, 3)} ${u}`.trim(), limit: `${num(limit, 3)} ${u}`.trim() })];
    if (nr(d.multiple) !== undefined) parts.push(t('at.multiple', { m: num(nr(d.multiple), 2) }));
    if ((nr(d.consecutive) ?? 0) > 1) parts.push(t('at.consecutive', { n: num(nr(d.consecutive)) }));
    return { text: parts.join(t('at.sep')), structured: true };
  }
  if (type === 'instrument' && pollutant && str(d.flag)) {
    return { text: t('at.instrument', { factor: factorName(pollutant), where, flag: str(d.flag)!, meaning: tk('flag', str(d.flag)!) }), structured: true };
  }
  if (type === 'missing' && pollutant) {
    const after = nr(d.afterMinutes);
    return { text: after !== undefined ? t('at.missingFor', { factor: factorName(pollutant), where, m: num(after) }) : t('at.missing', { factor: factorName(pollutant), where }), structured: true };
  }
  // public bikes (edge/bikes/site.ts rule ids)
  const st = station ?? a.source;
  const dock = d.dock !== undefined ? String(d.dock) : undefined;
  switch (a.rule) {
    case 'bike.station_empty': return { text: t('at.bikeEmpty', { station: st }), structured: true };
    case 'bike.station_full': return { text: t('at.bikeFull', { station: st }), structured: true };
    case 'bike.controller_silent': return { text: t('at.bikeSilent', { station: st }), structured: true };
    case 'bike.dock_fault': if (dock) return { text: t('at.bikeFault', { station: st, dock, code: str(d.code) ?? '—' }), structured: true }; break;
    case 'bike.no_ride': if (dock) return { text: t('at.bikeNoRide', { station: st, dock }), structured: true }; break;
  }
  return { text: storedMessage(a.message), structured: false };
}
