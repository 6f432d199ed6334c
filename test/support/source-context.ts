import { Registry } from 'prom-client';
import { rootLogger } from '../../lib/log.ts';
import type { SourceContext } from '../../lib/contract/source.ts';
import { newMessageId } from '../../protocol/ids.ts';
import { checkers, type Item, type NewItem } from '../../protocol/schemas.ts';

export interface MemoryContext extends SourceContext {
  /** The context itself, so `const { ctx, items } = memoryContext()` reads naturally. */
  readonly ctx: SourceContext;
  /** What the source emitted (stamped, each checked against the protocol schemas), in order. */
  readonly items: Item[];
  /** Checkpoints committed with the items, by key. */
  readonly checkpoints: Map<string, string>;
  of<K extends Item['kind']>(kind: K): Array<Item & { kind: K }>;
}

export interface MemoryContextOptions {
  site?: string;
  stateDir?: string;
  configDir?: string;
  /** Keep only the items this returns true for (benches drop everything). */
  keep?: (i: Item) => boolean;
}

/**
 * An in-memory SourceContext for tests and benches of sources: stamps ids/seq like the outbox,
 * validates every item against the protocol schemas (an invalid item throws, as the real outbox
 * rejects it), and records items and checkpoints. No SQLite involved.
 */
export function memoryContext(opts: MemoryContextOptions = {}): MemoryContext {
  const items: Item[] = [];
  const checkpoints = new Map<string, string>();
  let seq = 0;
  const ctx: MemoryContext = {
    site: opts.site ?? 'site-1',
    log: rootLogger,
    metrics: new Registry(),
    stateDir: opts.stateDir ?? '/nonexistent',
    configDir: opts.configDir ?? process.cwd(),
    get ctx() { return ctx; },
    items,
    checkpoints,
    emit(batch: NewItem[], checkpoint?: { key: string; value: string }): Item[] {
      const stamped = batch.map((n) => {
        const item = { ...n, id: newMessageId(), seq: ++seq } as Item;
        if (!checkers.item.Check(item)) throw new Error(`invalid item: ${JSON.stringify([...checkers.item.Errors(item)].slice(0, 3).map((e) => `${e.path} ${e.message}`))}`);
        return item;
      });
      for (const item of stamped) if (!opts.keep || opts.keep(item)) items.push(item);
      if (checkpoint) checkpoints.set(checkpoint.key, checkpoint.value);
      return stamped;
    },
    checkpoint: (k) => checkpoints.get(k),
    of<K extends Item['kind']>(kind: K) {
      return items.filter((i) => i.kind === kind) as Array<Item & { kind: K }>;
    },
  };
  return ctx;
}
