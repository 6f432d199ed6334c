import { en, zh, type StringKey } from './strings.ts';
import { store } from './store.ts';

export type Lang = 'en' | 'zh';
const KEY = 'cityedge.lang';

/** The language: the one chosen before (localStorage), else the browser's (zh* → zh-CN). */
export function initialLang(): Lang {
  const saved = localStorage.getItem(KEY);
  if (saved === 'en' || saved === 'zh') return saved;
  return (navigator.languages ?? [navigator.language]).some((l) => /^zh\b/i.test(l)) ? 'zh' : 'en';
}

export function setLang(l: Lang): void {
  localStorage.setItem(KEY, l);
  document.documentElement.lang = l === 'zh' ? 'zh-CN' : 'en';
  store.set({ lang: l });
}

export function t(key: StringKey, params?: Record<string, string | number>): string {
  let s: string = (store.get().lang === 'zh' ? zh : en)[key] ?? key;
  if (params) for (const [k, v] of Object.entries(params)) s = s.split(`{${k}}`).join(String(v));
  return s;
}

/** A key built at run time (a state, severity, flag…); the raw value when there is no string for it. */
export function tk(prefix: string, value: string, params?: Record<string, string | number>): string {
  const key = `${prefix}.${value}` as StringKey;
  return key in en ? t(key, params) : value;
}

const fmtCache = new Map<string, Intl.DateTimeFormat>();
function fmt(tz: string, withSeconds: boolean): Intl.DateTimeFormat {
  const k = `${tz}|${withSeconds}`;
  let f = fmtCache.get(k);
  if (!f) {
    // sv-SE gives 2026-03-05 14:03 — the form staff write in both languages
    f = new Intl.DateTimeFormat('sv-SE', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', ...(withSeconds ? { second: '2-digit' } : {}), hourCycle: 'h23' });
    fmtCache.set(k, f);
  }
  return f;
}

/** The time zone a site's times are shown in. */
export function siteZone(site?: string): string {
  const s = store.get();
  return (site && s.siteMeta[site]?.timezone) || s.defaultTimezone;
}

/** The zone's name as staff say it: 北京时间 / Beijing time (UTC+8), else the IANA name and offset. */
export function zoneName(tz: string): string {
  if (tz === 'Asia/Shanghai' || tz === 'Asia/Chongqing' || tz === 'PRC') return t('tz.beijing');
  const off = new Intl.DateTimeFormat('en', { timeZone: tz, timeZoneName: 'shortOffset' }).formatToParts(new Date()).find((p) => p.type === 'timeZoneName')?.value ?? '';
  return `${tz} (${off.replace('GMT', 'UTC')})`;
}

/** `2026-03-05 14:03` in the site's zone (no zone name: the page names it once). */
export function time(ms: number | undefined, site?: string, seconds = false): string {
  if (!ms) return '—';
  return fmt(siteZone(site), seconds).format(new Date(ms));
}

/** `2026-03-05 14:03 北京时间`: a time with its zone named. */
export function timeZ(ms: number | undefined, site?: string): string {
  if (!ms) return '—';
  return `${time(ms, site)} ${zoneName(siteZone(site))}`;
}

export function num(v: number | undefined | null, digits = 0): string {
  if (v === undefined || v === null || !Number.isFinite(v)) return '—';
  return v.toLocaleString(store.get().lang === 'zh' ? 'zh-CN' : 'en', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

/** Units as staff write them. */
export function unit(u: string | undefined): string {
  if (!u) return '';
  const s = u.replace(/^ug\/m3$/i, 'µg/m³').replace(/^mg\/m3$/i, 'mg/m³').replace(/^ug\/m³$/i, 'µg/m³');
  return s;
}
