import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { render } from 'preact';
import { useEffect } from 'preact/hooks';
import { api, get, loadSession } from './api.ts';
import { initialLang, setLang, t } from './i18n.ts';
import { startLive, stopLive } from './live.ts';
import { store, useStore } from './store.ts';
import { AlertsPage } from './pages/alerts.tsx';
import { AlertPage } from './pages/alert.tsx';
import { AirPage } from './pages/air.tsx';
import { CamerasPage } from './pages/cameras.tsx';
import { BikesPage } from './pages/bikes.tsx';
import { SitesPage } from './pages/sites.tsx';
import { ModelsPage } from './pages/models.tsx';
import { LoginPage } from './pages/login.tsx';
import { LangSwitch } from './ui/lang.tsx';

const NAV = [['/alerts', 'nav.alerts'], ['/air', 'nav.air'], ['/cameras', 'nav.cameras'], ['/bikes', 'nav.bikes'], ['/sites', 'nav.sites'], ['/models', 'nav.models']] as const;

function Page(p: { route: string }) {
  const m = /^\/alerts\/(\d+)$/.exec(p.route);
  if (m) return <AlertPage id={Number(m[1])} />;
  switch (p.route) {
    case '/air': return <AirPage />;
    case '/cameras': return <CamerasPage />;
    case '/bikes': return <BikesPage />;
    case '/sites': return <SitesPage />;
    case '/models': return <ModelsPage />;
    default: return <AlertsPage />;
  }
}

function App() {
  const s = useStore();
  useEffect(() => {
    if (!s.me) return;
    startLive();
    get<{ defaultTimezone: string; sites: Record<string, { name?: string; timezone?: string }> }>('/api/v1/sites/meta').then((m) => store.set({ siteMeta: m.sites, defaultTimezone: m.defaultTimezone }), () => undefined);
    return () => stopLive();
  }, [s.me?.name]);
  useEffect(() => { document.title = t('app.title'); }, [s.lang]);
  if (!s.me) return <LoginPage />;
  const signOut = async () => { await api('DELETE', '/api/v1/session').catch(() => undefined); stopLive(); store.set({ me: undefined, live: false }); };
  const section = `/${s.route.split('/')[1] ?? 'alerts'}`;
  return (
    <>
      <a class="skip" href="#main">{t('nav.menu')}</a>
      <header class="top">
        <span class="brand">{t('app.title')}</span>
        <nav aria-label={t('nav.menu')}>
          {NAV.map(([path, key]) => <a href={`#${path}`} key={path} aria-current={section === path ? 'page' : undefined} data-testid={`nav-${path.slice(1)}`}>{t(key)}</a>)}
        </nav>
        <span class={`live ${s.live ? 'on' : 'off'}`} role="status" data-testid="live">{s.live ? t('live.on') : t('live.off')}</span>
        <LangSwitch />
        <span class="me" data-testid="me">{s.me.name} · {t(`role.${s.me.role}`)}</span>
        <button type="button" onClick={signOut} data-testid="sign-out">{t('signout')}</button>
      </header>
      <main id="main" tabIndex={-1}><Page route={s.route} /></main>
    </>
  );
}

addEventListener('hashchange', () => store.set({ route: location.hash.slice(1) || '/alerts' }));
setLang(initialLang());
const root = document.getElementById('app')!;
loadSession().then((me) => {
  store.set({ me });
  render(<App />, root);
  (window as unknown as { __consoleReady?: number }).__consoleReady = performance.now();
});
