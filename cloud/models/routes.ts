/**
 * Model registry and rollout HTTP API.
 *   PUT|POST /api/v1/models                         upload a signed bundle (ops; application/octet-stream, streamed, size-capped)
 *   GET      /api/v1/models[?name=]                  list bundles (viewer)
 *   GET      /api/v1/models/:name/:version           one bundle's metadata and card (viewer)
 *   GET      /api/v1/models/:name/:version/bundle    the bytes, with Range (RFC 9110 §14) — a site's download
 *                                                    token from its deploy command, or an API token (viewer)
 *   POST     /api/v1/rollouts                        start a rollout (ops)
 *   GET      /api/v1/rollouts, /api/v1/rollouts/:id  state and per-site status (viewer)
 *   POST     /api/v1/rollouts/:id/{pause,resume,abort,rollback} (ops)
 */
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { CodedError } from '../../lib/errors.ts';
import { roleAtLeast } from '../api/tokens.ts';
import { bearer, errors } from '../api/schemas.ts';
import type { CloudContext } from '../context.ts';
import type { ModelsConfig } from './config.ts';
import type { ModelRegistry } from './registry.ts';
import { RolloutSpecSchema, type RolloutEngine, type RolloutSpec } from './rollouts.ts';

const NameVersion = Type.Object({ name: Type.String({ pattern: '^[a-z0-9_.-]{1,64}$' }), version: Type.String({ pattern: '^[A-Za-z0-9_.+-]{1,64}$' }) });
const IdParam = Type.Object({ id: Type.String({ pattern: '^[0-9a-f-]{36}$' }) });
const Action = Type.Object({ id: Type.String({ pattern: '^[0-9a-f-]{36}$' }), action: Type.Union([Type.Literal('pause'), Type.Literal('resume'), Type.Literal('abort'), Type.Literal('rollback')]) });

/** Parse a single `bytes=` range (RFC 9110 §14.1.2); undefined = whole file; null = unsatisfiable. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined | null {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  let start: number, end: number;
  if (m[1] === '') { const n = Number(m[2]); if (n === 0) return null; start = Math.max(0, size - n); end = size - 1; }
  else { start = Number(m[1]); end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1); }
  if (start >= size || start > end) return null;
  return { start, end };
}

export function modelRoutes(cfg: ModelsConfig, registry: () => ModelRegistry, engine: () => RolloutEngine) {
  return async (app: FastifyInstance, ctx: CloudContext): Promise<void> => {
    await app.register(async (api) => {
      api.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));
      const upload = {
        config: { role: 'ops' as const },
        schema: { tags: ['models'], summary: 'upload a signed model bundle (raw bytes, application/octet-stream)', security: bearer, response: { 201: Type.Any(), 200: Type.Any(), 413: Type.Any(), 422: Type.Any(), ...errors } },
      };
      const handler = async (req: { body: unknown; principal?: { name: string } }, reply: { code(n: number): { send(b: unknown): unknown } }) => {
        if (!req.body || typeof (req.body as Readable).pipe !== 'function') throw new CodedError('MODEL_UPLOAD_BAD_TYPE', 'send the bundle as Content-Type: application/octet-stream', { status: 415 });
        const row = await registry().put(req.body as Readable, cfg.maxBundleBytes, req.principal?.name ?? 'unknown');
        return reply.code(row.stored ? 201 : 200).send({ ...row, card: undefined });
      };
      api.put('/api/v1/models', upload, handler as never);
      api.post('/api/v1/models', upload, handler as never);
    });

    app.get<{ Querystring: { name?: string } }>('/api/v1/models', {
      config: { role: 'viewer' },
      schema: { tags: ['models'], summary: 'bundles in the registry', security: bearer, querystring: Type.Object({ name: Type.Optional(Type.String()) }), response: { 200: Type.Array(Type.Any()), ...errors } },
    }, async (req) => registry().list(req.query.name).map((r) => ({ ...r, card: undefined })));

    app.get<{ Params: Static<typeof NameVersion> }>('/api/v1/models/:name/:version', {
      config: { role: 'viewer' },
      schema: { tags: ['models'], summary: 'one bundle with its card', security: bearer, params: NameVersion, response: { 200: Type.Any(), ...errors } },
    }, async (req) => {
      const row = registry().get(req.params.name, req.params.version);
      if (!row) throw new CodedError('MODEL_NOT_FOUND', `${req.params.name}@${req.params.version} is not in the registry`, { status: 404 });
      return row;
    });

    app.get<{ Params: Static<typeof NameVersion> }>('/api/v1/models/:name/:version/bundle', {
      schema: { tags: ['models'], summary: 'download a bundle; supports Range for resume. Auth: the download token of a deploy command, or an API token', security: bearer, params: NameVersion },
    }, async (req, reply) => {
      const row = registry().get(req.params.name, req.params.version);
      const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
      const token = m?.[1];
      const api = token ? ctx.tokens.lookup(token) : undefined;
      const allowed = !!token && !!row && (engine().checkDownloadToken(token, row.digest) !== undefined || (!!api && roleAtLeast(api.role, 'viewer')));
      if (!token) return reply.code(401).send({ code: 'API_UNAUTHORIZED', message: 'send the download token of the deploy command (or an API token) as a bearer token' });
      if (!allowed) return reply.code(row ? 403 : 404).send({ code: row ? 'MODEL_DOWNLOAD_FORBIDDEN' : 'MODEL_NOT_FOUND', message: row ? 'this token does not allow downloading this bundle' : 'no such bundle' });
      const file = registry().blobPath(row!.digest);
      const size = row!.size;
      const range = parseRange(req.headers.range, size);
      reply.header('accept-ranges', 'bytes').header('etag', `"${row!.digest}"`).header('content-type', 'application/octet-stream');
      if (range === null) return reply.code(416).header('content-range', `bytes */${size}`).send({ code: 'MODEL_RANGE_NOT_SATISFIABLE', message: `range ${req.headers.range} is outside 0-${size - 1}` });
      if (!range) return reply.code(200).header('content-length', size).send(fs.createReadStream(file));
      return reply.code(206).header('content-range', `bytes ${range.start}-${range.end}/${size}`).header('content-length', range.end - range.start + 1).send(fs.createReadStream(file, { start: range.start, end: range.end }));
    });

    app.post<{ Body: RolloutSpec }>('/api/v1/rollouts', {
      config: { role: 'ops' },
      schema: { tags: ['rollouts'], summary: 'start a rollout: canary first, gates, then the rest', security: bearer, body: RolloutSpecSchema, response: { 201: Type.Any(), ...errors } },
    }, async (req, reply) => reply.code(201).send(engine().get(engine().create(req.body, req.principal?.name ?? 'unknown').id)));

    app.get('/api/v1/rollouts', {
      config: { role: 'viewer' },
      schema: { tags: ['rollouts'], summary: 'recent rollouts', security: bearer, response: { 200: Type.Array(Type.Any()), ...errors } },
    }, async () => engine().store.list());

    app.get<{ Params: Static<typeof IdParam> }>('/api/v1/rollouts/:id', {
      config: { role: 'viewer' },
      schema: { tags: ['rollouts'], summary: 'a rollout with per-site status', security: bearer, params: IdParam, response: { 200: Type.Any(), ...errors } },
    }, async (req) => {
      const r = engine().get(req.params.id);
      if (!r) throw new CodedError('ROLLOUT_NOT_FOUND', `no rollout ${req.params.id}`, { status: 404 });
      return { ...r, sites: r.sites.map((s) => ({ ...s, cmd: undefined })) };
    });

    app.post<{ Params: Static<typeof Action>; Body: { reason?: string } | undefined }>('/api/v1/rollouts/:id/:action', {
      config: { role: 'ops' },
      schema: { tags: ['rollouts'], summary: 'pause | resume | abort | rollback', security: bearer, params: Action, response: { 200: Type.Any(), ...errors } },
    }, async (req) => {
      const e = engine();
      const { id, action } = req.params;
      const r = action === 'pause' ? e.pause(id) : action === 'resume' ? e.resume(id) : action === 'abort' ? e.abort(id) : e.rollback(id, `manual rollback by ${req.principal?.name ?? 'operator'}${req.body?.reason ? `: ${req.body.reason}` : ''}`);
      return r;
    });
  };
}
