import type { CloudFeature } from './cloud.ts';

/**
 * Cloud features beyond the foundation (alerts, model registry, GBFS, …), each a
 * CloudFeature with its sinks, routes and background work. The registry of kinds,
 * like edge/sources/registry.ts for the edge.
 */
export async function allCloudFeatures(): Promise<CloudFeature[]> {
  return [];
}
