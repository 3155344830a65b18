// The `devcontainer.metadata` label as the devcontainer CLI writes it: a JSON array of the base image's entries, one
// entry per installed Feature (its id and the properties a Feature may declare for the container), then one with
// devcontainer.json's own properties. Dev Containers reads it back when it opens a container of the image.
import { isRecord } from '../json';
import type { ResolvedFeature } from './resolve';

/** What a Feature's entry carries (the CLI's list). containerEnv is not among them: it is ENV in the image. */
const FEATURE_PROPERTIES = [
  'onCreateCommand',
  'updateContentCommand',
  'postCreateCommand',
  'postStartCommand',
  'postAttachCommand',
  'init',
  'privileged',
  'capAdd',
  'securityOpt',
  'entrypoint',
  'mounts',
  'customizations',
];

/** What devcontainer.json's entry carries (the CLI's list). */
const CONFIG_PROPERTIES = [
  'onCreateCommand',
  'updateContentCommand',
  'postCreateCommand',
  'postStartCommand',
  'postAttachCommand',
  'waitFor',
  'customizations',
  'mounts',
  'containerEnv',
  'containerUser',
  'init',
  'privileged',
  'capAdd',
  'securityOpt',
  'remoteUser',
  'userEnvProbe',
  'remoteEnv',
  'overrideCommand',
  'portsAttributes',
  'otherPortsAttributes',
  'forwardPorts',
  'shutdownAction',
  'updateRemoteUserUID',
  'hostRequirements',
];

function pick(source: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => source[k] !== undefined).map((k) => [k, source[k]]));
}

/** The entries of an existing label (a base image built for Dev Containers has one); a malformed label counts as none. */
export function parseMetadataLabel(label: string | undefined): Record<string, unknown>[] {
  if (!label) return [];
  try {
    const value: unknown = JSON.parse(label);
    if (Array.isArray(value)) return value.filter(isRecord);
    return isRecord(value) ? [value] : [];
  } catch {
    return [];
  }
}

/** The entries for this image: the base's, each Feature's in installation order, devcontainer.json's. */
export function metadataEntries(
  base: readonly Record<string, unknown>[],
  features: readonly ResolvedFeature[],
  config: Record<string, unknown>,
): Record<string, unknown>[] {
  return [
    ...base,
    ...features.map((f) => ({ id: f.userId, ...pick(f.manifest.raw, FEATURE_PROPERTIES) })),
    pick(config, CONFIG_PROPERTIES),
  ];
}

export function metadataLabel(entries: readonly Record<string, unknown>[]): string {
  return JSON.stringify(entries);
}
