import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { CloudContext } from '../../context.ts';

const ReadyBody = Type.Object({
  ready: Type.Boolean(),
  checks: Type.Record(Type.String(), Type.Boolean()),
  /** Items and payload bytes in the ingest spool. */
  spool: Type.Integer(),
  spoolBytes: Type.Integer(),
  /** Why a failing check fails, in words (when not ready). */
  reasons: Type.Optional(Type.Record(Type.String(), Type.String())),
});

/** Liveness, readiness and Prometheus metrics (unauthenticated, like Telegraf/Prometheus endpoints). */
export async function healthRoutes(app: FastifyInstance, ctx: CloudContext): Promise<void> {
  app.get('/health', { schema: { tags: ['health'], summary: 'liveness', response: { 200: Type.Object({ status: Type.Literal('ok') }) } } }, async () => ({ status: 'ok' as const }));

  app.get('/ready', {
    schema: {
      tags: ['health'],
      summary: 'readiness: series store reachable, ingest spool draining and below its cap, feature checks',
      response: { 200: ReadyBody, 503: ReadyBody },
    },
  }, async (_req, reply) => {
    const full = ctx.ingest.spoolFullReason();
    const checks: Record<string, boolean> = { store: await ctx.store.ping().catch(() => false), ingest: ctx.ingest.healthy, spool: !full };
    for (const [name, check] of ctx.readiness) checks[name] = await Promise.resolve(check()).catch(() => false);
    const ready = Object.values(checks).every(Boolean);
    const reasons: Record<string, string> = {};
    if (full) reasons.spool = full;
    if (!checks.ingest) reasons.ingest = 'a sink write is failing: its items stay spooled and are retried';
    if (!checks.store) reasons.store = `the series store (${ctx.store.kind}) does not answer`;
    return reply.code(ready ? 200 : 503).send({ ready, checks, spool: ctx.ingest.spoolDepth(), spoolBytes: ctx.ingest.spoolBytes(), ...(ready ? {} : { reasons }) });
  });

  app.get('/metrics', { schema: { tags: ['health'], summary: 'Prometheus metrics', hide: true } }, async (_req, reply) => {
    reply.header('content-type', ctx.metrics.contentType);
    return ctx.metrics.metrics();
  });
}
