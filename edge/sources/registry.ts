import type { SourceFactory } from './types.ts';

/**
 * Every source type the edge knows. The runtime never imports an adapter directly:
 * it looks the `type` of each configured source up here. Factories import their
 * heavy dependencies (onnxruntime, sharp, ffmpeg, node-opcua) lazily in start().
 */
export async function sourceFactories(): Promise<SourceFactory[]> {
  const list: SourceFactory[] = [];
  list.push((await import('./air-replay.ts')).airReplayFactory);
  list.push((await import('./synthetic.ts')).syntheticFactory);
  list.push((await import('../../firmware-bridge/hj212/source.ts')).hj212Factory);
  list.push((await import('../bikes/source.ts')).bikeDockFactory);
  list.push((await import('../../firmware-bridge/modbus/source.ts')).modbusFactory);
  list.push((await import('../../firmware-bridge/opcua/source.ts')).opcuaFactory);
  list.push((await import('../vision/camera-source.ts')).cameraFactory);
  list.push((await import('../models/source.ts')).modelManagerFactory);
  return list;
}
