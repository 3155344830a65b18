// Phase 2 of a build: every decision, made from what phase 1 read — which builder, how the context travels, the tags,
// the labels, the request, and what is built on top after. Pure (no engine, no filesystem, no clock): the engine's
// capabilities come in as the /_ping facts, so each choice is unit-tested with plain inputs (test/unit/core/build/buildPlan.test.ts).
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { buildKitSupport, cacheMountSupport, sessionSupport } from '../docker/capabilities';
import type { BuildRequest, EnginePing, ImageDetails } from '../docker/engine';
import { metadataEntries, metadataLabel, parseMetadataLabel } from '../features/metadata';
import type { ResolvedFeature } from '../features/resolve';
import { isRecord } from '../json';
import { DEVCONTAINER_METADATA_LABEL, provenanceLabels } from '../labels';
import type { GitInfo } from '../provenance/git';
import { imageTags } from '../reference';
import { BuildFailedError } from './errors';
import { localBaseDigest } from './stamp';

/** What a devcontainer.json builds from: its Dockerfile and context, or the image it names. */
export type BuildSource = { kind: 'dockerfile'; dockerfile: string; contextDir: string } | { kind: 'image'; image: string };

/** The name of the Dockerfile an image config builds (`FROM <image>`), alone in its context. */
export const GENERATED_DOCKERFILE = 'Dockerfile';

export interface PlanInputs {
  /** The project folder (absolute). */
  folder: string;
  /** devcontainer.json: where it is, substituted, and as written (a ${localEnv:…} there names a secret). */
  configPath: string;
  config: Record<string, unknown>;
  rawConfig: Record<string, unknown>;
  source: BuildSource;
  /** The Dockerfile's text; an image config's is the generated `FROM <image>`. */
  dockerfileText: string;
  /** devcontainer.json's build.args under the user's; none for an image config. */
  buildArgs: Record<string, string>;
  /** What the image starts from, and the engine's inspect of it (undefined: not on the engine yet). */
  base: { ref: string; image: ImageDetails | undefined } | undefined;
  imageName: string;
  git: GitInfo | undefined;
  hyperparameters: { path: string; sha256: string } | undefined;
  /** The Features to install, in order (the plan only needs to know whether there are any). */
  features: readonly Pick<ResolvedFeature, 'userId'>[];
  /** Whether the environment lock is captured and stamped on. */
  lock: boolean;
  /** The engine's capabilities: what GET /_ping said. */
  engine: EnginePing;
  now: Date;
  /** Random hex that names the temporary tag the layer builds FROM. */
  stampSuffix: string;
}

export interface BuildPlan {
  builder: 'buildkit' | 'classic';
  /** The builder as the log names it. */
  builderName: string;
  /** Why not BuildKit, said once: a warning on Docker (a fall-back), news on Podman (its own builder is no fall-back). */
  builderNote: { level: 'info' | 'warn'; text: string } | undefined;
  /**
   * A BuildKit session syncs the context folder (a tar still, where the engine turns out to have no session
   * endpoint); else the context goes as a tar, for `reason`.
   */
  transport: { kind: 'session' } | { kind: 'tar'; reason: string };
  /**
   * A BuildKit build with a tar, whose session is dockerode's: it gives every registry the same credentials, so
   * those of several registries are not passed at all.
   */
  sharedCredentials: boolean;
  /** The folder the context is sent from; undefined for an image config (its generated Dockerfile alone). */
  contextDir: string | undefined;
  /** The image's own tags (`<name>:<sha7>` or a timestamp, and latest); they go on with the last layer. */
  tags: string[];
  /** The build's labels: provenance, and devcontainer.metadata where no layer follows to carry it. */
  labels: Record<string, string>;
  /** The build's request, less credentials (they are read after the plan, only when it builds). */
  request: BuildRequest;
  /** What the image starts from, and its digest where known before the build (else BuildKit may report it). */
  base: { ref: string; digest: string | undefined } | undefined;
  /** devcontainer.json as the devcontainer.metadata label may hold it. */
  metadataSource: Record<string, unknown>;
  /**
   * What is built FROM the build's image afterwards (the Features, then the lock and a base digest resolved while
   * pulling), or undefined when there is nothing to add and the build takes the tags itself. `stampTag`: the
   * temporary tag it builds FROM, on BuildKit (whose FROM takes a name); none on Podman, whose builder takes FROM
   * <image id> and must: removing a tag there (DELETE /images/<tag>, Podman 4.3) also deletes the untagged
   * intermediate images under the image — the build's whole layer cache — so the next build, a source-only edit
   * too, would run every step again (requirements included).
   */
  layer: { stampTag: string | undefined; metadata: boolean; lock: boolean } | undefined;
}

/** Decides the build; throws BuildFailedError where this engine cannot build this Dockerfile. */
export function planBuild(i: PlanInputs): BuildPlan {
  const support = buildKitSupport(i.engine);
  const cacheMounts = cacheMountSupport(i.engine);
  if (!cacheMounts.available && /--mount=/.test(i.dockerfileText)) {
    throw new BuildFailedError(
      `Cannot build here: ${cacheMounts.reason}. The Dockerfile uses RUN --mount, which needs BuildKit or Podman 4.`,
      '',
      [],
    );
  }
  const builderNote = support.available
    ? undefined
    : i.engine.isPodman
      ? { level: 'info' as const, text: support.reason }
      : { level: 'warn' as const, text: `classic builder: ${support.reason}` };

  const folderContext = i.source.kind === 'dockerfile' ? i.source : undefined;
  // A session serves the Dockerfile and a context folder; an image config's generated Dockerfile goes as a tar.
  const session = folderContext ? sessionSupport(i.engine) : { available: false, reason: 'the context is generated' };

  const baseDigest = i.base ? localBaseDigest(i.base.ref, i.base.image) : undefined;
  const env = isRecord(i.config.containerEnv) ? i.config.containerEnv : {};
  const configRel = relativePath(i.folder, i.configPath);
  const labels = provenanceLabels({
    git: i.git,
    title: typeof i.config.name === 'string' ? i.config.name : path.basename(i.folder),
    ...(typeof env.MLC_PRESET === 'string' ? { preset: env.MLC_PRESET } : {}),
    ...(typeof env.MLC_VARIANT === 'string' ? { variant: env.MLC_VARIANT } : {}),
    ...(i.base ? { baseImage: i.base.ref } : {}),
    ...(baseDigest ? { baseDigest } : {}),
    dockerfileSha256: createHash('sha256').update(i.dockerfileText).digest('hex'),
    // An image config's "Dockerfile" is the devcontainer.json that names the image.
    dockerfilePath: folderContext ? relativePath(i.folder, folderContext.dockerfile) : configRel,
    ...(i.hyperparameters ? { config: i.hyperparameters } : {}),
  });
  // The label holds devcontainer.json as written: a ${localEnv:…} in containerEnv names a secret, never its value.
  const metadataSource = labelSafeConfig(i.rawConfig, i.config);
  // devcontainer.metadata goes on the layer that follows when there is one (Features, the lock), read against the
  // label the built image inherited from its base; else on this build, with a base already here read beforehand.
  const metadataLater = i.features.length > 0 || i.lock;
  if (!metadataLater) {
    labels[DEVCONTAINER_METADATA_LABEL] = metadataLabel(
      metadataEntries(parseMetadataLabel(i.base?.image?.labels[DEVCONTAINER_METADATA_LABEL]), [], metadataSource),
    );
  }
  // A layer follows for the Features, the lock, or a base digest BuildKit may resolve while pulling.
  const layerFollows = metadataLater || Boolean(i.base && !baseDigest);
  const stampTag = layerFollows && !i.engine.isPodman ? `${i.imageName}:mlc-stamp-${i.stampSuffix}` : undefined;
  const tags = imageTags(i.imageName, i.git, i.now);
  const build = isRecord(i.config.build) ? i.config.build : undefined;

  return {
    builder: support.available ? 'buildkit' : 'classic',
    builderName: support.available ? 'BuildKit' : i.engine.isPodman ? "Podman's builder" : 'the classic builder',
    builderNote,
    transport: session.available ? { kind: 'session' } : { kind: 'tar', reason: session.reason },
    sharedCredentials: support.available && !session.available,
    contextDir: folderContext?.contextDir,
    tags,
    labels,
    request: {
      // The real tags move only with the last layer: a failed Feature, or an engine stopped halfway, leaves the old
      // image tagged and never tags a half-made one.
      tags: layerFollows ? (stampTag ? [stampTag] : []) : tags,
      labels,
      buildArgs: i.buildArgs,
      dockerfile: folderContext ? relativePath(folderContext.contextDir, folderContext.dockerfile) : GENERATED_DOCKERFILE,
      ...(folderContext && typeof build?.target === 'string' ? { target: build.target } : {}),
      buildKit: support.available,
    },
    base: i.base ? { ref: i.base.ref, digest: baseDigest } : undefined,
    metadataSource,
    layer: layerFollows ? { stampTag, metadata: metadataLater, lock: i.lock } : undefined,
  };
}

/**
 * devcontainer.json for the devcontainer.metadata label: substituted, less what must not or cannot be in a label. An
 * env value drawn from this machine (${localEnv:…}) is a secret: neither it nor its reference goes in. Any other
 * value still holding `${` (${containerEnv:…}, left for the container) is left out too, since Podman's builder
 * expands `${…}` in label values and refuses the build ("Unsupported modifier") and no escape reaches it.
 */
export function labelSafeConfig(raw: Record<string, unknown>, substituted: Record<string, unknown>): Record<string, unknown> {
  const fromHost = (v: unknown): boolean => typeof v === 'string' && /\$\{(localEnv|env):/.test(v);
  const unexpanded = (v: unknown): boolean => JSON.stringify(v).includes('${');
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(substituted)) {
    if ((key === 'containerEnv' || key === 'remoteEnv') && isRecord(value)) {
      const rawEnv = isRecord(raw[key]) ? raw[key] : {};
      out[key] = Object.fromEntries(Object.entries(value).filter(([name, v]) => !fromHost(rawEnv[name]) && !unexpanded(v)));
    } else if (Array.isArray(value)) {
      out[key] = value.filter((v) => !unexpanded(v));
    } else if (!unexpanded(value)) {
      out[key] = value;
    }
  }
  return out;
}

/** `to` relative to `from`, with forward slashes, as labels and build requests spell paths. */
function relativePath(from: string, to: string): string {
  return path.relative(from, to).split(path.sep).join('/');
}
