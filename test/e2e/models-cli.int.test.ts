/** `cityedge model` CLI against a cloud process started from a config with a `models:` block. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectPath } from '../../lib/data-dir.ts';
import { spawnCloud } from '../harness.ts';
import type { OwnedProcess } from '../peers/process.ts';
import { tempDir, waitFor } from '../peers/ports.ts';

const run = promisify(execFile);
const cli = (args: string[], env: Record<string, string> = {}) => run(process.execPath, [projectPath('bin', 'cityedge.mjs'), ...args], { env: { ...process.env, LOG_LEVEL: 'warn', ...env } }).then((r) => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }));

describe('cityedge model CLI', () => {
  let proc: OwnedProcess;
  let url: string;
  let token: string;
  const dir = tempDir('model-cli-');
  beforeAll(async () => {
    expect((await cli(['model', 'keygen', 'ops', '--dir', dir])).code).toBe(0);
    const c = await spawnCloud({ models: { trustedKeys: [path.join(dir, 'ops.pub')] } });
    proc = c.proc;
    url = `http://127.0.0.1:${c.httpPort}`;
    await waitFor(async () => (await fetch(`${url}/health`).catch(() => undefined))?.status !== undefined, { timeoutMs: 30_000 });
    token = (await cli(['token', 'add', '--name', 'ci', '--role', 'ops', '--config', c.file])).stdout.trim();
  });
  afterAll(async () => { await proc?.stop(); });

  it('packs, signs, pushes with a progress bar, lists, and refuses an unsigned push with its code', async () => {
    const b = path.join(dir, 'n.bundle');
    expect((await cli(['model', 'pack', 'nanodet_m_320', '-o', b])).code).toBe(0);
    const unsigned = await cli(['model', 'push', b, '--url', url, '--token', token]);
    expect(unsigned.code).toBe(2);
    expect(unsigned.stderr).toMatch(/error MODEL_BUNDLE_UNSIGNED/);
    expect((await cli(['model', 'sign', b, '--key', path.join(dir, 'ops.key')])).code).toBe(0);
    const pushed = await cli(['model', 'push', b], { CITYEDGE_URL: url, CITYEDGE_TOKEN: token });
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.stdout).toMatch(/nanodet_m_320@1\.0\.0 {2}stored/);
    expect(pushed.stderr).toMatch(/push \[.*\] 100%/);
    const list = await cli(['model', 'list', '--url', url, '--token', token]);
    expect(list.stdout).toMatch(/^nanodet_m_320@1\.0\.0 /m);
    const bad = await cli(['model', 'rollout', 'start', 'nanodet_m_320', '1.0.0', '--sites', 'nowhere', '--url', url, '--token', token]);
    expect(bad.stderr).toMatch(/error ROLLOUT_UNKNOWN_SITE/);
  });
});
