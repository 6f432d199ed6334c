/**
 * `model-manager` source: runs a ModelManager for the site and registers the `model.deploy` /
 * `model.rollback` commands. Its health() (model versions, pending operation, last refusal)
 * travels in the site status under `health.sources.<id>`.
 *
 * Command registration needs the edge: the runtime passes `registerCommand` in the source
 * context when it supports it; otherwise `attachModelCommands(edge)` does it after start.
 */
import type { Command } from '../../protocol/schemas.ts';
import type { Source, SourceContext, SourceFactory } from '../../lib/contract/source.ts';
import { ModelManagerConfigSchema, type ModelManagerConfig } from '../models/config.ts';
import type { DeployTarget } from '../models/journal.ts';
import { ModelManager, type ModelLoader } from '../models/manager.ts';

type Handler = (cmd: Command) => Promise<Record<string, unknown>>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type CommandRegistrar = { registerCommand(name: string, handler: (cmd: Command, edge: any) => Promise<Record<string, unknown>>): void };

const managers = new Map<string, ModelManager>();
/** The running model manager of a site in this process (for the camera pipeline and tests). */
export function modelManagerFor(site: string): ModelManager | undefined {
  return managers.get(site);
}

function commandHandlers(m: ModelManager): Record<string, Handler> {
  return {
    'model.deploy': (cmd) => m.deploy(cmd.id, cmd.args.target as DeployTarget, cmd.args.rollout as string | undefined),
    'model.rollback': (cmd) => m.rollback(cmd.id, { from: cmd.args.from as string | undefined, to: cmd.args.to as DeployTarget | undefined }),
    'model.status': async () => ({ ...m.health(), journal: m.journal() }),
  };
}

/** Register the model commands of the site's manager on an Edge (or anything with registerCommand). */
export function attachModelCommands(edge: CommandRegistrar & { config: { site: string } }): boolean {
  const m = managers.get(edge.config.site);
  if (!m) return false;
  for (const [name, h] of Object.entries(commandHandlers(m))) edge.registerCommand(name, (cmd) => h(cmd));
  return true;
}

export class ModelManagerSource implements Source {
  readonly id: string;
  manager?: ModelManager;
  constructor(private readonly cfg: ModelManagerConfig, private readonly loader?: ModelLoader, private readonly skipSelfTest = false) {
    this.id = cfg.id;
  }

  async start(ctx: SourceContext): Promise<void> {
    this.manager = new ModelManager(this.cfg, { site: ctx.site, stateDir: ctx.stateDir, configDir: ctx.configDir, log: ctx.log, emit: (items) => void ctx.emit(items), loader: this.loader, skipSelfTest: this.skipSelfTest });
    managers.set(ctx.site, this.manager);
    const reg = (ctx as SourceContext & Partial<CommandRegistrar>).registerCommand;
    if (typeof reg === 'function') for (const [name, h] of Object.entries(commandHandlers(this.manager))) reg(name, (cmd) => h(cmd));
    await this.manager.start();
  }

  async stop(): Promise<void> {
    await this.manager?.stop();
    for (const [k, v] of managers) if (v === this.manager) managers.delete(k);
  }

  health(): Record<string, unknown> {
    return this.manager?.health() ?? { starting: true };
  }
}

export const modelManagerFactory: SourceFactory = {
  type: 'model-manager',
  schema: ModelManagerConfigSchema,
  create: (config: ModelManagerConfig) => new ModelManagerSource(config),
};
