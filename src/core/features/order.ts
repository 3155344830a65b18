// The installation order of the Features spec: a Feature installs after everything it `dependsOn` (hard) and after
// the Features named in its `installsAfter` that are being installed anyway (soft); round by round, the ready
// Features with the highest `overrideFeatureInstallOrder` priority commit, sorted by resource within a round.
import { tryParseReference } from '../reference';
import type { ResolvedFeature } from './resolve';
import { classifyFeature, FeatureError, sameOptions } from './resolve';

/** Whether an id as installsAfter/overrideFeatureInstallOrder write it names this Feature (version ignored). */
function names(f: ResolvedFeature, id: string, configDir: string): boolean {
  if (id === f.userId || id === f.manifest.id || f.manifest.legacyIds.includes(id)) return true;
  try {
    return classifyFeature(id, configDir).resource === f.resource;
  } catch {
    const ref = tryParseReference(id);
    return ref !== undefined && `${ref.registry}/${ref.path}` === f.resource;
  }
}

export function installOrder(features: readonly ResolvedFeature[], configDir: string, override: readonly string[] = []): ResolvedFeature[] {
  const after = new Map<ResolvedFeature, Set<ResolvedFeature>>();
  for (const f of features) {
    const deps = new Set<ResolvedFeature>();
    for (const [key, options] of Object.entries(f.manifest.dependsOn)) {
      const { resource } = classifyFeature(key, configDir);
      const dep = features.find((d) => d.resource === resource && sameOptions(d.options, options));
      if (dep) deps.add(dep);
    }
    for (const id of f.manifest.installsAfter) for (const d of features) if (d !== f && names(d, id, configDir)) deps.add(d);
    after.set(f, deps);
  }
  const priority = (f: ResolvedFeature): number => {
    const i = override.findIndex((id) => names(f, id, configDir));
    return i < 0 ? 0 : override.length - i;
  };
  const installed = new Set<ResolvedFeature>();
  const order: ResolvedFeature[] = [];
  let remaining = [...features];
  while (remaining.length) {
    const ready = remaining.filter((f) => [...after.get(f)!].every((d) => installed.has(d)));
    if (!ready.length) {
      throw new FeatureError(
        `The Features ${remaining.map((f) => `"${f.userId}"`).join(', ')} depend on each other in a circle (dependsOn/installsAfter): remove one of those dependencies.`,
      );
    }
    const top = Math.max(...ready.map(priority));
    const round = ready
      .filter((f) => priority(f) === top)
      .sort((a, b) => compare(a.resource, b.resource) || compare(JSON.stringify(a.options), JSON.stringify(b.options)));
    for (const f of round) installed.add(f);
    order.push(...round);
    remaining = remaining.filter((f) => !installed.has(f));
  }
  return order;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
