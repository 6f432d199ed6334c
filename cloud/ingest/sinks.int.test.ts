/**
 * The series sink on a real InfluxDB 1.x (test/peers/influx.ts) through the one sink conformance
 * suite (test/support/sink-conformance.ts); the other sinks run in sinks.test.ts. Faults sit in
 * the network between the store and influxd: a TCP proxy that loses InfluxDB's reply to a write
 * it applied (the crash between "written" and "spool row deleted"), or that refuses connections
 * (influxd down).
 */
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { InfluxPeer } from '../../test/peers/influx.ts';
import { seriesSinkCase, sinkConformance } from '../../test/support/sink-conformance.ts';
import { InfluxStore } from '../store/influx-store.ts';

type Mode = 'pass' | 'lose-reply' | 'down';

/** A loopback TCP proxy in front of influxd whose behaviour a test switches. */
class FaultyProxy {
  mode: Mode = 'pass';
  port = 0;
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly target: () => number) {}
  get url(): string { return `http://127.0.0.1:${this.port}`; }

  async start(): Promise<void> {
    this.server = net.createServer((client) => {
      this.sockets.add(client);
      client.on('close', () => this.sockets.delete(client));
      if (this.mode === 'down') { client.resetAndDestroy(); return; }
      const upstream = net.connect(this.target(), '127.0.0.1');
      this.sockets.add(upstream);
      upstream.on('close', () => { this.sockets.delete(upstream); client.destroy(); });
      client.on('close', () => upstream.destroy());
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.on('data', (b) => { if (this.mode === 'down') { client.resetAndDestroy(); upstream.destroy(); } else upstream.write(b); });
      // influxd answers only after it applied the write: in lose-reply mode that answer never arrives
      upstream.on('data', (b) => { if (this.mode === 'pass') client.write(b); else { client.resetAndDestroy(); upstream.destroy(); } });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server!.address() as net.AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

const influx = new InfluxPeer();
const proxy = new FaultyProxy(() => influx.httpPort);
beforeAll(async () => { await influx.start(); await proxy.start(); });
afterAll(async () => { await proxy.stop(); await influx.stop(); });

sinkConformance(seriesSinkCase('series → InfluxDB 1.x (real influxd)', async (dir) => ({
  // one database per backing store; a restart (same dir) reopens the same database
  store: new InfluxStore(proxy.url, `sinks_${path.basename(dir).replace(/[^A-Za-z0-9]/g, '_')}`),
  faults: [
    { name: 'influxd applies the write but its reply is lost (connection reset)', arm: () => { proxy.mode = 'lose-reply'; }, disarm: () => { proxy.mode = 'pass'; } },
    { name: 'influxd unreachable (connections refused)', arm: () => { proxy.mode = 'down'; }, disarm: () => { proxy.mode = 'pass'; } },
  ],
})));

it('the lose-reply fault is what it claims: the write is rejected, yet influxd stored it', async () => {
  const direct = new InfluxStore(influx.url, 'sinks_fault_check');
  const viaProxy = new InfluxStore(proxy.url, 'sinks_fault_check');
  await direct.init();
  proxy.mode = 'lose-reply';
  try {
    await expect(viaProxy.write([{ measurement: 'air', tags: { site: 'x' }, fields: { pm25: 1 }, time: Date.UTC(2024, 0, 1) }])).rejects.toThrow();
  } finally {
    proxy.mode = 'pass';
  }
  const r = await direct.query({ measurement: 'air', fields: ['pm25'], from: Date.UTC(2024, 0, 1), to: Date.UTC(2024, 0, 2) });
  expect(r.series[0].values).toEqual([[Date.UTC(2024, 0, 1), 1]]);
});
