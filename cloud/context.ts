import type { Registry } from 'prom-client';
import type { Logger } from '../lib/log.ts';
import type { CloudDb } from './db.ts';
import type { DeviceRegistry } from './devices/registry.ts';
import type { Ingest } from './ingest/ingest.ts';
import type { SeriesStore } from './store/types.ts';
import type { TokenStore } from './api/tokens.ts';

/** Publishes commands to sites through whichever broker the cloud uses. */
export interface CommandBus {
  publishCommand(site: string, name: string, payload: unknown): Promise<void>;
}

/** Publishes a cloud message (e.g. alert notifications on ce/v1/_cloud/alerts) on the broker the cloud uses. */
export type CloudPublish = (topic: string, payload: Buffer | string, opts?: { qos?: 0 | 1; retain?: boolean }) => Promise<void>;

/**
 * Everything a cloud feature gets (one context object, not positional arguments —
 * the lesson of zigbee2mqtt's extension API). Route plugins and ingest listeners take this.
 */
export interface CloudContext {
  readonly db: CloudDb;
  readonly store: SeriesStore;
  readonly ingest: Ingest;
  readonly devices: DeviceRegistry;
  readonly tokens: TokenStore;
  readonly commands: CommandBus;
  readonly publish: CloudPublish;
  readonly metrics: Registry;
  readonly log: Logger;
  readonly dataDir: string;
  /** Readiness checks features add (name → check). */
  readonly readiness: Map<string, () => Promise<boolean> | boolean>;
}
