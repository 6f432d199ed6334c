import http from 'node:http';
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../../lib/log.ts';
import type { NewItem } from '../../protocol/schemas.ts';
import type { Outbox, OutboxStats } from '../outbox/outbox.ts';
import type { Uplink, UplinkStats } from '../uplink/uplink.ts';

/** What the health of an edge is made of: its outbox, its uplink, and each source's health(). */
export interface HealthInputs {
  site: string;
  outbox: () => Outbox;
  uplink: () => Uplink;
  sources: () => Array<{ id: string; health?: () => Record<string, unknown> }>;
}

const sum = (r: Record<string, { rows: number }>) => Object.values(r).reduce((n, c) => n + c.rows, 0);

/**
 * The `edge_health` telemetry item (emitted every `health.telemetryIntervalMs`, like Telegraf's
 * internal metrics): it travels through the outbox like any reading, so the cloud's InfluxDB and the
 * Grafana "Edge health" dashboard hold each gateway's history, outages included.
 */
export function healthItem(o: OutboxStats, u: UplinkStats, now = Date.now()): NewItem {
  const fields: Record<string, number | boolean> = {
    outbox_rows: o.rows, outbox_bytes: o.fileBytes, outbox_cap_bytes: o.capBytes,
    evicted_rows: sum(o.evicted), dropped_rows: sum(o.dropped),
    connected: u.connected, reconnects: Math.max(0, u.connects - 1), sent_items: u.sentItems,
    failed_messages: u.failedMessages, awaiting_receipt: u.awaitingReceipt,
  };
  if (o.autonomyHours !== null && Number.isFinite(o.autonomyHours)) fields.autonomy_hours = Math.round(o.autonomyHours * 10) / 10;
  return { kind: 'telemetry', ts: now, m: 'edge_health', tags: {}, fields };
}

/** Prometheus gauges over the live figures (read at scrape time). */
export function registerHealthMetrics(reg: Registry, h: HealthInputs): void {
  const g = (name: string, help: string, labelNames: string[], collect: (set: (labels: Record<string, string>, v: number) => void) => void) =>
    new Gauge({ name, help, labelNames, registers: [reg], collect() { this.reset(); collect((l, v) => this.set(l, v)); } });
  g('cityedge_edge_outbox_rows', 'rows waiting in the outbox, by priority', ['priority'], (set) => { for (const [p, n] of Object.entries(h.outbox().stats().rowsByPriority)) set({ priority: p }, n); });
  g('cityedge_edge_outbox_bytes', 'outbox file size on disk (db + WAL + SHM) and its cap', ['what'], (set) => { const s = h.outbox().stats(); set({ what: 'file' }, s.fileBytes); set({ what: 'cap' }, s.capBytes); });
  g('cityedge_edge_outbox_oldest_age_seconds', 'age of the oldest row waiting in the outbox (0 when empty)', [], (set) => { const t = h.outbox().oldestCreated(); set({}, t === undefined ? 0 : Math.max(0, (Date.now() - t) / 1000)); });
  g('cityedge_edge_outbox_evicted_rows', 'rows evicted for room since the outbox was created, by priority', ['priority'], (set) => { for (const [p, c] of Object.entries(h.outbox().stats().evicted)) set({ priority: p }, c.rows); });
  g('cityedge_edge_outbox_dropped_rows', 'items dropped at append for lack of room, by priority', ['priority'], (set) => { for (const [p, c] of Object.entries(h.outbox().stats().dropped)) set({ priority: p }, c.rows); });
  g('cityedge_edge_autonomy_hours', 'hours until the cap forces evictions at the measured append rate (-1: no rate yet)', [], (set) => { const a = h.outbox().stats().autonomyHours; set({}, a === null || !Number.isFinite(a) ? -1 : a); });
  g('cityedge_edge_uplink', 'uplink: connected (0/1), connects, sent messages and items, failed messages, rows awaiting a receipt', ['what'], (set) => {
    const u = h.uplink().stats();
    set({ what: 'connected' }, u.connected ? 1 : 0); set({ what: 'connects' }, u.connects); set({ what: 'sent_messages' }, u.sentMessages);
    set({ what: 'sent_items' }, u.sentItems); set({ what: 'failed_messages' }, u.failedMessages); set({ what: 'awaiting_receipt' }, u.awaitingReceipt);
  });
  // Every numeric figure a source reports in its health() (camera frames in/inferred/dropped,
  // inference ms, HJ 212 frames accepted, Modbus polls, …), labelled by source and figure.
  g('cityedge_edge_source', 'numeric health figures of each source (camera framesIn, framesInferred, dropped, inferMsAvg, …)', ['source', 'stat'], (set) => {
    for (const s of h.sources()) for (const [k, v] of Object.entries(s.health?.() ?? {})) if (typeof v === 'number' && Number.isFinite(v)) set({ source: s.id, stat: k }, v);
  });
}

/**
 * The optional HTTP listener of an edge (`health.listen: { host, port }` in its config): `GET /metrics`
 * (Prometheus text) and `GET /health` (JSON: connected, outbox, sources; 200 when the uplink is
 * connected, 503 when not, so a supervisor can tell).
 */
export async function startHealthServer(reg: Registry, h: HealthInputs, opts: { host: string; port: number }, log: Logger): Promise<{ port: number; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    void (async () => {
      try {
        if (req.method === 'GET' && req.url === '/metrics') {
          res.writeHead(200, { 'content-type': reg.contentType }).end(await reg.metrics());
        } else if (req.method === 'GET' && req.url === '/health') {
          const u = h.uplink().stats();
          const body = { site: h.site, connected: u.connected, outbox: h.outbox().stats(), uplink: u, sources: Object.fromEntries(h.sources().map((s) => [s.id, s.health?.() ?? {}])) };
          res.writeHead(u.connected ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(body));
        } else {
          res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'EDGE_HTTP_NOT_FOUND', message: 'GET /metrics (Prometheus) or GET /health' }));
        }
      } catch (err) {
        res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'EDGE_HTTP_FAILED', message: (err as Error).message }));
      }
    })();
  });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(opts.port, opts.host, () => resolve()); });
  const port = (server.address() as { port: number }).port;
  log.info({ host: opts.host, port }, 'edge metrics and health listening');
  return { port, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}
