import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { projectPath } from '../../lib/data-dir.ts';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.json': 'application/json', '.map': 'application/json',
};
/** What the page may load: only this origin (no CDN, no tiles, no fonts from elsewhere). */
const CSP = "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

interface Asset { file: string; type: string; br?: string; gz?: string }

/** The built console's files (dist/console: index.html, assets/<name>-<hash>.js|css with .br and .gz). */
function scan(dir: string): Map<string, Asset> {
  const out = new Map<string, Asset>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const f = path.join(d, e.name);
      if (e.isDirectory()) { walk(f); continue; }
      if (/\.(br|gz)$/.test(e.name)) continue;
      const url = '/' + path.relative(dir, f).split(path.sep).join('/');
      out.set(url, { file: f, type: TYPES[path.extname(f)] ?? 'application/octet-stream', ...(fs.existsSync(`${f}.br`) ? { br: `${f}.br` } : {}), ...(fs.existsSync(`${f}.gz`) ? { gz: `${f}.gz` } : {}) });
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return out;
}

function send(req: FastifyRequest, reply: FastifyReply, a: Asset, cache: string): FastifyReply {
  const accept = String(req.headers['accept-encoding'] ?? '');
  const enc = a.br && /\bbr\b/.test(accept) ? 'br' : a.gz && /\bgzip\b/.test(accept) ? 'gzip' : undefined;
  const file = enc === 'br' ? a.br! : enc === 'gzip' ? a.gz! : a.file;
  reply.header('content-type', a.type).header('cache-control', cache).header('vary', 'Accept-Encoding')
    .header('x-content-type-options', 'nosniff').header('content-length', String(fs.statSync(file).size));
  if (enc) reply.header('content-encoding', enc);
  if (a.type.startsWith('text/html')) reply.header('content-security-policy', CSP).header('referrer-policy', 'same-origin').header('x-frame-options', 'DENY');
  return reply.send(fs.createReadStream(file));
}

/**
 * Serves the operator console at `/` from the files `npm run build` bundled into dist/console
 * (or `console.assetsDir`). index.html is `no-cache` (so a new build is seen at once); the
 * hashed assets under /assets/ are `immutable` for a year. Precompressed .br/.gz are chosen by
 * Accept-Encoding. Without a build, `/` answers 503 CONSOLE_NOT_BUILT.
 */
export function consoleStatic(assetsDir = projectPath('dist', 'console')) {
  return async (app: FastifyInstance): Promise<void> => {
    let assets = scan(assetsDir);
    const lookup = (url: string) => {
      let a = assets.get(url);
      if (!a && !assets.size) { assets = scan(assetsDir); a = assets.get(url); } // built after the cloud started
      return a;
    };
    app.get('/', { schema: { hide: true } }, async (req, reply) => {
      const index = lookup('/index.html');
      if (!index) return reply.code(503).send({ code: 'CONSOLE_NOT_BUILT', message: `the console is not built (${assetsDir}); run npm run build` });
      return send(req, reply, index, 'no-cache');
    });
    app.get<{ Params: { '*': string } }>('/assets/*', { schema: { hide: true } }, async (req, reply) => {
      const a = lookup(`/assets/${req.params['*']}`);
      if (!a) return reply.code(404).send({ code: 'API_NOT_FOUND', message: `no console asset ${req.url}` });
      return send(req, reply, a, 'public, max-age=31536000, immutable');
    });
    app.get('/favicon.ico', { schema: { hide: true } }, async (req, reply) => {
      const a = lookup('/favicon.svg');
      if (!a) return reply.code(404).send({ code: 'API_NOT_FOUND', message: 'no favicon' });
      return send(req, reply, a, 'public, max-age=86400');
    });
  };
}
