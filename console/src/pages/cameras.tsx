import { useEffect, useState } from 'preact/hooks';
import { get, qs, type Series } from '../api.ts';
import { t, tk, time, zoneName, siteZone } from '../i18n.ts';
import { onLive } from '../live.ts';
import { useStore } from '../store.ts';
import { Chart } from '../ui/chart.tsx';
import { Err } from '../ui/bits.tsx';

interface CamEvent { id: string; site: string; type: string; source: string; phase: string; ts: number; received: number; data: Record<string, unknown>; snapshots: Array<{ role: string; sha256: string }> }
const COLORS = ['#58a6ff', '#3fb950', '#d2a8ff', '#f0883e', '#ff7b72', '#e3b341'];

/**
 * Counts per line and zone over the last two hours: the camera_stats fields line_<rule>_<direction>
 * and zone_<rule> (named after the camera's rules, learnt here from its events), and its frame rate.
 */
function Counts(p: { site: string; camera: string; fields: string[] }) {
  const [s, setS] = useState<Series>();
  const fields = ['fps_out', ...p.fields].join(',');
  useEffect(() => {
    get<{ series: Series[] }>(`/api/v1/series${qs({ measurement: 'camera_stats', fields, site: p.site, from: '-2h', limit: 5000 })}&tag=${encodeURIComponent(`camera=${p.camera}`)}`).then((r) => setS(r.series[0]), () => undefined);
  }, [p.site, p.camera, fields]);
  if (!s || !s.values.length) return null;
  const times = s.values.map((v) => Number(v[0]));
  const cols = s.columns.slice(1);
  return <Chart title={`${p.camera} ${t('cam.counts')}`} site={p.site} times={times} height={180}
    lines={cols.map((c, i) => ({ label: c === 'fps_out' ? t('cam.fps') : c, values: s.values.map((v) => (typeof v[i + 1] === 'number' ? (v[i + 1] as number) : null)), color: COLORS[i % COLORS.length] }))} />;
}

const countFields = (evs: CamEvent[]) => [...new Set(evs.flatMap((e) => {
  const rule = typeof e.data.rule === 'string' ? e.data.rule : undefined;
  if (!rule) return [];
  if (e.type === 'line.cross' && typeof e.data.direction === 'string') return [`line_${rule}_${e.data.direction}`];
  if (e.type === 'zone.dwell' || e.type === 'crowd') return [`zone_${rule}`];
  return [];
}))];

/** Recent camera events with their evidence snapshots; the latest snapshot per camera; frame rate over time. */
export function CamerasPage() {
  useStore();
  const [evs, setEvs] = useState<CamEvent[]>();
  const [err, setErr] = useState<unknown>();
  const load = () => get<CamEvent[]>(`/api/v1/camera/events${qs({ limit: 60 })}`).then(setEvs, setErr);
  useEffect(() => { load(); }, []);
  useEffect(() => onLive((e) => {
    if (e.type === 'event' && (e.data.kind === 'event' || e.data.kind === 'snapshot')) { window.clearTimeout((load as any).t); (load as any).t = window.setTimeout(load, 300); }
  }), []);
  if (err) return <section class="page"><Err e={err} /></section>;
  if (!evs) return <section class="page"><p>{t('common.loading')}</p></section>;
  const cams = [...new Map(evs.map((e) => [`${e.site}/${e.source}`, e])).values()];
  const latestSnap = (site: string, cam: string) => evs.find((e) => e.site === site && e.source === cam && e.snapshots.length)?.snapshots.find((s) => s.role === 'frame') ?? evs.find((e) => e.site === site && e.source === cam && e.snapshots.length)?.snapshots[0];
  return (
    <section class="page" aria-labelledby="h-cam">
      <header class="page-head"><h1 id="h-cam">{t('cam.title')}</h1><p class="muted">{zoneName(siteZone(evs[0]?.site))}</p></header>
      {!evs.length && <p class="empty">{t('cam.noEvents')}</p>}
      <div class="cams">
        {cams.map((c) => {
          const snap = latestSnap(c.site, c.source);
          return (
            <article class="card cam" key={`${c.site}/${c.source}`}>
              <h2>{t('cam.camera')} {c.source} <span class="muted small">{c.site}</span></h2>
              <p class="muted small">{t('cam.latest')}</p>
              {snap ? <img class="snapshot" src={`/api/v1/snapshots/${snap.sha256}`} alt={`${t('cam.latest')} ${c.source}`} /> : <p class="muted">{t('cam.noSnapshot')}</p>}
              <Counts site={c.site} camera={c.source} fields={countFields(evs.filter((e) => e.site === c.site && e.source === c.source))} />
            </article>
          );
        })}
      </div>
      <h2>{t('cam.events')}</h2>
      <ul class="events" data-testid="camera-events">
        {evs.map((e) => (
          <li class="card event" key={e.id} data-testid="camera-event">
            <div>
              <strong>{tk('ev', e.type)}</strong> {e.phase !== 'instant' && <span class="badge">{tk('ev', e.phase)}</span>} <span class="muted">{e.site} · {e.source}{e.data.rule ? ` · ${String(e.data.rule)}` : ''}{e.data.direction ? ` · ${String(e.data.direction)}` : ''}</span>
              <br /><time class="small">{time(e.ts, e.site, true)}</time>
            </div>
            {e.snapshots.length ? e.snapshots.map((s) => <img class="thumb" loading="lazy" src={`/api/v1/snapshots/${s.sha256}`} alt={`${t('alert.evidence')} ${tk('ev', e.type)}`} key={s.sha256} data-testid="event-snapshot" />) : <span class="muted small">{t('cam.noSnapshot')}</span>}
          </li>
        ))}
      </ul>
    </section>
  );
}
