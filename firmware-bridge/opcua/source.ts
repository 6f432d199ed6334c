import path from 'node:path';
import type { Source, SourceContext, SourceFactory } from '../../edge/sources/types.ts';
import { EnvEmitter, EnvPipeline } from '../../edge/env/pipeline.ts';
import { type OpcuaSourceConfig, OpcuaSourceSchema, parseOpcuaConfig } from './config.ts';
import { OpcuaSubscriber } from './subscriber.ts';

/** Edge source `type: opcua`: monitored items → readings → env pipeline → outbox. node-opcua loads in start(). */
export class OpcuaSource implements Source {
  readonly id: string;
  private sub?: OpcuaSubscriber;
  private emitter?: EnvEmitter;

  constructor(readonly cfg: OpcuaSourceConfig) {
    this.id = cfg.id;
  }

  async start(ctx: SourceContext): Promise<void> {
    const log = ctx.log.child({ c: 'opcua', source: this.id });
    this.emitter = new EnvEmitter(ctx, new EnvPipeline(this.cfg.pipeline), this.id);
    this.emitter.start();
    const pki = this.cfg.pkiDir ? path.resolve(ctx.configDir, this.cfg.pkiDir) : path.join(ctx.stateDir, 'opcua-pki');
    this.sub = new OpcuaSubscriber(this.cfg, log, (rs) => this.emitter!.emit(rs), pki);
    await this.sub.start();
  }

  async stop(): Promise<void> {
    await this.sub?.stop();
    this.emitter?.stop();
  }

  health(): Record<string, unknown> {
    return { ...(this.sub?.health() ?? {}), pipeline: this.emitter?.pipeline.stats() };
  }
}

export const opcuaFactory: SourceFactory = {
  type: 'opcua',
  schema: OpcuaSourceSchema,
  create: (config: unknown) => new OpcuaSource(parseOpcuaConfig(config)),
};
