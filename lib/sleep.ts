import { setTimeout as delay } from 'node:timers/promises';

/** Sleep that ends early (without throwing) when `signal` aborts. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return;
  await delay(Math.max(0, ms), undefined, { signal }).catch((err: Error) => {
    if (err.name !== 'AbortError') throw err;
  });
}
