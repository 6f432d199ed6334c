import { useEffect, useState } from 'preact/hooks';
import { get, post } from '../api.ts';
import { t, tk, time, num } from '../i18n.ts';
import { can, useStore } from '../store.ts';
import { Err } from '../ui/bits.tsx';

interface Bundle { name: string; version: string; digest: string; size?: number; bytes?: number; keyId?: string; created?: number; uploaded?: number }
interface Rollout { id: string; name: string; version: string; state: string; created: number; updated: number; reason?: string | null; sites?: Array<{ site: string; state: string; error?: string | null }>; counts?: Record<string, number> }

const ACTIONS: Record<string, string[]> = { canary: ['pause', 'abort', 'rollback'], promoting: ['pause', 'abort', 'rollback'], paused: ['resume', 'abort', 'rollback'], completed: ['rollback'] };

/** The model registry and rollouts with per-site status; pause/resume/abort/roll back for ops. */
export function ModelsPage() {
  useStore();
  const [bundles, setBundles] = useState<Bundle[]>();
  const [rollouts, setRollouts] = useState<Rollout[]>([]);
  const [err, setErr] = useState<unknown>();
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
          <table class="grid">
            <thead><tr><th>{t('models.sites')}</th><th>{t('models.state')}</th><th /></tr></thead>
            <tbody>{(r.sites ?? []).map((s) => <tr key={s.site}><td>{s.site}</td><td><span class={`badge ss-${s.state}`}>{tk('ss', s.state)}</span></td><td class="muted small">{s.error ?? ''}</td></tr>)}</tbody>
          </table>
        </article>
      ))}
      <h2>{t('models.registry')}</h2>
      {!bundles?.length ? <p class="empty">{t('models.none')}</p> : (
        <table class="grid">
          <thead><tr><th>{t('models.name')}</th><th>{t('models.version')}</th><th class="n">{t('models.size')}</th><th class="hide-phone">{t('models.key')}</th><th>{t('models.created')}</th></tr></thead>
          <tbody>{bundles.map((b) => <tr key={`${b.name}@${b.version}`}><td>{b.name}</td><td>{b.version}</td><td class="n">{num(((b.size ?? b.bytes ?? 0) / 1e6), 1)} MB</td><td class="hide-phone small mono">{(b.keyId ?? b.digest ?? '').slice(0, 16)}</td><td class="small">{time(b.created ?? b.uploaded)}</td></tr>)}</tbody>
        </table>
      )}
    </section>
  );
}
