import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { get, qs } from '../api.ts';
import { t, time, num, zoneName, siteZone } from '../i18n.ts';
import { onLive } from '../live.ts';
import { useStore } from '../store.ts';
import { Details, Err, Field, Select, usePhone } from '../ui/bits.tsx';
import { SiteMap } from '../ui/site-map.tsx';
import { VirtualList } from '../ui/virtual-list.tsx';

interface Row { site: string; name?: string; online: boolean; received: number; outboxRows?: number; autonomyHours?: number | null; evicted?: number; cameras: Array<{ id: string; fps?: number; dropped: number }>; models: string[]; timezone?: string }
interface Page { total: number; online: number; offline: number; sites: Row[] }
const PAGE = 200;

/** Every site on a map (from coordinates, no tiles) and in a table paged by the server; live status. */
export function SitesPage() {
  useStore();
  const [q, setQ] = useState('');
  const [sort, setSort] = useState('offline-first');
  const [page, setPage] = useState<Page>();
  const [rows, setRows] = useState<Row[]>([]);
  const [points, setPoints] = useState<Array<[string, number, number, boolean]>>([]);
  const [err, setErr] = useState<unknown>();
  const busy = useRef(false);
  const phone = usePhone();
  const [open, setOpen] = useState<string>();
  const load = useCallback(async () => {
    try {
      const [p, loc] = await Promise.all([get<Page>(`/api/v1/sites/overview${qs({ q, sort, limit: PAGE })}`), get<Array<[string, number, number, boolean]>>('/api/v1/sites/locations')]);
      setPage(p); setRows(p.sites); setPoints(loc); setErr(undefined);
    } catch (e) { setErr(e); }
  }, [q, sort]);
  useEffect(() => { load(); }, [load]);
  const more = useCallback(async () => {
    if (busy.current || !page || rows.length >= page.total) return;
    busy.current = true;
    try { const p = await get<Page>(`/api/v1/sites/overview${qs({ q, sort, limit: PAGE, offset: rows.length })}`); setRows((r) => [...r, ...p.sites]); } finally { busy.current = false; }
  }, [page, rows.length, q, sort]);
  // a status change: update that row in place (and the map), and the counts
  useEffect(() => onLive((e) => {
    if (e.type !== 'status') return;
    const s = e.data as { site: string; online: boolean; received: number };
    setRows((rs) => {
      const i = rs.findIndex((r) => r.site === s.site);
      if (i < 0) { window.clearTimeout((load as any).t); (load as any).t = window.setTimeout(load, 500); return rs; }
      const was = rs[i].online;
      if (was !== s.online) setPage((p) => p && { ...p, online: p.online + (s.online ? 1 : -1), offline: p.offline + (s.online ? -1 : 1) });
      const c = rs.slice(); c[i] = { ...c[i], online: s.online, received: s.received }; return c;
    });
    setPoints((ps) => ps.map((p) => (p[0] === s.site ? [p[0], p[1], p[2], s.online] : p)));
  }), [load]);
  const pick = (site: string) => { setQ(site); };
  const sel = open ? rows.find((r) => r.site === open) : undefined;
  const cams = (r: Row) => r.cameras.map((c) => `${c.id} ${c.fps !== undefined ? num(c.fps, 1) : '—'} / ${num(c.dropped)}`).join(', ') || '—';
  if (err) return <section class="page"><Err e={err} /></section>;
  if (!page) return <section class="page"><p>{t('common.loading')}</p></section>;
  return (
    <section class="page" aria-labelledby="h-sites">
      <header class="page-head"><h1 id="h-sites">{t('sites.title')}</h1><p class="muted" data-testid="site-counts">{t('sites.counts', { online: num(page.online), offline: num(page.offline) })} · {zoneName(siteZone())}</p></header>
      <div class="sites-layout">
        <div class="map-wrap">
          <SiteMap label={t('sites.map')} points={points} onPick={pick} height={phone ? 170 : 260} />
          {page.total > points.length && <p class="muted small">{t('sites.noLocation', { n: page.total - points.length })}</p>}
        </div>
        <div class="table-wrap">
          <form class="filters" onSubmit={(e) => e.preventDefault()}>
            <Field label={t('sites.search')}><input id="site-q" type="search" value={q} onInput={(e) => setQ((e.currentTarget as HTMLInputElement).value.trim())} /></Field>
            <Select id="site-sort" label={t('sites.sort')} value={sort} onChange={setSort} options={[['offline-first', t('sites.sortOffline')], ['site', t('sites.sortName')], ['last-seen', t('sites.sortSeen')]]} />
          </form>
          <VirtualList label={t('sites.table')} items={rows} total={page.total} rowHeight={phone ? 56 : 48} height={phone ? 'calc(100vh - 160px)' : 'calc(100vh - 300px)'} onNearEnd={more}
            header={<div class="thead site-row" role="row"><span>{t('common.site')}</span><span>{t('sites.status')}</span><span>{t('sites.lastSeen')}</span><span class="n hide-phone">{t('sites.outbox')}</span><span class="n hide-phone">{t('sites.autonomy')}</span><span class="n hide-phone">{t('sites.evicted')}</span><span class="hide-phone">{t('sites.cameras')}</span><span class="hide-phone">{t('sites.models')}</span></div>}
            render={(r) => (
              <div class={`site-row ${r.online ? '' : 'is-offline'}`} data-testid="site-row" data-site={r.site}>
                <button type="button" class="name row-open" aria-label={t('common.showDetails', { name: r.name ?? r.site })} aria-expanded={open === r.site} onClick={() => setOpen(open === r.site ? undefined : r.site)} data-testid="site-open">
                  <span class="row-title">{r.name ?? r.site}</span>{r.name && <span class="muted small"> {r.site}</span>}
                </button>
                <span><span class={`badge ${r.online ? 'ok' : 'bad'}`} data-testid="site-state">{r.online ? t('sites.online') : t('sites.offline')}</span></span>
                <span class="small">{phone ? time(r.received, r.site).slice(5) : time(r.received, r.site, true)}</span>
                <span class="n hide-phone">{num(r.outboxRows)}</span>
                <span class="n hide-phone">{r.autonomyHours === null ? '∞' : num(r.autonomyHours, 1)}</span>
                <span class="n hide-phone">{num(r.evicted)}</span>
                <span class="hide-phone small">{cams(r)}</span>
                <span class="hide-phone small">{r.models.join(', ') || '—'}</span>
              </div>
            )} />
          {sel && <Details testid="site-details" title={sel.name ? `${sel.name} (${sel.site})` : sel.site} onClose={() => setOpen(undefined)} rows={[
            [t('sites.status'), <span class={`badge ${sel.online ? 'ok' : 'bad'}`}>{sel.online ? t('sites.online') : t('sites.offline')}</span>],
            [t('sites.lastSeen'), `${time(sel.received, sel.site, true)} ${zoneName(siteZone(sel.site))}`],
            [t('sites.outbox'), num(sel.outboxRows)],
            [t('sites.autonomy'), sel.autonomyHours === null ? '∞' : num(sel.autonomyHours, 1)],
            [t('sites.evicted'), num(sel.evicted)],
            [t('sites.cameras'), cams(sel)],
            [t('sites.models'), sel.models.join(', ') || '—'],
          ]} />}
        </div>
      </div>
    </section>
  );
}
