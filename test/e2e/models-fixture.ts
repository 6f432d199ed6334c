/** Shared setup of the model lifecycle integration tests: keys, bundles, a cloud with the models feature, edges with a model manager. */
import fs from 'node:fs';
import path from 'node:path';
import { Cloud } from '../../cloud/cloud.ts';
import { modelsFeature, type ModelsFeature } from '../../cloud/models/feature.ts';
import { dataFile } from '../../lib/data-dir.ts';
import { loadCard, type ModelCard } from '../../models/card.ts';
import { packBundle, signBundle } from '../../models/bundle/bundle.ts';
import { generateKeyFiles, loadPrivateKey } from '../../models/bundle/keys.ts';
import { attachModelCommands, modelManagerFor } from '../../edge/sources/model-manager.ts';
import type { Edge } from '../../edge/edge.ts';
import { edgeConfig, startEdge } from '../harness.ts';
import { tempDir } from '../peers/ports.ts';

export interface Keys { dir: string; trustedPub: string; ops: ReturnType<typeof loadPrivateKey>; mallory: ReturnType<typeof loadPrivateKey> }

export function makeKeys(): Keys {
  const dir = tempDir('model-keys-');
  generateKeyFiles(path.join(dir, 'trusted'), 'ops');
  generateKeyFiles(path.join(dir, 'other'), 'mallory');
  return { dir, trustedPub: path.join(dir, 'trusted', 'ops.pub'), ops: loadPrivateKey(path.join(dir, 'trusted', 'ops.key')), mallory: loadPrivateKey(path.join(dir, 'other', 'mallory.key')) };
}

export function signed(keys: Keys, card: string | ModelCard, weights?: string): Buffer {
  const c = typeof card === 'string' ? loadCard(card) : card;
  return signBundle(packBundle({ card: c, weights: weights ?? (typeof card === 'string' ? undefined : dataFile('models', `${c.artifact}.onnx`)), labels: typeof card === 'string' ? undefined : dataFile('models', 'coco_classes.txt') }), keys.ops);
}

export async function startModelsCloud(models: Record<string, unknown>): Promise<{ cloud: Cloud; feature: ModelsFeature; token: string }> {
  const feature = modelsFeature(models);
  const cloud = await Cloud.fromRaw({ dataDir: tempDir('cloud-models-'), broker: { host: '127.0.0.1', port: 0, revocationPollMs: 200 }, http: { host: '127.0.0.1', port: 0 } }, 'test cloud', [feature]).start();
  const token = cloud.ctx.tokens.create('ops-test', 'ops').token;
  return { cloud, feature, token };
}

export async function push(cloud: Cloud, token: string, bundle: Buffer): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${cloud.httpUrl}/api/v1/models`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' }, body: new Uint8Array(bundle) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

export async function api(cloud: Cloud, token: string, method: string, p: string, body?: unknown): Promise<any> {
  const res = await fetch(`${cloud.httpUrl}${p}`, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  const json = await res.json();
  if (res.status >= 400) throw Object.assign(new Error(`${method} ${p}: ${res.status} ${JSON.stringify(json)}`), { status: res.status, body: json });
  return json;
}

export function managerSource(keys: Keys, cloud: Cloud, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: 'model-manager', id: 'models', trustedKeys: [keys.trustedPub], registryUrl: cloud.httpUrl, initial: { card: 'nanodet_m_320' }, statsIntervalMs: 500, selfTest: { latencyFactor: 6 }, ...extra };
}

export async function startModelEdge(cloud: Cloud, site: string, source: Record<string, unknown>, stateDir = tempDir(`edge-${site}-`)): Promise<Edge> {
  const password = await cloud.ctx.devices.add(site).catch(() => undefined);
  const pwFile = path.join(stateDir, '..', `${site}.pw`);
  if (password) fs.writeFileSync(pwFile, password);
  const edge = await startEdge(edgeConfig({ site, password: password ?? fs.readFileSync(pwFile, 'utf8'), url: `mqtt://127.0.0.1:${cloud.mqttPort}`, stateDir, sources: [source] }));
  if (!attachModelCommands(edge)) throw new Error('model manager did not start');
  return edge;
}

export { modelManagerFor };
