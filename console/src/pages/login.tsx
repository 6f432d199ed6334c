import { useState } from 'preact/hooks';
import { ApiError, post } from '../api.ts';
import { t } from '../i18n.ts';
import { store, useStore, type Me } from '../store.ts';
import { LangSwitch } from '../ui/lang.tsx';

/** Sign-in: user name and password; a throttled or wrong sign-in says so. */
export function LoginPage() {
  const s = useStore();
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [err, setErr] = useState('');
  const submit = async (e: Event) => {
    e.preventDefault();
    try {
      const me = await post<Me>('/api/v1/session', { name, password });
      store.set({ me, notice: undefined });
    } catch (x) {
      const a = x as ApiError;
      setErr(a.code === 'API_AUTH_THROTTLED' ? t('login.throttled', { s: /(\d+) s/.exec(a.message)?.[1] ?? '60' }) : t('login.bad'));
    }
  };
  return (
    <main class="login">
      <form class="card" onSubmit={submit} aria-labelledby="h-login">
        <div class="login-top"><h1 id="h-login">{t('app.title')}</h1><LangSwitch /></div>
        <h2>{t('login.title')}</h2>
        {s.notice && <p class="notice" role="status">{t(s.notice as 'login.expired')}</p>}
        <label class="field wide"><span>{t('login.user')}</span><input id="login-name" name="username" autocomplete="username" required value={name} onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)} /></label>
        <label class="field wide"><span>{t('login.password')}</span><input id="login-password" name="password" type="password" autocomplete="current-password" required value={password} onInput={(e) => setPassword((e.currentTarget as HTMLInputElement).value)} /></label>
        {err && <p class="error" role="alert">{err}</p>}
        <button type="submit" class="primary wide" id="login-submit">{t('login.submit')}</button>
      </form>
    </main>
  );
}
