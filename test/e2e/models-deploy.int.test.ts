/**
 * Model lifecycle end to end on real peers: cloud (embedded broker, registry, rollouts) ↔ edge
 * (MQTT commands, HTTP range download, ONNX worker sessions) while a pipeline feeds frames of the
 * pedestrian video. Upgrade chain, refusals with codes, and a canary gate that rolls back.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cloud } from '../../cloud/cloud.ts';
import type { Edge } from '../../edge/edge.ts';
import { modelSlot } from '../../edge/models/slot.ts';
import { decodeFrames, FramePump } from '../support/models/frame-pump.ts';
import { Detector } from '../../edge/vision/detector/detector.ts';
import { dataFile } from '../../lib/data-dir.ts';
import { loadCard } from '../../models/card.ts';
import { sha256, signBundle, packBundle } from '../../models/bundle/bundle.ts';
import { readTar } from '../../models/bundle/tar.ts';
import { waitFor } from '../peers/ports.ts';
import { api, makeKeys, managerSource, modelManagerFor, push, signed, startModelEdge, startModelsCloud, type Keys } from './models-fixture.ts';

const VIDEO = dataFile('video', 'opencv_vtest.avi');

describe('model lifecycle: registry → rollout → edge swap', () => {
  let keys: Keys;
  let cloud: Cloud;
  let token: string;
  const edges: Edge[] = [];
  const pumps: FramePump[] = [];
  let frames: Awaited<ReturnType<typeof decodeFrames>>;

  beforeAll(async () => {
    keys = makeKeys();
    ({ cloud, token } = await startModelsCloud({ trustedKeys: [keys.trustedPub], rollout: { tickMs: 100, observeMs: 1500, resendMs: 5000, deployTimeoutMs: 60_000 } }));
    frames = await decodeFrames(VIDEO, 6, 768, 576, 10);
  });
  afterAll(async () => {
    for (const p of pumps) await p.stop();
    for (const e of edges) await e.stop();
    await cloud?.stop();
  });

  const rollout = async (body: Record<string, unknown>, until: string[]) => {
    const r = await api(cloud, token, 'POST', '/api/v1/rollouts', body);
    return waitFor(async () => {
      const s = await api(cloud, token, 'GET', `/api/v1/rollouts/${r.id}`);
      return until.includes(s.state) ? s : undefined;
    }, { timeoutMs: 90_000, intervalMs: 200, what: `rollout ${body.name}@${body.version} to reach ${until}` });
  };

  it('registry verifies on upload: tampered and untrusted bundles are refused with codes', async () => {
    const good = signed(keys, 'nanodet_m_416');
    const tampered = Buffer.from(good);
    const onnx = readTar(good).find((e) => e.name === 'model.onnx')!;
    tampered[onnx.data.byteOffset - good.byteOffset + 4096] ^= 0x55;
    const t = await push(cloud, token, tampered);
    expect([t.status, t.body.code]).toEqual([422, 'MODEL_DIGEST_MISMATCH']);
    const u = await push(cloud, token, signBundle(packBundle({ card: 'nanodet_m_416' }), keys.mallory));
    expect([u.status, u.body.code]).toEqual([403, 'MODEL_UNTRUSTED_KEY']);
    const ok = await push(cloud, token, good);
    expect(ok.status).toBe(201);
    expect(ok.body.digest).toBe(sha256(good));
    expect((await push(cloud, token, good)).status).toBe(200); // same bytes: idempotent
    const list = await api(cloud, token, 'GET', '/api/v1/models');
    expect(list.map((m: { name: string }) => m.name)).toEqual(['nanodet_m_416']);
    // range download with an API token: resumable
    const res = await fetch(`${cloud.httpUrl}/api/v1/models/nanodet_m_416/1.0.0/bundle`, { headers: { authorization: `Bearer ${token}`, range: 'bytes=100-199' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes 100-199/${good.length}`);
    expect(Buffer.from(await res.arrayBuffer()).equals(good.subarray(100, 200))).toBe(true);
    expect((await fetch(`${cloud.httpUrl}/api/v1/models/nanodet_m_416/1.0.0/bundle`)).status).toBe(401);
  });

  it('upgrades NanoDet-m 320 → NanoDet-m 416 → YOLOX-nano on a running pipeline without dropping a frame', async () => {
    const edge = await startModelEdge(cloud, 'cam-1', managerSource(keys, cloud));
    edges.push(edge);
    const pump = new FramePump(modelSlot('cam-1'), frames, 5).start();
    pumps.push(pump);
    await waitFor(() => pump.records.length >= 5, { timeoutMs: 30_000, what: 'frames on nanodet 320' });
    expect((await push(cloud, token, signed(keys, 'yolox_nano_416'))).status).toBe(201);
    const gates = { minFrames: 3, latencyFactor: 20, maxDetectionDrift: 2, minFpsRatio: 0.3 };
    const r1 = await rollout({ name: 'nanodet_m_416', version: '1.0.0', sites: ['cam-1'], gates }, ['completed', 'rolled_back']);
    expect(r1.state, JSON.stringify(r1)).toBe('completed');
    await waitFor(() => pump.records.filter((r) => r.model === 'nanodet_m_416@1.0.0').length >= 5, { timeoutMs: 30_000 });
    const r2 = await rollout({ name: 'yolox_nano_416', version: '1.0.0', sites: ['cam-1'], gates }, ['completed', 'rolled_back']);
    expect(r2.state, JSON.stringify(r2)).toBe('completed');
    await waitFor(() => pump.records.filter((r) => r.model === 'yolox_nano_416@1.0.0').length >= 5, { timeoutMs: 30_000 });
    await pump.stop();

    // no frame dropped: every frame sent got a result, in order, none failed
    expect(pump.errors).toEqual([]);
    expect(pump.records.map((r) => r.seq)).toEqual([...Array(pump.sent).keys()]);
    // models changed in order, each change exactly once
    const seq = pump.records.map((r) => r.model).filter((m, i, a) => i === 0 || a[i - 1] !== m);
    expect(seq).toEqual(['nanodet_m_320@1.0.0', 'nanodet_m_416@1.0.0', 'yolox_nano_416@1.0.0']);
    // detections change as expected: each served frame equals what that model gives on its own
    for (const name of ['nanodet_m_320', 'nanodet_m_416', 'yolox_nano_416']) {
      const rec = pump.records.filter((r) => r.model === `${name}@1.0.0`).at(-1)!;
      const ref = await Detector.load(loadCard(name));
      const want = await ref.detect(frames[rec.frame]);
      await ref.close();
      expect(rec.labels, name).toEqual(want.detections.map((d) => d.label));
      rec.boxes.forEach((b, i) => b.forEach((v, k) => expect(v).toBeCloseTo(want.detections[i].box[k], 3)));
      expect(rec.labels.filter((l) => l === 'person').length, name).toBeGreaterThan(0);
    }
    // and the models really differ: on the same frame, each pair of models gives different boxes
    const sig = (n: string) => JSON.stringify(pump.records.find((r) => r.model === `${n}@1.0.0` && r.frame === pump.records.find((x) => x.model === 'yolox_nano_416@1.0.0')!.frame)?.boxes.map((b) => b.map(Math.round)));
    expect(new Set([sig('nanodet_m_320'), sig('nanodet_m_416'), sig('yolox_nano_416')]).size).toBe(3);
    // the site status carries the model versions
    const sites = await waitFor(async () => {
      const s = await api(cloud, token, 'GET', '/api/v1/sites');
      const h = s.find((x: { site: string }) => x.site === 'cam-1')?.health?.sources?.models;
      return h?.active?.name === 'yolox_nano_416' ? h : undefined;
    }, { timeoutMs: 10_000 });
    expect(sites.previous.name).toBe('nanodet_m_416');
    expect(sites.standbyLoaded).toBe(true);
  });

  it('refuses tampered, untrusted and self-test-failing bundles at the edge; the old model keeps running', async () => {
    const m = modelManagerFor('cam-1')!;
    const pump = new FramePump(modelSlot('cam-1'), frames, 5).start();
    pumps.push(pump);
    // a rogue server stands in for a compromised registry: it serves whatever bytes it is given
    const served = new Map<string, Buffer>();
    const srv = http.createServer((req, res) => { const b = served.get(req.url!); if (!b) { res.statusCode = 404; return res.end(); } res.end(b); });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const base = `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
    const good = signed(keys, 'nanodet_m_320');
    const tampered = Buffer.from(good);
    tampered[readTar(good).find((e) => e.name === 'model.onnx')!.data.byteOffset - good.byteOffset + 777] ^= 1;
    const card416 = loadCard('nanodet_m_416');
    const cases: Array<[string, Buffer, string]> = [
      ['tampered', tampered, 'MODEL_DIGEST_MISMATCH'],
      ['untrusted', signBundle(packBundle({ card: 'nanodet_m_320' }), keys.mallory), 'MODEL_UNTRUSTED_KEY'],
      ['badspec', signed(keys, { ...card416, name: 'nanodet_badspec', input: { ...card416.input, shape: [1, 3, 320, 320] } }), 'MODEL_INPUT_MISMATCH'],
      ['badgold', signed(keys, { ...card416, name: 'nanodet_badgold', selfTest: { ...card416.selfTest, expect: card416.selfTest.expect.map((e) => ({ ...e, box: [e.box[0] + 150, e.box[1], e.box[2] + 150, e.box[3]] as [number, number, number, number] })) } }), 'MODEL_SELFTEST_FAILED'],
    ];
    try {
      for (const [id, bytes, code] of cases) {
        served.set(`/${id}`, bytes);
        const name = id === 'badspec' ? 'nanodet_badspec' : id === 'badgold' ? 'nanodet_badgold' : 'nanodet_m_320';
        const cmd = await api(cloud, token, 'POST', '/api/v1/sites/cam-1/commands', { name: 'model.deploy', args: { target: { name, version: '1.0.0', digest: sha256(bytes), size: bytes.length, url: `${base}/${id}` } } });
        const res = await waitFor(async () => (await api(cloud, token, 'GET', '/api/v1/events?site=cam-1&kind=cmdres')).find((e: { cmdId: string }) => e.cmdId === cmd.id), { timeoutMs: 30_000, what: `cmdres of ${id}` });
        expect(res.ok, id).toBe(false);
        expect(res.result.code, `${id}: ${res.result.message}`).toBe(code);
        expect(m.health().active).toMatchObject({ name: 'yolox_nano_416' });
        expect(m.health().lastError).toMatchObject({ code });
      }
    } finally {
      srv.close();
    }
    await waitFor(() => pump.records.length >= 5, { timeoutMs: 20_000 });
    await pump.stop();
    expect(pump.errors).toEqual([]);
    expect(new Set(pump.records.map((r) => r.model))).toEqual(new Set(['yolox_nano_416@1.0.0']));
    expect(m.journal().pending).toBeNull();
  });

  it('a canary whose latency gate fails is rolled back automatically; the other site never receives the model', async () => {
    const a = await startModelEdge(cloud, 'cam-a', managerSource(keys, cloud));
    const b = await startModelEdge(cloud, 'cam-b', managerSource(keys, cloud));
    edges.push(a, b);
    const pa = new FramePump(modelSlot('cam-a'), frames, 5).start();
    const pb = new FramePump(modelSlot('cam-b'), frames, 5).start();
    pumps.push(pa, pb);
    await waitFor(() => pa.records.length >= 3 && pb.records.length >= 3, { timeoutMs: 30_000 });
    // a tight latency budget no detector meets on this machine: the canary runs, its p95 breaks the gate
    const r = await rollout({ name: 'nanodet_m_416', version: '1.0.0', sites: ['cam-a', 'cam-b'], canary: { sites: ['cam-a'] }, gates: { minFrames: 3, latencyBudgetMs: 1, maxDetectionDrift: 5, minFpsRatio: 0 } }, ['rolled_back', 'completed']);
    expect(r.state).toBe('rolled_back');
    expect(r.reason).toMatch(/latency_p95/);
    const site = (s: string) => r.sites.find((x: { site: string }) => x.site === s);
    expect(site('cam-a').state).toBe('rolled_back');
    expect(site('cam-a').gates.verdict).toBe('fail');
    expect(site('cam-b').state).toBe('skipped');
    // cam-a served 416 for a while and is back on 320; cam-b never left 320
    await waitFor(() => pa.records.at(-1)?.model === 'nanodet_m_320@1.0.0' && pa.records.some((x) => x.model === 'nanodet_m_416@1.0.0'), { timeoutMs: 10_000 });
    expect(modelManagerFor('cam-a')!.health()).toMatchObject({ active: { name: 'nanodet_m_320' }, previous: { name: 'nanodet_m_416' }, rollbacks: 1 });
    expect(modelManagerFor('cam-b')!.health()).toMatchObject({ active: { name: 'nanodet_m_320' }, previous: null, deploys: 0 });
    expect(new Set(pb.records.map((x) => x.model))).toEqual(new Set(['nanodet_m_320@1.0.0']));
    expect(pa.errors).toEqual([]);
    expect(cloud.ctx.db.prepare("SELECT count(*) AS n FROM model_download_tokens WHERE site = 'cam-b'").get()).toEqual({ n: 0 });
  });
});
