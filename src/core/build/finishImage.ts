// Phase 4 of a build: what goes on top of the built image, as the plan's layer says — the Features, one layer each
// (with devcontainer.metadata), then the environment lock and a base digest BuildKit resolved — and the real tags,
// which move only with the last layer. The temporary tag the layers built FROM is removed.
import * as path from 'node:path';
import { packFiles } from '../docker/buildContext';
import { BuildProgress } from '../docker/buildProgress';
import type { Engine } from '../docker/engine';
import { BuildError } from '../docker/engine';
import { featureLayer, featureUsers } from '../features/layer';
import { metadataEntries, metadataLabel, parseMetadataLabel } from '../features/metadata';
import type { ResolvedFeature } from '../features/resolve';
import { DEVCONTAINER_METADATA_LABEL } from '../labels';
import { captureLock, IMAGE_LOCK_PATH, writeLock } from '../provenance/lock';
import { parseReference, repositoryName } from '../reference';
import type { BuildPlan } from './buildPlan';
import { BuildFailedError, throwIfEngineStopped } from './errors';
import type { BuildExperimentOptions } from './options';
import type { BuildInputs } from './readInputs';
import type { BuiltImage } from './runBuild';
import { stampImage } from './stamp';

/** The finished image's id, and the labels its layers added to the build's. */
export async function finishImage(
  o: BuildExperimentOptions,
  inputs: BuildInputs,
  plan: BuildPlan,
  built: BuiltImage,
): Promise<{ imageId: string; labels: Record<string, string> }> {
  const layer = plan.layer;
  if (!layer) return { imageId: built.imageId, labels: {} };
  const buildKit = plan.builder === 'buildkit';
  const labels: Record<string, string> = {};
  let imageId = built.imageId;
  try {
    let metadata: Record<string, string> | undefined;
    if (layer.metadata) {
      const image = await o.engine.inspectImage(layer.stampTag ?? imageId, o.signal);
      const baseEntries = parseMetadataLabel(image?.labels[DEVCONTAINER_METADATA_LABEL]);
      metadata = { [DEVCONTAINER_METADATA_LABEL]: metadataLabel(metadataEntries(baseEntries, inputs.features, plan.metadataSource)) };
      if (inputs.features.length) {
        imageId = await installFeatures(o, inputs.features, {
          from: layer.stampTag ?? imageId,
          tags: layer.stampTag ? [layer.stampTag] : [],
          labels: metadata,
          buildKit,
          imageUser: image?.user,
          users: featureUsers(inputs.config, image?.user, baseEntries),
        });
        Object.assign(labels, metadata);
        metadata = undefined;
      }
    }
    const stamped = await stamp(o, {
      from: layer.stampTag ?? imageId,
      tags: plan.tags,
      lock: layer.lock,
      baseDigest: built.baseDigestResolved,
      buildKit,
      imageId,
      folder: inputs.folder,
      ...(metadata ? { labels: metadata } : {}),
    });
    imageId = stamped.imageId;
    Object.assign(labels, stamped.labels);
  } finally {
    // Only the temporary tag goes: the image keeps its real tags, or (stamped) nothing refers to it any more.
    const stampTag = layer.stampTag;
    if (stampTag)
      await o.engine
        .removeImage(stampTag)
        .catch((e: unknown) => o.log.debug(`${stampTag} not removed: ${e instanceof Error ? e.message : String(e)}`));
  }
  return { imageId, labels };
}

/**
 * The environment lock captured from the built image, then a layer with it (and a base digest BuildKit resolved)
 * on top under the real tags. Either failing is a warning, and the image as built takes the tags; an engine that
 * stopped meanwhile is not: nothing is tagged and no lock written.
 */
async function stamp(
  o: BuildExperimentOptions,
  s: {
    from: string;
    tags: string[];
    lock: boolean;
    baseDigest: string | undefined;
    buildKit: boolean;
    imageId: string;
    folder: string;
    labels?: Record<string, string>;
  },
): Promise<{ imageId: string; labels: Record<string, string> }> {
  let lock: string | undefined;
  if (s.lock) {
    try {
      lock = await captureLock(o.engine, s.imageId, o.signal);
      if (!lock.endsWith('\n')) lock += '\n';
    } catch (e) {
      if (o.signal?.aborted) throw e;
      await throwIfEngineStopped(o.engine, o.signal, e);
      o.log.warn(`no environment lock: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (lock === undefined && !s.baseDigest && !s.labels) {
    await tagImage(o.engine, s.imageId, s.tags, o.signal);
    return { imageId: s.imageId, labels: {} };
  }
  let stamped = { imageId: s.imageId, labels: {} as Record<string, string> };
  try {
    stamped = await stampImage(
      o.engine,
      {
        from: s.from,
        tags: s.tags,
        buildKit: s.buildKit,
        ...(lock !== undefined ? { lock } : {}),
        ...(s.baseDigest ? { baseDigest: s.baseDigest } : {}),
        ...(s.labels ? { labels: s.labels } : {}),
      },
      o.signal,
    );
    o.log.info(
      `stamped ${stamped.imageId}: ${lock !== undefined ? `environment lock at ${IMAGE_LOCK_PATH}` : ''}${lock !== undefined && s.baseDigest ? ', ' : ''}${s.baseDigest ? `base digest ${s.baseDigest}` : ''}`,
    );
  } catch (e) {
    if (o.signal?.aborted) throw e;
    await throwIfEngineStopped(o.engine, o.signal, e);
    o.log.warn(
      `the environment lock and base digest are not in the image (${e instanceof Error ? e.message : String(e)}); ${s.imageId} takes its tags.`,
    );
    await tagImage(o.engine, s.imageId, s.tags, o.signal);
  }
  if (lock !== undefined) {
    const file = await writeLock(s.folder, stamped.imageId, s.tags, lock);
    o.log.info(`environment lock: ${path.relative(s.folder, file)} (consider adding .mlcontainers/ to .gitignore)`);
  }
  return stamped;
}

/** Tags the image as built when no layer was stamped on it: its tags moved only with the last layer. */
async function tagImage(engine: Engine, imageId: string, tags: string[], signal?: AbortSignal): Promise<void> {
  for (const tag of tags) {
    const ref = parseReference(tag);
    await engine.tagImage(imageId, repositoryName(ref), ref.tag ?? 'latest', signal);
  }
}

/**
 * The Features, one layer each, on top of the image the Dockerfile built (a build of its own, from a context made in
 * memory: the same on BuildKit and on Podman's builder, and untouched by the project's .dockerignore).
 */
async function installFeatures(
  o: BuildExperimentOptions,
  features: readonly ResolvedFeature[],
  s: {
    from: string;
    tags: string[];
    labels: Record<string, string>;
    buildKit: boolean;
    imageUser: string | undefined;
    users: ReturnType<typeof featureUsers>;
  },
): Promise<string> {
  const layer = featureLayer(features, { from: s.from, users: s.users, imageUser: s.imageUser });
  const progress = new BuildProgress();
  o.onStep?.('Features');
  try {
    const id = await o.engine.build(
      packFiles(layer.files),
      { tags: s.tags, labels: s.labels, dockerfile: layer.dockerfile, buildKit: s.buildKit },
      (event) => {
        for (const line of progress.push(event)) o.log.info(line);
      },
      o.signal,
    );
    o.log.info(`installed ${features.length} Feature${features.length === 1 ? '' : 's'} as ${id}`);
    return id;
  } catch (e) {
    await throwIfEngineStopped(o.engine, o.signal, e);
    if (e instanceof BuildError) {
      const failure = progress.failure(e.message);
      const dir = /mlc-features\/(\d+)-/.exec(failure.step)?.[1];
      const feature = dir ? features[Number(dir) - 1] : undefined;
      throw new BuildFailedError(
        `${feature ? `The Feature "${feature.userId}" failed to install` : 'Installing the Features failed'} at "${failure.step}": ${failure.error}`,
        failure.step,
        failure.logTail,
      );
    }
    throw e;
  }
}
