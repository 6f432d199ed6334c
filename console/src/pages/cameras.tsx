import { useEffect, useState } from 'preact/hooks';
import { get, qs, type Series } from '../api.ts';
import { t, tk, time, num, zoneName, siteZone } from '../i18n.ts';
import { onLive } from '../live.ts';
import { useStore } from '../store.ts';
import { Chart } from '../ui/chart.tsx';
import { Err, usePhone } from '../ui/bits.tsx';

interface CamEvent { id: string; site: string; type: string; source: string; phase: string; ts: number; received: number; data: Record<string, unknown>; snapshots: Array<{ role: string; sha256: string }> }
type Pt = [number, number];
type Geometry = { id: string; type: 'line'; line: [Pt, Pt]; names: { forward: string; backward: string } } | { id: string; type: 'dwell' | 'crowd' | 'count'; zone: Pt[] };
/** GET /api/v1/cameras: a camera from its site's status, its rules' geometry, its latest frame. */
interface Cam { site: string; camera: string; online?: boolean; rules: Geometry[]; rulesError?: { code: string; message: string }; frame?: { sha256: string; ts: number; event: string } }
const COLORS = ['#58a6ff', '#3fb950', '#d2a8ff', '#f0883e', '#ff7b72', '#e3b341'];
const LINE = '#ff7b72';
const ZONE = '#e3b341';

/** The camera_stats fields of a camera's rules: line_RULE_DIRECTION, zone_RULE. */
const ruleFields = (rules: Geometry[]) => rules.flatMap((r) => (r.type === 'line' ? [`line_${r.id}_${r.names.forward}`, `line_${r.id}_${r.names.backward}`] : [`zone_${r.id}`]));
/** …and those learnt from its events (a camera whose site does not report its geometry). */
const eventFields = (evs: CamEvent[]) => evs.flatMap((e) => {
  const rule = typeof e.data.rule === 'string' ? e.data.rule : undefined;
  if (!rule) return [];
  if (e.type === 'line.cross' && typeof e.data.direction === 'string') return [`line_${rule}_${e.data.direction}`];
  if (e.type === 'zone.dwell' || e.type === 'crowd') return [`zone_${rule}`];
  return [];
});

/** Counts per line and zone over the last two hours (camera_stats) and the frame rate. */
function useCounts(site: string, camera: string, fields: string[]): Series | undefined {
  const [s, setS] = useState<Series>();
  const f = ['fps_out', ...fields].join(',');
  useEffect(() => {
    const load = () => get<{ series: Series[] }>(`/api/v1/series${qs({ measurement: 'camera_stats', fields: f, site, from: '-2h', limit: 5000 })}&tag=${encodeURIComponent(`camera=${camera}`)}`).then((r) => setS(r.series[0]), () => undefined);
    load();
    const iv = window.setInterval(load, 30_000);
    return () => clearInterval(iv);
  }, [site, camera, f]);
  return s;
}

/** The newest value of each column (the counts as of the last camera_stats report). */
function latestOf(s: Series | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  if (!s) return out;
  s.columns.forEach((c, i) => {
    for (let j = s.values.length - 1; j >= 0; j--) { const v = s.values[j][i]; if (typeof v === 'number') { out[c] = v; break; } }
  });
  return out;
}

const W = 1000;
const mid = (pts: Pt[]): Pt => [pts.reduce((n, p) => n + p[0], 0) / pts.length, pts.reduce((n, p) => n + p[1], 0) / pts.length];

/**
 * The camera's latest frame with its rules drawn over it as SVG: counting lines and zone polygons
 * from the normalised (0..1) coordinates the edge reports, each labelled with its rule and counts.
 * The SVG's viewBox has the frame's aspect ratio, so the shapes sit where the edge counts.
 */
function Frame(p: { cam: Cam; counts: Record<string, number> }) {
  const [aspect, setAspect] = useState(9 / 16);
  const phone = usePhone();
  // labels in viewBox units: larger on a phone, where the frame is drawn small
  const fs = phone ? 40 : 30;
  /** A label's x, so that it stays inside the frame (centred on x where there is room). */
  const fit = (x: number, text: string) => { const half = (text.length * fs * 0.56) / 2 + 8; return Math.round(Math.max(half, Math.min(W - half, x))); };
  const H = Math.round(W * aspect);
  const c = p.cam;
  const n = (k: string) => (p.counts[k] !== undefined ? num(p.counts[k]) : '—');
  const xy = ([x, y]: Pt) => [Math.round(x * W * 10) / 10, Math.round(y * H * 10) / 10] as const;
  return (
    <figure class="frame" data-testid="camera-frame" data-camera={c.camera} data-site={c.site}>
      <div class="frame-box" style={c.frame ? undefined : { aspectRatio: `${W} / ${H}` }}>
        {c.frame
          ? <img src={`/api/v1/snapshots/${c.frame.sha256}`} alt={t('cam.frameAlt', { camera: c.camera })} data-testid="camera-frame-img" onLoad={(e) => { const im = e.currentTarget as HTMLImageElement; if (im.naturalWidth) setAspect(im.naturalHeight / im.naturalWidth); }} />
          : <span class="frame-none muted">{t('cam.noFrame')}</span>}
        <svg class="overlay" viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label={t('cam.overlay', { n: c.rules.length })} data-testid="overlay" data-width={W} data-height={H}>
          {c.rules.map((r) => {
            if (r.type === 'line') {
              const [[x1, y1], [x2, y2]] = [xy(r.line[0]), xy(r.line[1])];
              const [lx, ly] = xy(mid(r.line));
              const label = t('cam.lineLabel', { rule: r.id, a: r.names.forward, na: n(`line_${r.id}_${r.names.forward}`), b: r.names.backward, nb: n(`line_${r.id}_${r.names.backward}`) });
              return (
                <g key={r.id} data-testid="overlay-line" data-rule={r.id}>
                  <title>{t('cam.lineTitle', { rule: r.id })}</title>
                  <line x1={x1} y1={y1} x2={x2} y2={y2} stroke={LINE} stroke-width={6} stroke-linecap="round" />
                  <circle cx={x1} cy={y1} r={9} fill={LINE} /><circle cx={x2} cy={y2} r={9} fill={LINE} />
                  <text x={fit(lx, label)} y={Math.max(Math.min(y1, y2) - fs * 0.6, fs + 4)} class="ov-label" font-size={fs} stroke-width={fs / 4.5} text-anchor="middle" data-testid="overlay-label">{label}</text>
                </g>
              );
            }
            const pts = r.zone.map((q) => xy(q).join(',')).join(' ');
            const [lx, ly] = xy(mid(r.zone));
            return (
              <g key={r.id} data-testid="overlay-zone" data-rule={r.id}>
                <title>{t('cam.zoneTitle', { rule: r.id, type: tk('ctype', r.type) })}</title>
                <polygon points={pts} fill={`${ZONE}33`} stroke={ZONE} stroke-width={4} />
                <text x={fit(lx, t('cam.zoneLabel', { rule: r.id, n: n(`zone_${r.id}`) }))} y={ly} class="ov-label" font-size={fs} stroke-width={fs / 4.5} text-anchor="middle" data-testid="overlay-label">{t('cam.zoneLabel', { rule: r.id, n: n(`zone_${r.id}`) })}</text>
              </g>
            );
          })}
        </svg>
      </div>
      <figcaption class="muted small">
        {c.frame ? t('cam.frameAt', { at: time(c.frame.ts, c.site, true) }) : ''}
        {c.rulesError && <span class="error-inline" role="alert"> {t('cam.rulesError', { code: c.rulesError.code })}</span>}
        {!c.rules.length && !c.rulesError && <span> {t('cam.noRules')}</span>}
      </figcaption>
    </figure>
  );
}

/** A camera_stats column as staff read it: the frame rate, a line's direction, a zone's count. */
function seriesLabel(col: string, rules: Geometry[]): string {
  if (col === 'fps_out') return t('cam.fps');
  if (col.startsWith('zone_')) return t('cam.seriesZone', { rule: col.slice(5) });
  const known = rules.find((r) => r.type === 'line' && col.startsWith(`line_${r.id}_`));
  const m = known ? [col, known.id, col.slice(`line_${known.id}_`.length)] : /^line_(.+)_([^_]+)$/.exec(col);
  return m ? t('cam.seriesLine', { rule: m[1], dir: m[2] }) : col;
}

function CameraCard(p: { cam: Cam; evs: CamEvent[] }) {
  const c = p.cam;
  const fields = [...new Set([...ruleFields(c.rules), ...eventFields(p.evs)])];
  const s = useCounts(c.site, c.camera, fields);
  const counts = latestOf(s);
  return (
    <article class="card cam" data-testid="camera" data-camera={c.camera}>
      <h2>{t('cam.camera')} {c.camera} <span class="muted small">{c.site}</span> {c.online !== undefined && <span class={`badge ${c.online ? 'ok' : 'bad'}`}>{c.online ? t('sites.online') : t('sites.offline')}</span>}</h2>
      <Frame cam={c} counts={counts} />
      {s && s.values.length > 0 && <Chart title={`${c.camera} ${t('cam.counts')}`} site={c.site} times={s.values.map((v) => Number(v[0]))} height={180}
        lines={s.columns.slice(1).map((col, i) => ({ label: seriesLabel(col, c.rules), values: s.values.map((v) => (typeof v[i + 1] === 'number' ? (v[i + 1] as number) : null)), color: COLORS[i % COLORS.length] }))} />}
    </article>
  );
}

/** Each camera's latest frame with its lines and zones and their counts; recent events with their evidence snapshots. */
export function CamerasPage() {
  useStore();
  const [evs, setEvs] = useState<CamEvent[]>();
  const [cams, setCams] = useState<Cam[]>([]);
  const [err, setErr] = useState<unknown>();
  const load = () => Promise.all([get<CamEvent[]>(`/api/v1/camera/events${qs({ limit: 60 })}`), get<Cam[]>('/api/v1/cameras')]).then(([e, c]) => { setEvs(e); setCams(c); }, setErr);
  useEffect(() => { load(); }, []);
  useEffect(() => onLive((e) => {
    if ((e.type === 'event' && (e.data.kind === 'event' || e.data.kind === 'snapshot')) || e.type === 'status') { window.clearTimeout((load as any).t); (load as any).t = window.setTimeout(load, 300); }
  }), []);
  if (err) return <section class="page"><Err e={err} /></section>;
  if (!evs) return <section class="page"><p>{t('common.loading')}</p></section>;
  // cameras the sites report, then any others seen only in events (no geometry known)
  const all = [...cams];
  for (const e of evs) {
    if (all.some((c) => c.site === e.site && c.camera === e.source)) continue;
    const snap = evs.find((x) => x.site === e.site && x.source === e.source && x.snapshots.some((s) => s.role === 'frame'));
    const f = snap?.snapshots.find((s) => s.role === 'frame');
    all.push({ site: e.site, camera: e.source, rules: [], ...(snap && f ? { frame: { sha256: f.sha256, ts: snap.ts, event: snap.id } } : {}) });
  }
  return (
    <section class="page" aria-labelledby="h-cam">
      <header class="page-head"><h1 id="h-cam">{t('cam.title')}</h1><p class="muted">{zoneName(siteZone(all[0]?.site))}</p></header>
      {!all.length && <p class="empty">{t('cam.noEvents')}</p>}
      <div class="cams">
        {all.map((c) => <CameraCard key={`${c.site}/${c.camera}`} cam={c} evs={evs.filter((e) => e.site === c.site && e.source === c.camera)} />)}
      </div>
      <h2>{t('cam.events')}</h2>
      {!evs.length && <p class="empty">{t('cam.noEvents')}</p>}
      <ul class="events" data-testid="camera-events">
        {evs.map((e) => (
          <li class="card event" key={e.id} data-testid="camera-event">
            <div class="event-text">
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
