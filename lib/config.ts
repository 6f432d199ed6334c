import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { TSchema, Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import { CodedError } from './errors.ts';

/** Sizes like 512MiB, 2GB, or plain bytes (the edge's outbox cap and the cloud's spool cap). */
export function parseBytes(v: string | number): number {
  if (typeof v === 'number') return v;
  const m = /^\s*([0-9.]+)\s*(B|KB|KiB|MB|MiB|GB|GiB|TB|TiB)?\s*$/i.exec(v);
  if (!m) throw new CodedError('CONFIG_INVALID', `size ${JSON.stringify(v)} must look like 512MiB, 2GB or a number of bytes`);
  const mult: Record<string, number> = { b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1024 ** 2, gb: 1e9, gib: 1024 ** 3, tb: 1e12, tib: 1024 ** 4 };
  return Math.floor(Number(m[1]) * mult[(m[2] ?? 'b').toLowerCase()]);
}

/**
 * Interpolate ${VAR} and ${VAR:-default} in string values of a parsed config tree.
 * Secrets (passwords, tokens) are meant to come from the environment this way.
 */
export function interpolateEnv(value: unknown, env: NodeJS.ProcessEnv = process.env): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Z0-9_]+)(?::-([^}]*))?\}/g, (_m, name: string, def?: string) => env[name] ?? def ?? '');
  }
  if (Array.isArray(value)) return value.map((v) => interpolateEnv(v, env));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateEnv(v, env)]));
  }
  return value;
}

/**
 * Validate `raw` against a TypeBox schema: defaults applied, unknown keys rejected
 * (schemas use additionalProperties: false), every error names the path and what was expected.
 */
export function validateConfig<S extends TSchema>(schema: S, raw: unknown, source: string, code = 'CONFIG_INVALID'): Static<S> {
  const value = Value.Default(schema, structuredClone(raw ?? {}));
  const checker = TypeCompiler.Compile(schema);
  if (!checker.Check(value)) {
    const problems = [...checker.Errors(value)].slice(0, 10).map((e) => `${e.path || '/'}: ${e.message}${e.value !== undefined && typeof e.value !== 'object' ? ` (got ${JSON.stringify(e.value)})` : ''}`);
    throw new CodedError(code, `${source}: invalid configuration:\n  ${problems.join('\n  ')}`, { source, problems });
  }
  return value as Static<S>;
}

/** Load a YAML or JSON config file, interpolate env vars, validate. Paths resolve relative to the file. */
export function loadConfigFile<S extends TSchema>(schema: S, file: string, code = 'CONFIG_INVALID'): Static<S> & { __dir: string } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new CodedError('CONFIG_NOT_FOUND', `cannot read config file ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = YAML.parse(text);
  } catch (err) {
    throw new CodedError('CONFIG_PARSE', `${file}: not valid YAML/JSON: ${(err as Error).message}`);
  }
  const cfg = validateConfig(schema, interpolateEnv(parsed), file, code);
  return Object.assign(cfg as object, { __dir: path.dirname(path.resolve(file)) }) as Static<S> & { __dir: string };
}
