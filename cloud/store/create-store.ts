import path from 'node:path';
import type { SeriesStore } from './types.ts';

export interface StoreConfig {
  /** InfluxDB 1.x URL (http://user:pass@host:8086). Empty → embedded SQLite store. */
  influxUrl?: string;
  influxDatabase: string;
  dataDir: string;
}

/** The configured series store: InfluxDB when a URL is given, else the embedded SQLite store. */
export async function createSeriesStore(cfg: StoreConfig): Promise<SeriesStore> {
  if (cfg.influxUrl) {
    const { InfluxStore } = await import('./influx-store.ts');
    return new InfluxStore(cfg.influxUrl, cfg.influxDatabase);
  }
  const { SqliteStore } = await import('./sqlite-store.ts');
  return new SqliteStore(path.join(cfg.dataDir, 'series.db'));
}
