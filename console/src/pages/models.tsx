import { useEffect, useState } from 'preact/hooks';
import { ApiError, get, post } from '../api.ts';
import { t, tk, time, num } from '../i18n.ts';
import { can, useStore } from '../store.ts';
import { Err, Field } from '../ui/bits.tsx';

interface Bundle { name: string; version: string; digest: string; size?: number; bytes?: number; keyId?: string; created?: number; uploaded?: number }
interface Rollout { id: string; name: string; version: string; state: string; created: number; updated: number; reason?: string | null; sites?: Array<{ site: string; state: string; stage?: string; error?: string | null }>; counts?: Record<string, number> }

const ACTIONS: Record<string, string[]> = { canary: ['pause', 'abort', 'rollback'], promoting: ['pause', 'abort', 'rollback'], paused: ['resume', 'abort', 'rollback'], completed: ['rollback'] };

/** Defaults of the canary health gates (cloud/models/gates.ts), shown in the form. */
/** A site id pattern, as the API takes it (not words to translate). */
const GLOB_EXAMPLE = 'street-*';
const GATES = { minFrames: 20, maxErrorRate: 0.01, latencyFactor: 1, minFpsRatio: 0.8, maxDetectionDrift: 0.5 } as const;

/**
 * Start a rollout (ops): a bundle from the registry, the target (sites ticked from the
 * provisioned ones, or a glob such as street-*), the canary (a share of the group, or named
 * sites), the health gates and the pace. POST /api/v1/rollouts; the API checks it again.
 */
function StartRollout(p: { bundles: Bundle[]; onStarted: (id: string) => void }) {
  const [model, setModel] = useState(p.bundles[0] ? `${p.bundles[0].name}@${p.bundles[0].version}` : '');
  const [devices, setDevices] = useState<string[]>([]);
  const [mode, setMode] = useState<'sites' | 'select'>('sites');
  const [sites, setSites] = useState<Set<string>>(new Set());
  const [glob, setGlob] = useState('');
  const [filter, setFilter] = useState('');
  const [percent, setPercent] = useState('');
  const [canarySites, setCanarySites] = useState('');
  const [gates, setGates] = useState<Record<keyof typeof GATES, string>>(Object.fromEntries(Object.entries(GATES).map(([k, v]) => [k, String(v)])) as Record<keyof typeof GATES, string>);
  const [observeS, setObserveS] = useState('');
  const [batch, setBatch] = useState('');
  const [maxFailures, setMaxFailures] = useState('');
  const [err, setErr] = useState<string>();
  const [busy, setBusy] = useState(false);
  useEffect(() => { get<Array<{ site: string; revoked: number | null }>>('/api/v1/devices').then((d) => setDevices(d.filter((x) => x.revoked === null).map((x) => x.site).sort()), () => undefined); }, []);
  useEffect(() => { if (!model && p.bundles[0]) setModel(`${p.bundles[0].name}@${p.bundles[0].version}`); }, [p.bundles.length]);
  const shown = devices.filter((d) => !filter || d.includes(filter.toLowerCase()));
  const toggle = (site: string) => setSites((s) => { const c = new Set(s); if (c.has(site)) c.delete(site); else c.add(site); return c; });
  const numOf = (v: string) => (v.trim() === '' ? undefined : Number(v));
  const submit = async (e: Event) => {
    e.preventDefault();
    const at = model.lastIndexOf('@');
    const body: Record<string, unknown> = { name: model.slice(0, at), version: model.slice(at + 1) };
    if (mode === 'sites') body.sites = [...sites].sort(); else body.select = glob.trim();
    const cs = canarySites.split(/[\s,]+/).filter(Boolean);
    if (cs.length) body.canary = { sites: cs }; else if (numOf(percent) !== undefined) body.canary = { percent: numOf(percent) };
    body.gates = Object.fromEntries(Object.entries(gates).map(([k, v]) => [k, Number(v)]));
    if (numOf(observeS) !== undefined) body.observeMs = Math.round(numOf(observeS)! * 1000);
    if (numOf(batch) !== undefined) body.batchSize = numOf(batch);
    if (numOf(maxFailures) !== undefined) body.maxFailures = numOf(maxFailures);
    setBusy(true);
    try {
      const r = await post<{ id: string }>('/api/v1/rollouts', body);
      setErr(undefined); setSites(new Set());
      p.onStarted(r.id);
    } catch (x) {
      const a = x as ApiError;
      setErr(`${a.code ?? ''} ${a.message}`.trim());
    } finally { setBusy(false); }
  };
  const gate = (k: keyof typeof GATES, step: string) => (
    <Field label={t(`models.gate.${k}`)}><input id={`ro-gate-${k}`} type="number" inputMode="decimal" min="0" step={step} required value={gates[k]} onInput={(e) => setGates({ ...gates, [k]: (e.currentTarget as HTMLInputElement).value })} /></Field>
  );
  const ready = !!model && (mode === 'sites' ? sites.size > 0 : /^[a-z0-9*-]{1,64}$/.test(glob.trim()));
  return (
    <form class="card start-rollout" onSubmit={submit} aria-labelledby="h-start" data-testid="rollout-form">
      <h2 id="h-start" class="sr-only">{t('models.start')}</h2>
      <div class="filters">
        <Field label={t('models.name')}>
          <select id="ro-model" value={model} onChange={(e) => setModel((e.currentTarget as HTMLSelectElement).value)} required>
            {p.bundles.map((b) => <option key={`${b.name}@${b.version}`} value={`${b.name}@${b.version}`}>{b.name}@{b.version}</option>)}
          </select>
        </Field>
      </div>
      <fieldset class="target">
        <legend>{t('models.target')}</legend>
        <label class="radio"><input type="radio" name="ro-mode" id="ro-mode-sites" checked={mode === 'sites'} onChange={() => setMode('sites')} /> {t('models.targetSites')}</label>
        <label class="radio"><input type="radio" name="ro-mode" id="ro-mode-select" checked={mode === 'select'} onChange={() => setMode('select')} /> {t('models.targetSelect')}</label>
        {mode === 'sites' ? (
          <>
            <Field label={t('models.filterSites')}><input id="ro-filter" type="search" value={filter} onInput={(e) => setFilter((e.currentTarget as HTMLInputElement).value.trim())} /></Field>
            <div class="site-picks" role="group" aria-label={t('models.targetSites')}>
              {shown.slice(0, 300).map((d) => <label class="pick" key={d}><input type="checkbox" data-testid="ro-site" value={d} checked={sites.has(d)} onChange={() => toggle(d)} /> {d}</label>)}
              {!devices.length && <span class="muted">{t('models.noDevices')}</span>}
            </div>
            <p class="muted small">{t('models.picked', { n: sites.size })}</p>
          </>
        ) : (
          <Field label={t('models.glob')}><input id="ro-select" value={glob} placeholder={GLOB_EXAMPLE} pattern="[a-z0-9*\-]{1,64}" onInput={(e) => setGlob((e.currentTarget as HTMLInputElement).value)} /></Field>
        )}
      </fieldset>
      <fieldset>
        <legend>{t('models.canaryLegend')}</legend>
        <div class="filters">
          <Field label={t('models.canaryPercent')}><input id="ro-canary-percent" type="number" min="0" max="100" step="any" value={percent} onInput={(e) => setPercent((e.currentTarget as HTMLInputElement).value)} /></Field>
          <Field label={t('models.canarySites')}><input id="ro-canary-sites" value={canarySites} onInput={(e) => setCanarySites((e.currentTarget as HTMLInputElement).value)} /></Field>
        </div>
        <p class="muted small">{t('models.canaryHelp')}</p>
      </fieldset>
      <details>
        <summary>{t('models.gates')}</summary>
        <div class="filters">
          {gate('minFrames', '1')}{gate('maxErrorRate', 'any')}{gate('latencyFactor', 'any')}{gate('minFpsRatio', 'any')}{gate('maxDetectionDrift', 'any')}
          <Field label={t('models.observeS')}><input id="ro-observe" type="number" min="0" step="1" value={observeS} onInput={(e) => setObserveS((e.currentTarget as HTMLInputElement).value)} /></Field>
          <Field label={t('models.batch')}><input id="ro-batch" type="number" min="1" step="1" value={batch} onInput={(e) => setBatch((e.currentTarget as HTMLInputElement).value)} /></Field>
          <Field label={t('models.maxFailures')}><input id="ro-max-failures" type="number" min="0" step="1" value={maxFailures} onInput={(e) => setMaxFailures((e.currentTarget as HTMLInputElement).value)} /></Field>
        </div>
      </details>
      {err && <p class="error" role="alert" data-testid="rollout-error">{t('common.error', { msg: err })}</p>}
      <div class="buttons"><button type="submit" class="primary" disabled={!ready || busy} data-testid="rollout-start">{t('models.start')}</button></div>
    </form>
  );
}

/** The model registry and rollouts with per-site status; pause/resume/abort/roll back for ops. */
export function ModelsPage() {
  useStore();
  const [bundles, setBundles] = useState<Bundle[]>();
  const [rollouts, setRollouts] = useState<Rollout[]>([]);
  const [err, setErr] = useState<unknown>();
  const [started, setStarted] = useState<string>();
  const load = async () => {
    try {
      const [b, r] = await Promise.all([get<Bundle[] | { bundles: Bundle[] }>('/api/v1/models'), get<Rollout[] | { rollouts: Rollout[] }>('/api/v1/rollouts')]);
      setBundles(Array.isArray(b) ? b : b.bundles);
      const list = Array.isArray(r) ? r : r.rollouts;
      setRollouts(await Promise.all(list.slice(0, 20).map((x) => get<Rollout>(`/api/v1/rollouts/${x.id}`).catch(() => x))));
    } catch (e) { setErr(e); }
  };
  useEffect(() => { load(); const iv = window.setInterval(load, 3000); return () => clearInterval(iv); }, []);
  const act = async (id: string, action: string) => {
    try { await post(`/api/v1/rollouts/${id}/${action}`, {}); setErr(undefined); await load(); } catch (e) { setErr(e); }
  };
  const ops = can('ops');
  if (!bundles && !err) return <section class="page"><p>{t('common.loading')}</p></section>;
  return (
    <section class="page" aria-labelledby="h-models">
      <header class="page-head"><h1 id="h-models">{t('models.title')}</h1></header>
      <Err e={err} />
      {ops && bundles && bundles.length > 0 && (
        <details class="start-box" data-testid="rollout-form-box">
          <summary data-testid="rollout-form-open">{t('models.start')}…</summary>
          <StartRollout bundles={bundles} onStarted={(id) => { setStarted(id); void load(); }} />
        </details>
      )}
      {started && <p class="notice" role="status" data-testid="rollout-started" data-rollout={started}>{t('models.started')} <a href={`#/models`} onClick={(e) => { e.preventDefault(); document.querySelector(`[data-rollout="${started}"]`)?.scrollIntoView(); }}>{t('models.show')}</a></p>}
      <h2>{t('models.rollouts')}</h2>
      {!rollouts.length && <p class="empty">{t('models.noRollouts')}</p>}
      {rollouts.map((r) => (
        <article class="card rollout" key={r.id} data-testid="rollout" data-rollout={r.id}>
          <header class="row">
            <h3>{r.name}@{r.version}</h3>
            <span class={`badge rs-${r.state}`} data-testid="rollout-state">{tk('rs', r.state)}</span>
            <span class="muted small">{time(r.created)}</span>
            {ops && <span class="buttons">{(ACTIONS[r.state] ?? []).map((a) => <button type="button" key={a} data-testid={`rollout-${a}`} onClick={() => act(r.id, a)}>{tk('rollout', a)}</button>)}</span>}
          </header>
          {r.reason && <p class="muted small">{t('models.reason')}: {r.reason}</p>}
          <table class="grid stack">
            <thead><tr><th>{t('models.sites')}</th><th>{t('models.state')}</th><th>{t('models.siteError')}</th></tr></thead>
            <tbody>{(r.sites ?? []).map((s) => <tr key={s.site} data-testid="rollout-site" data-site={s.site}><td data-label={t('common.site')}><span>{s.site}{s.stage === 'canary' && <> <span class="badge" data-testid="rollout-site-canary">{t('models.canary')}</span></>}</span></td><td data-label={t('models.state')}><span class={`badge ss-${s.state}`} data-testid="rollout-site-state">{tk('ss', s.state)}</span></td><td class="muted small" data-label={t('models.siteError')}>{s.error ?? ''}</td></tr>)}</tbody>
          </table>
        </article>
      ))}
      <h2>{t('models.registry')}</h2>
      {!bundles?.length ? <p class="empty">{t('models.none')}</p> : (
        <table class="grid stack">
          <thead><tr><th>{t('models.name')}</th><th>{t('models.version')}</th><th class="n">{t('models.size')}</th><th>{t('models.key')}</th><th>{t('models.created')}</th></tr></thead>
          <tbody>{bundles.map((b) => <tr key={`${b.name}@${b.version}`}><td data-label={t('models.name')}>{b.name}</td><td data-label={t('models.version')}>{b.version}</td><td class="n nowrap" data-label={t('models.size')}>{num(((b.size ?? b.bytes ?? 0) / 1e6), 1)} MB</td><td class="small mono" data-label={t('models.key')}>{(b.keyId ?? b.digest ?? '').slice(0, 16)}</td><td class="small nowrap" data-label={t('models.created')}>{time(b.created ?? b.uploaded)}</td></tr>)}</tbody>
        </table>
      )}
    </section>
  );
}
