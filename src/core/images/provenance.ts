import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import type { Engine } from '../docker/engine';
import { UserError } from '../errors';
import type { ImageProvenance } from '../labels';
import { readProvenance } from '../labels';
import { IMAGE_LOCK_PATH, lockPath, parseLock, readImageLock } from '../provenance/lock';

/** Everything an image says about where it came from: its labels, and the environment lock it carries. */
export interface ProvenanceReport {
  imageId: string;
  /** When the engine made the image (its `Created`). */
  created: string;
  tags: string[];
  /** `repo@sha256:…` for each registry the image was pushed to or pulled from. */
  repoDigests: string[];
  provenance: ImageProvenance;
  /** Undefined when neither the image nor the project has a lock for it. */
  lock?: {
    /** Where the lock was read: inside the image (IMAGE_LOCK_PATH) or the project's .mlcontainers/locks/. */
    source: 'image' | 'project';
    path: string;
    packages: number;
    /** The image's LOCK_SHA256_LABEL, else the hash of the lock read from the image. */
    sha256?: string;
    /** For a lock read from the image: whether its hash is the label's (false: changed after the build). */
    matchesLabel?: boolean;
  };
}

export class NoSuchImageError extends UserError {
  constructor(ref: string) {
    super(`No image ${ref} on this engine: check the name with \`docker images\` or \`mlc ls\`, or pull it first.`);
    this.name = 'NoSuchImageError';
  }
}

/** Reads an image's provenance; the lock comes from the image itself, else from the project's copy. Writes nothing. */
export async function inspectProvenance(
  engine: Engine,
  ref: string,
  folder: string | undefined,
  signal?: AbortSignal,
): Promise<ProvenanceReport> {
  const image = await engine.inspectImage(ref, signal);
  if (!image) throw new NoSuchImageError(ref);
  const provenance = readProvenance(image.labels);
  const report: ProvenanceReport = {
    imageId: image.id,
    created: image.created,
    tags: image.repoTags,
    repoDigests: image.repoDigests,
    provenance,
  };
  const inImage = await readImageLock(engine, image.id, signal);
  if (inImage !== undefined) {
    const sha256 = createHash('sha256').update(inImage).digest('hex');
    report.lock = {
      source: 'image',
      path: IMAGE_LOCK_PATH,
      packages: parseLock(inImage).size,
      sha256: provenance.lockSha256 ?? sha256,
      ...(provenance.lockSha256 ? { matchesLabel: provenance.lockSha256 === sha256 } : {}),
    };
    return report;
  }
  const file = folder ? lockPath(folder, image.id) : undefined;
  const local = file ? await fs.readFile(file, 'utf8').catch(() => undefined) : undefined;
  if (file && local !== undefined) {
    report.lock = {
      source: 'project',
      path: file,
      packages: parseLock(local).size,
      ...(provenance.lockSha256 ? { sha256: provenance.lockSha256 } : {}),
    };
  }
  return report;
}
