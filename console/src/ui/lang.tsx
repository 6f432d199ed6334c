import { setLang, t } from '../i18n.ts';
import { useStore } from '../store.ts';

/** 中文 / English: each named in its own language; the choice is kept in localStorage. */
export function LangSwitch() {
  const s = useStore();
  return (
    <div class="lang" role="group" aria-label={t('lang.label')}>
      <button type="button" lang="zh-CN" aria-pressed={s.lang === 'zh'} data-testid="lang-zh" onClick={() => setLang('zh')}>中文</button>
      <button type="button" lang="en" aria-pressed={s.lang === 'en'} data-testid="lang-en" onClick={() => setLang('en')}>English</button>
    </div>
  );
}
