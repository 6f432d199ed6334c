import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import type { Cloud } from '../../cloud/cloud.ts';
import { projectPath } from '../../lib/data-dir.ts';
import { edgeConfig, spawnEdge, startCloud } from '../harness.ts';
import { tempDir, waitFor } from '../peers/ports.ts';
import type { OwnedProcess } from '../peers/process.ts';

const cli = (...args: string[]) => execFileSync(process.execPath, [projectPath('bin', 'cityedge.mjs'), ...args], { encoding: 'utf8', env: { ...process.env, LOG_LEVEL: 'error' } });
const cliFails = (...args: string[]) => {
  try { cli(...args); } catch (err) { return (err as { stderr: string; status: number }); }
  throw new Error('expected the command to fail');
};

describe('cityedge CLI', () => {
  it('device add | list | revoke and token add work on the cloud database, with coded errors', () => {
    const dir = tempDir('cli-');
    const added = JSON.parse(cli('device', 'add', 'site-q', '--data-dir', dir, '--json'));
    expect(added).toMatchObject({ site: 'site-q', username: 'site-q' });
    expect(added.password.length).toBeGreaterThanOrEqual(20);
    const again = cliFails('device', 'add', 'site-q', '--data-dir', dir);
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/error DEVICE_EXISTS: site site-q is already provisioned/);
    expect(cliFails('device', 'add', 'Bad_Site', '--data-dir', dir).stderr).toMatch(/DEVICE_BAD_SITE/);
    expect(JSON.parse(cli('device', 'list', '--data-dir', dir, '--json'))).toEqual([expect.objectContaining({ site: 'site-q', revoked: null })]);
    expect(cli('device', 'revoke', 'site-q', '--data-dir', dir)).toMatch(/revoked/);
    expect(JSON.parse(cli('device', 'list', '--data-dir', dir, '--json'))[0].revoked).toEqual(expect.any(Number));
    expect(cli('token', 'add', '--name', 'grafana', '--role', 'viewer', '--data-dir', dir).trim()).toMatch(/^ce_[A-Za-z0-9_-]{40,}$/);
    expect(cliFails('token', 'add', '--name', 'x', '--role', 'root', '--data-dir', dir).stderr).toMatch(/TOKEN_BAD_ROLE/);
  });

  it('cityedge edge refuses a bad config with the file, the path and a code', () => {
    const dir = tempDir('cli-');
    const file = `${dir}/edge.yaml`;
    execFileSync('bash', ['-c', `printf 'site: site-a\\nmqtt:\\n  url: mqtt://127.0.0.1:1\\nsources:\\n  - { type: synthetic, id: g, count: -5 }\\n' > ${file}`]);
    const r = cliFails('edge', '--config', file);
    expect(r.stderr).toMatch(/error CONFIG_INVALID: .*edge\.yaml \/sources\/0: invalid configuration:[\s\S]*\/count/);
  });
});

describe('site status with last will', () => {
  let cloud: Cloud | undefined;
  let proc: OwnedProcess | undefined;
  afterAll(async () => { await proc?.stop(); await cloud?.stop(); });

  it('a killed edge is marked offline by its will; a restarted one is online again', async () => {
    cloud = await startCloud();
    const password = await cloud.ctx.devices.add('site-w');
    const edge = spawnEdge(edgeConfig({ site: 'site-w', password, url: `mqtt://127.0.0.1:${cloud.mqttPort}` }));
    proc = edge.proc;
    const online = () => (cloud!.ctx.db.prepare("SELECT online FROM site_status WHERE site = 'site-w'").get() as { online: number } | undefined)?.online;
    await waitFor(() => online() === 1, { timeoutMs: 30_000, what: 'online' });
    await proc.kill9();
    await waitFor(() => online() === 0, { timeoutMs: 15_000, what: 'offline by will' });
    proc = edge.respawn();
    await waitFor(() => online() === 1, { timeoutMs: 30_000, what: 'online again' });
  });
});
