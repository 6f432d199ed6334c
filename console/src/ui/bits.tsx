import { Fragment, type ComponentChildren } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { t, tk } from '../i18n.ts';

export function Sev(p: { s: string }) { return <span class={`badge sev-${p.s}`}>{tk('sev', p.s)}</span>; }
export function State(p: { s: string }) { return <span class={`badge st-${p.s}`}>{tk('state', p.s)}</span>; }
export function Err(p: { e?: unknown }) {
  if (!p.e) return null;
  return <p class="error" role="alert">{t('common.error', { msg: (p.e as Error).message ?? String(p.e) })}</p>;
}
export function Field(p: { label: string; children: ComponentChildren }) {
  return <label class="field"><span>{p.label}</span>{p.children}</label>;
}
export function Select(p: { label: string; value: string; options: Array<[string, string]>; onChange: (v: string) => void; id?: string }) {
  return (
    <Field label={p.label}>
      <select id={p.id} value={p.value} onChange={(e) => p.onChange((e.currentTarget as HTMLSelectElement).value)}>
        {p.options.map(([v, l]) => <option value={v} key={v}>{l}</option>)}
      </select>
    </Field>
  );
}

const PHONE = '(max-width: 700px)';
/** Whether the screen is phone-sized (the CSS breakpoint of styles.css), kept current on resize. */
export function usePhone(): boolean {
  const [phone, setPhone] = useState(() => matchMedia(PHONE).matches);
  useEffect(() => {
    const m = matchMedia(PHONE);
    const on = () => setPhone(m.matches);
    m.addEventListener('change', on);
    return () => m.removeEventListener('change', on);
  }, []);
  return phone;
}

/**
 * The details of one table row as a panel (a sheet at the bottom of a phone's screen, a card
 * beside the table on a wide one): every column the row has, as a list. Focus moves to its close
 * button; Escape or Close returns focus to the row that opened it.
 */
export function Details(p: { title: string; rows: Array<[string, ComponentChildren]>; onClose: () => void; testid: string }) {
  const close = useRef<HTMLButtonElement>(null);
  useLayoutEffect(() => {
    const back = document.activeElement as HTMLElement | null;
    close.current?.focus();
    const key = (e: KeyboardEvent) => { if (e.key === 'Escape') p.onClose(); };
    addEventListener('keydown', key);
    return () => { removeEventListener('keydown', key); back?.focus?.(); };
  }, []);
  return (
    <section class="details card" role="dialog" aria-label={p.title} data-testid={p.testid}>
      <header class="row"><h2>{p.title}</h2><button type="button" ref={close} onClick={p.onClose} data-testid="details-close">{t('common.close')}</button></header>
      <dl class="facts">{p.rows.map(([k, v]) => <Fragment key={k}><dt>{k}</dt><dd>{v}</dd></Fragment>)}</dl>
    </section>
  );
}
