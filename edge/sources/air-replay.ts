import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { Type, type Static } from '@sinclair/typebox';
import { CodedError } from '../../lib/errors.ts';
import { dataDir } from '../../lib/data-dir.ts';
import { sleep } from '../../lib/sleep.ts';
import type { NewItem } from '../../protocol/schemas.ts';
import type { Source, SourceContext, SourceFactory } from './types.ts';

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
  /** Stop after this many rows (default: the whole file). */
  maxRows: Type.Optional(Type.Integer({ minimum: 1 })),
  /** Start at this row (0-based) on first start. */
  startRow: Type.Integer({ minimum: 0, default: 0 }),
  loop: Type.Boolean({ default: false }),
}, { additionalProperties: false });
export type AirReplayConfig = Static<typeof AirReplaySchema>;

/** Beijing data columns → field names (units as in the data set: µg/m³, CO in µg/m³ too). */
const FIELDS: Record<string, string> = { 'PM2.5': 'pm25', PM10: 'pm10', SO2: 'so2', NO2: 'no2', CO: 'co', O3: 'o3', TEMP: 'temp', PRES: 'pres', DEWP: 'dewp', RAIN: 'rain', WSPM: 'wspm' };

export interface AirRow { index: number; ts: number; station: string; fields: Record<string, number> }

/** Parse one CSV line of the data set (header given), `NA` → absent. */
export function parseAirRow(header: string[], line: string, index: number): AirRow | undefined {
  const cells = line.split(',').map((c) => c.replace(/^"|"$/g, ''));
  if (cells.length !== header.length) return undefined;
  const get = (name: string) => cells[header.indexOf(name)];
  const [y, mo, d, h] = ['year', 'month', 'day', 'hour'].map((k) => Number(get(k)));
  if (![y, mo, d, h].every(Number.isFinite)) return undefined;
  const fields: Record<string, number> = {};
  for (const [col, name] of Object.entries(FIELDS)) {
    const v = get(col);
    if (v !== undefined && v !== 'NA' && v !== '' && Number.isFinite(Number(v))) fields[name] = Number(v);
  }
  // Beijing local time is UTC+8 (no DST).
  return { index, ts: Date.UTC(y, mo - 1, d, h) - 8 * 3600_000, station: get('station') ?? 'unknown', fields };
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
    let next = Date.now();
    do {
      const rl = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
      let header: string[] | undefined;
      let index = -1;
      for await (const line of rl) {
        if (this.abort.signal.aborted) { rl.close(); return; }
        if (!header) { header = line.split(',').map((c) => c.replace(/^"|"$/g, '')); continue; }
        index++;
        if (index < resumeAt) continue;
        if (this.cfg.maxRows !== undefined && this.rows >= this.cfg.maxRows) { rl.close(); return; }
        const row = parseAirRow(header, line, index);
        const items: NewItem[] = [];
        if (row && Object.keys(row.fields).length) {
          items.push({ kind: 'telemetry', ts: this.cfg.time === 'now' ? Date.now() : row.ts, m: 'air', tags: { station: this.cfg.station ?? row.station, source: this.id }, fields: row.fields });
        }
        ctx.emit(items, { key, value: String(index) });
        this.rows++;
        next += interval;
        const wait = next - Date.now();
        if (wait > 0) await sleep(wait, this.abort.signal);
        else if (this.rows % 256 === 0) await new Promise<void>((r) => setImmediate(r));
      }
      resumeAt = 0;
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
