/**
 * Every ingest sink of the cloud through the one conformance suite (test/support/sink-conformance.ts),
 * on real SQLite files in temp dirs: the foundation's sinks (cloud/ingest/sinks.ts: series on the
 * embedded store, events, snapshots) and the feature sinks (alerts, GBFS, model rollouts). The
 * series sink on a real InfluxDB runs in sinks.int.test.ts.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Registry } from 'prom-client';
import { expect } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import { lockFault, seriesSinkCase, sinkConformance, spooled, triggerFault, type SinkFault } from '../../test/support/sink-conformance.ts';
import { alertsFeature } from '../alerts/feature.ts';
import { ALERTS_SCHEMA } from '../alerts/schema.ts';
import type { CloudContext } from '../context.ts';
import { openCloudDb, type CloudDb } from '../db.ts';
import { DeviceRegistry } from '../devices/registry.ts';
import { gbfsSink } from '../gbfs/feature.ts';
import { GbfsStationStore, type BikeTelemetryLike } from '../gbfs/store.ts';
import { hj212Feature } from '../hj212/feature.ts';
import { HJ212_SCHEMA } from '../hj212/schema.ts';
import { modelsFeature } from '../models/feature.ts';
import { MODELS_SCHEMA } from '../models/schema.ts';
import { SqliteStore } from '../store/sqlite-store.ts';
import type { SpooledItem } from './ingest.ts';
import { eventsSink, snapshotSink } from './sinks.ts';

const T0 = Date.UTC(2024, 4, 1, 8);
const log = createLogger({ name: 'test', level: 'silent' });
/** The cloud database of a sink under test; a short busy timeout so a locked file fails fast. */
function cloudDb(dir: string, features = [ALERTS_SCHEMA, MODELS_SCHEMA]): CloudDb {
  const db = openCloudDb(path.join(dir, 'cloud.db'), features);
  db.pragma('busy_timeout = 50');
  return db;
}
const ctxOf = (db: CloudDb, dir: string) => ({
  db, dataDir: dir, log, metrics: new Registry(), devices: new DeviceRegistry(db), readiness: new Map(),
  commands: { publishCommand: async () => {} }, publish: async () => {},
}) as unknown as CloudContext;
const idOf = (items: readonly SpooledItem[], k: number) => items[k].item.id;

// ---- series → embedded SQLite series store -------------------------------------------------------
sinkConformance(seriesSinkCase('series → embedded SQLite store (series.db)', async (dir) => {
  const file = path.join(dir, 'series.db');
  const store = new SqliteStore(file);
  return {
    store,
    faults: [
      // after the first samples of the write went in (new series rows included): the transaction aborts
      triggerFault(file, 'samples insert aborts at a later point of the batch (SQLite trigger)', 'BEFORE INSERT ON samples WHEN NEW.value = 99'),
      triggerFault(file, 'samples insert aborts in the middle of the batch (SQLite trigger)', `BEFORE INSERT ON samples WHEN NEW.time = ${T0 + 3 * 60_000} AND NEW.field = 'flag'`),
      // (no lock fault here: the store waits out better-sqlite3's 5 s busy timeout, then fails at its first statement)
    ],
  };
}, T0));

// ---- events, alerts and command results → the events table --------------------------------------
{
  const items = [
    ...spooled('street-north', T0 + 500, [
      { kind: 'event', ts: T0, type: 'zone.dwell', source: 'cam-1', phase: 'start', key: 'k1', data: { zone: 'gate' } },
      { kind: 'alert', ts: T0 + 1, rule: 'pm25-1h', source: 's1/PM2.5', state: 'raise', severity: 'critical', message: 'high', data: { value: 160 } },
      { kind: 'cmdres', ts: T0 + 2, cmdId: 'cmd-1', ok: true, result: { previous: 'nanodet@1' } },
      { kind: 'event', ts: T0 + 3, type: 'zone.dwell', source: 'cam-1', phase: 'end', key: 'k1', data: {} },
    ]),
    ...spooled('street-south', T0 + 900, [
      { kind: 'event', ts: T0 + 4, type: 'camera.offline', source: 'cam-9', phase: 'instant', data: {} },
      { kind: 'alert', ts: T0 + 5, rule: 'pm25-1h', source: 's1/PM2.5', state: 'clear', severity: 'critical', message: 'ok', data: {} },
      { kind: 'cmdres', ts: T0 + 6, cmdId: 'cmd-2', ok: false, result: { code: 'EDGE_UNKNOWN_COMMAND' } },
      { kind: 'event', ts: T0 + 7, type: 'crowd', source: 'cam-9', phase: 'instant', data: { n: 31 } },
    ], 50),
  ];
  sinkConformance({
    name: 'events → cloud.db events table',
    items,
    anyOrder: true,
    async open(dir) {
      const db = cloudDb(dir, []);
      const file = path.join(dir, 'cloud.db');
      return {
        sink: eventsSink(db),
        read: async () => db.prepare('SELECT * FROM events ORDER BY id').all(),
        faults: [triggerFault(file, 'events insert aborts at the 7th item (SQLite trigger)', `BEFORE INSERT ON events WHEN NEW.id = '${idOf(items, 6)}'`), lockFault(file)],
        close: async () => { db.close(); },
      };
    },
  });
}

// ---- snapshots → content-addressed files + events rows ------------------------------------------
{
  const jpeg = (n: number) => Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), crypto.createHash('sha256').update(`frame ${n}`).digest(), Buffer.from([0xff, 0xd9])]);
  const raw = [0, 1, 2, 1, 3, 4].map((n, i) => ({ kind: 'snapshot', ts: T0 + i, ref: `0190c0de-0000-7000-8000-0000000000e${i}`, role: i % 2 ? 'crop' : 'frame', contentType: 'image/jpeg', data: jpeg(n).toString('base64') }));
  const items = spooled('street-north', T0 + 700, raw);
  const prefix = (k: number) => crypto.createHash('sha256').update(Buffer.from((items[k].item as { data: string }).data, 'base64')).digest('hex').slice(0, 2);
  // the item whose shard directory the file-system fault blocks: in the second half, its prefix used by no other item
  const blocked = [4, 5, 3].find((k) => items.every((_, j) => j === k || prefix(j) !== prefix(k)));
  if (blocked === undefined) throw new Error('test data: no snapshot with a prefix of its own');
  sinkConformance({
    name: 'snapshots → files (sha256 names) + events rows',
    items,
    anyOrder: true,
    async open(dir) {
      const db = cloudDb(dir, []);
      const file = path.join(dir, 'cloud.db');
      const snaps = path.join(dir, 'snapshots');
      const inTheWay = path.join(snaps, prefix(blocked));
      const fsFault: SinkFault = {
        name: `a file where item ${blocked + 1}'s shard directory goes (the file system refuses)`,
        arm: () => { fs.mkdirSync(snaps, { recursive: true }); fs.writeFileSync(inTheWay, 'not a directory'); },
        disarm: () => fs.rmSync(inTheWay),
      };
      return {
        sink: snapshotSink(db, snaps),
        async read() {
          const files: string[] = [];
          const walk = (d: string) => { for (const e of fs.readdirSync(d, { withFileTypes: true })) e.isDirectory() ? walk(path.join(d, e.name)) : files.push(path.relative(snaps, path.join(d, e.name))); };
          walk(snaps);
          const stored = files.filter((f) => f.endsWith('.jpg')).sort().map((f) => ({ f, sha256: crypto.createHash('sha256').update(fs.readFileSync(path.join(snaps, f))).digest('hex') }));
          for (const s of stored) expect(s.f).toBe(path.join(s.sha256.slice(0, 2), `${s.sha256}.jpg`));
          return { rows: db.prepare('SELECT * FROM events ORDER BY id').all(), files: stored };
        },
        faults: [triggerFault(file, 'events insert aborts at the 5th snapshot, after its file was written (SQLite trigger)', `BEFORE INSERT ON events WHEN NEW.id = '${idOf(items, 4)}'`), lockFault(file), fsFault],
        close: async () => { db.close(); },
      };
    },
  });
}

// ---- alerts feature: alert items → alert lifecycle + notification queue --------------------------
{
  const a = (site: string, rule: string, source: string, state: 'raise' | 'clear', i: number, severity = 'warning') => ({ site, kind: 'alert', ts: T0 + i * 60_000, rule, source, state, severity, message: `${source} ${state} ${i}`, data: { i } });
  const seq = [
    a('env-a', 'pm25-1h', 's1/PM2.5', 'raise', 0),             // opens #1
    a('env-a', 'pm25-1h', 's1/PM2.5', 'raise', 1, 'critical'), // refreshes #1 (severity up, no notification)
    a('env-a', 'so2-1h', 's1/SO2', 'raise', 2),                // opens #2
    a('env-b', 'pm25-1h', 's1/PM2.5', 'raise', 3),             // another site: opens #3
    a('env-a', 'pm25-1h', 's1/PM2.5', 'clear', 4),             // resolves #1 by data
    a('env-a', 'no2-1h', 's2/NO2', 'clear', 5),                // clear without raise: ignored
    a('env-a', 'pm25-1h', 's1/PM2.5', 'raise', 6),             // a new situation: opens #4
    a('env-a', 'so2-1h', 's1/SO2', 'clear', 7),                // resolves #2
  ];
  const items = seq.map(({ site, ...it }, i) => spooled(site, T0 + 10_000 + i, [it], 200 + i)[0]);
  sinkConformance({
    name: 'alerts → alert lifecycle and notification queue (cloud.db)',
    items,
    async open(dir) {
      const db = cloudDb(dir);
      const file = path.join(dir, 'cloud.db');
      const feature = alertsFeature({ escalation: false, mqtt: { enabled: false }, webhooks: [{ name: 'duty', url: 'http://127.0.0.1:9/hook', secret: 'conformance-secret-0001' }] }, { now: () => T0 + 3600_000 });
      const [sink] = feature.sinks!(ctxOf(db, dir));
      return {
        sink,
        async read() {
          const notes = (db.prepare('SELECT target, alert_id, event, state, body FROM alert_notifications ORDER BY created, rowid').all() as Array<{ body: string }>)
            .map(({ body, ...n }) => { const { id: _id, ...b } = JSON.parse(body); return { ...n, body: b }; });
          return {
            alerts: db.prepare('SELECT * FROM alerts ORDER BY id').all(),
            history: db.prepare('SELECT alert_id, at, action, actor, note, item_id, data FROM alert_history ORDER BY id').all(),
            notifications: notes,
            seen: db.prepare('SELECT id, received FROM alert_items_seen ORDER BY id').all(),
          };
        },
        faults: [
          triggerFault(file, 'alert history insert aborts at the 7th item (SQLite trigger)', `BEFORE INSERT ON alert_history WHEN NEW.item_id = '${idOf(items, 6)}'`),
          triggerFault(file, 'the notification queue refuses the 2nd-half resolution (SQLite trigger)', "BEFORE INSERT ON alert_notifications WHEN NEW.event = 'resolved' AND NEW.alert_id = 2"),
          lockFault(file),
        ],
        close: async () => { await feature.stop?.(); db.close(); },
      };
    },
  });
}

// ---- GBFS feature: bike_station telemetry → live station status (in memory) ----------------------
{
  const stations = ['st-1', 'st-2', 'st-3'].map((id, i) => ({ station_id: id, name: `Station ${i + 1}`, lat: 59.9 + i / 100, lon: 10.7, capacity: 20 }));
  const bike = (station: string, i: number, bikes: number) => ({ kind: 'telemetry', ts: T0 + i * 60_000, m: 'bike_station', tags: { station }, fields: { num_bikes_available: bikes, num_bikes_disabled: 0, num_docks_available: 20 - bikes, num_docks_disabled: 0, is_renting: true, last_reported: T0 + i * 60_000 - 500 } });
  const items = spooled('bikes-oslo', T0 + 20_000, [
    bike('st-1', 0, 5), bike('st-2', 0, 7), bike('st-1', 2, 4),
    { kind: 'telemetry', ts: T0, m: 'air', tags: { station: 'st-1' }, fields: { pm25: 3 } }, // another measurement: not the sink's
    bike('st-1', 1, 9),   // older than the stored one: ignored
    bike('st-9', 1, 2),   // not in station_information: ignored
    bike('st-3', 3, 11), bike('st-2', 4, 6),
  ]);
  /** The store a fault can make throw, the way a bug or an exhausted process would. */
  class FallibleStationStore extends GbfsStationStore {
    failAt?: string;
    override applyItem(site: string, item: BikeTelemetryLike): boolean {
      if (this.failAt && item.tags.station === this.failAt && item.ts === T0 + 3 * 60_000) throw new Error('injected fault: station store failed');
      return super.applyItem(site, item);
    }
  }
  sinkConformance({
    name: 'gbfs → station status (in memory, refilled after a restart)',
    items,
    async open() {
      const store = new FallibleStationStore({ stations, infoUpdated: T0 });
      return {
        sink: gbfsSink(store),
        read: async () => ({ statuses: store.statuses(), lastUpdated: store.lastUpdated() }),
        faults: [{ name: 'the station store throws at the 7th item', arm: () => { store.failAt = 'st-3'; }, disarm: () => { store.failAt = undefined; } }],
        close: async () => {},
      };
    },
  });
}

// ---- models feature: cmdres → rollout site state, model_stats → gate statistics ------------------
{
  const now = Date.now();
  const TS = now - 3600_000; // inside statsRetentionMs: the engine's tick prunes older stats
  const stats = (i: number, model = 'yolox', version = '2.0.0') => ({ kind: 'telemetry', ts: TS + i * 60_000, m: 'model_stats', tags: { model, version, slot: 'main' }, fields: { frames: 300 + i, errors: i % 2, detections: 40 + i, p95_ms: 20 + i, fps: 5, window_ms: 60_000 } });
  const cmdres = (cmdId: string, ok: boolean, result: Record<string, unknown>, i: number) => ({ kind: 'cmdres', ts: TS + i * 1000, cmdId, ok, result });
  const items = [
    ...spooled('cam-a', TS + 100, [cmdres('cmd-a', true, { previous: 'nanodet@1.0.0' }, 0), stats(1), stats(2)]),
    ...spooled('cam-b', TS + 200, [cmdres('cmd-b', false, { code: 'EDGE_UNKNOWN_COMMAND', message: 'starting' }, 1)], 20),
    ...spooled('cam-a', TS + 300, [cmdres('cmd-b', true, {}, 2)], 30), // a result for another site's command: ignored
    ...spooled('cam-b', TS + 400, [cmdres('cmd-b', true, { previous: 'nanodet@1.0.0' }, 3), { kind: 'telemetry', ts: TS, m: 'camera_stats', tags: { camera: 'gate' }, fields: { fps: 5 } }], 40),
    ...spooled('cam-c', TS + 500, [cmdres('cmd-c', true, {}, 4), stats(3, 'nanodet', '1.0.0')], 50),
    ...spooled('cam-d', TS + 600, [cmdres('cmd-d', false, { code: 'MODEL_SELF_TEST_FAILED' }, 5), cmdres('cmd-unknown', true, {}, 6)], 60),
  ];
  sinkConformance({
    name: 'model-rollouts → rollout site states and gate statistics (cloud.db)',
    items,
    async open(dir) {
      const db = cloudDb(dir);
      const file = path.join(dir, 'cloud.db');
      const feature = modelsFeature({}, dir);
      const [sink] = feature.sinks!(ctxOf(db, dir));
      const store = feature.engine().store;
      if (!store.get('r1')) {
        // a paused rollout waiting for results (paused: the engine's timer would not step it either)
        const spec = { gates: { minFrames: 20, maxErrorRate: 0.01, latencyFactor: 1, minFpsRatio: 0.8, maxDetectionDrift: 0.5 }, observeMs: 1000, batchSize: 2, maxFailures: 0 };
        store.insert({ id: 'r1', name: 'yolox', version: '2.0.0', digest: 'd'.repeat(64), size: 1, budget: 50, state: 'paused', resumeTo: 'canary', reason: null, spec, created: TS, updated: TS, by: 'ops' },
          [{ site: 'cam-a', stage: 'canary' }, { site: 'cam-b', stage: 'rest' }, { site: 'cam-c', stage: 'rest' }, { site: 'cam-d', stage: 'rest' }]);
        const cmd = (id: string, name = 'model.deploy') => ({ v: 1 as const, id, name, args: {}, issuedAt: TS, expiresAt: TS + 600_000 });
        for (const s of ['a', 'b', 'd']) store.updateSite('r1', `cam-${s}`, { state: 'deploying', cmd: cmd(`cmd-${s}`), sentAt: TS, lastSent: TS });
        store.updateSite('r1', 'cam-c', { state: 'rolling_back', cmd: cmd('cmd-c', 'model.rollback'), sentAt: TS, lastSent: TS });
      }
      return {
        sink,
        read: async () => ({
          rollouts: db.prepare('SELECT id, state, resume_to, reason FROM model_rollouts ORDER BY id').all(),
          sites: db.prepare('SELECT rollout, site, stage, state, cmd_id, sent_at, deployed_at, prev, result, gates FROM model_rollout_sites ORDER BY rollout, site').all(),
          stats: db.prepare('SELECT * FROM model_site_stats ORDER BY site, model, version, ts').all(),
        }),
        faults: [
          triggerFault(file, 'model_site_stats insert aborts at cam-c\'s stats (SQLite trigger)', `BEFORE INSERT ON model_site_stats WHEN NEW.site = 'cam-c'`),
          triggerFault(file, 'the rollout site update for cam-d aborts (SQLite trigger)', "BEFORE UPDATE ON model_rollout_sites WHEN NEW.site = 'cam-d'"),
          lockFault(file),
        ],
        close: async () => { await feature.stop?.(); db.close(); },
      };
    },
  });
}

// ---- hj212 feature: hj212 telemetry → records per (MN, period, DataTime) + upstream outboxes; cmdres → command answers
{
  const MN1 = 'MN0000000000000000000001', MN2 = 'MN0000000000000000000002';
  const hour = (mn: string, i: number, code: string, fields: Record<string, unknown>) => ({ kind: 'telemetry', ts: T0 + i * 3600_000, m: 'hj212', tags: { station: mn, pollutant: code === 'a21026' ? 'SO2' : 'O2', code, period: 'hour' }, fields: { qc: 'ok', ...fields } });
  const items = [
    ...spooled('env-north', T0 + 10_000, [
      hour(MN1, 0, 'a21026', { avg: 20, min: 18, max: 25, flag: 'N', zsAvg: 24, o2: 9, zsSource: 'computed' }),
      hour(MN1, 0, 'a19001', { avg: 9, flag: 'N' }),
      hour(MN1, 1, 'a21026', { avg: 40, flag: 'D' }),
      { kind: 'telemetry', ts: T0, m: 'air', tags: { station: 's1' }, fields: { pm25: 3 } }, // not hj212: ignored
      { kind: 'cmdres', ts: T0 + 5000, cmdId: 'cmd-1', ok: true, result: { mn: MN1, cn: '1012', qnRtn: 1, exeRtn: 1 } },
    ]),
    ...spooled('env-north', T0 + 20_000, [
      hour(MN1, 1, 'a19001', { avg: 10, flag: 'N' }),
      { kind: 'telemetry', ts: T0 + 60_000, m: 'hj212', tags: { station: MN2, pollutant: 'SO2', code: 'a21026', period: 'min' }, fields: { avg: 5, flag: 'N', qc: 'ok' } },
      hour(MN1, 0, 'a21026', { avg: 21, min: 18, max: 25, flag: 'N', resent: true }), // re-sent by the logger: same record, newer item wins
      { kind: 'cmdres', ts: T0 + 6000, cmdId: 'cmd-unknown', ok: false, result: { code: 'HJ212_TIMEOUT' } }, // no such command: ignored
      { kind: 'cmdres', ts: T0 + 7000, cmdId: 'cmd-2', ok: false, result: { code: 'HJ212_TIMEOUT', message: 'logger did not answer' } },
    ], 20),
  ];
  const config = {
    enterprises: [{ id: 'e1', name: '某热电有限公司', outlets: [{ id: 'DA001', name: '1号锅炉排放口', mn: MN1, kind: 'gas', o2Ref: 6, limits: { a21026: 35 } }, { id: 'DA002', name: '2号锅炉排放口', mn: MN2, kind: 'gas' }] }],
    upstreams: [
      { id: 'province', host: '127.0.0.1', port: 9, revision: '2017', password: 'pw' },
      { id: 'nation', host: '127.0.0.1', port: 9, revision: '2017', password: 'pw', stations: [MN1], periods: ['hour'] },
    ],
  };
  sinkConformance({
    name: 'hj212 → records, upstream outboxes and command answers (cloud.db)',
    items,
    async open(dir) {
      const db = cloudDb(dir, [HJ212_SCHEMA]);
      const file = path.join(dir, 'cloud.db');
      const feature = hj212Feature(config);
      const [sink] = feature.sinks!(ctxOf(db, dir));
      for (const id of ['cmd-1', 'cmd-2']) db.prepare("INSERT OR IGNORE INTO hj212_commands (id, mn, site, action, cn, cp, by, at, state) VALUES (?, ?, 'env-north', 'clock.set', '1012', '{}', 'ops', ?, 'sent')").run(id, MN1, T0);
      return {
        sink,
        read: async () => ({
          records: db.prepare('SELECT * FROM hj212_records ORDER BY mn, period, ts').all(),
          outbox: db.prepare('SELECT upstream, mn, period, ts, state, attempts, resent FROM hj212_outbox ORDER BY upstream, mn, period, ts').all(),
          commands: db.prepare('SELECT id, state, ok, result, answered_at FROM hj212_commands ORDER BY id').all(),
        }),
        faults: [
          triggerFault(file, 'the record insert aborts at the second hour (SQLite trigger)', `BEFORE INSERT ON hj212_records WHEN NEW.ts = ${T0 + 3600_000}`),
          triggerFault(file, "the outbox insert for MN2's minute record aborts (SQLite trigger)", "BEFORE INSERT ON hj212_outbox WHEN NEW.period = 'min'"),
          triggerFault(file, 'the command answer update aborts (SQLite trigger)', "BEFORE UPDATE ON hj212_commands WHEN NEW.id = 'cmd-2'"),
          lockFault(file),
        ],
        close: async () => { await feature.stop?.(); db.close(); },
      };
    },
  });
}
