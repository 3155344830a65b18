// What a build knows only once the image exists — its environment lock, and a base digest BuildKit resolved while
// pulling — added as one small layer on top, so the user's Dockerfile builds (and caches) exactly as `docker build`
// would, and the image carries its provenance wherever it is pushed.
import { createHash } from 'node:crypto';
import { packFiles } from '../docker/buildContext';
import type { Engine, ImageDetails } from '../docker/engine';
import { stampLabels } from '../labels';
import { IMAGE_LOCK_PATH } from '../provenance/lock';
import { normalizeReference, repositoryName, tryParseReference } from '../reference';

export interface StampRequest {
  /** The image just built: a tag of it for BuildKit, whose FROM takes a name, not an image id; its id on Podman. */
  from: string;
  tags: string[];
  /** The environment lock as captured; it goes to IMAGE_LOCK_PATH, its sha256 to a label. */
  lock?: string;
  baseDigest?: string;
  /** More labels for the image (devcontainer.metadata, when no earlier layer set it). */
  labels?: Record<string, string>;
  buildKit: boolean;
}

/** Builds FROM the image a layer holding the lock, with the labels for it; resolves with the new image's id. */
export async function stampImage(
  engine: Engine,
  s: StampRequest,
  signal?: AbortSignal,
): Promise<{ imageId: string; labels: Record<string, string> }> {
  const labels = {
    ...s.labels,
    ...stampLabels({
      ...(s.baseDigest ? { baseDigest: s.baseDigest } : {}),
      ...(s.lock !== undefined ? { lockSha256: sha256(s.lock) } : {}),
    }),
  };
  const dockerfile = `FROM ${s.from}\n${s.lock !== undefined ? `COPY environment.lock ${IMAGE_LOCK_PATH}\n` : ''}`;
  const files = [
    { path: 'Dockerfile', content: dockerfile },
    ...(s.lock !== undefined ? [{ path: 'environment.lock', content: s.lock }] : []),
  ];
  const imageId = await engine.build(
    packFiles(files),
    { tags: s.tags, labels, dockerfile: 'Dockerfile', buildKit: s.buildKit },
    undefined,
    signal,
  );
  return { imageId, labels };
}

/**
 * The digest of a base image on this engine: the RepoDigests entry of its own repository (else the first), else its
 * image id (a base built or loaded here has no registry digest). `image` is the engine's inspect of `ref`, undefined
 * when the engine does not have it yet (then so is the digest, unless `ref` names one).
 */
export function localBaseDigest(ref: string, image: ImageDetails | undefined): string | undefined {
  const parsed = tryParseReference(ref);
  if (parsed?.digest) return parsed.digest;
  if (!image) return undefined;
  const digests = image.repoDigests.map((d) => ({ name: d.slice(0, d.lastIndexOf('@')), digest: d.slice(d.lastIndexOf('@') + 1) }));
  const own =
    parsed &&
    digests.find((d) => {
      const p = tryParseReference(d.name);
      return p !== undefined && repositoryName(p) === repositoryName(parsed);
    });
  return (own ?? digests[0])?.digest ?? image.id;
}

/** The digest BuildKit resolved for `ref` when pulling it, from a step line like `[1/5] FROM docker.io/x/y:1@sha256:…`. */
export function resolvedDigest(stepLine: string, ref: string): string | undefined {
  const m = /\bFROM\s+(\S+?)@(sha256:[0-9a-f]{64})\b/.exec(stepLine);
  if (!m?.[1] || !m[2]) return undefined;
  try {
    return normalizeReference(m[1]) === normalizeReference(ref) ? m[2] : undefined;
  } catch {
    return undefined;
  }
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
