import { Command } from 'commander';
import { CodedError } from '../lib/errors.ts';
import type { CommandModule } from './commands/types.ts';

/**
 * `cityedge` CLI. Each subcommand lives in cli/commands/<name>.ts and exports
 * `register(program)`; heavy modules are imported lazily inside the action.
 */
const modules: Array<() => Promise<CommandModule>> = [
  () => import('./commands/cloud.ts'),
  () => import('./commands/edge.ts'),
  () => import('./commands/demo.ts'),
  () => import('./commands/device.ts'),
  () => import('./commands/token.ts'),
  () => import('./commands/user.ts'),
  () => import('./commands/hj212.ts'),
  () => import('./commands/aqi.ts'),
  () => import('./commands/bikes.ts'),
  () => import('./commands/model.ts'),
  () => import('./commands/detect.ts'),
];

const program = new Command();
program.name('cityedge').description('smart-city street-site runtime: edge gateways and cloud ingest').version('0.1.0');
program.showHelpAfterError();
for (const load of modules) (await load()).register(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CodedError) {
    console.error(`error ${err.code}: ${err.message}`);
    process.exit(2);
  }
  throw err;
}
