import type { TSchema } from '@sinclair/typebox';
import type { Registry } from 'prom-client';
import type { Logger } from '../log.ts';
import type { Command, Item, NewItem } from '../../protocol/schemas.ts';

/**
 * What a source gets from the edge runtime. `emit` appends durably to the outbox
 * (synchronous SQLite commit): when it returns, the items survive kill -9.
 * A checkpoint (e.g. a replay cursor, a device's last sequence number) is committed
 * in the same transaction, so a restart resumes exactly where the outbox left off.
 */
export interface SourceContext {
  readonly site: string;
  readonly log: Logger;
  readonly metrics: Registry;
  /** Directory the edge keeps its state in (outbox, model cache, ...). */
  readonly stateDir: string;
  /** Directory the config file lives in; relative paths in source config resolve against it. */
  readonly configDir: string;
  /** Returns the stamped items (id, seq) in the same order. */
  emit(items: NewItem[], checkpoint?: { key: string; value: string }): Item[];
  checkpoint(key: string): string | undefined;
  /** Answer a command from the cloud (`ce/v1/<site>/cmd/<name>`); the result travels back as a cmdres item. */
  registerCommand?(name: string, handler: (cmd: Command) => Promise<Record<string, unknown>>): void;
}

/** A source of readings/events (Telegraf's service input): start emitting, stop cleanly. */
export interface Source {
  readonly id: string;
  start(ctx: SourceContext): Promise<void>;
  stop(): Promise<void>;
  /** Optional health for the site status message. */
  health?(): Record<string, unknown>;
}

/**
 * One entry of the source registry. `schema` validates the config block (with its
 * `type` discriminator); `create` must not do I/O — that happens in `start`.
 */
export interface SourceFactory {
  readonly type: string;
  readonly schema: TSchema;
  create(config: any): Source;
}
