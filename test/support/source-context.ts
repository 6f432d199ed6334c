import { Registry } from 'prom-client';
import { rootLogger } from '../../lib/log.ts';
import type { Item, NewItem } from '../../protocol/schemas.ts';
import type { SourceContext } from '../../lib/contract/source.ts';

/**
 * An in-memory SourceContext for tests of env sources: records what a source emits and the
 * checkpoints it commits, stamping ids/seq like the outbox would (no SQLite involved).
 */
export function memoryContext(site = 'site-1', stateDir = '/nonexistent'): { ctx: SourceContext; items: NewItem[]; checkpoints: Map<string, string> } {
  const items: NewItem[] = [];
  const checkpoints = new Map<string, string>();
  let seq = 0;
  const ctx: SourceContext = {
    site,
    log: rootLogger.child({ test: true }),
    metrics: new Registry(),
    stateDir,
    configDir: '/nonexistent',
    emit(batch, checkpoint) {
      items.push(...batch);
      if (checkpoint) checkpoints.set(checkpoint.key, checkpoint.value);
      return batch.map((b) => ({ ...b, id: `0190a5a0-0000-7000-8000-${String(++seq).padStart(12, '0')}`, seq }) as Item);
    },
    checkpoint: (k) => checkpoints.get(k),
  };
  return { ctx, items, checkpoints };
}
