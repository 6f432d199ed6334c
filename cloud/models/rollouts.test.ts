import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import { tempDir } from '../../test/peers/ports.ts';
import { openCloudDb } from '../db.ts';
import { DeviceRegistry } from '../devices/registry.ts';
import { ModelsConfigSchema } from './config.ts';
import { ModelRegistry } from './registry.ts';
import { RolloutEngine } from './rollouts.ts';
import { MODELS_SCHEMA } from './schema.ts';
import { validateConfig } from '../../lib/config.ts';

describe('RolloutEngine', () => {
  it('a tick that hits a failing database logs and resolves: its timer calls it with `void`, and a rejection there would end the cloud process', async () => {
    const dir = tempDir('rollouts-');
    const file = path.join(dir, 'cloud.db');
    const db = openCloudDb(file, [MODELS_SCHEMA]);
    db.pragma('busy_timeout = 20');
    const warnings: unknown[] = [];
    const log = createLogger({ name: 'test', level: 'silent' });
    log.warn = ((o: unknown) => { warnings.push(o); }) as typeof log.warn;
    const cfg = validateConfig(ModelsConfigSchema, {}, 'models');
    const engine = new RolloutEngine(db, new ModelRegistry(db, dir, null), { publishCommand: async () => {} }, new DeviceRegistry(db), cfg, log);
    const other = new Database(file);
    other.exec('BEGIN IMMEDIATE'); // another process holds the write lock: the tick's stats pruning fails
    try {
      await expect(engine.tick()).resolves.toBeUndefined();
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    expect(JSON.stringify(warnings)).toMatch(/database is locked/);
    await expect(engine.tick()).resolves.toBeUndefined(); // and the next one works
    db.close();
  });
});
