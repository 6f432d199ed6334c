import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { CloudContext } from '../../context.ts';

/** Liveness, readiness and Prometheus metrics (unauthenticated, like Telegraf/Prometheus endpoints). */
export async function healthRoutes(app: FastifyInstance, ctx: CloudContext): Promise<void> {
  app.get('/health', { schema: { tags: ['health'], summary: 'liveness', response: { 200: Type.Object({ status: Type.Literal('ok') }) } } }, async () => ({ status: 'ok' as const }));

  app.get('/ready', {
    schema: {
      tags: ['health'],
      summary: 'readiness: series store reachable, ingest spool draining, feature checks',
      response: { 200: Type.Object({ ready: Type.Boolean(), checks: Type.Record(Type.String(), Type.Boolean()), spool: Type.Integer() }), 503: Type.Object({ ready: Type.Boolean(), checks: Type.Record(Type.String(), Type.Boolean()), spool: Type.Integer() }) },
    },
  }, async (_req, reply) => {
    const checks: Record<string, boolean> = { store: await ctx.store.ping().catch(() => false), ingest: ctx.ingest.healthy };
    for (const [name, check] of ctx.readiness) checks[name] = await Promise.resolve(check()).catch(() => false);
    const ready = Object.values(checks).every(Boolean);
    return reply.code(ready ? 200 : 503).send({ ready, checks, spool: ctx.ingest.spoolDepth() });
  });

  app.get('/metrics', { schema: { tags: ['health'], summary: 'Prometheus metrics', hide: true } }, async (_req, reply) => {
    reply.header('content-type', ctx.metrics.contentType);
    return ctx.metrics.metrics();
  });
}
