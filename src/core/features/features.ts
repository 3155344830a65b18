// The entry point for builds: devcontainer.json's `features`, resolved and put in installation order.
import type { FeatureDownloader, ResolvedFeature } from './resolve';
import { featureRequests, resolveFeatures } from './resolve';
import { installOrder } from './order';
import { httpFeatureDownloader } from './download';

/**
 * The Features a parsed devcontainer.json asks for (dependsOn included), in the order they install; configDir is the
 * folder devcontainer.json is in, which local Features (./features/<id>) are relative to. Empty without `features`.
 */
export async function projectFeatures(
  config: Record<string, unknown>,
  configDir: string,
  o: { download?: FeatureDownloader; signal?: AbortSignal } = {},
): Promise<ResolvedFeature[]> {
  if (!featureRequests(config).length) return [];
  const resolved = await resolveFeatures(config, configDir, o.download ?? httpFeatureDownloader(), o.signal);
  const override = Array.isArray(config.overrideFeatureInstallOrder)
    ? config.overrideFeatureInstallOrder.filter((s): s is string => typeof s === 'string')
    : [];
  return installOrder(resolved, configDir, override);
}
