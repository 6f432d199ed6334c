import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, tempDir, waitFor } from '../../test/peers/ports.ts';
import { OwnedProcess } from '../../test/peers/process.ts';
import { memoryContext } from '../../test/support/source-context.ts';
import { checkers } from '../../protocol/schemas.ts';
import { type OpcuaSource, opcuaFactory } from '../../edge/sources/opcua.ts';
import type { SimConfig } from './simulator.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const procs: OwnedProcess[] = [];
const pki = tempDir('opcua-pki-');

async function startSim(cfg: SimConfig): Promise<OwnedProcess> {
  const p = new OwnedProcess(process.execPath, [path.join(ROOT, 'bin', 'run-ts.mjs'), path.join(ROOT, 'firmware-bridge', 'opcua', 'simulator.ts'), JSON.stringify(cfg)]);
  procs.push(p);
  await waitFor(() => { if (!p.alive) throw new Error(p.log); return p.log.includes('listening'); }, { what: 'OPC UA sim server', timeoutMs: 60_000 });
  return p;
}
afterAll(async () => { for (const p of procs) await p.stop(); });

describe('OPC UA source against a node-opcua server (child process)', () => {
  it('maps monitored items to readings with flags from status codes; recovers from a server restart and a server-side session close', async () => {
    const port = await freePort();
    const sim: SimConfig = {
      port, intervalMs: 100, pkiDir: path.join(pki, 'server'),
      items: [
        { id: 'FQ01.SO2', base: 30, amplitude: 5 },
        { id: 'FQ01.NOx', base: 250, amplitude: 10 },
        { id: 'FQ01.Dust', base: 500, amplitude: 1, status: 'UncertainSensorCalibration' },
        { id: 'FQ01.CO', base: 1, status: 'BadSensorFailure', nullWhenBad: true },
      ],
    };
    let server = await startSim(sim);
    const { ctx, items } = memoryContext({ stateDir: tempDir('opcua-state-') });
    const item = (id: string, pollutant: string) => ({ nodeId: `ns=1;s=${id}`, station: 'plant7', outlet: 'FQ01', pollutant, unit: 'mg/m3' });
    const src = opcuaFactory.create({
      type: 'opcua', id: 'cems1', endpointUrl: `opc.tcp://127.0.0.1:${port}/cityedge/sim`,
      items: [item('FQ01.SO2', 'SO2'), item('FQ01.NOx', 'NOx'), item('FQ01.Dust', 'Dust'), item('FQ01.CO', 'CO'), item('FQ01.Missing', 'HCl')],
      samplingIntervalMs: 100, publishingIntervalMs: 100, maxKeepAliveCount: 3, staleAfterMs: 1500,
      reconnect: { initialDelayMs: 200, maxDelayMs: 1000 },
      pipeline: { aggregate: false, alerts: [
        { id: 'limit', kind: 'limit', match: { pollutant: ['NOx', 'Dust'] }, limit: 200, consecutive: 2 },
        { id: 'instrument', kind: 'instrument', match: {} },
      ] },
    }) as OpcuaSource;
    expect(opcuaFactory.type).toBe('opcua');
    await src.start(ctx);

    const tel = () => items.filter((i) => i.kind === 'telemetry') as any[];
    const latest = (p: string) => tel().filter((t) => t.tags.pollutant === p).at(-1);
    // CO is a constant Bad/null: OPC UA's default data-change trigger (StatusValue) reports it once.
    const n = (p: string) => tel().filter((t) => t.tags.pollutant === p).length;
    await waitFor(() => n('SO2') >= 3 && n('NOx') >= 3 && n('Dust') >= 3 && n('CO') >= 1, { what: 'readings of all items', timeoutMs: 30_000 });
    expect(latest('SO2').fields).toMatchObject({ flag: 'N', unit: 'mg/m3' });
    expect(latest('SO2').fields.value).toBeGreaterThanOrEqual(25);
    expect(latest('SO2').fields.value).toBeLessThanOrEqual(35);
    expect(latest('Dust').fields).toMatchObject({ flag: 'C', status: 'UncertainSensorCalibration' });
    expect(latest('CO').fields).toMatchObject({ flag: 'D', status: 'BadSensorFailure', qc: 'not_finite' });
    expect(latest('CO').fields.value).toBeUndefined();
    expect(latest('SO2').tags).toEqual({ station: 'plant7', outlet: 'FQ01', pollutant: 'SO2' });
    for (const i of items) expect(checkers.item.Check(i)).toBe(true);
    const alerts = () => (items.filter((i) => i.kind === 'alert') as any[]).map((a) => `${a.rule}:${a.state}:${a.data.pollutant}`).sort();
    // NOx exceeds; Dust is above the limit too but in calibration → instrument alert, no exceedance.
    expect(alerts()).toEqual(['instrument:raise:CO', 'instrument:raise:Dust', 'limit:raise:NOx']);
    const h0 = src.health() as any;
    expect(h0.errors.OPCUA_MONITOR).toBe(1);
    expect(h0.sessionsCreated).toBe(1);

    // Server restart: the new server knows nothing of our session or subscription.
    await server.stop();
    await waitFor(() => (src.health() as any).connectionLost >= 1, { what: 'connection lost', timeoutMs: 20_000 });
    const restartedAt = Date.now();
    server = await startSim(sim);
    await waitFor(() => tel().some((t) => t.tags.pollutant === 'SO2' && t.ts > restartedAt + 200), { what: 'readings after the restart', timeoutMs: 60_000 });
    const h1 = src.health() as any;
    expect(h1.connected).toBe(true);
    expect(h1.reconnects + h1.rebuilds).toBeGreaterThanOrEqual(1);
    // One raise per situation across the outage.
    expect(alerts()).toEqual(['instrument:raise:CO', 'instrument:raise:Dust', 'limit:raise:NOx']);

    // The server drops our session (channel stays up): the session is re-created, data flows again.
    const before = src.health() as any;
    process.kill(server.pid, 'SIGUSR2');
    await waitFor(() => server.log.includes('sessions closed'), { what: 'sessions closed' });
    const closedAt = Date.now();
    await waitFor(() => tel().some((t) => t.tags.pollutant === 'SO2' && t.ts > closedAt + 200), { what: 'readings after session loss', timeoutMs: 30_000 });
    const h2 = src.health() as any;
    // node-opcua does not notice a server-side session close on its own; our watchdog does.
    expect(h2.rebuilds).toBe(before.rebuilds + 1);
    expect(h2.sessionsCreated).toBe(before.sessionsCreated + 1);
    expect(alerts()).toEqual(['instrument:raise:CO', 'instrument:raise:Dust', 'limit:raise:NOx']);
    await src.stop();
    await server.stop();
  });
});
