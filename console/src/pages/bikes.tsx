import { useEffect, useMemo, useState } from 'preact/hooks';
import { get } from '../api.ts';
import { t, zoneName, num } from '../i18n.ts';
import { useStore } from '../store.ts';
import { Details, Err, Select, usePhone } from '../ui/bits.tsx';
import { VirtualList } from '../ui/virtual-list.tsx';

interface StatusV2 { station_id: string; num_bikes_available: number; num_bikes_disabled?: number; num_docks_available: number; num_docks_disabled?: number; is_renting: boolean; is_returning: boolean; last_reported: number }
interface InfoV2 { station_id: string; name: string; capacity?: number }

/**
 * Stations with bikes and docks available, empty and full stations, dock faults — read from the
 * cloud's own GBFS v2.3 feeds, so the numbers are the feed's (station_status.json).
 */
export function BikesPage() {
  useStore();
  const [status, setStatus] = useState<StatusV2[]>();
  const [info, setInfo] = useState<Map<string, InfoV2>>(new Map());
  const [tz, setTz] = useState('Europe/Oslo');
  const [feedUrl, setFeedUrl] = useState('');
  const [show, setShow] = useState('all');
  const [err, setErr] = useState<unknown>();
  const [open, setOpen] = useState<string>();
  const phone = usePhone();
  useEffect(() => {
    let stop = false;
    const load = async () => {
      try {
        const disc = await get<{ data: Record<string, { feeds: Array<{ name: string; url: string }> }> }>('/gbfs/gbfs.json');
        const feeds = Object.values(disc.data)[0].feeds;
        const url = (n: string) => new URL(feeds.find((f) => f.name === n)!.url).pathname;
        setFeedUrl(url('station_status'));
        const [st, inf, sys] = await Promise.all([get<{ data: { stations: StatusV2[] } }>(url('station_status')), get<{ data: { stations: InfoV2[] } }>(url('station_information')), get<{ data: { timezone: string } }>(url('system_information'))]);
        if (stop) return;
        setStatus(st.data.stations); setInfo(new Map(inf.data.stations.map((s) => [s.station_id, s]))); setTz(sys.data.timezone);
      } catch (e) { if (!stop) setErr(e); }
    };
    load();
    const iv = window.setInterval(load, 10_000); // the feed's ttl
    return () => { stop = true; clearInterval(iv); };
  }, []);
  const rows = useMemo(() => {
    const all = [...(status ?? [])].sort((a, b) => (info.get(a.station_id)?.name ?? a.station_id).localeCompare(info.get(b.station_id)?.name ?? b.station_id));
    return all.filter((s) => show === 'all' || (show === 'empty' ? s.num_bikes_available === 0 : show === 'full' ? s.num_docks_available === 0 : (s.num_docks_disabled ?? 0) > 0));
  }, [status, info, show]);
  if (err) return <section class="page"><Err e={err} /></section>;
  if (!status) return <section class="page"><p>{t('common.loading')}</p></section>;
  const sum = (f: (s: StatusV2) => number) => status.reduce((n, s) => n + f(s), 0);
  const totals = { bikes: sum((s) => s.num_bikes_available), docks: sum((s) => s.num_docks_available), empty: status.filter((s) => s.num_bikes_available === 0).length, full: status.filter((s) => s.num_docks_available === 0).length, faults: sum((s) => s.num_docks_disabled ?? 0), disabled: sum((s) => s.num_bikes_disabled ?? 0) };
  const sel = open ? status.find((x) => x.station_id === open) : undefined;
  const fmtTime = (sec: number) => new Intl.DateTimeFormat('sv-SE', { timeZone: tz, dateStyle: 'short', timeStyle: 'short' }).format(new Date(sec * 1000));

  return (
    <section class="page" aria-labelledby="h-bikes">
      <header class="page-head"><h1 id="h-bikes">{t('bikes.title')}</h1><p class="muted">{t('bikes.stations', { n: status.length })} · {zoneName(tz)} · {t('bikes.gbfs', { url: feedUrl })}</p></header>
      <div class="tiles" data-testid="bike-totals">
        <div class="tile"><span>{t('bikes.available')}</span><strong data-testid="total-bikes">{num(totals.bikes)}</strong></div>
        <div class="tile"><span>{t('bikes.docks')}</span><strong data-testid="total-docks">{num(totals.docks)}</strong></div>
        <div class="tile warn"><span>{t('bikes.empty')}</span><strong data-testid="total-empty">{num(totals.empty)}</strong></div>
        <div class="tile warn"><span>{t('bikes.full')}</span><strong data-testid="total-full">{num(totals.full)}</strong></div>
        <div class="tile bad"><span>{t('bikes.docksDisabled')}</span><strong data-testid="total-faults">{num(totals.faults)}</strong></div>
        <div class="tile"><span>{t('bikes.disabled')}</span><strong>{num(totals.disabled)}</strong></div>
      </div>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <Select id="bike-show" label={t('bikes.filter')} value={show} onChange={setShow} options={[['all', t('common.all')], ['empty', t('bikes.emptyOne')], ['full', t('bikes.fullOne')], ['fault', t('bikes.faultOne')]]} />
      </form>
      {!status.length ? <p class="empty">{t('bikes.none')}</p> : (
        <VirtualList label={t('bikes.title')} items={rows} rowHeight={phone ? 52 : 44} height={phone ? 'calc(100vh - 120px)' : 'calc(100vh - 330px)'}
          header={<div class="thead bike-row" role="row"><span>{t('bikes.station')}</span><span class="n" title={t('bikes.available')}>{phone ? t('bikes.availableShort') : t('bikes.available')}</span><span class="n" title={t('bikes.docks')}>{phone ? t('bikes.docksShort') : t('bikes.docks')}</span><span class="n" title={t('bikes.docksDisabled')}>{phone ? t('bikes.faultsShort') : t('bikes.docksDisabled')}</span><span class="hide-phone">{t('bikes.reported')}</span></div>}
          render={(s) => (
            <div class="bike-row" data-testid="bike-row" data-station={s.station_id}>
              <button type="button" class="name row-open" aria-label={t('common.showDetails', { name: info.get(s.station_id)?.name ?? s.station_id })} aria-expanded={open === s.station_id} onClick={() => setOpen(open === s.station_id ? undefined : s.station_id)} data-testid="bike-open">
                <span class="row-title">{info.get(s.station_id)?.name ?? s.station_id}</span> {s.num_bikes_available === 0 && <span class="badge sev-warning">{t('bikes.emptyOne')}</span>}{s.num_docks_available === 0 && <span class="badge sev-warning">{t('bikes.fullOne')}</span>}
              </button>
              <span class="n" data-testid="bikes">{s.num_bikes_available}</span>
              <span class="n" data-testid="docks">{s.num_docks_available}</span>
              <span class="n">{s.num_docks_disabled ?? 0}</span>
              <span class="hide-phone small">{fmtTime(s.last_reported)}</span>
            </div>
          )} />
      )}
      {sel && <Details testid="bike-details" title={info.get(sel.station_id)?.name ?? sel.station_id} onClose={() => setOpen(undefined)} rows={[
        [t('bikes.stationId'), sel.station_id],
        [t('bikes.available'), num(sel.num_bikes_available)],
        [t('bikes.docks'), num(sel.num_docks_available)],
        [t('bikes.docksDisabled'), num(sel.num_docks_disabled ?? 0)],
        [t('bikes.disabled'), num(sel.num_bikes_disabled ?? 0)],
        [t('bikes.capacity'), info.get(sel.station_id)?.capacity !== undefined ? num(info.get(sel.station_id)!.capacity) : '—'],
        [t('bikes.renting'), `${sel.is_renting ? t('common.yes') : t('common.no')} / ${sel.is_returning ? t('common.yes') : t('common.no')}`],
        [t('bikes.reported'), `${fmtTime(sel.last_reported)} ${zoneName(tz)}`],
      ]} />}
    </section>
  );
}
