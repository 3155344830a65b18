// The container is untrusted, and so is its image's devcontainer.metadata label: any base image can write one. What
// an entry asks that loosens the container — privileged mode, capabilities, security options, bind mounts of host
// paths — applies without a word only when it comes from a Feature this project's devcontainer.json lists; anything
// else the image asks needs the user's consent once per image, remembered in a file on the host, outside every
// workspace (containers see the workspace, never this file). Both shells and every background `mlc` read the one file.
import type { ImageDetails } from '../docker/engine';
import { UserError } from '../errors';
import { shortImageId, tryParseReference } from '../reference';
import type { ImageConsent } from './imageConsent';
import { rememberImagePrivileges } from './imageConsent';
import type { ImageRuntime, MountSpec, RuntimeSettings } from './runtime';
import { imageFeatureRuntime } from './runtime';

/** What the image asks beyond the project's Features, and needs the user's consent for. */
export interface AskedPrivileges {
  privileged: boolean;
  capAdd: string[];
  securityOpt: string[];
  /** Bind mounts of host paths; volumes and tmpfs are the engine's own storage and need no consent. */
  binds: MountSpec[];
}

export class ImagePrivilegesError extends UserError {
  constructor(
    readonly imageId: string,
    /** The image as the user named it (its short id where they named none). */
    readonly imageName: string,
    /** What it asks, as words: "privileged mode, capability SYS_ADMIN and a bind mount of / at /host". */
    readonly asked: string,
  ) {
    super(
      `The image ${imageName} asks for ${asked} through its devcontainer.metadata label: run again with --allow-image-privileges to grant them for this image, or rebuild from a base you trust.`,
    );
    this.name = 'ImagePrivilegesError';
  }
}

/**
 * A Feature id without its version: `ghcr.io/devcontainers/features/common-utils:2` and `…/common-utils@sha256:…`
 * are one Feature (a project that pins another major version still asked for it); local folders and tarball URLs
 * as written. Both devcontainer.json's keys and the label's ids are what the user wrote (the devcontainer CLI writes
 * `userFeatureId`, metadata.ts `userId`), so they compare after this.
 */
export function featureKey(id: string): string {
  const trimmed = id.trim().replace(/\/+$/, '');
  if (/^\.\.?\//.test(trimmed) || /^https?:\/\//i.test(trimmed)) return trimmed;
  const ref = trimmed.includes('/') ? tryParseReference(trimmed.toLowerCase()) : undefined;
  return ref ? `${ref.registry}/${ref.path}` : trimmed.toLowerCase();
}

/** Security options that only tighten the container; every other one (seccomp, apparmor, label, systempaths) loosens or replaces a profile. */
function tightens(option: string): boolean {
  return /^no-new-privileges(?:[=:]true)?$/i.test(option.trim());
}

/**
 * The image's metadata runtime, all of it in the label's order (`applied`), and the part that comes from no Feature
 * of this project and loosens the container (`asked`). An entry is the project's when its id is one of
 * devcontainer.json's Features and it is the last entry with that id: a build appends the project's Features after
 * the base's entries, so a base cannot pass its own entry off as one the project asked for by borrowing an id.
 */
export function imagePrivileges(
  labels: Readonly<Record<string, string>>,
  workspace: string,
  projectFeatures: readonly string[],
): { applied: ImageRuntime; asked: AskedPrivileges } {
  const wanted = new Set(projectFeatures.map(featureKey));
  const entries = imageFeatureRuntime(labels, workspace).map((e) => ({ key: featureKey(e.id), runtime: e.runtime }));
  const applied: ImageRuntime = { mounts: [], capAdd: [], securityOpt: [], privileged: false };
  const asked: AskedPrivileges = { privileged: false, capAdd: [], securityOpt: [], binds: [] };
  entries.forEach(({ key, runtime }, i) => {
    applied.mounts.push(...runtime.mounts);
    applied.capAdd.push(...runtime.capAdd);
    applied.securityOpt.push(...runtime.securityOpt);
    applied.privileged ||= runtime.privileged;
    const projects = wanted.has(key) && !entries.slice(i + 1).some((later) => later.key === key);
    if (projects) return;
    asked.privileged ||= runtime.privileged;
    asked.capAdd.push(...runtime.capAdd);
    asked.securityOpt.push(...runtime.securityOpt.filter((o) => !tightens(o)));
    asked.binds.push(...runtime.mounts.filter((m) => m.Type === 'bind'));
  });
  asked.capAdd = [...new Set(asked.capAdd)];
  asked.securityOpt = [...new Set(asked.securityOpt)];
  return { applied, asked };
}

function asksNothing(a: AskedPrivileges): boolean {
  return !a.privileged && !a.capAdd.length && !a.securityOpt.length && !a.binds.length;
}

/** "privileged mode, capability SYS_ADMIN and a bind mount of / at /host". */
export function describeAsked(a: AskedPrivileges): string {
  const bind = (m: MountSpec): string => `${m.Source} at ${m.Target}${m.ReadOnly ? ' (read-only)' : ''}`;
  const parts = [
    ...(a.privileged ? ['privileged mode'] : []),
    ...(a.capAdd.length ? [`${a.capAdd.length > 1 ? 'capabilities' : 'capability'} ${a.capAdd.join(', ')}`] : []),
    ...(a.securityOpt.length ? [`${a.securityOpt.length > 1 ? 'security options' : 'security option'} ${a.securityOpt.join(', ')}`] : []),
    ...(a.binds.length
      ? [a.binds.length > 1 ? `bind mounts of ${a.binds.map(bind).join(', ')}` : `a bind mount of ${bind(a.binds[0]!)}`]
      : []),
  ];
  return parts.length > 1 ? `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)!}` : (parts[0] ?? '');
}

function refused(image: { ref: string; details: ImageDetails }, asked: AskedPrivileges): ImagePrivilegesError {
  const name = /^(sha256:)?[0-9a-f]{12,}$/.test(image.ref) ? shortImageId(image.details.id) : image.ref;
  return new ImagePrivilegesError(image.details.id, name, describeAsked(asked));
}

/**
 * What the image's metadata adds to a container of it (request.ts): everything, when what it asks beyond the
 * project's Features is nothing or agreed to; else an ImagePrivilegesError naming what it asks.
 */
export function grantedImageRuntime(
  image: { ref: string; details: ImageDetails },
  workspace: string,
  consent: ImageConsent | undefined,
): ImageRuntime {
  const { applied, asked } = imagePrivileges(image.details.labels, workspace, consent?.features ?? []);
  if (asksNothing(asked) || consent?.allowThis || consent?.allowed.includes(image.details.id)) return applied;
  throw refused(image, asked);
}

/**
 * The same decision before anything is written or started (a plan, a run record, a Jupyter container replaced);
 * with `--allow-image-privileges`, the consent is remembered for the image here, so the scheduler, a backend
 * submission or the next command finds it.
 */
export async function checkImagePrivileges(
  image: { ref: string; details: ImageDetails },
  workspace: string,
  runtime: RuntimeSettings | undefined,
): Promise<void> {
  const consent = runtime?.imageConsent;
  const { asked } = imagePrivileges(image.details.labels, workspace, consent?.features ?? []);
  if (asksNothing(asked) || consent?.allowed.includes(image.details.id)) return;
  if (!consent?.allowThis) throw refused(image, asked);
  if (consent.file) await rememberImagePrivileges(consent.file, image.details.id, describeAsked(asked));
}
