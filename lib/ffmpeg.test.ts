import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isCoded } from './errors.ts';
import { describeFf, hasCliOption, passthroughFpsArgs, resetFfmpegCache, resolveFfmpeg, resolveFfprobe, type FfTool } from './ffmpeg.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cityedge-ffmpeg-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/**
 * A fake ffmpeg/ffprobe: prints a `-version` banner (name, version, libavformat major) and, for
 * `-h long`, the CLI options of a 4.1 build (-vsync only) or a ≥ 5.1 build (-fps_mode too).
 */
function fake(dir: string, tool: FfTool, version: string, opts: { lavf?: number; fpsMode?: boolean; exitCode?: number; mode?: number } = {}): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, tool);
  const help = ['-vsync              video sync method', ...(opts.fpsMode ? ['-fps_mode           set framerate mode'] : [])].map((l) => `'${l}'`).join(' ');
  fs.writeFileSync(file, [
    '#!/bin/sh',
    `[ -n "${opts.exitCode ?? ''}" ] && exit ${opts.exitCode ?? 0}`,
    `case "$*" in *"-h long"*) printf '%s\\n' ${help}; exit 0;; esac`,
    `printf "${tool} version ${version} Copyright (c) fake\\nlibavutil      56. 24.101 / 56. 24.101\\nlibavformat    ${opts.lavf ?? 58}. 24.100 / ${opts.lavf ?? 58}. 24.100\\n"`,
    '',
  ].join('\n'));
  fs.chmodSync(file, opts.mode ?? 0o755);
  return file;
}

let n = 0;
const dir = (name: string) => path.join(root, `${n++}-${name}`);

describe('ffmpeg resolver: FFMPEG_PATH → system (PATH) → npm package → FFMPEG_NOT_FOUND', () => {
  const envBin = fake(dir('env'), 'ffmpeg', '7.1-env', { lavf: 61, fpsMode: true });
  const sysDir = dir('sys');
  const sysBin = fake(sysDir, 'ffmpeg', '5.1.9-system', { lavf: 59, fpsMode: true });
  const pkgDir = dir('pkg');
  const pkgBin = fake(pkgDir, 'ffmpeg', 'N-47683-g0e8eb07980-static', { lavf: 58 });
  fs.writeFileSync(path.join(pkgDir, 'package.json'), JSON.stringify({ name: '@ffmpeg-installer/linux-x64', version: '4.1.0' }));
  const emptyDir = dir('empty');
  fs.mkdirSync(emptyDir);
  const pkg = (p: string | undefined) => (tool: FfTool) => (tool === 'ffmpeg' ? p : undefined);

  it('FFMPEG_PATH wins over the system binary and the package', () => {
    const b = resolveFfmpeg({ env: { FFMPEG_PATH: envBin, PATH: sysDir }, packagePath: pkg(pkgBin) });
    expect(b).toMatchObject({ tool: 'ffmpeg', path: envBin, from: 'env', version: '7.1-env' });
    expect(b.libs.libavformat).toEqual([61, 24, 100]);
  });

  it('without FFMPEG_PATH: the first executable ffmpeg on PATH (skipping a non-executable one and one that does not run)', () => {
    const noExec = dir('noexec');
    fake(noExec, 'ffmpeg', 'x', { mode: 0o644 });
    const broken = dir('broken');
    fake(broken, 'ffmpeg', 'x', { exitCode: 1 });
    const b = resolveFfmpeg({ env: { PATH: [emptyDir, noExec, broken, sysDir].join(path.delimiter) }, packagePath: pkg(pkgBin) });
    expect(b).toMatchObject({ path: sysBin, from: 'system', version: '5.1.9-system' });
    expect(describeFf(b)).toBe(`ffmpeg 5.1.9-system, libavformat 59.24.100 (system ${sysBin})`);
  });

  it('no system ffmpeg: the npm package, with its package name and version', () => {
    const b = resolveFfmpeg({ env: { PATH: emptyDir }, packagePath: pkg(pkgBin) });
    expect(b).toMatchObject({ path: pkgBin, from: 'package', pkg: '@ffmpeg-installer/linux-x64@4.1.0' });
    expect(describeFf(b)).toContain('(package @ffmpeg-installer/linux-x64@4.1.0 ');
  });

  it('skipSystem: the package even when PATH has an ffmpeg', () => {
    expect(resolveFfmpeg({ env: { PATH: sysDir }, skipSystem: true, packagePath: pkg(pkgBin) }).from).toBe('package');
  });

  it('nothing found: ONE FFMPEG_NOT_FOUND that says what to install and what was tried', () => {
    const noExec = dir('noexec2');
    fake(noExec, 'ffmpeg', 'x', { mode: 0o644 });
    let err: unknown;
    try {
      resolveFfmpeg({ env: { PATH: [emptyDir, noExec].join(path.delimiter) }, packagePath: () => undefined });
    } catch (e) {
      err = e;
    }
    expect(isCoded(err, 'FFMPEG_NOT_FOUND'), String(err)).toBe(true);
    const msg = (err as Error).message;
    expect(msg).toContain('apt-get install ffmpeg');
    expect(msg).toContain('npm install @ffmpeg-installer/ffmpeg @ffprobe-installer/ffprobe');
    expect(msg).toContain('FFMPEG_PATH');
    expect(msg).toContain(`${path.join(noExec, 'ffmpeg')} (not executable`);
    expect(msg).toContain('npm package @ffmpeg-installer/ffmpeg (not installed)');
  });

  it('a package that is present but broken (unsupported platform, binary missing) is named in the error', () => {
    const e = (() => {
      try {
        return resolveFfmpeg({ env: { PATH: emptyDir }, packagePath: () => { throw new Error('Unsupported platform/architecture: sunos-sparc'); } });
      } catch (x) {
        return x;
      }
    })();
    expect(isCoded(e, 'FFMPEG_NOT_FOUND')).toBe(true);
    expect((e as Error).message).toContain('Unsupported platform/architecture: sunos-sparc');
  });

  it('a wrong FFMPEG_PATH is an error, not silently replaced by another ffmpeg', () => {
    for (const bad of [path.join(emptyDir, 'nope'), emptyDir, fake(dir('bad-env'), 'ffmpeg', 'x', { exitCode: 2 })]) {
      let err: unknown;
      try {
        resolveFfmpeg({ env: { FFMPEG_PATH: bad, PATH: sysDir }, packagePath: pkg(pkgBin) });
      } catch (e) {
        err = e;
      }
      expect(isCoded(err, 'FFMPEG_NOT_FOUND'), `${bad}: ${String(err)}`).toBe(true);
      expect((err as Error).message).toContain(`FFMPEG_PATH=${bad} is not a working ffmpeg`);
    }
  });

  it('ffprobe: FFPROBE_PATH → PATH → package, FFPROBE_NOT_FOUND', () => {
    const probeEnv = fake(dir('probe-env'), 'ffprobe', '6.0-env');
    const probeSysDir = dir('probe-sys');
    const probeSys = fake(probeSysDir, 'ffprobe', '5.1-sys');
    const probePkg = fake(dir('probe-pkg'), 'ffprobe', '5.2-pkg');
    const pp = (tool: FfTool) => (tool === 'ffprobe' ? probePkg : undefined);
    expect(resolveFfprobe({ env: { FFPROBE_PATH: probeEnv, FFMPEG_PATH: envBin, PATH: probeSysDir }, packagePath: pp })).toMatchObject({ tool: 'ffprobe', path: probeEnv, from: 'env' });
    expect(resolveFfprobe({ env: { FFMPEG_PATH: envBin, PATH: [sysDir, probeSysDir].join(path.delimiter) }, packagePath: pp })).toMatchObject({ path: probeSys, from: 'system' });
    expect(resolveFfprobe({ env: { PATH: sysDir }, packagePath: pp })).toMatchObject({ path: probePkg, from: 'package' });
    expect(() => resolveFfprobe({ env: { PATH: sysDir }, packagePath: () => undefined })).toThrow(/FFPROBE_PATH/);
    try {
      resolveFfprobe({ env: { PATH: sysDir }, packagePath: () => undefined });
    } catch (e) {
      expect(isCoded(e, 'FFPROBE_NOT_FOUND')).toBe(true);
    }
  });

  it('options by binary: -fps_mode on ≥ 5.1, -vsync 0 on the packaged 4.1', () => {
    expect(passthroughFpsArgs(resolveFfmpeg({ env: { PATH: sysDir } }))).toEqual(['-fps_mode', 'passthrough']);
    const old = resolveFfmpeg({ env: { PATH: emptyDir }, packagePath: pkg(pkgBin) });
    expect(passthroughFpsArgs(old)).toEqual(['-vsync', '0']);
    expect(hasCliOption(old, '-vsync')).toBe(true);
    expect(hasCliOption(old, 'stats_period')).toBe(false);
  });

  it('the default lookup reads process.env, is cached, and explicit lookups leave process.env alone', () => {
    const pathBefore = process.env.PATH;
    resetFfmpegCache();
    let a: unknown;
    try {
      a = resolveFfmpeg();
    } catch (e) {
      a = e;
    }
    let b: unknown;
    try {
      b = resolveFfmpeg();
    } catch (e) {
      b = e;
    }
    if (!isCoded(a)) expect(b).toBe(a); // the same cached object
    resolveFfmpeg({ env: { PATH: emptyDir }, packagePath: pkg(pkgBin) });
    expect(process.env.PATH).toBe(pathBefore);
    if (!isCoded(a)) expect(resolveFfmpeg()).toBe(a); // an explicit lookup does not replace the cache
  });
});

// The real optional packages (npm installs them on linux-x64, this project's machines and CI; their
// absence there is a broken install, not a reason to skip).
const require = createRequire(import.meta.url);
const installed = (name: string) => { try { require.resolve(name); return true; } catch { return false; } };

describe('the npm packages @ffmpeg-installer/ffmpeg and @ffprobe-installer/ffprobe', () => {
  it('with nothing on PATH: the packaged static ffmpeg, which runs', () => {
    expect(installed('@ffmpeg-installer/ffmpeg'), 'run npm install: @ffmpeg-installer/ffmpeg is an optionalDependency').toBe(true);
    const b = resolveFfmpeg({ env: { PATH: '' } });
    expect(b.from).toBe('package');
    expect(b.path).toContain(`${path.sep}@ffmpeg-installer${path.sep}`);
    expect(b.pkg).toMatch(/^@ffmpeg-installer\//);
    expect(b.libs.libavformat?.[0]).toBeGreaterThan(50);
  });

  it('with nothing on PATH: the packaged static ffprobe', () => {
    expect(installed('@ffprobe-installer/ffprobe'), 'run npm install: @ffprobe-installer/ffprobe is an optionalDependency').toBe(true);
    const b = resolveFfprobe({ env: { PATH: '' } });
    expect(b.from).toBe('package');
    expect(b.path).toContain(`${path.sep}@ffprobe-installer${path.sep}`);
  });
});
