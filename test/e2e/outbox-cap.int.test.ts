import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import mqtt from 'mqtt';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Cloud } from '../../cloud/cloud.ts';
import type { Edge } from '../../edge/edge.ts';
import { dataFile } from '../../lib/data-dir.ts';
import type { NewItem } from '../../protocol/schemas.ts';
import { edgeConfig, startCloud, startEdge } from '../harness.ts';
import { freePort, tempDir, waitFor } from '../peers/ports.ts';

const STATIONS = ['朝阳区奥体中心监测站', '海淀区万柳监测站', '东城区天坛监测站'];
const ENTERPRISES = ['某某化工有限公司', '北京某某热电厂', '某某水泥股份有限公司'];
const PRIO = ['alert', 'event', 'aggregate', 'telemetry', 'snapshot'] as const;
const T0 = 1_700_000_000_000;
/** Child process: stat db + -wal + -shm in a tight loop until told to stop, then report the largest total. */
const SAMPLER = `
const fs = require('fs'); const f = process.argv[1]; let max = 0, n = 0, stop = false;
const size = (p) => { try { return fs.statSync(p).size; } catch { return 0; } };
process.on('message', () => { stop = true; });
process.send('sampling');
(function loop() {
  for (let k = 0; k < 20; k++) { const t = size(f) + size(f + '-wal') + size(f + '-shm'); if (t > max) max = t; n++; }
  if (stop) { process.send({ max, n }, () => process.exit(0)); return; }
  setImmediate(loop);
})();`;

describe('a long outage with a small outbox cap', () => {
  let edge: Edge | undefined;
  let cloud: Cloud | undefined;
  afterAll(async () => { await edge?.stop(); await cloud?.stop(); });

  it('keeps db + WAL + SHM under the cap at every moment, keeps every alert, evicts the oldest lower priorities first, counts what is missing, and delivers the newest tail', async () => {
    const port = await freePort(); // nothing listens here yet: the uplink is down
    const cap = 2 * 1024 * 1024;
    // statusIntervalMs long: nothing but what this test emits goes into the outbox (the status at
    // connect carries the final counts: nothing is appended after the outage)
    edge = await startEdge(edgeConfig({ site: 'site-c', password: 'site-c-password-1', url: `mqtt://127.0.0.1:${port}`, outbox: { cap }, uplink: { statusIntervalMs: 60_000 } }));
    const file = path.join(edge.outbox.path);
    const onDisk = () => ['', '-wal', '-shm'].reduce((n, s) => { try { return n + fs.statSync(file + s).size; } catch { return n; } }, 0);
    // real JPEG evidence, base64 as the protocol carries it (~125–220 KB each)
    const jpegs = ['opencv_vtest_t30s.jpg', 'opencv_vtest_t2s.jpg', 'darknet_person.jpg'].map((f) => fs.readFileSync(dataFile('images', f)).toString('base64'));
    let maxOnDisk = 0;
    let samples = 0;
    const sample = () => { maxOnDisk = Math.max(maxOnDisk, onDisk()); samples++; };
    // and continuously, from another process, so that states inside a commit or a checkpoint are seen too
    const sampler = spawn(process.execPath, ['-e', SAMPLER, file], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    await new Promise((r) => sampler.once('message', r)); // sampling

    // the site keeps producing through the outage: Chinese station and enterprise names in
    // every reading, an event every 200 readings, an alert every 1,000, a snapshot every 250
    const N = 20_000;
    const appended = [0, 0, 0, 0, 0];
    const eventIds: string[] = [];
    try {
      for (let i = 0; i < N; i += 50) {
        const items: NewItem[] = [];
        for (let k = i; k < i + 50; k++) {
          const station = STATIONS[k % 3];
          items.push({ kind: 'telemetry', ts: T0 + k, m: 'synthetic', tags: { station, enterprise: ENTERPRISES[k % 3] }, fields: { value: k, note: `${station}：${ENTERPRISES[k % 3]}一号废气排放口在线监测数据，颗粒物、二氧化硫、氮氧化物` } });
          if (k % 1000 === 0) items.push({ kind: 'alert', ts: T0 + k, rule: 'pm25', source: `${station}-${k}`, state: 'raise', severity: 'warning', message: `${station} PM2.5 超标`, data: { k } });
          if (k % 200 === 0) items.push({ kind: 'event', ts: T0 + k, type: 'enterprise.report', source: 'loggers', phase: 'instant', data: { enterprise: ENTERPRISES[k % 3], k } });
        }
        for (const st of edge.emit(items)) if (st.kind === 'event') eventIds.push(st.id);
        sample();
        for (const it of items) appended[PRIO.indexOf(it.kind === 'telemetry' ? 'telemetry' : it.kind as 'alert' | 'event')]++;
        if (i % 250 === 0) {
          edge.emit([{ kind: 'snapshot', ts: T0 + i, ref: eventIds.at(-1)!, role: 'frame', contentType: 'image/jpeg', data: jpegs[(i / 250) % 3] }]);
          appended[4]++;
          sample();
        }
      }
    } finally {
      sampler.send('stop');
    }
    const seen = await new Promise<{ max: number; n: number }>((r) => sampler.once('message', (m) => r(m as { max: number; n: number })));
    sample();
    expect(samples).toBeGreaterThan(N / 50 + N / 250); // after every append
    expect(seen.n).toBeGreaterThan(1000);
    expect(maxOnDisk).toBeLessThanOrEqual(cap);
    expect(seen.max).toBeLessThanOrEqual(cap);

    const st = edge.outbox.stats();
    expect(st.fileBytes).toBeLessThanOrEqual(cap);
    // every alert and event kept; telemetry and snapshots paid for them
    expect(st.rowsByPriority.alert).toBe(N / 1000);
    expect(st.evicted.alert.rows + st.dropped.alert.rows).toBe(0);
    expect(st.rowsByPriority.event).toBe(N / 200);
    expect(st.evicted.telemetry.rows).toBeGreaterThan(N / 2);
    expect(st.evicted.snapshot.rows + st.dropped.snapshot.rows).toBeGreaterThan(0);
    // the counters say exactly what is missing, per priority
    for (let p = 0; p < PRIO.length; p++) expect(st.rowsByPriority[PRIO[p]] + st.evicted[PRIO[p]].rows + st.dropped[PRIO[p]].rows).toBe(appended[p]);
    // oldest first: the telemetry left is the newest contiguous tail
    const kept = st.rowsByPriority.telemetry;
    const left = edge.outbox.take(3, 0, Number.MAX_SAFE_INTEGER, N).map((r) => JSON.parse(r.body).fields.value as number);
    expect(left).toHaveLength(kept);
    expect(left[0]).toBe(N - kept);
    expect(left.at(-1)).toBe(N - 1);
    const snapsKept = st.rowsByPriority.snapshot;

    // the uplink comes back: the cloud starts on the port the edge was configured for
    cloud = await startCloud({ broker: { port } }, tempDir('cloud-cap-'));
    await cloud.ctx.devices.add('site-c', 'site-c-password-1');
    await waitFor(() => edge!.outbox.size === 0, { timeoutMs: 30_000, what: 'outbox drained' });
    await cloud.ctx.ingest.flush();
    const count = (kind: string) => (cloud!.ctx.db.prepare('SELECT count(*) AS n FROM events WHERE kind = ? AND site = ?').get(kind, 'site-c') as { n: number }).n;
    expect(count('alert')).toBe(N / 1000);
    expect(count('event')).toBe(N / 200);
    expect(count('snapshot')).toBe(snapsKept);
    // what arrived is the newest tail: the oldest readings were the ones evicted
    const q = await cloud.ctx.store.query({ measurement: 'synthetic', fields: ['value'], from: T0, to: T0 + N, site: 'site-c' });
    const values = q.series[0].values.map((v) => v[1] as number);
    expect(values).toHaveLength(kept);
    expect(values[0]).toBe(N - kept);
    expect(values.at(-1)).toBe(N - 1);
    expect(cloud.ctx.ingest.deadLetters.countsByCode()).toEqual({});
    // and the site reported its evictions and drops in its status
    await waitFor(() => {
      const row = cloud!.ctx.db.prepare("SELECT health FROM site_status WHERE site = 'site-c'").get() as { health: string } | undefined;
      const h = row && JSON.parse(row.health).outbox;
      return h && h.evicted.telemetry.rows === st.evicted.telemetry.rows && h.dropped.snapshot.rows === st.dropped.snapshot.rows;
    }, { what: 'status with eviction and drop counts' });
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
