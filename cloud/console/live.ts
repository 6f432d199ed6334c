import type { FastifyInstance, FastifyReply } from 'fastify';
import type { CloudDb } from '../db.ts';
import { alertView } from '../alerts/store.ts';
import type { Logger } from '../../lib/log.ts';

/**
 * The console's live feed: new and changed alerts, events (camera events, snapshots, command
 * results) and site status, as server-sent events on GET /api/v1/stream.
 *
 * It reads the cloud database rather than hooking into ingest, so it sees exactly what the API
 * serves and needs no component to call it: every `alerts` insert or update leaves a row in
 * `alert_changes` (alerts v3 triggers), `events` rows have a growing rowid, and `site_status`
 * rows carry the cloud time they were received. One poller (every `pollMs`, only while someone
 * listens) advances a cursor over the three; each SSE message's id IS that cursor
 * (`a<change seq>.e<event rowid>.s<status received ms>`), so a client that reconnects with
 * `Last-Event-ID` (EventSource does this by itself) gets exactly what it missed — by a query from
 * that cursor, after a laptop slept or the cloud restarted. A gap larger than `maxReplay`
 * messages gets one `reset` message instead: reload the lists.
 */
export interface Cursor { a: number; e: number; s: number }
export interface LiveMessage { id: string; event: 'alert' | 'event' | 'status'; data: unknown }

export const formatCursor = (c: Cursor) => `a${c.a}.e${c.e}.s${c.s}`;
export function parseCursor(s: string | undefined): Cursor | undefined {
  const m = /^a(\d+)\.e(\d+)\.s(\d+)$/.exec(s ?? '');
  return m ? { a: Number(m[1]), e: Number(m[2]), s: Number(m[3]) } : undefined;
}

const EVENT_KINDS = "('event', 'snapshot', 'cmdres')";

export class LiveFeed {
  private head: Cursor;
  private readonly clients = new Set<(m: LiveMessage) => void>();
  private timer?: NodeJS.Timeout;
  private hasAlerts = false;
  private lastPrune = 0;

  constructor(private readonly db: CloudDb, private readonly pollMs: number, private readonly log?: Logger, readonly maxReplay = 5000) {
    this.head = this.current();
  }

  private alertsTable(): boolean {
    if (!this.hasAlerts) this.hasAlerts = !!this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alert_changes'").get();
    return this.hasAlerts;
  }

  /** The cursor of everything in the database now. */
  current(): Cursor {
    const a = this.alertsTable() ? (this.db.prepare('SELECT coalesce(max(seq), 0) AS n FROM alert_changes').get() as { n: number }).n : 0;
    const e = (this.db.prepare('SELECT coalesce(max(rowid), 0) AS n FROM events').get() as { n: number }).n;
    // statuses received in the current millisecond may still be followed by more in it: stop before it
    const s = Math.min(Date.now() - 1, (this.db.prepare('SELECT coalesce(max(received), 0) AS n FROM site_status').get() as { n: number }).n);
    return { a, e, s: Math.max(0, s) };
  }

  get cursor(): string { return formatCursor(this.head); }

  /**
   * Messages after `from`, up to `to` (default: now), in order alerts, events, status, each id the
   * cursor after it. Undefined when there are more than `limit` (the caller resets instead).
   */
  between(from: Cursor, to: Cursor = this.current(), limit = this.maxReplay): LiveMessage[] | undefined {
    const out: LiveMessage[] = [];
    const c = { ...from };
    if (this.alertsTable() && to.a > from.a) {
      const changes = this.db.prepare('SELECT seq, alert_id FROM alert_changes WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?').all(from.a, to.a, limit + 1) as Array<{ seq: number; alert_id: number }>;
      if (changes.length > limit) return undefined;
      // several changes of one alert in the window: send its state once, with the last cursor
      const last = new Map<number, number>();
      for (const ch of changes) last.set(ch.alert_id, ch.seq);
      const get = this.db.prepare('SELECT * FROM alerts WHERE id = ?');
      for (const ch of changes) {
        if (last.get(ch.alert_id) !== ch.seq) continue;
        c.a = ch.seq;
        const row = get.get(ch.alert_id) as Record<string, unknown> | undefined;
        if (row) out.push({ id: formatCursor(c), event: 'alert', data: alertView(row) });
      }
      c.a = to.a;
    }
    if (to.e > from.e) {
      const rows = this.db.prepare(`SELECT rowid AS r, site, kind, received, body FROM events WHERE rowid > ? AND rowid <= ? AND kind IN ${EVENT_KINDS} ORDER BY rowid LIMIT ?`).all(from.e, to.e, limit + 1 - out.length) as Array<{ r: number; site: string; kind: string; received: number; body: string }>;
      if (rows.length > limit - out.length) return undefined;
      for (const r of rows) {
        c.e = r.r;
        out.push({ id: formatCursor(c), event: 'event', data: { site: r.site, received: r.received, ...JSON.parse(r.body) } });
      }
      c.e = to.e;
    }
    if (to.s > from.s) {
      const rows = this.db.prepare('SELECT site, online, ts, received, health FROM site_status WHERE received > ? AND received <= ? ORDER BY received, site LIMIT ?').all(from.s, to.s, limit + 1 - out.length) as Array<{ site: string; online: number; ts: number; received: number; health: string | null }>;
      if (rows.length > limit - out.length) return undefined;
      for (const r of rows) {
        c.s = r.received;
        out.push({ id: formatCursor(c), event: 'status', data: { site: r.site, online: !!r.online, ts: r.ts, received: r.received, health: r.health ? JSON.parse(r.health) : null } });
      }
      c.s = to.s;
    }
    if (out.length) out[out.length - 1].id = formatCursor(to);
    return out;
  }

  subscribe(fn: (m: LiveMessage) => void): () => void {
    this.clients.add(fn);
    if (!this.timer) {
      this.head = this.current();
      this.timer = setInterval(() => this.poll(), this.pollMs);
      this.timer.unref();
    }
    return () => {
      this.clients.delete(fn);
      if (!this.clients.size && this.timer) { clearInterval(this.timer); this.timer = undefined; }
    };
  }

  /** One poll: send what is new since the head to every listener. */
  poll(): void {
    try {
      const to = this.current();
      if (to.a === this.head.a && to.e === this.head.e && to.s === this.head.s) return;
      const msgs = this.between(this.head, to, 50_000) ?? [];
      this.head = to;
      for (const m of msgs) for (const fn of this.clients) fn(m);
      if (Date.now() - this.lastPrune > 60_000 && this.alertsTable()) {
        this.lastPrune = Date.now();
        // keep the newest 100,000 changes: a client further behind resets
        this.db.prepare('DELETE FROM alert_changes WHERE seq <= ?').run(to.a - 100_000);
      }
    } catch (err) {
      this.log?.warn({ err: (err as Error).message }, 'live feed poll failed; retrying');
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.clients.clear();
  }
}

function write(reply: FastifyReply, m: { id?: string; event: string; data: unknown }): void {
  reply.raw.write(`${m.id ? `id: ${m.id}\n` : ''}event: ${m.event}\ndata: ${JSON.stringify(m.data)}\n\n`);
}

/** GET /api/v1/stream (viewer): the live feed as server-sent events. */
export function streamRoute(feed: LiveFeed) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get<{ Querystring: { lastEventId?: string } }>('/api/v1/stream', {
      config: { role: 'viewer' },
      schema: {
        tags: ['console'],
        summary: 'live alerts, events and site status (text/event-stream); reconnect with Last-Event-ID to resume',
        security: [{ bearer: [] }],
        querystring: { type: 'object', properties: { lastEventId: { type: 'string', maxLength: 64 } }, additionalProperties: false },
      },
    }, (req, reply) => {
      const last = parseCursor((req.headers['last-event-id'] as string | undefined) ?? req.query.lastEventId);
      reply.hijack();
      reply.raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
      reply.raw.write('retry: 2000\n\n');
      // replay (synchronously, so no poll runs between it and subscribing)
      const head = feed.current();
      const missed = last ? feed.between(last, head) : [];
      if (missed === undefined) write(reply, { id: formatCursor(head), event: 'reset', data: { reason: 'too far behind; reload' } });
      else for (const m of missed) write(reply, m);
      write(reply, { id: formatCursor(head), event: 'hello', data: { cursor: formatCursor(head), resumed: !!last } });
      const unsubscribe = feed.subscribe((m) => {
        const c = parseCursor(m.id)!;
        if (m.event === 'alert' ? c.a <= head.a : m.event === 'event' ? c.e <= head.e : c.s <= head.s) return; // already replayed
        write(reply, m);
      });
      const ping = setInterval(() => reply.raw.write(': ping\n\n'), 15_000);
      ping.unref();
      req.raw.on('close', () => { clearInterval(ping); unsubscribe(); });
    });
  };
}
