/**
 * Which ffmpeg / ffprobe to run. Order, first hit wins:
 *   1. env      FFMPEG_PATH / FFPROBE_PATH (must be an executable file that runs: a wrong override is an
 *               error, not silently replaced by another binary);
 *   2. system   `ffmpeg` / `ffprobe` found on PATH (e.g. Debian's /usr/bin/ffmpeg);
 *   3. package  the static binaries shipped in the optional npm packages `@ffmpeg-installer/ffmpeg` and
 *               `@ffprobe-installer/ffprobe` (loaded lazily: they may be absent).
 * Each candidate must run `-version`; its version and library versions are kept so callers can pick
 * options the binary understands (the packaged ffmpeg is a 2018 4.1 build). Nothing found:
 * CodedError FFMPEG_NOT_FOUND / FFPROBE_NOT_FOUND, saying what to install.
 *
 * The default lookup (process.env) is cached per process; `resolveFfmpeg({ env, … })` with explicit
 * options is not cached and never touches process.env (tests, diagnostics).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { CodedError } from './errors.ts';

export type FfTool = 'ffmpeg' | 'ffprobe';
export type FfSource = 'env' | 'system' | 'package';

export interface FfBinary {
  tool: FfTool;
  path: string;
  from: FfSource;
  /** The token after "ffmpeg version": "5.1.9-0+deb12u1", or a git build id like "N-47683-g0e8eb07980-static". */
  version: string;
  /** Library versions from `-version`, e.g. { libavformat: [58, 24, 100] }. */
  libs: Record<string, [number, number, number]>;
  /** from === 'package': the npm package holding the binary, e.g. "@ffmpeg-installer/linux-x64@4.1.0". */
  pkg?: string;
}

export interface ResolveOptions {
  /** Environment to read FFMPEG_PATH / FFPROBE_PATH and PATH from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Skip the PATH lookup (e.g. to run the packaged binary on a machine that has a system one). */
  skipSystem?: boolean;
  /** Skip the npm packages. */
  skipPackage?: boolean;
  /** Path of the packaged binary, or undefined when the package is absent (default: require the npm package). */
  packagePath?: (tool: FfTool) => string | undefined;
}

const ENV_VAR: Record<FfTool, string> = { ffmpeg: 'FFMPEG_PATH', ffprobe: 'FFPROBE_PATH' };
const PACKAGE: Record<FfTool, string> = { ffmpeg: '@ffmpeg-installer/ffmpeg', ffprobe: '@ffprobe-installer/ffprobe' };
const CODE: Record<FfTool, string> = { ffmpeg: 'FFMPEG_NOT_FOUND', ffprobe: 'FFPROBE_NOT_FOUND' };

const cache = new Map<FfTool, FfBinary>();
const helpCache = new Map<string, Set<string>>();

/** The ffmpeg to run (cached for the default lookup). Throws CodedError FFMPEG_NOT_FOUND. */
export function resolveFfmpeg(opts?: ResolveOptions): FfBinary {
  return resolve('ffmpeg', opts);
}

/** The ffprobe to run (cached for the default lookup). Throws CodedError FFPROBE_NOT_FOUND. */
export function resolveFfprobe(opts?: ResolveOptions): FfBinary {
  return resolve('ffprobe', opts);
}

/** Forget the cached default lookups (tests; after installing ffmpeg in a running process). */
export function resetFfmpegCache(): void {
  cache.clear();
  helpCache.clear();
}

/** One line for logs and error messages: "ffmpeg 5.1.9-0+deb12u1 (system /usr/bin/ffmpeg)". */
export function describeFf(b: FfBinary): string {
  const lavf = b.libs.libavformat ? `, libavformat ${b.libs.libavformat.join('.')}` : '';
  return `${b.tool} ${b.version}${lavf} (${b.from}${b.pkg ? ` ${b.pkg}` : ''} ${b.path})`;
}

/** Major version of one of the binary's libraries (libavformat, libavcodec…), 0 when unknown. */
export function libMajor(b: FfBinary, lib: string): number {
  return b.libs[lib]?.[0] ?? 0;
}

/**
 * Whether the binary's command line knows `-<name>` (from `-h long`, cached per binary): e.g.
 * `-fps_mode` and `-stats_period` exist since ffmpeg 5.1/4.4, not in the packaged 4.1.
 */
export function hasCliOption(b: FfBinary, name: string): boolean {
  let opts = helpCache.get(b.path);
  if (!opts) {
    const r = spawnSync(b.path, ['-hide_banner', '-h', 'long'], { encoding: 'utf8', maxBuffer: 16 << 20, timeout: 10_000 });
    opts = new Set([...`${r.stdout ?? ''}\n${r.stderr ?? ''}`.matchAll(/^-([A-Za-z0-9_:]+)/gm)].map((m) => m[1]));
    helpCache.set(b.path, opts);
  }
  return opts.has(name.replace(/^-/, ''));
}

/**
 * `-vsync 0` / `-fps_mode passthrough`: every decoded frame out, no duplicates or drops. `-fps_mode`
 * is the option since ffmpeg 5.1 (where `-vsync` is deprecated); 4.1 only knows `-vsync`.
 */
export function passthroughFpsArgs(b: FfBinary): string[] {
  return hasCliOption(b, 'fps_mode') ? ['-fps_mode', 'passthrough'] : ['-vsync', '0'];
}

function resolve(tool: FfTool, opts?: ResolveOptions): FfBinary {
  if (!opts) {
    const hit = cache.get(tool);
    if (hit) return hit;
  }
  const env = opts?.env ?? process.env;
  const tried: string[] = [];

  // 1. explicit override
  const fromEnv = env[ENV_VAR[tool]];
  if (fromEnv) {
    const p = path.resolve(fromEnv);
    const why = unusable(p);
    const b = why ? undefined : probe(tool, p, 'env');
    if (!b) {
      throw new CodedError(CODE[tool], `${ENV_VAR[tool]}=${fromEnv} is not a working ${tool} (${why ?? `\`${p} -version\` failed`}); point it at a ${tool} executable or unset it`, { tool, tried: [p] });
    }
    return remember(tool, b, opts);
  }

  // 2. system binary on PATH
  if (!opts?.skipSystem) {
    for (const p of onPath(tool, env.PATH ?? '')) {
      const why = unusable(p);
      const b = why ? undefined : probe(tool, p, 'system');
      if (b) return remember(tool, b, opts);
      tried.push(`${p} (${why ?? '-version failed'})`);
    }
  }

  // 3. the npm package's static build
  if (!opts?.skipPackage) {
    let p: string | undefined;
    let err: string | undefined;
    try {
      p = (opts?.packagePath ?? packageBinary)(tool);
    } catch (e) {
      err = e instanceof Error ? e.message : String(e);
    }
    if (p) {
      const why = unusable(p);
      const b = why ? undefined : probe(tool, p, 'package');
      if (b) return remember(tool, { ...b, ...packageName(p) }, opts);
      tried.push(`${p} (${why ?? '-version failed'})`);
    } else {
      tried.push(`npm package ${PACKAGE[tool]} (${err ?? 'not installed'})`);
    }
  }

  throw new CodedError(
    CODE[tool],
    `${tool} not found: install it (\`apt-get install ffmpeg\`, which brings ffmpeg and ffprobe), or \`npm install @ffmpeg-installer/ffmpeg @ffprobe-installer/ffprobe\`, ` +
      `or set ${ENV_VAR[tool]} to a ${tool} executable. Looked for: ${ENV_VAR[tool]} (unset)` +
      `${opts?.skipSystem ? '' : `, ${tool} on PATH`}${tried.length ? `; tried ${tried.join('; ')}` : ''}`,
    { tool, tried },
  );
}

function remember(tool: FfTool, b: FfBinary, opts?: ResolveOptions): FfBinary {
  if (!opts) cache.set(tool, b);
  return b;
}

/** Candidate files named `tool` in each PATH entry (ffmpeg.exe etc. on Windows). */
function onPath(tool: FfTool, pathVar: string): string[] {
  const exts = process.platform === 'win32' ? ['.exe', ''] : [''];
  const out: string[] = [];
  for (const dir of pathVar.split(path.delimiter)) {
    if (!dir) continue;
    for (const ext of exts) {
      const p = path.join(path.resolve(dir), tool + ext);
      if (fs.existsSync(p) && !out.includes(p)) out.push(p);
    }
  }
  return out;
}

/** Why a path cannot be run, or undefined when it is an executable file. */
function unusable(p: string): string | undefined {
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch {
    return 'no such file';
  }
  if (!st.isFile()) return 'not a file';
  try {
    fs.accessSync(p, fs.constants.X_OK);
  } catch {
    return `not executable: chmod +x ${p}`;
  }
  return undefined;
}

/** Run `<p> -version`; undefined if it does not run or does not look like ffmpeg/ffprobe. */
function probe(tool: FfTool, p: string, from: FfSource): FfBinary | undefined {
  const r = spawnSync(p, ['-hide_banner', '-version'], { encoding: 'utf8', timeout: 10_000, maxBuffer: 1 << 20 });
  if (r.error || r.status !== 0) return undefined;
  const text = `${r.stdout ?? ''}\n${r.stderr ?? ''}`;
  const m = /\b(?:ffmpeg|ffprobe) version (\S+)/.exec(text);
  if (!m) return undefined;
  const libs: FfBinary['libs'] = {};
  for (const l of text.matchAll(/^(lib\w+)\s+(\d+)\.\s*(\d+)\.\s*(\d+)/gm)) libs[l[1]] = [Number(l[2]), Number(l[3]), Number(l[4])];
  return { tool, path: p, from, version: m[1], libs };
}

/** `require('@ffmpeg-installer/ffmpeg').path`, lazily; undefined when the optional package is absent. */
function packageBinary(tool: FfTool): string | undefined {
  const require = createRequire(import.meta.url);
  let mod: { path?: unknown };
  try {
    mod = require(PACKAGE[tool]) as { path?: unknown };
  } catch (e) {
    // absent package: MODULE_NOT_FOUND; present but unsupported platform / missing binary: it throws (a string, for ffmpeg-installer)
    if ((e as { code?: string } | undefined)?.code === 'MODULE_NOT_FOUND') return undefined;
    throw new Error(typeof e === 'string' ? e : e instanceof Error ? e.message : String(e));
  }
  return typeof mod.path === 'string' ? mod.path : undefined;
}

/** The package.json next to a packaged binary: "@ffmpeg-installer/linux-x64@4.1.0". */
function packageName(binary: string): { pkg?: string } {
  try {
    const pj = JSON.parse(fs.readFileSync(path.join(path.dirname(binary), 'package.json'), 'utf8')) as { name?: string; version?: string };
    return pj.name ? { pkg: `${pj.name}@${pj.version ?? '?'}` } : {};
  } catch {
    return {};
  }
}
