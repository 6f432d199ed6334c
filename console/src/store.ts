import { useEffect, useState } from 'preact/hooks';
import type { Lang } from './i18n.ts';

export type Role = 'viewer' | 'env' | 'ops' | 'admin';
export const ROLES: Role[] = ['viewer', 'env', 'ops', 'admin'];
export const can = (need: Role) => { const me = store.get().me; return !!me && ROLES.indexOf(me.role) >= ROLES.indexOf(need); };

export interface Me { name: string; role: Role; csrf?: string }
export interface State {
  lang: Lang;
  me?: Me;
  route: string;
  live: boolean;
  siteMeta: Record<string, { name?: string; timezone?: string }>;
  defaultTimezone: string;
  notice?: string;
}

type Listener = (s: State) => void;

/** One small global store; components re-render on any change of it (the app is small). */
function createStore(initial: State) {
  let state = initial;
  const listeners = new Set<Listener>();
  return {
    get: () => state,
    set(patch: Partial<State>) { state = { ...state, ...patch }; for (const l of listeners) l(state); },
    subscribe(l: Listener) { listeners.add(l); return () => { listeners.delete(l); }; },
  };
}

export const store = createStore({ lang: 'en', route: location.hash.slice(1) || '/alerts', live: false, siteMeta: {}, defaultTimezone: 'Asia/Shanghai' });

export function useStore(): State {
  const [s, set] = useState(store.get());
  useEffect(() => store.subscribe(set), []);
  return s;
}
