/**
 * Fastify plugin serving the GBFS feeds from a GbfsStationStore.
 *
 *   v2.3  {path}/gbfs.json, {path}/gbfs_versions.json, {path}/{lang}/{feed}.json
 *   v3.0  {path}/manifest.json, {path}/v3/gbfs.json, {path}/v3/gbfs_versions.json, {path}/v3/{feed}.json
 *
 * Register without a fastify prefix: `await app.register(gbfsRoutes, { state, system })`.
 * Feed URLs are absolute (schemas require format: uri): `baseUrl` if given, else derived
 * from the request (protocol + Host).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  DEFAULT_TTLS, gbfsV2, gbfsV3, gbfsVersions, manifestV3, stationInformationV2, stationInformationV3,
  stationStatusV2, stationStatusV3, systemInformationV2, systemInformationV3,
  type FeedUrls, type GbfsVersion, type SystemConfig, type Ttls,
} from './feeds.ts';
import type { GbfsStationStore } from './store.ts';

export interface GbfsRoutesOptions {
  state: GbfsStationStore;
  system: SystemConfig;
  /** e.g. `https://bikes.example.org` (no trailing slash needed). */
  baseUrl?: string;
  /** URL path the feeds live under (default `/gbfs`). */
  path?: string;
  ttl?: Partial<Ttls>;
  versions?: GbfsVersion[];
  clock?: () => number;
}

export async function gbfsRoutes(app: FastifyInstance, opts: GbfsRoutesOptions): Promise<void> {
  const { state, system } = opts;
  const root = (opts.path ?? '/gbfs').replace(/\/$/, '');
  const ttl: Ttls = { ...DEFAULT_TTLS, ...opts.ttl };
  const versions = new Set<GbfsVersion>(opts.versions ?? ['2.3', '3.0']);
  const clock = opts.clock ?? Date.now;
  const lang = system.language;

  const urlsFor = (req: FastifyRequest, version: GbfsVersion): FeedUrls => {
    const base = (opts.baseUrl ?? `${req.protocol}://${req.host}`).replace(/\/$/, '') + root;
    return {
      feed: (name) => (version === '2.3' ? `${base}/${lang}/${name}.json` : `${base}/v3/${name}.json`),
      gbfs: (v) => (v === '2.3' ? `${base}/gbfs.json` : `${base}/v3/gbfs.json`),
      gbfsVersions: (v) => (v === '2.3' ? `${base}/gbfs_versions.json` : `${base}/v3/gbfs_versions.json`),
    };
  };
  /** station_status last_updated: newest status applied (falls back to now before any report). */
  const statusUpdated = (): number => state.lastUpdated() || clock();
  const infoUpdated = (): number => state.infoUpdated;

  const send = (reply: FastifyReply, seconds: number, body: unknown): FastifyReply =>
    reply.header('cache-control', `public, max-age=${seconds}`).type('application/json; charset=utf-8').send(JSON.stringify(body));

  if (versions.has('2.3')) {
    app.get(`${root}/gbfs.json`, async (req, reply) => send(reply, ttl.discovery, gbfsV2(system, urlsFor(req, '2.3'), infoUpdated(), ttl.discovery)));
    app.get(`${root}/gbfs_versions.json`, async (req, reply) => send(reply, ttl.discovery, gbfsVersions('2.3', urlsFor(req, '2.3'), infoUpdated(), ttl.discovery, [...versions])));
    app.get(`${root}/${lang}/system_information.json`, async (_req, reply) => send(reply, ttl.information, systemInformationV2(system, infoUpdated(), ttl.information)));
    app.get(`${root}/${lang}/station_information.json`, async (_req, reply) => send(reply, ttl.information, stationInformationV2(state.info, infoUpdated(), ttl.information)));
    app.get(`${root}/${lang}/station_status.json`, async (_req, reply) => send(reply, ttl.status, stationStatusV2(state.statuses(), statusUpdated(), ttl.status)));
  }
  if (versions.has('3.0')) {
    app.get(`${root}/manifest.json`, async (req, reply) => send(reply, ttl.discovery, manifestV3(system, urlsFor(req, '3.0'), infoUpdated(), ttl.discovery, [...versions])));
    app.get(`${root}/v3/gbfs.json`, async (req, reply) => send(reply, ttl.discovery, gbfsV3(urlsFor(req, '3.0'), infoUpdated(), ttl.discovery)));
    app.get(`${root}/v3/gbfs_versions.json`, async (req, reply) => send(reply, ttl.discovery, gbfsVersions('3.0', urlsFor(req, '3.0'), infoUpdated(), ttl.discovery, [...versions])));
    app.get(`${root}/v3/system_information.json`, async (req, reply) => {
      const manifest = urlsFor(req, '3.0').gbfs('3.0').replace(/\/v3\/gbfs\.json$/, '/manifest.json');
      return send(reply, ttl.information, systemInformationV3(system, infoUpdated(), ttl.information, manifest));
    });
    app.get(`${root}/v3/station_information.json`, async (_req, reply) => send(reply, ttl.information, stationInformationV3(state.info, lang, infoUpdated(), ttl.information)));
    app.get(`${root}/v3/station_status.json`, async (_req, reply) => send(reply, ttl.status, stationStatusV3(state.statuses(), statusUpdated(), ttl.status)));
  }
}
