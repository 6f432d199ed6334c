import type { SourceFactory } from '../../lib/contract/source.ts';

/**
 * Every source type the edge knows. The runtime never imports an adapter directly:
 * it looks the `type` of each configured source up here. Factories import their
 * heavy dependencies (onnxruntime, sharp, ffmpeg, node-opcua) lazily in start().
 */
export async function sourceFactories(): Promise<SourceFactory[]> {
  const list: SourceFactory[] = [];
  list.push((await import('./air-replay.ts')).airReplayFactory);
  list.push((await import('./synthetic.ts')).syntheticFactory);
  list.push((await import('./hj212.ts')).hj212Factory);
  list.push((await import('./bike-docks.ts')).bikeDockFactory);
  list.push((await import('./modbus.ts')).modbusFactory);
  list.push((await import('./opcua.ts')).opcuaFactory);
  list.push((await import('./camera.ts')).cameraFactory);
  list.push((await import('./model-manager.ts')).modelManagerFactory);
  return list;
}
