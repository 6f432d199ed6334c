/**
 * The package as a user gets it: `npm pack` (prepare builds dist/), install the tarball into an
 * empty project, then run the installed `cityedge` bin from there — compiled JavaScript only, no
 * tsx, no sources, no devDependencies.
 * (`npx --no -- cityedge …`: the installed bin, never a download; `--` keeps `--help` for cityedge.)
 *
 * better-sqlite3's native binary comes the way an offline site gets it (README, "Offline and mirror
 * installs"): from a binary mirror named by `npm_config_better_sqlite3_binary_host`. Here the mirror
 * is a loopback server holding the binary this checkout's own `npm install` built, so the install
 * does not spend two minutes compiling SQLite again on machines without GitHub access (CI); what a
 * user's install does with its files is unchanged.
 */
import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dataDir, projectPath } from '../../lib/data-dir.ts';
import { tempDir, waitFor } from '../peers/ports.ts';
import { OwnedProcess } from '../peers/process.ts';

const INSTALL_TIMEOUT_MS = 6 * 60_000;

// A child npm must not inherit the npm_* settings of an `npm test` that runs this file.
const cleanEnv = (): NodeJS.ProcessEnv => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));

interface Ran { code: number | null; stdout: string; stderr: string }

function run(cmd: string, args: string[], o: { cwd: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number }): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: o.cwd, env: o.env ?? cleanEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${cmd} ${args.join(' ')} timed out after ${o.timeoutMs} ms\n${stdout}\n${stderr}`)); }, o.timeoutMs ?? 60_000);
    child.once('error', (err) => { clearTimeout(timer); reject(err); });
    child.once('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
    child.stdin.end(o.input ?? '');
  });
}

/**
 * A prebuild mirror on a free loopback port serving better-sqlite3's binary as prebuild-install
 * expects it (`/v<version>/better-sqlite3-v<version>-node-v<abi>-<platform>-<arch>.tar.gz`, a
 * tarball of build/Release/better_sqlite3.node), built from this checkout's node_modules.
 */
async function startPrebuildMirror(dir: string): Promise<{ host: string; served: string[]; stop: () => Promise<void>; cacheFile: string }> {
  const pkgDir = projectPath('node_modules', 'better-sqlite3');
  const { version } = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')) as { version: string };
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  const tarball = path.join(dir, name);
  execFileSync('tar', ['-czf', tarball, '-C', pkgDir, 'build/Release/better_sqlite3.node']);
  const served: string[] = [];
  const server = http.createServer((req, res) => {
    if (req.url === `/v${version}/${name}`) {
      served.push(req.url);
      res.writeHead(200, { 'content-type': 'application/gzip' });
      fs.createReadStream(tarball).pipe(res);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // prebuild-install keeps each download in <npm cache>/_prebuilds under a digest of its URL; the
  // port is new every run, so the test removes its own entry rather than leaving one per run
  const url = `${host}/v${version}/${name}`;
  const cacheFile = path.join(process.env.npm_config_cache ?? path.join(os.homedir(), '.npm'), '_prebuilds', `${crypto.createHash('sha512').update(url).digest('hex').slice(0, 6)}-${name.replace(/[^a-zA-Z0-9.]+/g, '-')}`);
  return { host, served, cacheFile, stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('npm package', () => {
  const dirs: string[] = [];
  let demo: OwnedProcess | undefined;
  let mirror: Awaited<ReturnType<typeof startPrebuildMirror>> | undefined;
  afterAll(async () => {
    await demo?.stop('SIGTERM', 15_000);
    await mirror?.stop();
    if (mirror) fs.rmSync(mirror.cacheFile, { force: true });
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  const data = dataDir(); // the repo's ../shared/data (or $CITYEDGE_DATA), absolute
  let app = '';
  const appEnv = () => ({ ...cleanEnv(), CITYEDGE_DATA: data, LOG_LEVEL: 'warn' });

  it('npm pack builds a tarball that installs into an empty project', async () => {
    const packDir = tempDir('cityedge-pack-');
    app = tempDir('cityedge-app-');
    dirs.push(packDir, app);

    const packed = await run('npm', ['pack', '--json', '--pack-destination', packDir], { cwd: projectPath(), timeoutMs: INSTALL_TIMEOUT_MS });
    expect(packed.code, packed.stderr).toBe(0);
    const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>;
    const files = info.files.map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining(['bin/cityedge.mjs', 'dist/cli/main.js', 'dist/edge/vision/detector/worker.js', 'models/manifest.json', 'models/cards/nanodet_m_320.json']));
    expect(files.filter((f) => f.endsWith('.ts') || /(^|\/)(test|bench)\//.test(f) || /\.test\.js$/.test(f))).toEqual([]);

    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'cityedge-install-check', version: '0.0.0', private: true }, null, 2));
    // onnxruntime-node's installer would otherwise try to download CUDA files (README, Quick start).
    fs.writeFileSync(path.join(app, '.npmrc'), 'onnxruntime-node-install=skip\n');
    mirror = await startPrebuildMirror(packDir);
    const installed = await run('npm', ['install', path.join(packDir, info.filename), '--prefer-offline', '--no-audit', '--no-fund'], {
      cwd: app, timeoutMs: INSTALL_TIMEOUT_MS, env: { ...cleanEnv(), npm_config_better_sqlite3_binary_host: mirror.host },
    });
    expect(installed.code, `${installed.stdout}\n${installed.stderr}`).toBe(0);
    expect(mirror.served, 'better-sqlite3 fetched its binary from the mirror').toHaveLength(1);
    const pkg = path.join(app, 'node_modules', 'cityedge');
    expect(fs.existsSync(path.join(pkg, 'dist', 'cli', 'main.js'))).toBe(true);
    // Runtime dependencies only: the dev tools stay out of a user's install.
    for (const dev of ['tsx', 'fast-check', 'vitest', 'typescript']) expect(fs.existsSync(path.join(app, 'node_modules', dev)), dev).toBe(false);
  }, INSTALL_TIMEOUT_MS + 60_000);

  it('npx cityedge --help lists the commands', async () => {
    expect(app).not.toBe('');
    const r = await run('npx', ['--no', '--', 'cityedge', '--help'], { cwd: app, env: appEnv() });
    expect(r.code, r.stderr).toBe(0);
    for (const c of ['cloud', 'edge', 'demo', 'device', 'token', 'hj212', 'aqi', 'bikes', 'model', 'detect']) expect(r.stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
  });

  it('npx cityedge hj212 decode decodes a real frame and refuses a bad CRC', async () => {
    expect(app).not.toBe('');
    const frame = fs.readFileSync(path.join(data, 'hj212', 'frames_valid.txt'), 'utf8').split('\r\n').find((l) => l.startsWith('##'))!;
    const r = await run('npx', ['--no', '--', 'cityedge', 'hj212', 'decode'], { cwd: app, env: appEnv(), input: `${frame}\r\n` });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n')[0]!);
    expect(out.ok).toBe(true);
    expect(out.frame).toMatchObject({ mn: /MN=([^;]+)/.exec(frame)![1], qn: /QN=([^;]+)/.exec(frame)![1], cn: /CN=([^;]+)/.exec(frame)![1] });
    expect(out.readings.length).toBeGreaterThan(0);

    const bad = fs.readFileSync(path.join(data, 'hj212', 'frames_bad_crc.txt'), 'utf8').split('\r\n').find((l) => l.startsWith('##'))!;
    const b = await run('npx', ['--no', '--', 'cityedge', 'hj212', 'decode'], { cwd: app, env: appEnv(), input: `${bad}\r\n` });
    expect(b.code).toBe(1);
    expect(JSON.parse(b.stdout.trim().split('\n')[0]!)).toMatchObject({ ok: false, error: { code: 'HJ212_BAD_CRC' } });
  });

  it('npx cityedge demo runs the city from the installed package and stops cleanly', async () => {
    expect(app).not.toBe('');
    const state = tempDir('cityedge-demo-');
    dirs.push(state);
    demo = new OwnedProcess('npx', ['--no', '--', 'cityedge', 'demo', '--duration', '25', '--data-dir', path.join(state, 'demo'), '--http-port', '0', '--mqtt-port', '0'], { cwd: app, env: appEnv() });
    const [, api, token] = await waitFor(() => /cloud API\s+(http:\/\/127\.0\.0\.1:\d+)[\s\S]*admin token\s+(ce_\S+)/.exec(demo!.log) ?? undefined, { timeoutMs: 20_000, what: 'the demo banner' });
    // The camera site infers frames: the model card comes from the package's models/cards and
    // the detector runs in the compiled worker thread (dist/edge/vision/detector/worker.js).
    const cam = await waitFor(async () => {
      const sites = await (await fetch(`${api}/api/v1/sites`, { headers: { authorization: `Bearer ${token}` } })).json() as Array<{ site: string; health?: { sources?: Record<string, { framesInferred?: number; active?: { name: string } }> } }>;
      const s = sites.find((x) => x.site === 'cam-plaza')?.health?.sources;
      return s && (s['plaza-1']?.framesInferred ?? 0) > 0 ? s : undefined;
    }, { timeoutMs: 20_000, intervalMs: 500, what: 'camera frames inferred' });
    expect(cam.models?.active?.name).toBe('nanodet_m_320');
    const code = await demo.waitExit();
    expect(code, demo.log).toBe(0);
    expect(demo.log).toMatch(/demo stopped cleanly/);
    expect(demo.log).not.toMatch(/DETECTOR_CRASHED|MODEL_LOAD_FAILED/);
  }, 90_000);
});
