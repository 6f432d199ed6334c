import { execFileSync } from 'node:child_process';
import mqtt from 'mqtt';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Cloud } from '../../cloud/cloud.ts';
import type { Edge } from '../../edge/edge.ts';
import { edgeConfig, startCloud, startEdge } from '../harness.ts';
import { freePort, tempDir, waitFor } from '../peers/ports.ts';

describe('a long outage with a small outbox cap', () => {
  let edge: Edge | undefined;
  let cloud: Cloud | undefined;
  afterAll(async () => { await edge?.stop(); await cloud?.stop(); });

  it('stays under the cap, keeps every alert, evicts the oldest telemetry first, reports it, and delivers what it kept', async () => {
    const port = await freePort(); // nothing listens here yet: the uplink is down
    const cloudDir = tempDir('cloud-cap-');
    const N = 20_000;
    const cap = 1024 * 1024;
    edge = await startEdge(edgeConfig({
      site: 'site-c', password: 'site-c-password-1', url: `mqtt://127.0.0.1:${port}`,
      outbox: { cap },
      sources: [{ type: 'synthetic', id: 'gen', count: N, ratePerSec: 200_000, batch: 200, alertEvery: 1000 }],
    }));
    await waitFor(() => (edge!.outbox.checkpoint('synthetic:gen') === String(N)), { timeoutMs: 60_000, what: 'all produced' });
    const st = edge.outbox.stats();
    expect(st.fileBytes).toBeLessThanOrEqual(cap);
    expect(st.rowsByPriority.alert).toBe(N / 1000);
    expect(st.evicted.alert.rows).toBe(0);
    expect(st.evicted.telemetry.rows).toBeGreaterThan(N / 2);
    const kept = st.rowsByPriority.telemetry;
    expect(kept + st.evicted.telemetry.rows).toBe(N);

    // the uplink comes back: the cloud starts on the port the edge was configured for
    cloud = await startCloud({ broker: { port } }, cloudDir);
    await cloud.ctx.devices.add('site-c', 'site-c-password-1');
    await waitFor(() => edge!.outbox.size === 0, { timeoutMs: 60_000, what: 'outbox drained' });
    await cloud.ctx.ingest.flush();
    const alerts = cloud.ctx.db.prepare("SELECT count(*) AS n FROM events WHERE kind = 'alert' AND site = 'site-c'").get() as { n: number };
    expect(alerts.n).toBe(N / 1000);
    // what arrived is the newest tail: the oldest readings were the ones evicted
    const q = await cloud.ctx.store.query({ measurement: 'synthetic', fields: ['value'], from: 1_700_000_000_000, to: 1_700_000_000_000 + N, site: 'site-c' });
    const values = q.series[0].values.map((v) => v[1] as number);
    expect(values).toHaveLength(kept);
    expect(values[0]).toBe(N - kept);
    expect(values[values.length - 1]).toBe(N - 1);
    // and the site reported its evictions in its status
    await waitFor(() => {
      const row = cloud!.ctx.db.prepare("SELECT health FROM site_status WHERE site = 'site-c'").get() as { health: string } | undefined;
      return row && JSON.parse(row.health).outbox.evicted.telemetry.rows === st.evicted.telemetry.rows;
    }, { what: 'status with eviction counts' });
  });
});

describe('TLS on the embedded broker', () => {
  let edge: Edge | undefined;
  let cloud: Cloud | undefined;
  afterAll(async () => { await edge?.stop(); await cloud?.stop(); });

  it('an edge with the CA connects over mqtts and delivers', async () => {
    const dir = tempDir('tls-');
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
    cloud = await startCloud({ broker: { tlsCert: cert, tlsKey: key } });
    const password = await cloud.ctx.devices.add('site-t');
    const cfg = edgeConfig({ site: 'site-t', password, url: `mqtts://127.0.0.1:${cloud.mqttPort}`, sources: [{ type: 'synthetic', id: 'gen', count: 100, ratePerSec: 1000 }] });
    (cfg.mqtt as Record<string, unknown>).caFile = cert;
    edge = await startEdge(cfg);
    await waitFor(async () => (await cloud!.ctx.ingest.counts())['items.accepted'] === 100, { what: '100 over TLS' });
    // a plain-TCP client cannot talk to the TLS listener
    const plain = mqtt.connect(`mqtt://127.0.0.1:${cloud.mqttPort}`, { username: 'site-t', password, reconnectPeriod: 0, connectTimeout: 2000 });
    const outcome = await new Promise<string>((resolve) => { plain.once('connect', () => resolve('connected')); plain.once('error', () => resolve('error')); plain.once('close', () => resolve('closed')); });
    plain.end(true);
    expect(outcome).not.toBe('connected');
  });
});
