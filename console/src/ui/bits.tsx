import type { ComponentChildren } from 'preact';
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
