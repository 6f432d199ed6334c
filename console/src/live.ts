import { store } from './store.ts';

export type LiveEvent = { type: 'alert' | 'event' | 'status' | 'reset'; data: any };
const listeners = new Set<(e: LiveEvent) => void>();
let source: EventSource | undefined;
let lastId = '';
let retry: number | undefined;

/** Listen to the live stream; returns the unsubscribe function. */
export function onLive(fn: (e: LiveEvent) => void): () => void {
  listeners.add(fn);
  return () => { listeners.delete(fn); };
}

/**
 * GET /api/v1/stream as an EventSource. The browser reconnects by itself with Last-Event-ID; when
 * it gives up (the cloud was down long enough to close the stream for good), a new EventSource
 * starts from the last id seen (?lastEventId=), so nothing is missed while a laptop sleeps.
 */
export function startLive(): void {
  stopLive();
  const es = new EventSource(`/api/v1/stream${lastId ? `?lastEventId=${encodeURIComponent(lastId)}` : ''}`);
  source = es;
  const on = (type: LiveEvent['type']) => (ev: MessageEvent) => {
    if (ev.lastEventId) lastId = ev.lastEventId;
    const data = JSON.parse(ev.data);
    for (const l of listeners) l({ type, data });
  };
  for (const type of ['alert', 'event', 'status', 'reset'] as const) es.addEventListener(type, on(type) as EventListener);
  es.addEventListener('hello', ((ev: MessageEvent) => { if (ev.lastEventId) lastId = ev.lastEventId; store.set({ live: true }); }) as EventListener);
  es.onerror = () => {
    store.set({ live: false });
    if (es.readyState === EventSource.CLOSED) retry = window.setTimeout(() => { if (store.get().me) startLive(); }, 3000);
  };
}

export function stopLive(): void {
  if (retry) clearTimeout(retry);
  source?.close();
  source = undefined;
}
