import type { CloudFeature } from './cloud.ts';
import type { CloudConfig } from './config.ts';

/**
 * Cloud features beyond the foundation (alerts, model registry, GBFS, …), each a
 * CloudFeature with its sinks, routes and background work, enabled by its block in
 * the cloud config. The registry of kinds, like edge/sources/registry.ts for the edge.
 */
export async function allCloudFeatures(config: CloudConfig, configDir = process.cwd()): Promise<CloudFeature[]> {
  const features: CloudFeature[] = [];
  if (config.gbfs) features.push((await import('./gbfs/feature.ts')).gbfsFeature(config.gbfs, configDir));
  if (config.models) features.push((await import('./models/feature.ts')).modelsFeature(config.models, configDir));
  if (config.alerts) features.push((await import('./alerts/feature.ts')).alertsFeature(config.alerts));
  if (config.hj212) features.push((await import('./hj212/feature.ts')).hj212Feature(config.hj212));
  return features;
}
