// Every label key ML Containers writes on images and containers or reads back, and the one place that turns an
// image's labels into provenance and back.
import type { GitInfo } from './provenance/git';

/** Our label namespace on images and containers; OCI keys (org.opencontainers.image.*) sit beside it. */
export const LABEL_PREFIX = 'org.mlcontainers';
/** The OCI image annotation namespace, with its trailing dot. */
export const OCI_PREFIX = 'org.opencontainers.image.';

/** Set on every image and container ML Containers creates, so one filtered list call finds them all. */
export const MANAGED_LABEL = `${LABEL_PREFIX}.managed`;

/** The git commit an image was built from (OCI). */
export const REVISION_LABEL = `${OCI_PREFIX}revision`;
export const CREATED_LABEL = `${OCI_PREFIX}created`;
export const TITLE_LABEL = `${OCI_PREFIX}title`;
/** The git remote, credentials stripped. */
export const SOURCE_LABEL = `${OCI_PREFIX}source`;
/** `git describe` of the commit. */
export const VERSION_LABEL = `${OCI_PREFIX}version`;

/**
 * The Dev Containers spec's merged configuration: a JSON array, the base image's entries, then one per installed
 * Feature, then devcontainer.json's own (as the devcontainer CLI writes it; see core/features/metadata.ts).
 */
export const DEVCONTAINER_METADATA_LABEL = 'devcontainer.metadata';

/** "true" when the image was built from uncommitted changes. */
export const DIRTY_LABEL = `${LABEL_PREFIX}.dirty`;
export const BRANCH_LABEL = `${LABEL_PREFIX}.branch`;
export const PRESET_LABEL = `${LABEL_PREFIX}.preset`;
export const VARIANT_LABEL = `${LABEL_PREFIX}.variant`;
/** The base image the build started from: the BASE_IMAGE build argument, else the Dockerfile's one pulled image. */
export const BASE_LABEL = `${LABEL_PREFIX}.base`;
/**
 * The base image's digest as this build resolved it: `sha256:…` of the registry manifest the base was pulled by
 * (its RepoDigests entry, or BuildKit's resolution while building); for a base that exists only on this engine
 * (built or loaded here, never pulled), the local image id `sha256:…` instead, which names the same content there.
 */
export const BASE_DIGEST_LABEL = `${LABEL_PREFIX}.base.digest`;
/** sha256 of the environment lock inside the image (IMAGE_LOCK_PATH in provenance/lock.ts), hex. */
export const LOCK_SHA256_LABEL = `${LABEL_PREFIX}.lock.sha256`;
export const DOCKERFILE_PATH_LABEL = `${LABEL_PREFIX}.dockerfile.path`;
export const DOCKERFILE_SHA256_LABEL = `${LABEL_PREFIX}.dockerfile.sha256`;
/** The hyper-parameter file baked into the image, relative to the project folder. */
export const CONFIG_PATH_LABEL = `${LABEL_PREFIX}.config.path`;
export const CONFIG_SHA256_LABEL = `${LABEL_PREFIX}.config.sha256`;

/** On containers: what they are for ("jupyter", "run"), the workspace folder, and the image they run. */
export const ROLE_LABEL = `${LABEL_PREFIX}.role`;
export const WORKSPACE_LABEL = `${LABEL_PREFIX}.workspace`;
export const IMAGE_ID_LABEL = `${LABEL_PREFIX}.image.id`;
export const IMAGE_REF_LABEL = `${LABEL_PREFIX}.image.ref`;
/** The GPUs a container was given: "none", "all" or device ids ("0,1"). */
export const GPU_LABEL = `${LABEL_PREFIX}.gpu`;
/** On run containers: the run's id in runs.jsonl. */
export const RUN_ID_LABEL = `${LABEL_PREFIX}.run.id`;
/** On run containers: the sweep ("<id>" on every point's container), so a whole sweep can be found and stopped. */
export const RUN_SWEEP_LABEL = `${LABEL_PREFIX}.run.sweep`;

/** On run containers a backend's job started (core/backends/): the job (`12_3`), whose script owns the container. */
export const JOB_LABEL = `${LABEL_PREFIX}.run.job`;

/** Ours or an OCI image key: the labels worth showing, exporting or carrying into another format. */
export function isProvenanceLabel(key: string): boolean {
  return key.startsWith(`${LABEL_PREFIX}.`) || key.startsWith(OCI_PREFIX);
}

// No build time among them (OCI's `created`): a label that changes on every build makes every build a new image, so a
// rebuild with nothing changed would not be BuildKit's fully cached no-op (the docker CLI's is) and would leave the old
// image dangling. The engine's own `Created` says when an image was made; images labelled before still read back.
export interface ProvenanceInput {
  git: GitInfo | undefined;
  title: string;
  preset?: string;
  variant?: string;
  /** The base image reference, when one is known (see BASE_LABEL). */
  baseImage?: string;
  /** See BASE_DIGEST_LABEL; known before the build when the base is already on the engine. */
  baseDigest?: string;
  dockerfileSha256: string;
  /** The Dockerfile's path relative to the project folder, with forward slashes. */
  dockerfilePath?: string;
  config?: { path: string; sha256: string };
}

/** OCI annotation keys plus ours; values never carry credentials (the remote URL is stripped upstream). */
export function provenanceLabels(p: ProvenanceInput): Record<string, string> {
  const labels: Record<string, string> = {
    [MANAGED_LABEL]: 'true',
    [TITLE_LABEL]: p.title,
    [DOCKERFILE_SHA256_LABEL]: p.dockerfileSha256,
  };
  if (p.dockerfilePath) labels[DOCKERFILE_PATH_LABEL] = p.dockerfilePath;
  if (p.git) {
    labels[REVISION_LABEL] = p.git.sha;
    labels[DIRTY_LABEL] = String(p.git.dirty);
    if (p.git.remoteUrl) labels[SOURCE_LABEL] = p.git.remoteUrl;
    if (p.git.describe) labels[VERSION_LABEL] = p.git.describe;
    if (p.git.branch) labels[BRANCH_LABEL] = p.git.branch;
  }
  if (p.preset) labels[PRESET_LABEL] = p.preset;
  if (p.variant) labels[VARIANT_LABEL] = p.variant;
  if (p.baseImage) labels[BASE_LABEL] = p.baseImage;
  Object.assign(labels, stampLabels(p));
  if (p.config) {
    labels[CONFIG_PATH_LABEL] = p.config.path;
    labels[CONFIG_SHA256_LABEL] = p.config.sha256;
  }
  return labels;
}

/** The labels only known once the image exists: its environment lock's hash, a base digest BuildKit resolved. */
export function stampLabels(p: { baseDigest?: string; lockSha256?: string }): Record<string, string> {
  return { ...(p.baseDigest ? { [BASE_DIGEST_LABEL]: p.baseDigest } : {}), ...(p.lockSha256 ? { [LOCK_SHA256_LABEL]: p.lockSha256 } : {}) };
}

/** What an image's labels say about how it was built; a field is absent when its label is. */
export interface ImageProvenance {
  /** MANAGED_LABEL is "true": built (or run) by ML Containers. */
  managed: boolean;
  /** The git commit, as labelled (not checked to be one). */
  revision?: string;
  /** DIRTY_LABEL is "true"; false also when the image has no such label. */
  dirty: boolean;
  /** ISO 8601, as labelled by builds before the label was dropped (see ProvenanceInput). */
  created?: string;
  title?: string;
  source?: string;
  version?: string;
  branch?: string;
  preset?: string;
  variant?: string;
  base?: string;
  baseDigest?: string;
  dockerfilePath?: string;
  dockerfileSha256?: string;
  configPath?: string;
  configSha256?: string;
  lockSha256?: string;
}

const FIELDS = {
  revision: REVISION_LABEL,
  created: CREATED_LABEL,
  title: TITLE_LABEL,
  source: SOURCE_LABEL,
  version: VERSION_LABEL,
  branch: BRANCH_LABEL,
  preset: PRESET_LABEL,
  variant: VARIANT_LABEL,
  base: BASE_LABEL,
  baseDigest: BASE_DIGEST_LABEL,
  dockerfilePath: DOCKERFILE_PATH_LABEL,
  dockerfileSha256: DOCKERFILE_SHA256_LABEL,
  configPath: CONFIG_PATH_LABEL,
  configSha256: CONFIG_SHA256_LABEL,
  lockSha256: LOCK_SHA256_LABEL,
} as const satisfies Partial<Record<keyof ImageProvenance, string>>;

/** The provenance in an image's labels (the reverse of provenanceLabels); values are passed on as labelled. */
export function readProvenance(labels: Readonly<Record<string, string>>): ImageProvenance {
  const p: ImageProvenance = { managed: labels[MANAGED_LABEL] === 'true', dirty: labels[DIRTY_LABEL] === 'true' };
  for (const [field, key] of Object.entries(FIELDS) as [keyof typeof FIELDS, string][]) {
    const value = labels[key];
    if (value !== undefined) p[field] = value;
  }
  return p;
}
