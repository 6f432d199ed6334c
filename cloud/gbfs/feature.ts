import type { CloudFeature } from '../cloud.ts';
import type { TelemetryItem } from '../../protocol/schemas.ts';
import { createGbfs } from './config.ts';
import { BIKE_MEASUREMENT } from './store.ts';
import { gbfsRoutes } from './routes.ts';

/** GBFS feeds as a cloud feature: a sink feeding station status from `bike_station` telemetry, and the /gbfs routes. */
export function gbfsFeature(raw: unknown, configDir: string): CloudFeature {
  const gbfs = createGbfs(raw, configDir);
  return {
    sinks: () => [{
      name: 'gbfs',
      kinds: ['telemetry'],
      async write(items) {
        for (const { site, item } of items) if ((item as TelemetryItem).m === BIKE_MEASUREMENT) gbfs.store.applyItem(site, item as TelemetryItem);
      },
    }],
    routes: [async (app) => { await app.register(gbfsRoutes, gbfs.routes); }],
  };
}
