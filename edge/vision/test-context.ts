/**
 * A SourceContext for tests and the bench: stamps ids/seq like the outbox and validates every
 * item against the protocol schemas (an invalid item throws, as the real outbox would reject it).
 */
import type { Registry } from 'prom-client';
import { rootLogger } from '../../lib/log.ts';
import { newMessageId } from '../../protocol/ids.ts';
import { checkers, type Item, type NewItem } from '../../protocol/schemas.ts';
import type { SourceContext } from '../../lib/contract/source.ts';

export interface MemoryContext extends SourceContext {
  items: Item[];
  of<K extends Item['kind']>(kind: K): Array<Item & { kind: K }>;
}

export function memoryContext(opts: { keep?: (i: Item) => boolean } = {}): MemoryContext {
  let seq = 0;
  const items: Item[] = [];
  return {
    site: 'test-site',
    log: rootLogger.child({ c: 'test' }),
    metrics: undefined as unknown as Registry,
    stateDir: '/nonexistent',
    configDir: process.cwd(),
    items,
    emit(news: NewItem[]): Item[] {
      return news.map((n) => {
        const item = { ...n, id: newMessageId(), seq: ++seq } as Item;
        if (!checkers.item.Check(item)) throw new Error(`invalid item: ${JSON.stringify([...checkers.item.Errors(item)].slice(0, 3).map((e) => `${e.path} ${e.message}`))}`);
        if (!opts.keep || opts.keep(item)) items.push(item);
        return item;
      });
    },
    checkpoint: () => undefined,
    of<K extends Item['kind']>(kind: K) {
      return items.filter((i) => i.kind === kind) as Array<Item & { kind: K }>;
    },
  };
}
