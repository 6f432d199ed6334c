/**
 * Bench: a simulated city of 1,058 stations / 26,000 docks. 1,058 DOCK/1 controllers over
 * real TCP → dock server → edge station state → bike_station items → cloud GBFS store →
 * station_status over HTTP (fastify on a real socket).
 *
 * Measures (1) events/s end to end and in-process (parse + state, no TCP), (2) p50/p95/p99
 * latency of GET /gbfs/en/station_status.json for the whole city while events keep flowing,
 * against the physical limit: JSON.stringify of the same feed object (and the pure build).
 */
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import Fastify from 'fastify';
import { DockServer } from '../firmware-bridge/dock/server.ts';
import { DockController, rng } from '../firmware-bridge/dock/simulator.ts';
import { formatLine, parseLine } from '../firmware-bridge/dock/protocol.ts';
import type { DataMsg } from '../firmware-bridge/dock/server.ts';
import { BikeSite } from '../edge/bikes/site.ts';
import { GbfsStationStore, type StationInfo } from '../cloud/gbfs/store.ts';
import { gbfsRoutes } from '../cloud/gbfs/routes.ts';
import { stationStatusV2 } from '../cloud/gbfs/feeds.ts';

const STATIONS = 1058;
const DOCKS = 26_000;
const BIKES_DOCKED = 15_600; // of ~20,000 bikes, 60 % of docks occupied
/** A city this size does ~70k trips/day, ~7k in the peak hour: ~4 dock events/s. */
const REALISTIC_PEAK_EVENTS_S = 4;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
const ms = (ns: bigint): number => Number(ns) / 1e6;

function city() {
  const r = rng(42);
  const info: StationInfo[] = [];
  const layouts: string[] = [];
  let docksLeft = DOCKS;
  let bikesLeft = BIKES_DOCKED;
  for (let i = 0; i < STATIONS; i++) {
    const left = STATIONS - i;
    const cap = i === STATIONS - 1 ? docksLeft : Math.max(10, Math.min(40, Math.round(docksLeft / left + (r() - 0.5) * 12)));
    const bikes = i === STATIONS - 1 ? Math.min(cap, bikesLeft) : Math.min(cap - 1, Math.round((bikesLeft / left) * (0.5 + r())));
    docksLeft -= cap;
    bikesLeft -= bikes;
    info.push({ station_id: `S${String(i + 1).padStart(4, '0')}`, name: `Station ${i + 1}`, lat: 30.2 + r() * 0.3, lon: 120.0 + r() * 0.3, capacity: cap });
    layouts.push('B'.repeat(bikes) + 'E'.repeat(cap - bikes));
  }
  return { info, layouts };
}

function getOnce(agent: http.Agent, port: number, path: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => { bytes += c.length; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
    });
    req.on('error', reject);
  });
}

/** One rental + one return at a station (net zero), on random docks. */
function churn(c: DockController, r: () => number): number {
  const b: number[] = []; const e: number[] = [];
  c.state.forEach((s, i) => (s === 'B' ? b : s === 'E' ? e : null)?.push(i + 1));
  if (!b.length || !e.length) return 0;
  const from = b[Math.floor(r() * b.length)];
  const to = e[Math.floor(r() * e.length)];
  const bike = c.release(from, `C${Math.floor(r() * 1e8)}`);
  c.dock(to, bike || undefined);
  return 2;
}

export async function run(): Promise<Record<string, unknown>> {
  const { info, layouts } = city();
  const site = new BikeSite({ cardKey: 'bench-card-key-0123456789', stations: info.map((s) => ({ id: s.station_id, docks: s.capacity! })) });
  const server = new DockServer(site.handler, { maxConnections: 2000 });
  const port = await server.listen();
  const store = new GbfsStationStore({ stations: info });
  let applied = 0;
  const pump = (): void => {
    site.tick();
    for (const it of site.drain()) if (it.kind === 'telemetry' && it.m === 'bike_station') { store.applyItem('city', it); applied++; }
  };
  const r = rng(7);
  const ctls = info.map((s, i) => new DockController({ station: s.station_id, docks: layouts[i], port, boot: 'bench', answerPoll: false }));
  for (let i = 0; i < ctls.length; i += 100) await Promise.all(ctls.slice(i, i + 100).map((c) => c.connect()));
  for (const c of ctls) c.status();
  await Promise.all(ctls.map((c) => c.drain()));
  pump();

  // (1a) throughput end to end over TCP: 40 events per station as fast as the controllers can send.
  const perStation = 40;
  const t0 = process.hrtime.bigint();
  let events = 0;
  for (const c of ctls) { c.cork(); for (let k = 0; k < perStation / 2; k++) events += churn(c, r); c.uncork(); }
  await Promise.all(ctls.map((c) => c.drain(60_000)));
  pump();
  const e2eMs = ms(process.hrtime.bigint() - t0);
  const e2eRate = events / (e2eMs / 1000);

  // (1b) in-process: parse + station state + drain, no sockets (the same kind of lines).
  const lines: { station: string; line: string }[] = [];
  for (const c of ctls.slice(0, 200)) {
    for (let k = 0; k < 100; k++) {
      const d = 1 + Math.floor(r() * c.state.length);
      lines.push({ station: c.station, line: formatLine({ verb: 'RELEASED', seq: 1, dock: d, card: 'CARD1234', t: Date.now() }) });
      lines.push({ station: c.station, line: formatLine({ verb: 'DOCKED', seq: 1, dock: d, bike: 'ABCD1234', t: Date.now() }) });
    }
  }
  const site2 = new BikeSite({ cardKey: 'bench-card-key-0123456789', stations: info.map((s) => ({ id: s.station_id, docks: s.capacity! })) });
  const t1 = process.hrtime.bigint();
  for (const l of lines) site2.handler.message!(l.station, parseLine(l.line) as DataMsg, { lost: 0 });
  site2.drain();
  const inprocRate = lines.length / (ms(process.hrtime.bigint() - t1) / 1000);

  // consistency: the cloud store equals the controllers' truth
  const consistent = ctls.every((c) => store.get(c.station)?.num_bikes_available === c.state.filter((s) => s === 'B').length);

  // (2) serving station_status for the whole city over a real socket, events flowing at 50× realistic peak.
  const app = Fastify();
  await app.register(gbfsRoutes, { state: store, system: { system_id: 'bench', name: 'Bench City', language: 'en', timezone: 'Asia/Shanghai', feed_contact_email: 'ops@example.org' } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const httpPort = (app.server.address() as { port: number }).port;
  const bgRate = REALISTIC_PEAK_EVENTS_S * 50;
  let bgEvents = 0;
  // every 20 ms, bgRate × 0.02 events (one churn = a rental + a return = 2 events)
  const bg = setInterval(() => { for (let k = 0; k < bgRate * 0.02; k += 2) bgEvents += churn(ctls[Math.floor(r() * ctls.length)], r); }, 20);
  const pumpTimer = setInterval(pump, 100);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const served: number[] = [];
  let bytes = 0;
  for (let i = 0; i < 30; i++) await getOnce(agent, httpPort, '/gbfs/en/station_status.json'); // warm-up
  for (let i = 0; i < 1000; i++) {
    const s = process.hrtime.bigint();
    const res = await getOnce(agent, httpPort, '/gbfs/en/station_status.json');
    served.push(ms(process.hrtime.bigint() - s));
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
    bytes = res.bytes;
  }
  clearInterval(bg);
  clearInterval(pumpTimer);
  agent.destroy();
  await Promise.all(ctls.map((c) => c.drain(60_000)));
  pump();
  const consistentAfterLoad = ctls.every((c) => store.get(c.station)?.num_bikes_available === c.state.filter((s) => s === 'B').length && store.get(c.station)?.num_docks_available === c.state.filter((s) => s === 'E').length);

  // physical limits on the same data: build the object, and JSON.stringify it
  const build: number[] = [];
  const stringify: number[] = [];
  for (let i = 0; i < 300; i++) {
    const a = process.hrtime.bigint();
    const doc = stationStatusV2(store.statuses(), store.lastUpdated(), 10);
    const b = process.hrtime.bigint();
    JSON.stringify(doc);
    const c = process.hrtime.bigint();
    build.push(ms(b - a));
    stringify.push(ms(c - b));
  }

  await app.close();
  for (const c of ctls) c.close();
  await server.close();

  const fig = {
    stations: STATIONS, docks: DOCKS, feedBytes: bytes,
    e2eEvents: events, e2eEventsPerS: Math.round(e2eRate), inprocEventsPerS: Math.round(inprocRate),
    realisticPeakEventsPerS: REALISTIC_PEAK_EVENTS_S, headroomVsPeak: Math.round(e2eRate / REALISTIC_PEAK_EVENTS_S),
    bgEventsPerSDuringServe: bgRate, bgEvents, itemsApplied: applied, consistent, consistentAfterLoad, serveRequests: served.length,
    serveP50Ms: +pct(served, 50).toFixed(3), serveP95Ms: +pct(served, 95).toFixed(3), serveP99Ms: +pct(served, 99).toFixed(3),
    buildP50Ms: +pct(build, 50).toFixed(3), buildP95Ms: +pct(build, 95).toFixed(3), stringifyP50Ms: +pct(stringify, 50).toFixed(3), stringifyP95Ms: +pct(stringify, 95).toFixed(3),
    serveVsStringifyP95: +(pct(served, 95) / pct(stringify, 95)).toFixed(2),
    serveP95VsGoal1s: +(pct(served, 95) / 1000).toFixed(4),
    badLines: server.stats().badLines,
  };
  console.log('\nbikes bench — 1,058 stations / 26,000 docks');
  console.table({
    'events/s end to end (TCP → state → cloud store)': { value: fig.e2eEventsPerS },
    'events/s in-process (parse + state)': { value: fig.inprocEventsPerS },
    'realistic city peak events/s': { value: REALISTIC_PEAK_EVENTS_S },
    'station_status over HTTP p50 ms': { value: fig.serveP50Ms },
    'station_status over HTTP p95 ms': { value: fig.serveP95Ms },
    'station_status over HTTP p99 ms': { value: fig.serveP99Ms },
    'build feed object p95 ms': { value: fig.buildP95Ms },
    'JSON.stringify same object p50 ms (limit)': { value: fig.stringifyP50Ms },
    'JSON.stringify same object p95 ms (limit)': { value: fig.stringifyP95Ms },
    'feed bytes': { value: bytes },
  });
  console.log(JSON.stringify({ bench: 'bikes', ...fig }));
  return fig;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await run();
