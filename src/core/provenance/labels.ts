import { DIRTY_LABEL, LABEL_PREFIX, MANAGED_LABEL, REVISION_LABEL } from '../labels';
import type { GitInfo } from './git';

export interface ProvenanceInput {
  git: GitInfo | undefined;
  created: Date;
  title: string;
  preset?: string;
  variant?: string;
  /** The BASE_IMAGE build argument, when the Dockerfile takes one. */
  baseImage?: string;
  dockerfileSha256: string;
  /** The Dockerfile's path relative to the project folder, with forward slashes. */
  dockerfilePath?: string;
  config?: { path: string; sha256: string };
}

/** OCI annotation keys plus ours; values never carry credentials (the remote URL is stripped upstream). */
export function provenanceLabels(p: ProvenanceInput): Record<string, string> {
  const labels: Record<string, string> = {
    [MANAGED_LABEL]: 'true',
    'org.opencontainers.image.created': p.created.toISOString(),
    'org.opencontainers.image.title': p.title,
    [`${LABEL_PREFIX}.dockerfile.sha256`]: p.dockerfileSha256,
  };
  if (p.dockerfilePath) labels[`${LABEL_PREFIX}.dockerfile.path`] = p.dockerfilePath;
  if (p.git) {
    labels[REVISION_LABEL] = p.git.sha;
    labels[DIRTY_LABEL] = String(p.git.dirty);
    if (p.git.remoteUrl) labels['org.opencontainers.image.source'] = p.git.remoteUrl;
    if (p.git.describe) labels['org.opencontainers.image.version'] = p.git.describe;
    if (p.git.branch) labels[`${LABEL_PREFIX}.branch`] = p.git.branch;
  }
  if (p.preset) labels[`${LABEL_PREFIX}.preset`] = p.preset;
  if (p.variant) labels[`${LABEL_PREFIX}.variant`] = p.variant;
  if (p.baseImage) labels[`${LABEL_PREFIX}.base`] = p.baseImage;
  if (p.config) {
    labels[`${LABEL_PREFIX}.config.path`] = p.config.path;
    labels[`${LABEL_PREFIX}.config.sha256`] = p.config.sha256;
  }
  return labels;
}

/** `<name>:<sha7>[-dirty]` and `<name>:latest`; without git, a UTC timestamp tag instead of the sha. */
export function imageTags(name: string, git: GitInfo | undefined, now: Date): string[] {
  const id = git ? `${git.sha.slice(0, 7)}${git.dirty ? '-dirty' : ''}` : now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  return [`${name}:${id}`, `${name}:latest`];
}

/**
 * Makes a valid repository name from a devcontainer.json name or folder: lowercase, [a-z0-9] joined by single
 * separators (., _, -), at most 128 characters.
 */
export function imageName(raw: string): string {
  const cleaned = raw
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/[._-]{2,}/g, '-')
    .replace(/^[._-]+|[._-]+$/g, '')
    .slice(0, 128)
    .replace(/[._-]+$/, '');
  return cleaned || 'ml-experiment';
}
