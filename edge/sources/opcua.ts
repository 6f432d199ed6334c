import { component } from '../../lib/log.ts';
import path from 'node:path';
import type { Source, SourceContext, SourceFactory } from '../../lib/contract/source.ts';
import { Type, type Static } from '@sinclair/typebox';
import { validateConfig } from '../../lib/config.ts';
import { EnvEmitter, EnvPipeline, EnvPipelineConfigSchema } from '../env/pipeline.ts';
import { OpcuaDeviceSchema } from '../../firmware-bridge/opcua/config.ts';

/** Source config: the server and items (firmware-bridge/opcua/config.ts) plus the env pipeline block. */
export const OpcuaSourceSchema = Type.Object(
  { type: Type.Literal('opcua'), ...OpcuaDeviceSchema.properties, pipeline: EnvPipelineConfigSchema },
  { additionalProperties: false },
);
export type OpcuaSourceConfig = Static<typeof OpcuaSourceSchema>;

export function parseOpcuaConfig(raw: unknown, source = 'opcua source'): OpcuaSourceConfig {
  return validateConfig(OpcuaSourceSchema, raw, source, 'OPCUA_CONFIG');
}
import { OpcuaSubscriber } from '../../firmware-bridge/opcua/subscriber.ts';

/** Edge source `type: opcua`: monitored items → readings → env pipeline → outbox. node-opcua loads in start(). */
export class OpcuaSource implements Source {
  readonly id: string;
  private sub?: OpcuaSubscriber;
  private emitter?: EnvEmitter;

  constructor(readonly cfg: OpcuaSourceConfig) {
    this.id = cfg.id;
  }

  async start(ctx: SourceContext): Promise<void> {
    const log = ctx.log;
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
