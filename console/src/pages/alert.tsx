import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { get, post, qs, type Alert, type Series } from '../api.ts';
import { t, tk, time, timeZ, unit, num } from '../i18n.ts';
import { onLive } from '../live.ts';
import { can, useStore } from '../store.ts';
import { Chart } from '../ui/chart.tsx';
import { Err, Sev, State } from '../ui/bits.tsx';
import { alertText } from '../alert-text.ts';

interface History { at: number; action: string; actor?: string; note?: string; data?: Record<string, unknown> }

/** Readings around an env alert: the hj212 factor of its station (hourly average or real-time). */
function Readings(p: { a: Alert }) {
  const d = p.a.data as { station?: string; pollutant?: string; limit?: number; unit?: string; type?: string };
  const [s, setS] = useState<{ times: number[]; values: Array<number | null>; flags: Array<{ i: number; label: string }> } | null | undefined>();
  useEffect(() => {
    if (!d.station || !d.pollutant) { setS(null); return; }
    const from = p.a.firstTs - 12 * 3_600_000;
    const to = (p.a.clearedTs ?? p.a.lastTs) + 12 * 3_600_000;
    const q = qs({ measurement: 'hj212', fields: 'avg,rtd,flag', site: p.a.site, from: String(from), to: String(to), limit: 5000 });
    get<{ series: Series[] }>(`/api/v1/series${q}&tag=${encodeURIComponent(`station=${d.station}`)}&tag=${encodeURIComponent(`pollutant=${d.pollutant}`)}`).then((r) => {
      const ser = r.series[0];
      if (!ser || !ser.values.length) { setS(null); return; }
      const c = (n: string) => ser.columns.indexOf(n);
      const times: number[] = []; const values: Array<number | null> = []; const flags: Array<{ i: number; label: string }> = [];
      let prev = 0;
      for (const row of ser.values) {
        const ts = Number(row[0]);
        // a gap longer than 1.5 readings' spacing is drawn as a gap
        if (prev && times.length > 1 && ts - prev > 1.5 * (times[times.length - 1] - times[times.length - 2])) { times.push(prev + 1); values.push(null); }
        const v = row[c('avg')] ?? row[c('rtd')];
        times.push(ts); values.push(typeof v === 'number' ? v : null);
        const fl = c('flag') >= 0 ? row[c('flag')] : null;
        if (typeof fl === 'string' && fl !== 'N') flags.push({ i: times.length - 1, label: `${fl} ${tk('flag', fl)}` });
        prev = ts;
      }
      setS({ times, values, flags });
    }, () => setS(null));
  }, [p.a.id]);
  if (s === undefined) return <p class="muted">{t('common.loading')}</p>;
  if (s === null) return <p class="muted">{t('alert.noReadings')}</p>;
  const u = unit(d.unit);
  return (
    <Chart title={t('alert.readings')} site={p.a.site} times={s.times}
      lines={[{ label: `${d.pollutant} ${u}`, values: s.values, color: '#58a6ff' }]}
      limits={typeof d.limit === 'number' ? [{ value: d.limit, label: t('alert.limit', { v: `${num(d.limit, 2)} ${u}` }), color: '#f85149' }] : []}
      marks={s.flags} />
  );
}

function Evidence(p: { a: Alert }) {
  const ref = (p.a.data.eventId ?? p.a.data.event) as string | undefined;
  const [shas, setShas] = useState<string[]>(typeof p.a.data.snapshot === 'string' ? [p.a.data.snapshot] : []);
  useEffect(() => {
    if (!ref) return;
    get<Array<{ id: string; snapshots: Array<{ sha256: string }> }>>(`/api/v1/camera/events${qs({ site: p.a.site, limit: 200 })}`).then((evs) => {
      const e = evs.find((x) => x.id === ref);
      if (e) setShas(e.snapshots.map((s) => s.sha256));
    }, () => undefined);
  }, [p.a.id]);
  if (!shas.length) return null;
  return <section><h2>{t('alert.evidence')}</h2>{shas.map((s) => <img class="snapshot" src={`/api/v1/snapshots/${s}`} alt={t('alert.evidence')} key={s} />)}</section>;
}

/** One alert: what, where, since when, its readings chart and evidence, its history; actions by role. */
export function AlertPage(p: { id: number }) {
  useStore();
  const [a, setA] = useState<Alert>();
  const [hist, setHist] = useState<History[]>([]);
  const [err, setErr] = useState<unknown>();
  const [note, setNote] = useState('');
  const [assignee, setAssignee] = useState('');
  // what the person is typing: a live refresh of the alert must not overwrite it
  const editingAssignee = useRef(false);
  const [people, setPeople] = useState<string[]>([]);
  const load = () => get<{ alert: Alert; history: History[] }>(`/api/v1/alerts/${p.id}`).then((r) => { setA(r.alert); setHist(r.history); if (!editingAssignee.current) setAssignee(r.alert.assignee ?? ''); }, setErr);
  useEffect(() => { load(); }, [p.id]);
  useEffect(() => onLive((e) => { if (e.type === 'alert' && e.data.id === p.id) load(); }), [p.id]);
  useEffect(() => { if (can('env')) get<Array<{ name: string }>>('/api/v1/users/assignable').then((u) => setPeople(u.map((x) => x.name)), () => undefined); }, []);
  const act = async (path: string, body: unknown) => {
    try { const r = await post<{ alert: Alert }>(`/api/v1/alerts/${p.id}/${path}`, body); setA(r.alert); setNote(''); setErr(undefined); await load(); } catch (e) { setErr(e); }
  };
  const env = can('env');
  const header = useMemo(() => a && `${a.site} · ${a.rule} · ${a.source}`, [a]);
  if (!a) return <section class="page"><Err e={err} />{!err && <p>{t('common.loading')}</p>}</section>;
  return (
    <section class="page alert-page" aria-labelledby="h-alert">
      <p><a href="#/alerts">← {t('alert.back')}</a></p>
      <header class="page-head">
        <h1 id="h-alert">{t('alert.title', { id: a.id })} <Sev s={a.severity} /> <State s={a.state} /></h1>
        <p class="lead" data-testid="alert-message">{alertText(a).text}</p>
        <p class="muted">{header}</p>
        {alertText(a).structured && <details class="small muted stored"><summary>{t('alert.stored')}</summary><span data-testid="alert-stored">{a.message}</span></details>}
      </header>
      <dl class="facts">
        <dt>{t('alert.raisedAt')}</dt><dd>{timeZ(a.firstTs, a.site)}</dd>
        {a.clearedTs && <><dt>{t('alert.clearedAt')}</dt><dd>{timeZ(a.clearedTs, a.site)}</dd></>}
        <dt>{t('alert.assignee')}</dt><dd data-testid="assignee">{a.assignee ?? t('alert.unassigned')}</dd>
        {a.ack && <><dt>{t('state.acknowledged')}</dt><dd data-testid="ack-by">{t('alert.ackBy', { who: a.ack.by, at: timeZ(a.ack.at, a.site) })}{a.ack.note ? ` — ${a.ack.note}` : ''}</dd></>}
        {a.resolution && <><dt>{t('state.resolved')}</dt><dd data-testid="resolution">{a.resolution.how === 'data' ? t('alert.resolvedByData', { at: timeZ(a.resolution.at, a.site) }) : t('alert.resolvedBy', { who: a.resolution.by, at: timeZ(a.resolution.at, a.site) })}{a.resolution.note ? ` — ${a.resolution.note}` : ''}</dd></>}
        {a.raiseCount > 1 && <><dt /><dd>{t('alert.raises', { n: a.raiseCount })}</dd></>}
        {a.escalationLevel > 0 && <><dt /><dd>{t('alert.escalated', { n: a.escalationLevel })}</dd></>}
      </dl>
      <Err e={err} />
      {env && a.state !== 'resolved' && (
        <form class="actions card" onSubmit={(e) => e.preventDefault()} aria-label={t('alert.note')}>
          <label class="field wide"><span>{t('alert.note')}</span><textarea id="note" rows={2} value={note} placeholder={t('alert.notePlaceholder')} onInput={(e) => setNote((e.currentTarget as HTMLTextAreaElement).value)} /></label>
          <div class="buttons">
            {a.state === 'open' && <button type="button" class="primary" data-testid="ack" onClick={() => act('ack', note ? { note } : {})}>{t('alert.ack')}</button>}
            <button type="button" data-testid="resolve" onClick={() => (note.trim() ? act('resolve', { note }) : setErr(new Error(t('alert.noteRequired'))))}>{t('alert.resolve')}</button>
            <button type="button" data-testid="comment" disabled={!note.trim()} onClick={() => act('comments', { note })}>{t('alert.comment')}</button>
          </div>
        </form>
      )}
      {env && (
        <form class="actions card" onSubmit={(e) => { e.preventDefault(); editingAssignee.current = false; void act('assign', { assignee: assignee || null }); }}>
          <label class="field"><span>{t('alert.assignee')}</span>
            <input id="assignee" list="people" value={assignee} onInput={(e) => { editingAssignee.current = true; setAssignee((e.currentTarget as HTMLInputElement).value); }} />
            <datalist id="people">{people.map((n) => <option value={n} key={n} />)}</datalist>
          </label>
          <div class="buttons"><button type="submit" data-testid="assign">{assignee ? t('alert.assign') : t('alert.unassign')}</button></div>
        </form>
      )}
      <section><h2>{t('alert.readings')}</h2><Readings a={a} /></section>
      <Evidence a={a} />
      <section>
        <h2>{t('alert.history')}</h2>
        <ol class="history" data-testid="history">
          {hist.map((h, i) => (
            <li key={i}><time>{time(h.at, a.site, true)}</time> <strong>{tk('action', h.action, { to: String(h.data?.to ?? '') })}</strong> {h.actor && <span class="muted">{h.actor}</span>} {h.note && <q>{h.note}</q>}</li>
          ))}
        </ol>
      </section>
    </section>
  );
}

