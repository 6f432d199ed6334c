/**
 * Cloud-side bike station state: static station information from configuration (a GBFS
 * station_information file) plus live status from ingested `bike_station` telemetry.
 * Ingest calls applyItem(site, item) for every telemetry item with m === 'bike_station'.
 */
import fs from 'node:fs';
import { CodedError, errMessage } from '../../lib/errors.ts';

export const BIKE_MEASUREMENT = 'bike_station';

/** A GBFS v2.x station_information station (extra keys are kept for v2 output). */
export interface StationInfo {
  station_id: string;
  name: string;
  lat: number;
  lon: number;
  capacity?: number;
  address?: string;
  short_name?: string;
  [k: string]: unknown;
}

export interface StationStatusRecord {
  station_id: string;
  site: string;
  num_bikes_available: number;
  num_bikes_disabled: number;
  num_docks_available: number;
  num_docks_disabled: number;
  is_installed: boolean;
  is_renting: boolean;
  is_returning: boolean;
  /** epoch ms */
  last_reported: number;
  /** item observed time, epoch ms (orders updates) */
  ts: number;
}

/** The shape of a telemetry item as far as this store cares (works with Item and NewItem). */
export interface BikeTelemetryLike {
  kind?: string;
  m: string;
  ts: number;
  tags: Record<string, string>;
  fields: Record<string, number | string | boolean>;
}

export function loadStationInformation(file: string): { stations: StationInfo[]; lastUpdated: number } {
  let doc: { last_updated?: unknown; data?: { stations?: unknown } };
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new CodedError('GBFS_STATIONS_FILE', `cannot read station information ${file}: ${errMessage(err)}`);
  }
  const list = doc?.data?.stations;
  if (!Array.isArray(list)) throw new CodedError('GBFS_STATIONS_FILE', `${file}: expected a GBFS station_information document with data.stations[]`);
  const stations: StationInfo[] = [];
  for (const [i, s] of list.entries()) {
    if (!s || typeof s.station_id !== 'string' || typeof s.name !== 'string' || typeof s.lat !== 'number' || typeof s.lon !== 'number') {
      throw new CodedError('GBFS_STATIONS_FILE', `${file}: data.stations[${i}] needs station_id (string), name (string), lat and lon (numbers)`);
    }
    stations.push(s as StationInfo);
  }
  const lu = typeof doc.last_updated === 'number' ? doc.last_updated * 1000 : fs.statSync(file).mtimeMs;
  return { stations, lastUpdated: Math.floor(lu) };
}

const INT_FIELDS = ['num_bikes_available', 'num_bikes_disabled', 'num_docks_available', 'num_docks_disabled'] as const;

export class GbfsStationStore {
  readonly info: StationInfo[];
  readonly infoUpdated: number;
  private readonly known: Set<string>;
  private readonly status = new Map<string, StationStatusRecord>();
  private updated = 0;
  readonly counters = { applied: 0, stale: 0, unknownStation: 0, invalid: 0, ignored: 0 };

  constructor(opts: { stations: StationInfo[]; infoUpdated?: number }) {
    this.info = opts.stations;
    this.infoUpdated = opts.infoUpdated ?? Date.now();
    this.known = new Set(opts.stations.map((s) => s.station_id));
  }

  static fromFile(file: string): GbfsStationStore {
    const { stations, lastUpdated } = loadStationInformation(file);
    return new GbfsStationStore({ stations, infoUpdated: lastUpdated });
  }

  /**
   * Apply one ingested telemetry item. Returns true if the station's status changed.
   * Items for other measurements are ignored; bad fields and unknown stations are counted
   * (never thrown: ingest must not stop on one bad item). Older items than the stored
   * one for the same station are ignored (store-and-forward may replay late).
   */
  applyItem(site: string, item: BikeTelemetryLike): boolean {
    if (item.m !== BIKE_MEASUREMENT) { this.counters.ignored++; return false; }
    const id = item.tags?.station;
    const f = item.fields ?? {};
    if (typeof id !== 'string' || !INT_FIELDS.every((k) => Number.isInteger(f[k]) && (f[k] as number) >= 0) || !Number.isInteger(f.num_bikes_available)) {
      this.counters.invalid++;
      return false;
    }
    if (!this.known.has(id)) { this.counters.unknownStation++; return false; }
    const prev = this.status.get(id);
    if (prev && item.ts < prev.ts) { this.counters.stale++; return false; }
    const rec: StationStatusRecord = {
      station_id: id, site,
      num_bikes_available: f.num_bikes_available as number,
      num_bikes_disabled: f.num_bikes_disabled as number,
      num_docks_available: f.num_docks_available as number,
      num_docks_disabled: f.num_docks_disabled as number,
      is_installed: f.is_installed !== false, is_renting: f.is_renting !== false, is_returning: f.is_returning !== false,
      last_reported: typeof f.last_reported === 'number' ? f.last_reported : item.ts,
      ts: item.ts,
    };
    this.status.set(id, rec);
    this.updated = Math.max(this.updated, item.ts);
    this.counters.applied++;
    return true;
  }

  get(id: string): StationStatusRecord | undefined {
    return this.status.get(id);
  }

  /** Status records in station_information order (stations without any report are left out). */
  statuses(): StationStatusRecord[] {
    const out: StationStatusRecord[] = [];
    for (const s of this.info) {
      const r = this.status.get(s.station_id);
      if (r) out.push(r);
    }
    return out;
  }

  /** Time of the newest applied status (epoch ms), 0 if none yet. */
  lastUpdated(): number {
    return this.updated;
  }

  stats(): Record<string, number> {
    return { ...this.counters, stations: this.info.length, reporting: this.status.size };
  }
}
