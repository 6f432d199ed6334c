import type { CloudFeature } from '../cloud.ts';
import type { IngestSink } from '../ingest/ingest.ts';
import type { TelemetryItem } from '../../protocol/schemas.ts';
import { createGbfs } from './config.ts';
import { BIKE_MEASUREMENT, type GbfsStationStore } from './store.ts';
import { gbfsRoutes } from './routes.ts';

/** The ingest sink feeding station status from `bike_station` telemetry (idempotent: an item never older than the stored one is applied again to the same result). */
export function gbfsSink(store: GbfsStationStore): IngestSink {
  return {
    name: 'gbfs',
    kinds: ['telemetry'],
    async write(items) {
      for (const { site, item } of items) if ((item as TelemetryItem).m === BIKE_MEASUREMENT) store.applyItem(site, item as TelemetryItem);
    },
  };
}

/** GBFS feeds as a cloud feature: a sink feeding station status from `bike_station` telemetry, and the /gbfs routes. */
export function gbfsFeature(raw: unknown, configDir: string): CloudFeature {
  const gbfs = createGbfs(raw, configDir);
  return {
    sinks: () => [gbfsSink(gbfs.store)],
    routes: [async (app) => { await app.register(gbfsRoutes, gbfs.routes); }],
  };
}
