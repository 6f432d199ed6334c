import { component } from '../../lib/log.ts';
/**
 * The model registry + rollouts cloud feature (`models:` block in the cloud config).
 * Sinks: cmdres → rollout state; telemetry `model_stats` → gate statistics.
 */
import { validateConfig } from '../../lib/config.ts';
import { loadTrustedKeys } from '../../models/bundle/keys.ts';
import type { CloudFeature } from '../cloud.ts';
import type { CloudContext } from '../context.ts';
import type { SpooledItem } from '../ingest/ingest.ts';
import type { CommandResultItem, TelemetryItem } from '../../protocol/schemas.ts';
import { ModelsConfigSchema, type ModelsConfig } from './config.ts';
import { ModelRegistry } from './registry.ts';
import { RolloutEngine } from './rollouts.ts';
import { modelRoutes } from './routes.ts';
import { MODELS_SCHEMA } from './schema.ts';

export interface ModelsFeature extends CloudFeature {
  registry(): ModelRegistry;
  engine(): RolloutEngine;
}

export function modelsFeature(raw: unknown, configDir = process.cwd()): ModelsFeature {
  const cfg: ModelsConfig = validateConfig(ModelsConfigSchema, raw ?? {}, 'cloud config /models');
  let registry: ModelRegistry | undefined;
  let engine: RolloutEngine | undefined;
  const init = (ctx: CloudContext) => {
    if (registry) return;
    const trusted = cfg.trustedKeys ? loadTrustedKeys(cfg.trustedKeys, configDir) : null;
    registry = new ModelRegistry(ctx.db, ctx.dataDir, trusted);
    engine = new RolloutEngine(ctx.db, registry, ctx.commands, ctx.devices, cfg, component(ctx.log, 'cloud.rollouts'));
  };
  return {
    schema: [MODELS_SCHEMA],
    registry: () => registry!,
    engine: () => engine!,
    sinks(ctx) {
      init(ctx);
      return [{
        name: 'model-rollouts',
        kinds: ['cmdres', 'telemetry'],
        async write(items: SpooledItem[]) {
          for (const { site, item } of items) {
            if (item.kind === 'cmdres') engine!.onCmdRes(site, item as CommandResultItem);
            else if (item.kind === 'telemetry' && (item as TelemetryItem).m === 'model_stats') engine!.onStats(site, item as TelemetryItem);
          }
        },
      }];
    },
    routes: [modelRoutes(cfg, () => registry!, () => engine!)],
    start(ctx) {
      init(ctx);
      engine!.start();
    },
    stop() {
      engine?.stop();
    },
  };
}
