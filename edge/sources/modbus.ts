import { component } from '../../lib/log.ts';
import { Type, type Static } from '@sinclair/typebox';
import type { Source, SourceContext, SourceFactory } from '../../lib/contract/source.ts';
import { validateConfig } from '../../lib/config.ts';
import type { CodedError } from '../../lib/errors.ts';
import { EnvEmitter, EnvPipeline, EnvPipelineConfigSchema } from '../env/pipeline.ts';
import { checkModbusDevice, ModbusDeviceSchema } from '../../firmware-bridge/modbus/config.ts';
import { ModbusPoller } from '../../firmware-bridge/modbus/poller.ts';

/** Source config: the device (firmware-bridge/modbus/config.ts) plus the env pipeline block. */
export const ModbusSourceSchema = Type.Object(
  { type: Type.Literal('modbus'), ...ModbusDeviceSchema.properties, pipeline: EnvPipelineConfigSchema },
  { additionalProperties: false },
);
export type ModbusSourceConfig = Static<typeof ModbusSourceSchema>;

export function parseModbusConfig(raw: unknown, source = 'modbus source'): ModbusSourceConfig {
  return checkModbusDevice(validateConfig(ModbusSourceSchema, raw, source, 'MODBUS_CONFIG'), source);
}

/**
 * Edge source `type: modbus`: polls a device's register map every pollIntervalMs and feeds the
 * readings through the env pipeline (range QC, aggregates, alerts) into the outbox.
 * Connection failures and timeouts reconnect with exponential backoff (initialMs × 2ⁿ ≤ maxMs).
 */
export class ModbusSource implements Source {
  readonly id: string;
  private poller?: ModbusPoller;
  private emitter?: EnvEmitter;
  private timer?: NodeJS.Timeout;
  private running = false;
  private loop?: Promise<void>;
  private backoffMs: number;
  private lastError?: { code: string; message: string; at: number };
  private counts = { polls: 0, readings: 0, connects: 0, reconnects: 0, errors: {} as Record<string, number> };
  private lastPollAt?: number;

  constructor(readonly cfg: ModbusSourceConfig) {
    this.id = cfg.id;
    this.backoffMs = cfg.backoff.initialMs;
  }

  async start(ctx: SourceContext): Promise<void> {
    const log = ctx.log;
    this.poller = new ModbusPoller(this.cfg, log);
    this.emitter = new EnvEmitter(ctx, new EnvPipeline(this.cfg.pipeline), this.id);
    this.emitter.start();
    this.running = true;
    const step = async () => {
      if (!this.running) return;
      const delay = await this.cycle(log);
      if (this.running) this.timer = setTimeout(() => { this.loop = step(); }, delay);
    };
    this.loop = step();
  }

  /** One poll (connecting first if needed); returns the delay before the next one. */
  private async cycle(log: SourceContext['log']): Promise<number> {
    const p = this.poller!;
    const started = Date.now();
    try {
      if (!p.connected) {
        if (this.counts.connects > 0) this.counts.reconnects++;
        this.counts.connects++;
        await p.connect();
        this.backoffMs = this.cfg.backoff.initialMs;
      }
      const { readings, errors } = await p.poll();
      this.counts.polls++;
      this.lastPollAt = Date.now();
      for (const e of errors) this.noteError(e, log);
      if (readings.length) {
        this.counts.readings += readings.length;
        this.emitter!.emit(readings);
      }
      return Math.max(0, this.cfg.pollIntervalMs - (Date.now() - started));
    } catch (err) {
      this.noteError(err as CodedError, log);
      await p.close();
      const d = this.backoffMs;
      this.backoffMs = Math.min(this.cfg.backoff.maxMs, this.backoffMs * 2);
      return d;
    }
  }

  private noteError(e: CodedError, log: SourceContext['log']): void {
    const code = e.code ?? 'MODBUS_IO';
    this.counts.errors[code] = (this.counts.errors[code] ?? 0) + 1;
    this.lastError = { code, message: e.message, at: Date.now() };
    log.warn({ code, err: e.message }, 'modbus error');
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    await this.loop?.catch(() => undefined);
    await this.poller?.close();
    this.emitter?.stop();
  }

  health(): Record<string, unknown> {
    return {
      connected: this.poller?.connected ?? false,
      lastPollAt: this.lastPollAt,
      nextBackoffMs: this.backoffMs,
      lastError: this.lastError,
      ...this.counts,
      pipeline: this.emitter?.pipeline.stats(),
    };
  }
}

export const modbusFactory: SourceFactory = {
  type: 'modbus',
  schema: ModbusSourceSchema,
  create: (config: unknown) => new ModbusSource(parseModbusConfig(config, `modbus source`)),
};
