import type { Command } from 'commander';
import { untilSignal } from './common.ts';

export function register(program: Command): void {
  program.command('edge')
    .description('run a street-site edge gateway from its config file')
    .requiredOption('-c, --config <file>', 'edge config (YAML/JSON)')
    .action(async (opts: { config: string }) => {
      const { loadEdgeConfig } = await import('../../edge/config.ts');
      const { Edge } = await import('../../edge/edge.ts');
      const { config, factories } = await loadEdgeConfig(opts.config);
      const edge = await new Edge(config, factories).start();
      await untilSignal(() => edge.stop());
    });
}
