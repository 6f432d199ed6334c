import fs from 'node:fs';
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { CodedError } from '../../lib/errors.ts';
import { dataDir } from '../../lib/data-dir.ts';
import { sleep } from '../../lib/sleep.ts';
import { prsaRows, type PrsaRow } from '../../lib/prsa-csv.ts';
import type { NewItem } from '../../protocol/schemas.ts';
import { computeAqi, type AqiInput } from '../env/aqi/aqi.ts';
import type { Source, SourceContext, SourceFactory } from '../../lib/contract/source.ts';

export const AirReplaySchema = Type.Object({
  type: Type.Literal('air-replay'),
  id: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' }),
  /** CSV of the Beijing Multi-Site Air-Quality data set; default: <data dir>/air_quality/PRSA_Data_Aotizhongxin_20130301-20170228.csv */
  file: Type.Optional(Type.String()),
  /** Station tag; default: the CSV's station column. */
  station: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  /** Data hours replayed per wall-clock second (1 = real time at one row per hour is 1/3600). */
  rowsPerSecond: Type.Number({ exclusiveMinimum: 0, maximum: 100_000, default: 2 }),
  /** `original`: observed time from the data (Beijing time, UTC+8). `now`: stamped when replayed, like a live sensor. */
  time: Type.Union([Type.Literal('original'), Type.Literal('now')], { default: 'original' }),
  /** Replay this many rows from startRow, then stop (default: to the end of the file). Counted in the data, so a restart resumes within the same rows rather than replaying maxRows more. */
  maxRows: Type.Optional(Type.Integer({ minimum: 1 })),
  /** Start at this row (0-based) on first start. */
  startRow: Type.Integer({ minimum: 0, default: 0 }),
  /** At the end (of the file, or of the maxRows window), start again at startRow. */
  loop: Type.Boolean({ default: false }),
}, { additionalProperties: false });
export type AirReplayConfig = Static<typeof AirReplaySchema>;

/** Beijing data columns → field names (units as in the data set: µg/m³, CO in µg/m³ too; TEMP °C, PRES hPa, DEWP °C, RAIN mm, WSPM m/s). */
const FIELDS: Record<string, string> = { 'PM2.5': 'pm25', PM10: 'pm10', SO2: 'so2', NO2: 'no2', CO: 'co', O3: 'o3', TEMP: 'temp', PRES: 'pres', DEWP: 'dewp', RAIN: 'rain', WSPM: 'wspm' };

/** One data-set row as the fields of an `air` telemetry item. */
export function airFields(row: PrsaRow): Record<string, number> {
  const fields: Record<string, number> = {};
  for (const [col, name] of Object.entries(FIELDS)) if (row.values[col] !== undefined) fields[name] = row.values[col];
  return fields;
}

/** The data set's pollutant columns as HJ 633 inputs: hourly values, µg/m³ (CO converted by computeAqi). */
const AQI_COLUMNS = ['PM2.5', 'PM10', 'SO2', 'NO2', 'CO', 'O3'] as const;

/**
 * The real-time (hourly) AQI of one row (HJ 633: 1-hour SO2/NO2/CO/O3; PM from its 1-hour value on
 * the 24-hour column, as the real-time report does), in the revision in force at the row's time:
 * `aqi`, `aqi_level` (1–6) and `aqi_primary` (when AQI > 50). Nothing when no pollutant is present.
 */
export function airAqi(row: PrsaRow): Record<string, number | string> {
  const inputs: AqiInput[] = [];
  for (const p of AQI_COLUMNS) {
    const v = row.values[p];
    if (v !== undefined && Number.isFinite(v) && v >= 0) inputs.push({ pollutant: p, averaging: '1h', value: v, unit: 'ug/m3' });
  }
  if (!inputs.length) return {};
  const r = computeAqi(inputs, { time: row.ts });
  return { aqi: r.aqi, aqi_level: r.level, ...(r.primary.length ? { aqi_primary: r.primary.join(',') } : {}) };
}

/** Replays real hourly air-quality rows as telemetry, resuming after a restart from its checkpoint. */
class AirReplaySource implements Source {
  readonly id: string;
  private readonly abort = new AbortController();
  private rows = 0;
  private done?: Promise<void>;
  constructor(private readonly cfg: AirReplayConfig) { this.id = cfg.id; }

  async start(ctx: SourceContext): Promise<void> {
    const file = this.cfg.file ? path.resolve(ctx.configDir, this.cfg.file) : path.join(dataDir(), 'air_quality', 'PRSA_Data_Aotizhongxin_20130301-20170228.csv');
    if (!fs.existsSync(file)) throw new CodedError('SOURCE_FILE_NOT_FOUND', `air-replay ${this.id}: ${file} does not exist (set file: or CITYEDGE_DATA)`);
    const key = `air-replay:${this.id}`;
    const resumeAt = ctx.checkpoint(key) !== undefined ? Number(ctx.checkpoint(key)) + 1 : this.cfg.startRow;
    this.done = this.run(ctx, file, key, resumeAt).catch((err) => ctx.log.error({ err: (err as Error).message }, 'air replay stopped'));
  }

  private async run(ctx: SourceContext, file: string, key: string, resumeAt: number): Promise<void> {
    const interval = 1000 / this.cfg.rowsPerSecond;
    // rows [startRow, end) of the data; a checkpoint at or past the end means this window is done
    const end = this.cfg.maxRows !== undefined ? this.cfg.startRow + this.cfg.maxRows : Infinity;
    let next = Date.now();
    do {
      if (resumeAt >= end) resumeAt = this.cfg.loop ? this.cfg.startRow : resumeAt;
      const before = this.rows;
      for await (const row of prsaRows(file, { skip: resumeAt })) {
        if (this.abort.signal.aborted) return;
        if (row.index >= end) break;
        const fields = { ...airFields(row), ...airAqi(row) };
        const items: NewItem[] = Object.keys(fields).length
          ? [{ kind: 'telemetry', ts: this.cfg.time === 'now' ? Date.now() : row.ts, m: 'air', tags: { station: this.cfg.station ?? row.station, source: this.id }, fields }]
          : [];
        // The cursor advances with every row, also an all-NA one, in the same commit as its item.
        ctx.emit(items, { key, value: String(row.index) });
        this.rows++;
        next += interval;
        const wait = next - Date.now();
        if (wait > 0) await sleep(wait, this.abort.signal);
        else if (this.rows % 256 === 0) await new Promise<void>((r) => setImmediate(r));
      }
      if (this.cfg.loop && this.rows === before && resumeAt === this.cfg.startRow) {
        ctx.log.warn({ startRow: this.cfg.startRow }, 'air replay: no rows from startRow on; not looping over nothing');
        return;
      }
      resumeAt = this.cfg.startRow;
    } while (this.cfg.loop && !this.abort.signal.aborted);
  }

  health(): Record<string, unknown> {
    return { rowsReplayed: this.rows };
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.done;
  }
}

export const airReplayFactory: SourceFactory = {
  type: 'air-replay',
  schema: AirReplaySchema,
  create: (cfg: AirReplayConfig) => new AirReplaySource(cfg),
};
