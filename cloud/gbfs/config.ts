/**
 * The `gbfs:` block of the cloud config, and a one-call setup for the lead's cloud:
 *
 *   const gbfs = createGbfs(cfg.gbfs, configDir);         // store + plugin options
 *   ingest.onTelemetry((site, item) => gbfs.store.applyItem(site, item));  // m === 'bike_station'
 *   await app.register(gbfsRoutes, gbfs.routes);
 */
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { validateConfig } from '../../lib/config.ts';
import type { GbfsRoutesOptions } from './routes.ts';
import { GbfsStationStore } from './store.ts';

export const GbfsConfig = Type.Object(
  {
    /** A GBFS station_information.json (v2.x shape): the static station list. */
    stationInformationFile: Type.String({ minLength: 1 }),
    system: Type.Object(
      {
        system_id: Type.String({ minLength: 1 }),
        name: Type.String({ minLength: 1 }),
        language: Type.String({ pattern: '^[a-z]{2,3}(-[A-Z]{2})?$', default: 'en' }),
        timezone: Type.String({ minLength: 3 }),
        feed_contact_email: Type.String({ pattern: '^[^@\\s]+@[^@\\s]+$' }),
        opening_hours: Type.Optional(Type.String()),
        short_name: Type.Optional(Type.String()),
        operator: Type.Optional(Type.String()),
        url: Type.Optional(Type.String()),
        phone_number: Type.Optional(Type.String()),
        email: Type.Optional(Type.String()),
        license_url: Type.Optional(Type.String()),
      },
      { additionalProperties: false },
    ),
    /** Public base URL of the cloud API, e.g. https://city.example.org (default: from the request). */
    baseUrl: Type.Optional(Type.String()),
    path: Type.String({ default: '/gbfs' }),
    ttl: Type.Object(
      {
        status: Type.Integer({ minimum: 0, default: 10 }),
        information: Type.Integer({ minimum: 0, default: 3600 }),
        discovery: Type.Integer({ minimum: 0, default: 3600 }),
      },
      { additionalProperties: false, default: {} },
    ),
    versions: Type.Array(Type.Union([Type.Literal('2.3'), Type.Literal('3.0')]), { minItems: 1, default: ['2.3', '3.0'] }),
  },
  { additionalProperties: false },
);
export type GbfsConfig = Static<typeof GbfsConfig>;

export function createGbfs(raw: unknown, configDir = process.cwd()): { store: GbfsStationStore; routes: GbfsRoutesOptions; config: GbfsConfig } {
  const cfg = validateConfig(GbfsConfig, raw, 'gbfs', 'GBFS_CONFIG_INVALID');
  const store = GbfsStationStore.fromFile(path.resolve(configDir, cfg.stationInformationFile));
  const routes: GbfsRoutesOptions = { state: store, system: cfg.system, path: cfg.path, ttl: cfg.ttl, versions: cfg.versions };
  if (cfg.baseUrl) routes.baseUrl = cfg.baseUrl;
  return { store, routes, config: cfg };
}
