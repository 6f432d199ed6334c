import http from 'node:http';
import { Cloud } from '../../cloud/cloud.ts';
import { CloudConfigSchema } from '../../cloud/config.ts';
import { validateConfig } from '../../lib/config.ts';
import { newMessageId } from '../../protocol/ids.ts';
import type { AlertItem } from '../../protocol/schemas.ts';
import { tempDir } from '../peers/ports.ts';
import { alertsFeature, type AlertsFeature } from '../../cloud/alerts/feature.ts';
import type { AlertPublisher } from '../../cloud/alerts/notifier.ts';

/**
 * A real cloud (embedded broker, SQLite or InfluxDB series store, HTTP API on loopback) with the
 * alerts feature — test/harness.ts's startCloud() takes no features, hence this helper.
 */
export async function startCloudWithAlerts(alerts: Record<string, unknown> = {}, o: { dataDir?: string; mqttPort?: number; influxUrl?: string; now?: () => number; publisher?: AlertPublisher } = {}): Promise<{ cloud: Cloud; feature: AlertsFeature }> {
  const feature = alertsFeature(alerts, { now: o.now, publisher: o.publisher });
  const config = validateConfig(CloudConfigSchema, {
    dataDir: o.dataDir ?? tempDir('cloud-alerts-'),
    broker: { host: '127.0.0.1', port: o.mqttPort ?? 0, revocationPollMs: 200 },
    http: { host: '127.0.0.1', port: 0 },
    influx: { url: o.influxUrl ?? '', database: 'env_e2e' },
    alerts,
  }, 'test cloud');
  const cloud = await new Cloud(config, [feature]).start();
  return { cloud, feature };
}

let seq = 0;
/** An alert item as an edge would send it (id, seq stamped). */
export function alertItem(o: Partial<AlertItem> & { rule: string; source: string; state: 'raise' | 'clear' }): AlertItem {
  return { kind: 'alert', id: newMessageId(), seq: ++seq, ts: Date.UTC(2013, 2, 5, 7), severity: 'critical', message: `${o.source} ${o.state}`, data: {}, ...o };
}

/** Put alert items through the cloud's real ingest (validation, dedupe, spool) as if they came over MQTT. */
export async function ingestAlerts(cloud: Cloud, site: string, items: AlertItem[], stream = 'teststream01'): Promise<void> {
  const r = cloud.ctx.ingest.accept(`ce/v1/${site}/alerts`, Buffer.from(JSON.stringify({ v: 1, site, stream, sentAt: Date.now(), items })));
  if (!r.ok || r.rejected) throw new Error(`ingest refused: ${JSON.stringify(r)}`);
  await cloud.ctx.ingest.flush();
}

export async function api(cloud: Cloud, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${cloud.httpUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: await res.json() };
}

/** A webhook receiver on a loopback port: records raw bodies and headers, answers with `status()`. */
export async function webhookReceiver(status: (n: number) => number = () => 200): Promise<{ url: string; got: Array<{ raw: string; headers: http.IncomingHttpHeaders; status: number; at: number }>; close: () => Promise<void> }> {
  const got: Array<{ raw: string; headers: http.IncomingHttpHeaders; status: number; at: number }> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const s = status(got.length);
      got.push({ raw: Buffer.concat(chunks).toString('utf8'), headers: req.headers, status: s, at: Date.now() });
      res.writeHead(s).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}/hook`, got, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}
