/**
 * kill -9 of an edge in the middle of a model download and in the middle of a load/swap, then
 * restart: the site ends with exactly one consistent active model (journal, extracted files and
 * the running slot agree) and the interrupted deploy resumes — the download from where it stopped.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cloud } from '../../cloud/cloud.ts';
import { checkExtracted } from '../../models/bundle/bundle.ts';
import { dataFile, projectPath } from '../../lib/data-dir.ts';
import type { JournalState } from '../../edge/models/journal.ts';
import { OwnedProcess } from '../peers/process.ts';
import { tempDir, waitFor } from '../peers/ports.ts';
import { api, makeKeys, push, signed, startModelsCloud, type Keys } from './models-fixture.ts';

describe('kill -9 during a model deploy', () => {
  let keys: Keys;
  let cloud: Cloud;
  let token: string;
  let proc: OwnedProcess | undefined;
  const stateDir = tempDir('edge-kill-');
  const cfgFile = path.join(tempDir('edge-kill-cfg-'), 'edge.json');
  const journalFile = path.join(stateDir, 'models', 'journal.json');
  const journal = (): JournalState | undefined => { try { return JSON.parse(fs.readFileSync(journalFile, 'utf8')); } catch { return undefined; } };
  const spawn = () => {
    proc = new OwnedProcess(process.execPath, [projectPath('bin', 'run-ts.mjs'), projectPath('test', 'support', 'models', 'edge-main.ts'), cfgFile, dataFile('video', 'opencv_vtest.avi')], { env: { ...process.env, LOG_LEVEL: 'warn' } });
    return proc;
  };
  const health = async () => {
    const s = await api(cloud, token, 'GET', '/api/v1/sites');
    return s.find((x: { site: string }) => x.site === 'cam-k')?.health?.sources?.models;
  };
  const rollout = async (name: string) => (await api(cloud, token, 'POST', '/api/v1/rollouts', { name, version: '1.0.0', sites: ['cam-k'], gates: { minFrames: 1, latencyFactor: 50, maxDetectionDrift: 10, minFpsRatio: 0 } })).id as string;
  const finished = (id: string) => waitFor(async () => { const r = await api(cloud, token, 'GET', `/api/v1/rollouts/${id}`); return ['completed', 'rolled_back'].includes(r.state) ? r : undefined; }, { timeoutMs: 90_000, intervalMs: 250, what: 'rollout to finish' });
  const consistent = (expectName: string) => {
    const j = journal()!;
    expect(j.pending).toBeNull();
    expect(j.active?.name).toBe(expectName);
    expect(checkExtracted(j.active!.dir).card.name).toBe(expectName);
    const store = fs.readdirSync(path.join(stateDir, 'models', 'store')).filter((d) => !d.includes('.tmp'));
    expect(store).toContain(j.active!.digest);
  };

  beforeAll(async () => {
    keys = makeKeys();
    ({ cloud, token } = await startModelsCloud({ trustedKeys: [keys.trustedPub], rollout: { tickMs: 100, observeMs: 500, resendMs: 60_000, deployTimeoutMs: 120_000 } }));
    const password = await cloud.ctx.devices.add('cam-k');
    fs.writeFileSync(cfgFile, JSON.stringify({
      site: 'cam-k', stateDir, mqtt: { url: `mqtt://127.0.0.1:${cloud.mqttPort}`, password, keepaliveSec: 5 },
      uplink: { reconnectMinMs: 100, reconnectMaxMs: 1000, statusIntervalMs: 500 },
      sources: [{ type: 'model-manager', id: 'models', trustedKeys: [keys.trustedPub], registryUrl: cloud.httpUrl, initial: { card: 'nanodet_m_320' }, statsIntervalMs: 500, selfTest: { latencyFactor: 6 }, download: { maxBytesPerSec: 1_000_000 } }],
    }));
    expect((await push(cloud, token, signed(keys, 'nanodet_m_416'))).status).toBe(201);
    expect((await push(cloud, token, signed(keys, 'yolox_nano_416'))).status).toBe(201);
  });
  afterAll(async () => {
    await proc?.stop();
    await cloud?.stop();
  });

  it('killed mid-download: restarts on the old model, resumes the download, ends on the new one', async () => {
    spawn();
    await waitFor(async () => proc!.log.includes('READY') && (await health())?.active?.name === 'nanodet_m_320', { timeoutMs: 60_000, what: 'edge up' });
    const id = await rollout('nanodet_m_416');
    const partDir = path.join(stateDir, 'models', 'downloads');
    await waitFor(() => journal()?.pending?.phase === 'download' && fs.existsSync(partDir) && fs.readdirSync(partDir).some((f) => f.endsWith('.part') && fs.statSync(path.join(partDir, f)).size > 500_000), { timeoutMs: 30_000, intervalMs: 20, what: 'download under way' }).catch(async (err) => { throw new Error(`${(err as Error).message}: ${JSON.stringify(journal())} ${JSON.stringify(await api(cloud, token, 'GET', `/api/v1/rollouts/${id}`))} ${proc!.log.slice(-3000)}`); });
    await proc!.kill9();
    const j = journal()!;
    expect(j.active?.name).toBe('nanodet_m_320');
    expect(j.active?.source).toBe('card');
    expect(j.pending).toMatchObject({ op: 'deploy', phase: 'download' });
    spawn();
    const r = await finished(id);
    expect(r.state, JSON.stringify(r)).toBe('completed');
    expect(r.sites[0].result).toMatchObject({ name: 'nanodet_m_416', resumed: true });
    expect(r.sites[0].result.download.resumedFrom).toBeGreaterThan(500_000);
    consistent('nanodet_m_416');
    await waitFor(async () => (await health())?.active?.name === 'nanodet_m_416', { timeoutMs: 10_000 });
  });

  it('killed mid-load/swap: restarts on the model the journal names, then finishes the deploy', async () => {
    const id = await rollout('yolox_nano_416');
    await waitFor(() => journal()?.pending?.phase === 'load', { timeoutMs: 30_000, intervalMs: 5, what: 'load phase' });
    await proc!.kill9();
    const j = journal()!;
    expect(j.active?.name).toBe('nanodet_m_416'); // the swap had not committed
    expect(checkExtracted(j.active!.dir).card.name).toBe('nanodet_m_416');
    spawn();
    const r = await finished(id);
    expect(r.state, JSON.stringify(r)).toBe('completed');
    consistent('yolox_nano_416');
    expect(journal()!.previous?.name).toBe('nanodet_m_416');
    const h = await waitFor(async () => { const x = await health(); return x?.active?.name === 'yolox_nano_416' ? x : undefined; }, { timeoutMs: 10_000 });
    expect(h.pending).toBeNull();
  });
});
