import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { get, post, qs, type Alert } from '../api.ts';
import { t, time, zoneName, siteZone, num } from '../i18n.ts';
import { onLive } from '../live.ts';
import { can, useStore } from '../store.ts';
import { Err, Select, Sev, State, Field, usePhone } from '../ui/bits.tsx';
import { VirtualList } from '../ui/virtual-list.tsx';
import { alertText } from '../alert-text.ts';

interface Filter { state: string; severity: string; site: string; rule: string; time: string }
const RANGES: Record<string, number> = { '24h': 86_400_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000 };
const PAGE = 200;

function matches(a: Alert, f: Filter): boolean {
  if (f.state === 'unresolved' ? a.state === 'resolved' : f.state !== 'all' && a.state !== f.state) return false;
  if (f.severity !== 'all' && a.severity !== f.severity) return false;
  if (f.site && a.site !== f.site) return false;
  if (f.rule && a.rule !== f.rule) return false;
  return true;
}

function query(f: Filter, before?: number): string {
  return qs({
    state: f.state === 'unresolved' || f.state === 'all' ? undefined : f.state, unresolved: f.state === 'unresolved' ? true : undefined,
    severity: f.severity === 'all' ? undefined : f.severity, site: f.site || undefined, rule: f.rule || undefined,
    from: RANGES[f.time] ? String(Date.now() - RANGES[f.time]) : undefined, limit: PAGE, before, total: before ? undefined : true,
  });
}

/** The alert inbox: live, filtered, paged from the server, virtualised; bulk acknowledge for env and above. */
export function AlertsPage() {
  useStore();
  const [f, setF] = useState<Filter>({ state: 'unresolved', severity: 'all', site: '', rule: '', time: 'all' });
  const [items, setItems] = useState<Alert[]>([]);
  const [total, setTotal] = useState(0);
  const [next, setNext] = useState<number | undefined>();
  const [err, setErr] = useState<unknown>();
  const [sel, setSel] = useState<Set<number>>(new Set());
  const [fresh, setFresh] = useState<Set<number>>(new Set());
  const [msg, setMsg] = useState('');
  const loading = useRef(false);
  const fRef = useRef(f);
  fRef.current = f;

  const load = useCallback(async () => {
    loading.current = true;
    try {
      const r = await get<{ alerts: Alert[]; next?: number; total?: number }>(`/api/v1/alerts${query(f)}`);
      setItems(r.alerts); setTotal(r.total ?? r.alerts.length); setNext(r.next); setErr(undefined); setSel(new Set());
    } catch (e) { setErr(e); } finally { loading.current = false; }
  }, [f]);
  useEffect(() => { load(); }, [load]);

  const more = useCallback(async () => {
    if (loading.current || !next) return;
    loading.current = true;
    try {
      const r = await get<{ alerts: Alert[]; next?: number }>(`/api/v1/alerts${query(fRef.current, next)}`);
      setItems((xs) => [...xs, ...r.alerts.filter((a) => !xs.some((x) => x.id === a.id))]); setNext(r.next);
    } catch (e) { setErr(e); } finally { loading.current = false; }
  }, [next]);

  useEffect(() => onLive((e) => {
    if (e.type === 'reset') { load(); return; }
    if (e.type !== 'alert') return;
    const a = e.data as Alert;
    setItems((xs) => {
      const i = xs.findIndex((x) => x.id === a.id);
      const ok = matches(a, fRef.current);
      if (i >= 0 && ok) { const c = xs.slice(); c[i] = a; return c; }
      if (i >= 0 && !ok) { setTotal((n) => n - 1); return xs.filter((x) => x.id !== a.id); }
      if (i < 0 && ok) { setTotal((n) => n + 1); setFresh((s) => new Set(s).add(a.id)); return [a, ...xs].sort((p, q) => q.id - p.id); }
      return xs;
    });
  }), [load]);

  const set = (k: keyof Filter) => (v: string) => setF({ ...f, [k]: v });
  const bulk = async () => {
    try {
      const r = await post<{ results: Array<{ ok: boolean }> }>('/api/v1/alerts/ack', { ids: [...sel] });
      setMsg(t('alerts.bulkDone', { ok: r.results.filter((x) => x.ok).length, failed: r.results.filter((x) => !x.ok).length }));
      setSel(new Set());
    } catch (e) { setErr(e); }
  };
  const env = can('env');
  const phone = usePhone();
  /** Filters set away from their defaults (the phone folds the filters away and says how many). */
  const active = [f.state !== 'unresolved', f.severity !== 'all', !!f.site, !!f.rule, f.time !== 'all'].filter(Boolean).length;
  const filters = (
    <form class="filters" onSubmit={(e) => e.preventDefault()}>
          <Select id="f-state" label={t('state.label')} value={f.state} onChange={set('state')} options={[['unresolved', t('state.unresolved')], ['open', t('state.open')], ['acknowledged', t('state.acknowledged')], ['resolved', t('state.resolved')], ['all', t('common.all')]]} />
          <Select id="f-sev" label={t('sev.label')} value={f.severity} onChange={set('severity')} options={[['all', t('common.all')], ['critical', t('sev.critical')], ['warning', t('sev.warning')], ['info', t('sev.info')]]} />
          <Field label={t('common.site')}><input id="f-site" value={f.site} onChange={(e) => set('site')((e.currentTarget as HTMLInputElement).value.trim())} placeholder="env-beijing" size={14} /></Field>
          <Field label={t('alerts.rule')}><input id="f-rule" value={f.rule} onChange={(e) => set('rule')((e.currentTarget as HTMLInputElement).value.trim())} placeholder="pm25-1h" size={12} /></Field>
          <Select id="f-time" label={t('time.label')} value={f.time} onChange={set('time')} options={[['all', t('time.all')], ['24h', t('time.24h')], ['7d', t('time.7d')], ['30d', t('time.30d')]]} />
        </form>
  );
  const toggle = (id: number) => setSel((s) => { const c = new Set(s); if (c.has(id)) c.delete(id); else c.add(id); return c; });
  return (
    <section class="page" aria-labelledby="h-alerts">
      <header class="page-head">
        <h1 id="h-alerts">{t('alerts.title')}</h1>
        <p class="muted" data-testid="alert-total">{t('alerts.total', { n: num(total) })} · {zoneName(siteZone())}</p>
      </header>
      <div class="toolbar">
      {phone ? <details class="filters-box" data-testid="alert-filters"><summary>{t('common.filters')}{active ? ` (${active})` : ''}</summary>{filters}</details> : filters}
      {env && <div class="bulk">
          <span class="muted">{t('alerts.selected', { n: sel.size })}</span>
          <button type="button" onClick={() => setSel(new Set(items.filter((a) => a.state === 'open').slice(0, 1000).map((a) => a.id)))}>{t('alerts.selectAll')}</button>
          <button type="button" class="primary" disabled={!sel.size} onClick={bulk} data-testid="bulk-ack">{t('alerts.bulkAck')}</button>
      </div>}
      </div>
      {msg && <p class="notice" role="status">{msg}</p>}
      <Err e={err} />
      {!items.length && !err ? <p class="empty">{t('alerts.none')}</p> : (
        <VirtualList label={t('alerts.title')} items={items} total={total} rowHeight={phone ? 100 : 58} height={phone ? 'calc(100vh - 120px)' : 'calc(100vh - 230px)'} onNearEnd={more}
          render={(a) => (
            <div class={`alert-row state-${a.state}`} data-testid="alert-row" data-alert-id={a.id}>
              {env && <input type="checkbox" class="alert-cb" aria-label={`${t('alerts.select')} ${a.id}`} checked={sel.has(a.id)} disabled={a.state !== 'open'} onChange={() => toggle(a.id)} />}
              <span class="alert-badges"><Sev s={a.severity} /> <State s={a.state} /></span>
              <a class="alert-main" href={`#/alerts/${a.id}`}>
                <span class="alert-msg" data-testid="alert-text">{fresh.has(a.id) && <span class="badge new">{t('alerts.new')}</span>} {alertText(a).text}</span>
                <span class="muted small">{a.site} · {a.rule} · {a.source}{a.assignee ? ` · ${t('alert.assignee')}: ${a.assignee}` : ''}</span>
              </a>
              <time class="small" dateTime={new Date(a.firstTs).toISOString()}>{time(a.firstTs, a.site)}</time>
            </div>
          )} />
      )}
    </section>
  );
}
