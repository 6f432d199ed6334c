/**
 * Env alerts bench (issue 5):
 *  1. end-to-end alert latency: an HJ 212-2017 logger sends an hourly frame whose PM2.5 exceeds
 *     the rule → edge hj212 server → env pipeline (alert rule) → outbox → MQTT → aedes → ingest
 *     spool → alerts sink → visible in GET /api/v1/alerts. Measured from just before the frame is
 *     written to the socket until the API first lists the new open alert (polled every 5 ms);
 *     each exceedance is followed by a clearing frame, so every raise opens a new alert.
 *     Goal: p95 ≤ 1 s with the uplink up. Side by side: the HJ 212 ack round trip alone (frame →
 *     edge outbox commit → 9014 ack), i.e. the edge's share of the path.
 *  2. HJ 212 frames per second through the full edge path (decode, auth, readings, env pipeline,
 *     durable outbox commit, ack) with 8 loggers sending acked real-time frames (CN 2011, 6
 *     factors), vs bare decodeFrame()+frameValues() on the same bytes (the codec's limit), and
 *     the time until the cloud admitted every item.
 * Ends with one JSON line.
 */
import { pathToFileURL } from 'node:url';
import { startCloudWithAlerts } from '../test/support/alerts.ts';
import { Hj212Client, type FactorValues } from '../firmware-bridge/hj212/simulator.ts';
import { decodeFrame, encodeFrame, buildCp, formatDataTime } from '../firmware-bridge/hj212/codec.ts';
import { frameValues } from '../firmware-bridge/hj212/values.ts';
import { edgeConfig, startEdge } from '../test/harness.ts';
import { freePort, waitFor } from '../test/peers/ports.ts';

const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]; };
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const FACTORS = (v: number): FactorValues[] => [
  { code: 'a34004', fields: { Rtd: v, Flag: 'N' } }, { code: 'a34002', fields: { Rtd: 80, Flag: 'N' } },
  { code: 'a21026', fields: { Rtd: 9, Flag: 'N' } }, { code: 'a21004', fields: { Rtd: 41, Flag: 'N' } },
  { code: 'a21005', fields: { Rtd: 0.8, Flag: 'N' } }, { code: 'a05024', fields: { Rtd: 60, Flag: 'N' } },
];

export async function run(opts: { exceedances?: number; frames?: number; loggers?: number } = {}): Promise<Record<string, unknown>> {
  const exceedances = opts.exceedances ?? 200;
  const frames = opts.frames ?? 4000;
  const loggers = opts.loggers ?? 8;
  process.env.LOG_LEVEL ??= 'warn';
  const { cloud } = await startCloudWithAlerts({ escalation: false, mqtt: { enabled: false } });
  const token = cloud.ctx.tokens.create('bench', 'viewer').token;
  const password = await cloud.ctx.devices.add('bench-site');
  const hjPort = await freePort();
  const stations = Array.from({ length: loggers + 1 }, (_, i) => ({ mn: `BENCHLOGGER${String(i).padStart(4, '0')}`, password: 'pw123456', revision: '2017' as const }));
  const edge = await startEdge(edgeConfig({
    site: 'bench-site', password, url: `mqtt://127.0.0.1:${cloud.mqttPort}`,
    uplink: { reconnectMinMs: 50 },
    sources: [{ type: 'hj212', id: 'hj', host: '127.0.0.1', port: hjPort, stations, pipeline: { alerts: [{ id: 'pm25', kind: 'limit', match: { pollutant: 'PM2.5' }, limit: 150, clearAt: 115 }] } }],
  }));
  await waitFor(() => edge.uplink.stats().connected, { what: 'uplink connected' });
  try {
    // 1) alert latency
    const c = new Hj212Client({ port: hjPort, ...stations[0], ackTimeoutMs: 5000 });
    await c.connect();
    const headers = { authorization: `Bearer ${token}` };
    const source = encodeURIComponent(`${stations[0].mn}/PM2.5`);
    const latencies: number[] = [];
    const acks: number[] = [];
    let t = Date.UTC(2025, 0, 1) - 8 * 3600_000;
    let lastId = 0;
    for (let i = 0; i < exceedances; i++) {
      const t0 = performance.now();
      const ackP = c.sendData('2011', (t += 60_000), FACTORS(300)).then((r) => { if (!r.acked) throw new Error('no ack'); acks.push(performance.now() - t0); });
      for (;;) {
        const res = await fetch(`${cloud.httpUrl}/api/v1/alerts?state=open&source=${source}&limit=1`, { headers });
        const a = ((await res.json()) as { alerts: Array<{ id: number }> }).alerts[0];
        if (a && a.id > lastId) { lastId = a.id; break; }
        if (performance.now() - t0 > 10_000) throw new Error(`alert ${i} not visible after 10 s`);
        await new Promise((r) => setTimeout(r, 5));
      }
      latencies.push(performance.now() - t0);
      await ackP;
      await c.sendData('2011', (t += 60_000), FACTORS(20)); // clear, so the next raise opens a new alert
    }
    c.close();

    // 2) frames/s through the edge path vs bare decode
    const clients = await Promise.all(stations.slice(1).map(async (s) => { const k = new Hj212Client({ port: hjPort, ...s, ackTimeoutMs: 10_000 }); await k.connect(); return k; }));
    const accepted0 = (await cloud.ctx.ingest.counts())['items.accepted'] ?? 0;
    const per = Math.ceil(frames / loggers);
    const t1 = performance.now();
    await Promise.all(clients.map(async (k, j) => {
      let ts = Date.UTC(2025, 1, 1) - 8 * 3600_000 + j * 1000;
      for (let i = 0; i < per; i++) if (!(await k.sendData('2011', (ts += 60_000), FACTORS(30 + (i % 50)))).acked) throw new Error('frame not acked');
    }));
    const edgeMs = performance.now() - t1;
    const sent = per * loggers;
    const itemsPerFrame = FACTORS(0).length; // one hj212 telemetry item per factor
    await waitFor(async () => ((await cloud.ctx.ingest.counts())['items.accepted'] ?? 0) - accepted0 >= sent * itemsPerFrame, { what: 'all items admitted by the cloud', timeoutMs: 120_000 });
    const cloudMs = performance.now() - t1;
    for (const k of clients) k.close();

    const sample = Array.from({ length: 500 }, (_, i) => encodeFrame({ qn: `2025020100${String(i).padStart(7, '0')}`, st: '22', cn: '2011', pw: 'pw123456', mn: stations[1].mn, flag: 5, cp: buildCp({ DataTime: formatDataTime(Date.UTC(2025, 1, 1) + i * 60_000, 480) }, FACTORS(30 + (i % 50))) }));
    let n = 0;
    const t2 = performance.now();
    while (performance.now() - t2 < 800) for (const f of sample) { frameValues(decodeFrame(f)); n++; }
    const barePerSec = (n / (performance.now() - t2)) * 1000;

    const out = {
      bench: 'env-alerts',
      exceedances,
      alert_p50_ms: round(pct(latencies, 50)), alert_p95_ms: round(pct(latencies, 95)), alert_max_ms: round(Math.max(...latencies)),
      goal_p95_ms: 1000, p95_vs_goal: round(pct(latencies, 95) / 1000, 3),
      hj212_ack_p50_ms: round(pct(acks, 50)), hj212_ack_p95_ms: round(pct(acks, 95)),
      frames: sent, loggers, factors_per_frame: itemsPerFrame,
      edge_frames_per_s: Math.round((sent / edgeMs) * 1000),
      to_cloud_frames_per_s: Math.round((sent / cloudMs) * 1000),
      bare_decode_frames_per_s: Math.round(barePerSec),
      edge_vs_bare_decode: round((sent / edgeMs) * 1000 / barePerSec, 4),
      series_store: cloud.ctx.store.kind,
    };
    console.log(`env-alerts bench (${exceedances} exceedances, ${sent} frames from ${loggers} loggers, series store ${out.series_store})`);
    console.log(`  frame → alert visible in API      p50 ${out.alert_p50_ms} ms   p95 ${out.alert_p95_ms} ms   max ${out.alert_max_ms} ms   (goal p95 ≤ 1000 ms)`);
    console.log(`  frame → edge outbox → 9014 ack    p50 ${out.hj212_ack_p50_ms} ms   p95 ${out.hj212_ack_p95_ms} ms`);
    console.log(`  frames/s, full edge path (acked)  ${out.edge_frames_per_s.toLocaleString('en-US')}`);
    console.log(`  frames/s, until cloud admitted    ${out.to_cloud_frames_per_s.toLocaleString('en-US')}`);
    console.log(`  frames/s, bare decode+readings    ${out.bare_decode_frames_per_s.toLocaleString('en-US')}  (edge path = ${round(out.edge_vs_bare_decode * 100, 2)} % of it)`);
    console.log(JSON.stringify(out));
    return out;
  } finally {
    await edge.stop();
    await cloud.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await run();
