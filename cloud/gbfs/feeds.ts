/**
 * Pure GBFS feed builders, v2.3 (gbfs.md v2.3) and v3.0 (gbfs.md v3.0).
 * v2.3: times are POSIX seconds, names plain strings, gbfs.json keyed by language.
 * v3.0: times are RFC 3339, names are localized-string arrays, gbfs.json lists feeds
 * directly, manifest.json indexes the datasets, station_status counts are num_vehicles_*.
 */
import type { StationInfo, StationStatusRecord } from './store.ts';

export type GbfsVersion = '2.3' | '3.0';
export const FEEDS = ['system_information', 'station_information', 'station_status'] as const;
export type FeedName = (typeof FEEDS)[number] | 'gbfs' | 'gbfs_versions' | 'manifest';

export interface SystemConfig {
  system_id: string;
  name: string;
  /** IETF BCP 47, e.g. `en`, `nb`. */
  language: string;
  /** IANA zone, e.g. `Europe/Oslo`. */
  timezone: string;
  /** Required by v3.0. */
  feed_contact_email: string;
  /** v3.0, OSM opening_hours syntax (default 24/7). */
  opening_hours?: string;
  short_name?: string;
  operator?: string;
  url?: string;
  phone_number?: string;
  email?: string;
  license_url?: string;
}

/** ttl (seconds) per feed: status changes continuously, information rarely. */
export interface Ttls {
  status: number;
  information: number;
  discovery: number;
}
export const DEFAULT_TTLS: Ttls = { status: 10, information: 3600, discovery: 3600 };

const sec = (ms: number): number => Math.floor(ms / 1000);
/** RFC 3339 without milliseconds, UTC. */
export const rfc3339 = (ms: number): string => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
const envelope2 = <D>(lastUpdatedMs: number, ttl: number, data: D) => ({ last_updated: sec(lastUpdatedMs), ttl, version: '2.3' as const, data });
const envelope3 = <D>(lastUpdatedMs: number, ttl: number, data: D) => ({ last_updated: rfc3339(lastUpdatedMs), ttl, version: '3.0' as const, data });

export interface FeedUrls {
  /** URL of each feed in this version. */
  feed(name: (typeof FEEDS)[number]): string;
  gbfs(version: GbfsVersion): string;
  gbfsVersions(version: GbfsVersion): string;
}

// ---------- v2.3 ----------

export function gbfsV2(sys: SystemConfig, urls: FeedUrls, lastUpdatedMs: number, ttl: number) {
  const feeds = [
    { name: 'gbfs_versions', url: urls.gbfsVersions('2.3') },
    ...FEEDS.map((name) => ({ name, url: urls.feed(name) })),
  ];
  return envelope2(lastUpdatedMs, ttl, { [sys.language]: { feeds } });
}

const ALL: GbfsVersion[] = ['2.3', '3.0'];

export function gbfsVersions(version: GbfsVersion, urls: FeedUrls, lastUpdatedMs: number, ttl: number, available: GbfsVersion[] = ALL) {
  // Sorted by increasing version (gbfs_versions.json "must be sorted").
  const data = { versions: ALL.filter((v) => available.includes(v)).map((v) => ({ version: v, url: urls.gbfs(v) })) };
  return version === '2.3' ? envelope2(lastUpdatedMs, ttl, data) : envelope3(lastUpdatedMs, ttl, data);
}

function optionalSystem(sys: SystemConfig): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of ['operator', 'url', 'phone_number', 'email', 'license_url'] as const) if (sys[k]) out[k] = sys[k]!;
  return out;
}

export function systemInformationV2(sys: SystemConfig, lastUpdatedMs: number, ttl: number) {
  return envelope2(lastUpdatedMs, ttl, {
    system_id: sys.system_id, language: sys.language, name: sys.name, timezone: sys.timezone,
    feed_contact_email: sys.feed_contact_email, ...(sys.short_name ? { short_name: sys.short_name } : {}), ...optionalSystem(sys),
  });
}

export function stationInformationV2(stations: StationInfo[], lastUpdatedMs: number, ttl: number) {
  return envelope2(lastUpdatedMs, ttl, { stations });
}

export function stationStatusV2(records: StationStatusRecord[], lastUpdatedMs: number, ttl: number) {
  const stations = records.map((r) => ({
    station_id: r.station_id,
    num_bikes_available: r.num_bikes_available,
    num_bikes_disabled: r.num_bikes_disabled,
    num_docks_available: r.num_docks_available,
    num_docks_disabled: r.num_docks_disabled,
    is_installed: r.is_installed,
    is_renting: r.is_renting,
    is_returning: r.is_returning,
    last_reported: sec(r.last_reported),
  }));
  return envelope2(lastUpdatedMs, ttl, { stations });
}

// ---------- v3.0 ----------

const loc = (text: string, language: string) => [{ text, language }];

export function manifestV3(sys: SystemConfig, urls: FeedUrls, lastUpdatedMs: number, ttl: number, available: GbfsVersion[] = ALL) {
  return envelope3(lastUpdatedMs, ttl, {
    datasets: [{ system_id: sys.system_id, versions: ALL.filter((v) => available.includes(v)).map((v) => ({ version: v, url: urls.gbfs(v) })) }],
  });
}

export function gbfsV3(urls: FeedUrls, lastUpdatedMs: number, ttl: number) {
  return envelope3(lastUpdatedMs, ttl, {
    feeds: [{ name: 'gbfs_versions', url: urls.gbfsVersions('3.0') }, ...FEEDS.map((name) => ({ name, url: urls.feed(name) }))],
  });
}

export function systemInformationV3(sys: SystemConfig, lastUpdatedMs: number, ttl: number, manifestUrl?: string) {
  return envelope3(lastUpdatedMs, ttl, {
    system_id: sys.system_id, languages: [sys.language], name: loc(sys.name, sys.language),
    opening_hours: sys.opening_hours ?? '24/7', feed_contact_email: sys.feed_contact_email, timezone: sys.timezone,
    ...(sys.short_name ? { short_name: loc(sys.short_name, sys.language) } : {}),
    ...optionalSystem(sys), ...(sys.operator ? { operator: loc(sys.operator, sys.language) } : {}), ...(manifestUrl ? { manifest_url: manifestUrl } : {}),
  });
}

/** v3 keeps the v2 fields it still defines; name/short_name become localized arrays. */
const V3_STATION_KEYS = ['lat', 'lon', 'address', 'cross_street', 'region_id', 'post_code', 'rental_methods', 'is_virtual_station', 'station_area', 'parking_type', 'parking_hoop', 'contact_phone', 'capacity', 'is_valet_station', 'is_charging_station', 'rental_uris'];

export function stationInformationV3(stations: StationInfo[], language: string, lastUpdatedMs: number, ttl: number) {
  return envelope3(lastUpdatedMs, ttl, {
    stations: stations.map((s) => {
      const out: Record<string, unknown> = { station_id: s.station_id, name: loc(s.name, language) };
      if (typeof s.short_name === 'string') out.short_name = loc(s.short_name, language);
      for (const k of V3_STATION_KEYS) if (s[k] !== undefined) out[k] = s[k];
      return out;
    }),
  });
}

export function stationStatusV3(records: StationStatusRecord[], lastUpdatedMs: number, ttl: number) {
  const stations = records.map((r) => ({
    station_id: r.station_id,
    num_vehicles_available: r.num_bikes_available,
    num_vehicles_disabled: r.num_bikes_disabled,
    num_docks_available: r.num_docks_available,
    num_docks_disabled: r.num_docks_disabled,
    is_installed: r.is_installed,
    is_renting: r.is_renting,
    is_returning: r.is_returning,
    last_reported: rfc3339(r.last_reported),
  }));
  return envelope3(lastUpdatedMs, ttl, { stations });
}
