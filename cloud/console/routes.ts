import fs from 'node:fs';
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { CodedError, errMessage, isCoded } from '../../lib/errors.ts';
import { validateCameraRules } from '../../protocol/validate.ts';
import type { CloudContext } from '../context.ts';
import { bearer, errors } from '../api/schemas.ts';
import { summarize, type SiteRow } from './site-summary.ts';

const SITE = '^[a-z0-9][a-z0-9-]{0,62}$';
const OverviewQuery = Type.Object({
  offset: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
  q: Type.Optional(Type.String({ maxLength: 63, description: 'site id or name contains' })),
  state: Type.Optional(Type.Union([Type.Literal('online'), Type.Literal('offline')])),
  sort: Type.Optional(Type.Union([Type.Literal('site'), Type.Literal('offline-first'), Type.Literal('last-seen')])),
}, { additionalProperties: false });
const InfoBody = Type.Object({
  name: Type.Optional(Type.String({ maxLength: 128 })),
  lat: Type.Optional(Type.Number({ minimum: -90, maximum: 90 })),
  lon: Type.Optional(Type.Number({ minimum: -180, maximum: 180 })),
  timezone: Type.Optional(Type.String({ maxLength: 64, description: 'IANA time zone the site\'s times are shown in, e.g. Asia/Shanghai' })),
}, { additionalProperties: false });
const CamQuery = Type.Object({
  site: Type.Optional(Type.String({ pattern: SITE })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  before: Type.Optional(Type.Integer({ minimum: 1, description: 'paging: received before this (epoch ms)' })),
}, { additionalProperties: false });

function validZone(tz: string): boolean {
  try { new Intl.DateTimeFormat('en', { timeZone: tz }); return true; } catch { return false; }
}

/**
 * Read models the console needs beyond the plain API: a paged site table (server-side paging
 * and sorting for thousands of sites), site locations for the map, site metadata (location,
 * time zone; ops), camera events with their snapshots, and the snapshot images.
 */
export function consoleApiRoutes(defaultTimezone: string) {
  return (app: FastifyInstance, ctx: CloudContext) => routes(app, ctx, defaultTimezone);
}

const AIR_FIELDS = ['pm25', 'pm10', 'so2', 'no2', 'co', 'o3'];
const MONTH = 30 * 86_400_000;

async function routes(app: FastifyInstance, ctx: CloudContext, defaultTimezone: string): Promise<void> {
  const prev = new Map<string, { ts: number; frames: number; fps: number }>();
  const rows = (): SiteRow[] => {
    const status = ctx.db.prepare('SELECT s.site, s.online, s.ts, s.received, s.health, i.name, i.lat, i.lon, i.timezone FROM site_status s LEFT JOIN site_info i ON i.site = s.site').all() as Array<Record<string, any>>;
    const known = new Set(status.map((r) => r.site));
    const extra = (ctx.db.prepare('SELECT site, name, lat, lon, timezone FROM site_info').all() as Array<Record<string, any>>).filter((r) => !known.has(r.site));
    return [...status.map((r) => summarize(r, prev)), ...extra.map((r) => summarize({ ...r, online: 0, ts: 0, received: 0, health: null }, prev))];
  };

  app.get<{ Querystring: Static<typeof OverviewQuery> }>('/api/v1/sites/overview', {
    config: { role: 'viewer' },
    schema: { tags: ['sites'], summary: 'one page of the site table (online, last seen, outbox, autonomy, evictions, cameras, models) with totals', security: bearer, querystring: OverviewQuery, response: { 200: Type.Object({ total: Type.Integer(), online: Type.Integer(), offline: Type.Integer(), offset: Type.Integer(), sites: Type.Array(Type.Any()) }), ...errors } },
  }, async (req) => {
    const q = req.query;
    let all = rows();
    const online = all.filter((r) => r.online).length;
    const offline = all.length - online;
    if (q.q) { const needle = q.q.toLowerCase(); all = all.filter((r) => r.site.includes(needle) || (r.name ?? '').toLowerCase().includes(needle)); }
    if (q.state) all = all.filter((r) => r.online === (q.state === 'online'));
    const sort = q.sort ?? 'offline-first';
    all.sort(sort === 'site' ? (a, b) => a.site.localeCompare(b.site)
      : sort === 'last-seen' ? (a, b) => b.received - a.received || a.site.localeCompare(b.site)
      : (a, b) => Number(a.online) - Number(b.online) || a.site.localeCompare(b.site));
    const offset = q.offset ?? 0;
    return { total: all.length, online, offline, offset, sites: all.slice(offset, offset + (q.limit ?? 100)) };
  });

  app.get('/api/v1/sites/locations', {
    config: { role: 'viewer' },
    schema: { tags: ['sites'], summary: 'every site with coordinates (for the map): [site, lat, lon, online]', security: bearer, response: { 200: Type.Array(Type.Tuple([Type.String(), Type.Number(), Type.Number(), Type.Boolean()])), ...errors } },
  }, async () => rows().filter((r) => r.lat !== undefined && r.lon !== undefined).map((r) => [r.site, r.lat!, r.lon!, r.online] as [string, number, number, boolean]));

  app.get('/api/v1/sites/meta', {
    config: { role: 'viewer' },
    schema: { tags: ['sites'], summary: 'site names and time zones (and the default zone for sites without one)', security: bearer, response: { 200: Type.Object({ defaultTimezone: Type.String(), sites: Type.Record(Type.String(), Type.Object({ name: Type.Optional(Type.String()), timezone: Type.Optional(Type.String()) })) }), ...errors } },
  }, async () => {
    const sites: Record<string, { name?: string; timezone?: string }> = {};
    for (const r of ctx.db.prepare('SELECT site, name, timezone FROM site_info').all() as Array<{ site: string; name: string | null; timezone: string | null }>) {
      sites[r.site] = { ...(r.name ? { name: r.name } : {}), ...(r.timezone ? { timezone: r.timezone } : {}) };
    }
    return { defaultTimezone, sites };
  });

  app.get('/api/v1/env/stations', {
    config: { role: 'viewer' },
    schema: { tags: ['series'], summary: 'monitoring stations and outlets with their factors and the time of their latest data (HJ 212 loggers: hj212; air replays: air)', security: bearer, response: { 200: Type.Array(Type.Object({ site: Type.String(), measurement: Type.String(), station: Type.String(), pollutant: Type.String(), field: Type.String(), unit: Type.Optional(Type.String()), last: Type.Integer() })), ...errors } },
  }, async () => {
    const to = Date.now() + 86_400_000;
    const from = to - 30 * 12 * MONTH; // 30 years in month windows: when the replayed data's newest month is
    const out: Array<{ site: string; measurement: string; station: string; pollutant: string; field: string; unit?: string; last: number }> = [];
    const lastOf = (values: unknown[][], col: number) => { for (let i = values.length - 1; i >= 0; i--) if (Number(values[i][col]) > 0) return Number(values[i][0]) + MONTH; return 0; };
    const hj = await ctx.store.query({ measurement: 'hj212', fields: ['avg'], from, to, windowMs: MONTH, agg: 'count', groupBy: ['site', 'station', 'pollutant'] }).catch(() => ({ series: [] }));
    // then the newest hour within that month
    const refine = async (measurement: string, field: string, site: string, tags: Record<string, string>, monthEnd: number) => {
      const r = await ctx.store.query({ measurement, fields: [field], from: monthEnd - MONTH, to: monthEnd, site, tags, windowMs: 3_600_000, agg: 'count' }).catch(() => ({ series: [] }));
      const v = r.series[0]?.values ?? [];
      for (let i = v.length - 1; i >= 0; i--) if (Number(v[i][1]) > 0) return Math.min(Date.now(), Number(v[i][0]) + 3_600_000);
      return Math.min(Date.now(), monthEnd);
    };
    for (const s of hj.series) {
      const last = lastOf(s.values, 1);
      if (last) out.push({ site: s.tags.site, measurement: 'hj212', station: s.tags.station, pollutant: s.tags.pollutant, field: 'avg', last: await refine('hj212', 'avg', s.tags.site, { station: s.tags.station, pollutant: s.tags.pollutant }, last) });
    }
    const found: typeof out = [];
    const air = await ctx.store.query({ measurement: 'air', fields: AIR_FIELDS, from, to, windowMs: MONTH, agg: 'count', groupBy: ['site', 'station'] }).catch(() => ({ series: [] }));
    for (const s of air.series) {
      AIR_FIELDS.forEach((f, i) => {
        const last = lastOf(s.values, s.columns.indexOf(f) >= 0 ? s.columns.indexOf(f) : i + 1);
        if (last) found.push({ site: s.tags.site, measurement: 'air', station: s.tags.station, pollutant: f, field: f, last });
      });
    }
    for (const f of found) out.push({ ...f, last: await refine('air', f.field, f.site, { station: f.station }, f.last) });
    return out.sort((a, b) => a.site.localeCompare(b.site) || a.station.localeCompare(b.station) || a.pollutant.localeCompare(b.pollutant));
  });

  app.put<{ Params: { site: string }; Body: Static<typeof InfoBody> }>('/api/v1/sites/:site/info', {
    config: { role: 'ops' },
    schema: { tags: ['sites'], summary: 'set a site\'s name, location and time zone (shown in the console)', security: bearer, params: Type.Object({ site: Type.String({ pattern: SITE }) }), body: InfoBody, response: { 200: Type.Object({ site: Type.String(), name: Type.Optional(Type.String()), lat: Type.Optional(Type.Number()), lon: Type.Optional(Type.Number()), timezone: Type.Optional(Type.String()) }), ...errors } },
  }, async (req) => {
    const b = req.body;
    if (b.timezone !== undefined && !validZone(b.timezone)) throw new CodedError('SITE_BAD_TIMEZONE', `unknown time zone ${JSON.stringify(b.timezone)}; use an IANA name such as Asia/Shanghai`);
    if ((b.lat === undefined) !== (b.lon === undefined)) throw new CodedError('SITE_BAD_LOCATION', 'give both lat and lon');
    ctx.db.prepare(`INSERT INTO site_info (site, name, lat, lon, timezone, updated) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (site) DO UPDATE SET name = coalesce(excluded.name, name), lat = coalesce(excluded.lat, lat), lon = coalesce(excluded.lon, lon), timezone = coalesce(excluded.timezone, timezone), updated = excluded.updated`)
      .run(req.params.site, b.name ?? null, b.lat ?? null, b.lon ?? null, b.timezone ?? null, Date.now());
    const r = ctx.db.prepare('SELECT site, name, lat, lon, timezone FROM site_info WHERE site = ?').get(req.params.site) as Record<string, unknown>;
    return Object.fromEntries(Object.entries(r).filter(([, v]) => v !== null));
  });

  app.get<{ Querystring: Static<typeof CamQuery> }>('/api/v1/camera/events', {
    config: { role: 'viewer' },
    schema: { tags: ['sites'], summary: 'camera events, newest first, each with its evidence snapshots (sha256 → /api/v1/snapshots/:sha256)', security: bearer, querystring: CamQuery, response: { 200: Type.Array(Type.Any()), ...errors } },
  }, async (req) => {
    const q = req.query;
    const conds = ["kind = 'event'", "(type LIKE 'zone.%' OR type LIKE 'line.%' OR type LIKE 'crowd%' OR type LIKE 'camera.%' OR type LIKE 'dwell%')"];
    const args: unknown[] = [];
    if (q.site) { conds.push('site = ?'); args.push(q.site); }
    if (q.before) { conds.push('received < ?'); args.push(q.before); }
    const evs = ctx.db.prepare(`SELECT id, site, received, body FROM events WHERE ${conds.join(' AND ')} ORDER BY received DESC, rowid DESC LIMIT ?`).all(...args, q.limit ?? 50) as Array<{ id: string; site: string; received: number; body: string }>;
    const snaps = ctx.db.prepare("SELECT source, type, body FROM events WHERE kind = 'snapshot' AND source = ?");
    return evs.map((e) => ({
      site: e.site, received: e.received, ...JSON.parse(e.body),
      snapshots: (snaps.all(e.id) as Array<{ type: string; body: string }>).map((s) => ({ role: s.type, sha256: (JSON.parse(s.body) as { sha256: string }).sha256 })),
    }));
  });

  app.get<{ Querystring: { site?: string } }>('/api/v1/cameras', {
    config: { role: 'viewer' },
    schema: { tags: ['sites'], summary: 'every camera a site reports in its status: online, its rules\' geometry (lines and zones, normalised 0..1; checked against the protocol, else rulesError) and its latest frame snapshot', security: bearer, querystring: Type.Object({ site: Type.Optional(Type.String({ pattern: SITE })) }, { additionalProperties: false }), response: { 200: Type.Array(Type.Any()), ...errors } },
  }, async (req) => {
    const status = (req.query.site
      ? ctx.db.prepare('SELECT site, online, health FROM site_status WHERE site = ?').all(req.query.site)
      : ctx.db.prepare('SELECT site, online, health FROM site_status ORDER BY site').all()) as Array<{ site: string; online: number; health: string | null }>;
    // the newest 'frame' snapshot of the camera's recent events (snapshots reference their event's id)
    const frame = ctx.db.prepare(`SELECT s.body, s.ts, s.source AS event FROM events s WHERE s.kind = 'snapshot' AND s.type = 'frame' AND s.site = ?
      AND s.source IN (SELECT id FROM events WHERE site = ? AND kind = 'event' AND source = ? ORDER BY ts DESC LIMIT 500) ORDER BY s.ts DESC, s.rowid DESC LIMIT 1`);
    const out: unknown[] = [];
    for (const r of status) {
      let h: Record<string, any> = {};
      try { h = r.health ? JSON.parse(r.health) : {}; } catch { continue; }
      for (const [camera, src] of Object.entries((h.sources ?? {}) as Record<string, Record<string, unknown>>)) {
        if (!src || typeof src !== 'object' || typeof src.framesIn !== 'number') continue; // not a camera
        let rules: unknown[] = [];
        let rulesError: { code: string; message: string } | undefined;
        if (src.rules !== undefined) {
          try { rules = validateCameraRules(src.rules); } catch (err) { rulesError = { code: isCoded(err) ? err.code : 'PROTO_CAMERA_RULES', message: errMessage(err) }; }
        }
        const f = frame.get(r.site, r.site, camera) as { body: string; ts: number; event: string } | undefined;
        out.push({
          site: r.site, camera, online: !!r.online && src.online !== false, rules, ...(rulesError ? { rulesError } : {}),
          ...(f ? { frame: { sha256: (JSON.parse(f.body) as { sha256: string }).sha256, ts: f.ts, event: f.event } } : {}),
        });
      }
    }
    return out;
  });

  const snapDir = path.join(ctx.dataDir, 'snapshots');
  app.get<{ Params: { sha: string } }>('/api/v1/snapshots/:sha', {
    config: { role: 'viewer' },
    schema: { tags: ['sites'], summary: 'an evidence snapshot (JPEG), by the sha256 of its bytes', security: bearer, params: Type.Object({ sha: Type.String({ pattern: '^[0-9a-f]{64}$' }) }), response: { ...errors } },
  }, async (req, reply) => {
    const file = path.join(snapDir, req.params.sha.slice(0, 2), `${req.params.sha}.jpg`);
    if (!fs.existsSync(file)) throw new CodedError('SNAPSHOT_NOT_FOUND', `no snapshot ${req.params.sha}`, { status: 404 });
    // content-addressed: the same URL always has the same bytes
    return reply.header('content-type', 'image/jpeg').header('cache-control', 'private, max-age=31536000, immutable').send(fs.createReadStream(file));
  });
}
