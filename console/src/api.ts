import { store, type Me } from './store.ts';

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) { super(message); }
}

/** fetch the API with the session cookie; writes carry the session's CSRF token. */
export async function api<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const csrf = store.get().me?.csrf;
  if (method !== 'GET' && csrf) headers['x-csrf-token'] = csrf;
  const res = await fetch(path, { method, headers, body: body !== undefined ? JSON.stringify(body) : undefined, credentials: 'same-origin' });
  const text = await res.text();
  const json = text ? JSON.parse(text) : undefined;
  if (!res.ok) {
    if (res.status === 401 && path !== '/api/v1/session') store.set({ me: undefined, notice: 'login.expired' });
    throw new ApiError(res.status, json?.code ?? 'API_ERROR', json?.message ?? res.statusText);
  }
  return json as T;
}

export const get = <T = any>(path: string) => api<T>('GET', path);
export const post = <T = any>(path: string, body: unknown = {}) => api<T>('POST', path, body);

export function qs(o: Record<string, string | number | boolean | undefined | null>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

export async function loadSession(): Promise<Me | undefined> {
  try {
    return await get<Me>('/api/v1/session');
  } catch {
    return undefined;
  }
}

export interface Alert {
  id: number; site: string; rule: string; source: string; state: 'open' | 'acknowledged' | 'resolved';
  severity: 'info' | 'warning' | 'critical'; message: string; data: Record<string, unknown>;
  firstTs: number; lastTs: number; clearedTs?: number; openedAt: number; updatedAt: number;
  raiseCount: number; escalationLevel: number; assignee?: string; comments?: number;
  ack?: { by: string; at: number; note?: string };
  resolution?: { how: 'data' | 'person'; by: string; at: number; note?: string };
}
export interface Series { tags: Record<string, string>; columns: string[]; values: Array<Array<number | string | boolean | null>> }
