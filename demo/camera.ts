import path from 'node:path';
import type { Cloud } from '../cloud/cloud.ts';
import { validateEdgeConfig } from '../edge/config.ts';
import { Edge } from '../edge/edge.ts';
import { dataFile } from '../lib/data-dir.ts';
import { packBundle, signBundle } from '../models/bundle/bundle.ts';
import { generateKeyFiles, loadPrivateKey } from '../models/bundle/keys.ts';

/** Publisher keys of the demo (an ops engineer's signing key and the public key sites trust). */
export function demoKeys(root: string): { pub: string; key: string } {
  const k = generateKeyFiles(path.join(root, 'keys'), 'ops');
  return { pub: k.pubFile, key: k.keyFile };
}

/**
 * A camera site: the pedestrian plaza video through a model-managed detector (NanoDet-m 320 to
 * start), a counting line and a dwell zone. After `upgradeAfterMs` the demo signs YOLOX-nano as an
 * ops engineer would, pushes it to the registry and rolls it out to the site (a canary of one,
 * with health gates); the site verifies, self-tests and swaps it in without stopping the camera.
 */
export async function startCameraDemo(o: { cloud: Cloud; root: string; mqttPort: number; keys: { pub: string; key: string }; upgradeAfterMs: number }): Promise<{ lines: string[]; stop: () => Promise<void> }> {
  const site = 'cam-plaza';
  const password = await o.cloud.ctx.devices.add(site);
  const { config, factories } = await validateEdgeConfig({
    site,
    stateDir: path.join(o.root, 'edges', site),
    mqtt: { url: `mqtt://127.0.0.1:${o.mqttPort}`, password },
    uplink: { statusIntervalMs: 5000 },
    sources: [
      { type: 'model-manager', id: 'models', trustedKeys: [o.keys.pub], registryUrl: o.cloud.httpUrl, initial: { card: 'nanodet_m_320' }, statsIntervalMs: 2000, selfTest: { latencyFactor: 6 } },
      {
        type: 'camera', id: 'plaza-1', url: dataFile('video', 'opencv_vtest.avi'), fps: 5, modelSlot: 'main',
        rules: [
          { id: 'crossing', type: 'line', line: [[0.45, 0.3], [0.45, 0.85]], classes: ['person', 'bicycle'], names: { forward: 'east', backward: 'west' } },
          { id: 'lamp', type: 'dwell', zone: [[0.44, 0.4], [0.58, 0.4], [0.58, 0.52], [0.44, 0.52]], classes: ['person'], seconds: 5 },
        ],
      },
    ],
  }, 'demo camera site', o.root);
  const edge = await new Edge(config, factories).start();
  const token = o.cloud.ctx.tokens.create('demo-ops', 'ops').token;
  const call = async (method: string, p: string, body?: unknown, raw?: Buffer) => {
    const res = await fetch(`${o.cloud.httpUrl}${p}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': raw ? 'application/octet-stream' : 'application/json' },
      body: raw ? new Uint8Array(raw) : body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: await res.json() as Record<string, unknown> };
  };
  let stopped = false;
  const upgrade = setTimeout(async () => {
    try {
      const bundle = signBundle(packBundle({ card: 'yolox_nano_416' }), loadPrivateKey(o.keys.key));
      const pushed = await call('PUT', '/api/v1/models', undefined, bundle);
      console.log(`[demo] model yolox_nano_416 signed and pushed to the registry (${pushed.status})`);
      const r = await call('POST', '/api/v1/rollouts', { name: 'yolox_nano_416', version: String(pushed.body.version ?? '1.0.0'), sites: [site], gates: { latencyFactor: 6 } });
      console.log(`[demo] rollout ${r.body.id ?? JSON.stringify(r.body)} started: ${site} nanodet_m_320 → yolox_nano_416`);
      let last = '';
      while (!stopped) {
        const s = await call('GET', `/api/v1/rollouts/${r.body.id}`);
        const state = String(s.body.state);
        if (state !== last) { console.log(`[demo] rollout state: ${state}`); last = state; }
        if (['completed', 'rolled_back', 'aborted', 'failed'].includes(state)) break;
        await new Promise((res) => setTimeout(res, 1000));
      }
    } catch (err) {
      console.error(`[demo] model upgrade: ${(err as Error).message}`);
    }
  }, o.upgradeAfterMs);
  const api = o.cloud.httpUrl;
  return {
    lines: [
      `  camera site    ${site}: plaza video at 5 fps, NanoDet-m 320 → YOLOX-nano rollout after ${Math.round(o.upgradeAfterMs / 1000)} s; counting line + dwell zone`,
      `  camera events  curl -s -H 'Authorization: Bearer <token>' '${api}/api/v1/events?site=${site}&kind=event'`,
      `  rollouts       curl -s -H 'Authorization: Bearer <token>' '${api}/api/v1/rollouts'`,
    ],
    stop: async () => {
      stopped = true;
      clearTimeout(upgrade);
      await edge.stop();
    },
  };
}
