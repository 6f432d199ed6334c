/**
 * One row of the console's site table, from a `site_status` row (the site's retained status:
 * outbox stats, uplink, per-source health) and its `site_info` (name, location, time zone).
 * The edge may also report `health.location: {lat, lon}`; site_info (set by ops) wins.
 */
export interface SiteRow {
  site: string; name?: string; online: boolean; ts: number; received: number;
  lat?: number; lon?: number; timezone?: string;
  outboxRows?: number; autonomyHours?: number | null; evicted?: number;
  cameras: Array<{ id: string; fps?: number; dropped: number; online: boolean }>;
  models: string[];
}

type Prev = Map<string, { ts: number; frames: number; fps: number }>;
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

export function summarize(r: Record<string, any>, prev: Prev): SiteRow {
  let h: Record<string, any> = {};
  try { h = r.health ? JSON.parse(r.health) : {}; } catch { /* a malformed status is shown without health */ }
  const outbox = h.outbox ?? {};
  const evicted = outbox.evicted && typeof outbox.evicted === 'object'
    ? Object.values(outbox.evicted as Record<string, { rows?: number } | number>).reduce<number>((n, v) => n + (typeof v === 'number' ? v : num(v?.rows) ?? 0), 0)
    : num(outbox.evicted);
  const row: SiteRow = {
    site: r.site, online: !!r.online, ts: r.ts, received: r.received,
    outboxRows: num(outbox.rows), autonomyHours: outbox.autonomyHours === null ? null : num(outbox.autonomyHours), evicted,
    cameras: [], models: [],
  };
  if (r.name) row.name = r.name;
  const lat = num(r.lat) ?? num(h.location?.lat);
  const lon = num(r.lon) ?? num(h.location?.lon);
  if (lat !== undefined && lon !== undefined) { row.lat = lat; row.lon = lon; }
  if (r.timezone) row.timezone = r.timezone;
  else if (typeof h.timezone === 'string') row.timezone = h.timezone;
  for (const [id, s] of Object.entries((h.sources ?? {}) as Record<string, Record<string, any>>)) {
    if (!s || typeof s !== 'object') continue;
    if (typeof s.framesIn === 'number') {
      // the camera's own frame rate (edges since fpsIn was added), else from two consecutive status reports
      const key = `${r.site}/${id}`;
      const p = prev.get(key);
      let fps = p?.fps;
      if (p && r.ts > p.ts) fps = Math.round(((s.framesIn - p.frames) / ((r.ts - p.ts) / 1000)) * 10) / 10;
      if (num(s.fpsIn) !== undefined) fps = s.fpsIn;
      if (!p || r.ts > p.ts) prev.set(key, { ts: r.ts, frames: s.framesIn, fps: fps ?? NaN });
      row.cameras.push({ id, ...(fps !== undefined && Number.isFinite(fps) && fps >= 0 ? { fps } : {}), dropped: num(s.dropped) ?? 0, online: s.online !== false });
    }
    if (s.active && typeof s.active === 'object' && s.active.name) row.models.push(`${s.active.name}@${s.active.version}`);
  }
  return row;
}
