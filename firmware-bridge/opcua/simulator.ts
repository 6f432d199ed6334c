/**
 * A small OPC UA server playing a CEMS PLC, for tests and the demo: a few Double variables that
 * change every `intervalMs`, each with a status code that can be set per variable.
 *
 *   node bin/run-ts.mjs firmware-bridge/opcua/simulator.ts '{"port":4840,"items":[{"id":"FQ01.SO2","base":30,"amplitude":5}]}'
 *
 * Node ids are `ns=1;s=<id>`. Prints "listening <endpointUrl>" when ready; stops on SIGTERM;
 * SIGUSR2 closes every client session server-side (to test session re-creation).
 */
import { pathToFileURL } from 'node:url';

export interface SimItem {
  id: string;
  base: number;
  amplitude?: number;
  /** OPC UA status code name, e.g. "UncertainSensorCalibration"; default Good. */
  status?: string;
  /** Omit the value (null) while the status is Bad, as real PLCs often do. */
  nullWhenBad?: boolean;
}
export interface SimConfig { port: number; intervalMs?: number; items: SimItem[]; pkiDir?: string }

export async function startSimServer(cfg: SimConfig): Promise<{ endpointUrl: string; stop(): Promise<void>; closeSessions(): void }> {
  const ua = await import('node-opcua');
  const { OPCUAServer, Variant, DataType, StatusCodes, OPCUACertificateManager } = ua;
  const serverCertificateManager = cfg.pkiDir ? new OPCUACertificateManager({ rootFolder: cfg.pkiDir, automaticallyAcceptUnknownCertificate: true }) : undefined;
  const server = new OPCUAServer({
    port: cfg.port,
    hostname: '127.0.0.1',
    resourcePath: '/cityedge/sim',
    buildInfo: { productName: 'cityedge CEMS simulator', buildNumber: '1', buildDate: new Date(0) },
    ...(serverCertificateManager ? { serverCertificateManager } : {}),
  });
  await server.initialize();
  const space = server.engine.addressSpace!;
  const ns = space.getOwnNamespace();
  const folder = ns.addObject({ organizedBy: space.rootFolder.objects, browseName: 'CEMS' });
  const vars = cfg.items.map((it) => ({ it, v: ns.addVariable({ componentOf: folder, nodeId: `s=${it.id}`, browseName: it.id, dataType: 'Double' }) }));
  let n = 0;
  const update = () => {
    n++;
    for (const { it, v } of vars) {
      const code = (StatusCodes as Record<string, any>)[it.status ?? 'Good'] ?? StatusCodes.Good;
      const bad = code.value >>> 30 >= 2;
      const value = it.base + (it.amplitude ?? 0) * Math.sin(n / 3);
      v.setValueFromSource(new Variant({ dataType: bad && it.nullWhenBad ? DataType.Null : DataType.Double, value: bad && it.nullWhenBad ? null : value }), code, new Date());
    }
  };
  update();
  const timer = setInterval(update, cfg.intervalMs ?? 200);
  await server.start();
  const endpointUrl = `opc.tcp://127.0.0.1:${cfg.port}/cityedge/sim`;
  return {
    endpointUrl,
    /** Close every session on the server side (deleting its subscriptions), keeping the channel up. */
    closeSessions() {
      const engine = server.engine as unknown as { _sessions: Record<string, { authenticationToken: unknown }>; closeSession(t: unknown, del: boolean, reason: string): void };
      for (const s of Object.values(engine._sessions)) engine.closeSession(s.authenticationToken, true, 'Terminated');
    },
    async stop() {
      clearInterval(timer);
      await server.shutdown(0);
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const cfg = JSON.parse(process.argv[2] ?? '{}') as SimConfig;
  const s = await startSimServer(cfg);
  console.log(`listening ${s.endpointUrl}`);
  process.on('SIGTERM', () => { void s.stop().finally(() => process.exit(0)); });
  process.on('SIGUSR2', () => { s.closeSessions(); console.log('sessions closed'); });
}
