import { useEffect, useMemo, useState } from 'preact/hooks';
import { computeAqi } from '../../../edge/env/aqi/aqi.ts';
import { HJ_CATEGORIES } from '../../../edge/env/aqi/tables.ts';
import { get, qs, type Series } from '../api.ts';
import { t, tk, timeZ, unit, num } from '../i18n.ts';
import { useStore } from '../store.ts';
import { Chart } from '../ui/chart.tsx';
import { Err, Select } from '../ui/bits.tsx';

interface Station { site: string; measurement: string; station: string; pollutant: string; field: string; last: number }
const RANGES: Record<string, number> = { '24h': 86_400_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000 };
/** Canonical names (HJ 212 pollutant tags, air replay fields) → the AQI's pollutant and the string key. */
const POL: Record<string, { aqi: string; key: string; unit: string }> = {
  pm25: { aqi: 'PM2.5', key: 'pm25', unit: 'ug/m3' }, 'PM2.5': { aqi: 'PM2.5', key: 'pm25', unit: 'ug/m3' },
  pm10: { aqi: 'PM10', key: 'pm10', unit: 'ug/m3' }, PM10: { aqi: 'PM10', key: 'pm10', unit: 'ug/m3' },
  so2: { aqi: 'SO2', key: 'so2', unit: 'ug/m3' }, SO2: { aqi: 'SO2', key: 'so2', unit: 'ug/m3' },
  no2: { aqi: 'NO2', key: 'no2', unit: 'ug/m3' }, NO2: { aqi: 'NO2', key: 'no2', unit: 'ug/m3' },
  co: { aqi: 'CO', key: 'co', unit: 'ug/m3' }, CO: { aqi: 'CO', key: 'co', unit: 'mg/m3' },
  o3: { aqi: 'O3', key: 'o3', unit: 'ug/m3' }, O3: { aqi: 'O3', key: 'o3', unit: 'ug/m3' },
};
/** GB 3095-2012 grade II limits in the unit shown (1-hour where the standard has one, else 24-hour). */
const LIMITS: Record<string, number> = { pm25: 75, pm10: 150, so2: 500, no2: 200, co: 10, o3: 200 };
const polName = (p: string) => (POL[p] ? tk('pol', POL[p].key) : p);

/** Per station and factor: the hourly line over a chosen range, its limit, flags, gaps; the AQI with HJ 633 colours. */
export function AirPage() {
  const s = useStore();
  const [stations, setStations] = useState<Station[]>();
  const [key, setKey] = useState('');
  const [pol, setPol] = useState('');
  const [range, setRange] = useState('7d');
  const [data, setData] = useState<{ times: number[]; values: Array<number | null>; marks: Array<{ i: number; label: string }>; unit: string; aqi?: Array<number | null> }>();
  const [err, setErr] = useState<unknown>();
  useEffect(() => { get<Station[]>('/api/v1/env/stations').then((x) => { setStations(x); if (x.length) { setKey(`${x[0].site}|${x[0].measurement}|${x[0].station}`); setPol(x[0].pollutant); } }, setErr); }, []);
  const groups = useMemo(() => {
    const m = new Map<string, Station[]>();
    for (const st of stations ?? []) { const k = `${st.site}|${st.measurement}|${st.station}`; m.set(k, [...(m.get(k) ?? []), st]); }
    return m;
  }, [stations]);
  const cur = groups.get(key) ?? [];
  const sel = cur.find((x) => x.pollutant === pol) ?? cur[0];
  useEffect(() => {
    if (!sel) return;
    const to = sel.last + 60_000; const from = to - RANGES[range];
    const tags = sel.measurement === 'hj212' ? `&tag=${encodeURIComponent(`station=${sel.station}`)}&tag=${encodeURIComponent(`pollutant=${sel.pollutant}`)}` : `&tag=${encodeURIComponent(`station=${sel.station}`)}`;
    const fields = sel.measurement === 'hj212' ? 'avg,flag,unit' : `${sel.field}${sel.measurement === 'air' ? ',aqi' : ''}`;
    get<{ series: Series[] }>(`/api/v1/series${qs({ measurement: sel.measurement, fields, site: sel.site, from: String(from), to: String(to), limit: 20000 })}${tags}`).then((r) => {
      const ser = r.series[0];
      const times: number[] = []; const values: Array<number | null> = []; const aqi: Array<number | null> = []; const marks: Array<{ i: number; label: string }> = [];
      let u = sel.measurement === 'air' ? (sel.field === 'co' ? 'mg/m3' : 'ug/m3') : '';
      if (ser) {
        const c = (n: string) => ser.columns.indexOf(n);
        // hourly data: a missing hour is a gap (null), so the line breaks there
        let prev = 0;
        for (const row of ser.values) {
          const ts = Number(row[0]);
          if (prev && ts - prev > 90 * 60_000) { times.push(prev + 3_600_000); values.push(null); aqi.push(null); }
          let v = row[c(sel.measurement === 'hj212' ? 'avg' : sel.field)];
          if (typeof v === 'number' && sel.measurement === 'air' && sel.field === 'co') v = v / 1000; // the data set's CO is µg/m³; staff write mg/m³
          times.push(ts); values.push(typeof v === 'number' ? v : null);
          const a = c('aqi') >= 0 ? row[c('aqi')] : null;
          aqi.push(typeof a === 'number' ? a : null);
          const fl = c('flag') >= 0 ? row[c('flag')] : null;
          if (typeof fl === 'string' && fl !== 'N') marks.push({ i: times.length - 1, label: `${fl} ${tk('flag', fl)}` });
          const un = c('unit') >= 0 ? row[c('unit')] : null;
          if (typeof un === 'string') u = un;
          prev = ts;
        }
      }
      setData({ times, values, marks, unit: u, aqi: sel.measurement === 'air' ? aqi : undefined });
    }, setErr);
  }, [sel?.site, sel?.station, sel?.pollutant, sel?.measurement, range]);

  // the latest AQI: the air replay reports it; for HJ 212 stations it is computed here (HJ 633, 1-hour values)
  const latest = useMemo(() => {
    if (!data || !sel) return undefined;
    let i = data.values.length - 1;
    while (i >= 0 && data.values[i] === null) i--;
    if (i < 0) return undefined;
    const p = POL[sel.pollutant];
    if (!p) return undefined;
    try {
      const v = data.values[i]!;
      const r = computeAqi([{ pollutant: p.aqi, averaging: p.aqi.startsWith('PM') ? '24h' : '1h', value: v, unit: p.aqi === 'CO' ? 'mg/m3' : 'ug/m3' }], { time: data.times[i] });
      const aqi = data.aqi?.[i] ?? r.aqi;
      const cat = HJ_CATEGORIES.find((c) => aqi <= c.max) ?? HJ_CATEGORIES[HJ_CATEGORIES.length - 1];
      return { aqi, cat, at: data.times[i], primary: r.primary.join(', ') };
    } catch { return undefined; }
  }, [data, sel]);

  if (err) return <section class="page"><Err e={err} /></section>;
  if (!stations) return <section class="page"><p>{t('common.loading')}</p></section>;
  if (!stations.length) return <section class="page"><h1>{t('air.title')}</h1><p class="empty">{t('air.noStations')}</p></section>;
  const u = unit(data?.unit);
  const bands = data?.aqi ? HJ_CATEGORIES.map((c, i) => ({ from: i ? HJ_CATEGORIES[i - 1].max : 0, to: Math.min(c.max, 500), color: `${c.color}22` })) : undefined;
  return (
    <section class="page" aria-labelledby="h-air">
      <header class="page-head"><h1 id="h-air">{t('air.title')}</h1>{sel && <p class="muted">{t('air.latest', { at: timeZ(sel.last, sel.site) })}</p>}</header>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <Select id="air-station" label={t('air.station')} value={key} onChange={(v) => setKey(v)} options={[...groups.keys()].map((k) => { const [site, , st] = k.split('|'); return [k, `${st} (${site})`] as [string, string]; })} />
        <Select id="air-pol" label={t('air.pollutant')} value={sel?.pollutant ?? ''} onChange={setPol} options={cur.map((x) => [x.pollutant, polName(x.pollutant)] as [string, string])} />
        <Select id="air-range" label={t('air.range')} value={range} onChange={setRange} options={[['24h', t('time.24h')], ['7d', t('time.7d')], ['30d', t('time.30d')]]} />
      </form>
      {latest && (
        <div class="aqi card" style={{ borderColor: latest.cat.color }} data-testid="aqi">
          <span class="aqi-num" style={{ background: latest.cat.color, color: latest.cat.level <= 2 ? '#111' : '#fff' }}>{latest.aqi}</span>
          <span><strong>{t('air.aqi')}</strong> · {s.lang === 'zh' ? latest.cat.zh : latest.cat.en}{latest.primary ? ` · ${t('air.primary', { p: latest.primary })}` : ''}<br /><span class="muted small">{timeZ(latest.at, sel?.site)}</span></span>
        </div>
      )}
      {data && sel && (data.times.length ? (
        <>
          <Chart title={`${sel.station} ${polName(sel.pollutant)}`} site={sel.site} times={data.times}
            lines={[{ label: `${polName(sel.pollutant)} ${u} (${sel.measurement === 'hj212' ? t('air.hourly') : t('air.realtime')})`, values: data.values, color: '#58a6ff' }]}
            limits={POL[sel.pollutant] && LIMITS[POL[sel.pollutant].key] ? [{ value: LIMITS[POL[sel.pollutant].key], label: `${t('air.limitStd')} ${num(LIMITS[POL[sel.pollutant].key])} ${u}`, color: '#f85149' }] : []}
            marks={data.marks} />
          <p class="muted small">{t('air.gaps')}{data.marks.length ? ` · ${t('air.flagged')}: ${data.marks.length}` : ''}</p>
          {data.aqi && data.aqi.some((v) => v !== null) && <Chart title={t('air.aqi')} site={sel.site} times={data.times} lines={[{ label: 'AQI', values: data.aqi, color: '#d2a8ff' }]} bands={bands} height={200} />}
        </>
      ) : <p class="empty">{t('air.noData')}</p>)}
    </section>
  );
}
