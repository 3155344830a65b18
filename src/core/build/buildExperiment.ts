import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import type { ContextScan } from '../docker/buildContext';
import { biggestOffenders, packContext, packFiles, scanContext } from '../docker/buildContext';
import { BuildProgress } from '../docker/buildProgress';
import { buildKitSupport, cacheMountSupport, sessionSupport } from '../docker/capabilities';
import { buildWithSession } from '../docker/session/build';
import type { BuildEvent, BuildRequest, Engine } from '../docker/engine';
import { BuildError } from '../docker/engine';
import { engineStoppedError, isEngineGone } from '../docker/errors';
import type { ResolvedAuth } from '../docker/registryAuth';
import { loginCommand } from '../docker/registryAuth';
import { UserError } from '../errors';
import { formatBytes } from '../format';
import { isRecord } from '../json';
import type { Logger } from '../log';
import type { GitInfo, GitProvider } from '../provenance/git';
import { openProject } from '../project';
import { DEVCONTAINER_METADATA_LABEL, provenanceLabels } from '../labels';
import { projectFeatures } from '../features/features';
import { featureLayer, featureUsers } from '../features/layer';
import { metadataEntries, metadataLabel, parseMetadataLabel } from '../features/metadata';
import type { FeatureDownloader, ResolvedFeature } from '../features/resolve';
import { DOCKER_HUB, imageTags, parseReference, repositoryName, tryParseReference } from '../reference';
import { captureLock, IMAGE_LOCK_PATH, writeLock } from '../provenance/lock';
import type { ContextFinding } from './contextCheck';
import { checkContext, findingWarning, LeakyContextError } from './contextCheck';
import { credentialHost, pulledImages } from './pulledImages';
import { localBaseDigest, resolvedDigest, stampImage } from './stamp';

export interface BuildExperimentOptions {
  folder: string;
  /** devcontainer.json, relative to folder; default .devcontainer/devcontainer.json. */
  devcontainer?: string;
  /** A hyper-parameter YAML whose path and hash go into the labels. */
  hyperparameters?: string;
  engine: Engine;
  git: GitProvider;
  log: Logger;
  onStep?: (step: string) => void;
  signal?: AbortSignal;
  now?: () => Date;
  /**
   * Capture the environment lock (`pip freeze`, `conda list --export`) after the build (default true): into the
   * image at IMAGE_LOCK_PATH, as a layer of its own, and into .mlcontainers/locks/.
   */
  lock?: boolean;
  /** Warn when the context is bigger than this; default 500 MB. */
  contextWarnBytes?: number;
  /** Refuse to build (LeakyContextError) when the context holds a secret-looking or a single huge file. */
  strict?: boolean;
  /**
   * Called once, before anything is sent, with what the context should not hold (never called when it is clean);
   * each finding is also a warning in the log, with its .dockerignore line.
   */
  onContextFindings?: (findings: readonly ContextFinding[], contextRoot: string) => void;
  /** Build args that win over devcontainer.json's build.args, e.g. BASE_IMAGE pointing at a site mirror. */
  buildArgs?: Readonly<Record<string, string>>;
  /**
   * The user's credentials for a registry (the docker CLI's: config.json, credential helpers), for base images
   * in private registries. Without it, images are pulled anonymously.
   */
  registryAuth?: (host: string, signal?: AbortSignal) => Promise<ResolvedAuth>;
  /** How OCI and tarball Features are fetched; default: the registry's HTTP API and https. */
  featureDownloader?: FeatureDownloader;
}

export interface BuildExperimentResult {
  imageId: string;
  tags: string[];
  labels: Record<string, string>;
  git: GitInfo | undefined;
  context: ContextScan;
  /** Secret-looking and huge files the context held (sent all the same: the build was not strict). */
  contextFindings: ContextFinding[];
  /** Bytes of the context sent to the engine: the tar, or the session's stats and the files BuildKit asked for. */
  contextBytesSent: number;
  /** How the context went: synced through a BuildKit session, or uploaded whole as a tar. */
  contextTransport: 'session' | 'tar';
  builder: 'buildkit' | 'classic';
  cachedSteps: string[];
}

export class BuildFailedError extends UserError {
  constructor(message: string, readonly step: string, readonly logTail: string[]) {
    super(message);
    this.name = 'BuildFailedError';
  }
}

/** Builds the workspace's devcontainer Dockerfile into an experiment image tagged and labelled with its commit. */
export async function buildExperiment(o: BuildExperimentOptions): Promise<BuildExperimentResult> {
  const log = o.log;
  const project = await openProject(o.folder, { devcontainer: o.devcontainer });
  const folder = project.folder;
  const configPath = project.devcontainerPath;
  const config = project.config;
  if (!config) {
    throw new BuildFailedError(`${path.relative(folder, configPath)} not found: run "New ML Environment" (mlc init) first.`, '', []);
  }
  const configRel = path.relative(folder, configPath).split(path.sep).join('/');
  const others = project.candidates.filter((c) => c !== configRel);
  if (others.length) log.info(`building ${configRel}; this folder also has ${others.join(', ')} (choose with --devcontainer)`);
  const source = buildSource(config, configPath, folder);
  const build = isRecord(config.build) ? config.build : undefined;
  // An image config builds a generated `FROM <image>` in an empty context: nothing of the folder goes in.
  const dockerfile = source.kind === 'dockerfile' ? source.dockerfile : undefined;
  const contextDir = source.kind === 'dockerfile' ? source.contextDir : undefined;
  if (source.kind === 'image' && o.buildArgs && Object.keys(o.buildArgs).length) {
    log.info(`build args ${Object.keys(o.buildArgs).join(', ')} not used: ${configRel} names an image, not a Dockerfile`);
  }
  const buildArgs = source.kind === 'image' ? {} : {
    ...(isRecord(build?.args) ? Object.fromEntries(Object.entries(build.args).filter((e): e is [string, string] => typeof e[1] === 'string')) : {}),
    ...o.buildArgs,
  };
  const env = isRecord(config.containerEnv) ? config.containerEnv : {};
  // Resolved before anything builds, so a Feature that cannot be had stops the build at once.
  const features = await projectFeatures(config, path.dirname(configPath), { ...(o.featureDownloader ? { download: o.featureDownloader } : {}), ...(o.signal ? { signal: o.signal } : {}) });
  // The label holds devcontainer.json as written: a ${localEnv:…} in containerEnv names a secret, never its value.
  const metadataSource = labelSafeConfig(project.rawConfig ?? config, config);
  if (features.length) log.info(`Features, in installation order: ${features.map((f) => f.userId).join(', ')}`);

  const asked = Promise.all([
    o.git.info(folder, o.signal),
    o.engine.ping(o.signal),
    // An image config's Dockerfile is the image and nothing else; the build adds the labels (and the lock layer).
    source.kind === 'dockerfile' ? fs.readFile(source.dockerfile, 'utf8') : `FROM ${source.image}\n`,
  ]);
  // The context is scanned while git and the engine answer (git runs in a process of its own): asked
  // first, since the scan's synchronous stretches would hold the requests back.
  const scanning = contextDir && dockerfile ? scanContext(contextDir, path.relative(contextDir, dockerfile)) : undefined;
  scanning?.catch(() => undefined);
  const [git, engineFacts, dockerfileText] = await asked;
  if (!git) {
    log.warn(`${folder} is not a git repository (or has no commit yet): tags use a timestamp and the image records no revision.`);
  }
  const support = buildKitSupport(engineFacts);
  const cacheMounts = cacheMountSupport(engineFacts);
  if (!cacheMounts.available && /--mount=/.test(dockerfileText)) {
    throw new BuildFailedError(`Cannot build here: ${cacheMounts.reason}. The Dockerfile uses RUN --mount, which needs BuildKit or Podman 4.`, '', []);
  }
  if (!support.available) {
    // Podman's builder is the engine's own, not a degraded fall-back: nothing to warn about.
    if (engineFacts.isPodman) log.info(support.reason);
    else log.warn(`classic builder: ${support.reason}`);
  }

  let hyper: { path: string; sha256: string } | undefined;
  if (o.hyperparameters) {
    const file = path.resolve(folder, o.hyperparameters);
    const text = await fs.readFile(file).catch(() => {
      throw new BuildFailedError(`Hyper-parameter file ${o.hyperparameters} not found.`, '', []);
    });
    hyper = { path: path.relative(folder, file).split(path.sep).join('/'), sha256: sha256(text) };
  }

  const pulled = pulledImages(dockerfileText, buildArgs);
  // What the image starts from: the BASE_IMAGE argument, else the Dockerfile's one image (several: no single base).
  const base = buildArgs.BASE_IMAGE || (pulled.length === 1 ? pulled[0] : undefined);
  // A base already on the engine is the one the build uses (nothing pulls it again); one BuildKit pulls is
  // resolved while building, and stamped on after.
  const baseImage = base ? await o.engine.inspectImage(base, o.signal).catch(() => undefined) : undefined;
  const baseDigestBefore = base ? localBaseDigest(base, baseImage) : undefined;

  const now = (o.now ?? (() => new Date()))();
  const name = project.imageName;
  const tags = imageTags(name, git, now);
  const labels = provenanceLabels({
    git,
    title: typeof config.name === 'string' ? config.name : path.basename(folder),
    ...(typeof env.MLC_PRESET === 'string' ? { preset: env.MLC_PRESET } : {}),
    ...(typeof env.MLC_VARIANT === 'string' ? { variant: env.MLC_VARIANT } : {}),
    ...(base ? { baseImage: base } : {}),
    ...(baseDigestBefore ? { baseDigest: baseDigestBefore } : {}),
    dockerfileSha256: sha256(dockerfileText),
    // An image config's "Dockerfile" is the devcontainer.json that names the image.
    dockerfilePath: dockerfile ? path.relative(folder, dockerfile).split(path.sep).join('/') : configRel,
    ...(hyper ? { config: hyper } : {}),
  });

  const context = scanning ? await scanning : generatedContext(configPath, dockerfileText);
  if (contextDir) {
    log.info(`context ${contextDir}: ${context.entries.length} entries, ${formatBytes(context.totalBytes)}${context.skippedDirs.length ? `; not read (ignored): ${context.skippedDirs.join(', ')}` : ''}`);
  } else {
    log.info(`${configRel} names the image ${base}: building FROM it, with an empty context`);
  }
  if (context.totalBytes > (o.contextWarnBytes ?? 500 * 1024 ** 2)) {
    log.warn(`the build context is ${formatBytes(context.totalBytes)}; biggest: ${biggestOffenders(context).map((b) => `${b.path} ${formatBytes(b.bytes)}`).join(', ')}. Add them to .dockerignore if the image does not need them.`);
  }
  const contextFindings = checkContext(context);
  if (contextFindings.length && o.strict) {
    throw new LeakyContextError(contextFindings, context.root);
  }
  for (const f of contextFindings) log.warn(findingWarning(f));
  if (contextFindings.length) o.onContextFindings?.(contextFindings, context.root);

  // A session serves the Dockerfile and a context folder; an image config's generated Dockerfile goes as a tar.
  const session = contextDir && dockerfile ? sessionSupport(engineFacts) : { available: false, reason: 'the context is generated' };
  const registryAuth = o.registryAuth ? await buildCredentials(pulled, support.available && !session.available, o.registryAuth, log, o.signal) : [];

  const progress = new BuildProgress();
  log.info(`building ${tags.join(', ')} with ${support.available ? 'BuildKit' : engineFacts.isPodman ? "Podman's builder" : 'the classic builder'}`);
  // A layer may follow (Features, the lock, a digest resolved while pulling), built FROM this build's image.
  // devcontainer.metadata goes on the layer that follows when there is one (Features, the lock), read against the
  // label the built image inherited from its base; else on this build, with a base already here read beforehand.
  const metadataLater = features.length > 0 || o.lock !== false;
  if (!metadataLater) {
    labels[DEVCONTAINER_METADATA_LABEL] = metadataLabel(metadataEntries(parseMetadataLabel(baseImage?.labels[DEVCONTAINER_METADATA_LABEL]), [], metadataSource));
  }
  const layerFollows = metadataLater || Boolean(base && !baseDigestBefore);
  // BuildKit's FROM takes a name, not an image id: the layer builds FROM a temporary tag, removed after. Podman's
  // builder takes FROM <image id>, and must: removing a tag there (DELETE /images/<tag>, Podman 4.3) also deletes
  // the untagged intermediate images under the image — the build's whole layer cache — so the next build, a
  // source-only edit too, would run every step again (requirements included).
  const stampTag = layerFollows && !engineFacts.isPodman ? `${name}:mlc-stamp-${randomBytes(4).toString('hex')}` : undefined;
  let baseDigestResolved: string | undefined;
  let imageId: string;
  let contextBytesSent = 0;
  let contextTransport: 'session' | 'tar' = 'tar';
  const request: BuildRequest = {
    // The real tags move only with the last layer: a failed Feature, or an engine stopped halfway, leaves the old
    // image tagged and never tags a half-made one.
    tags: layerFollows ? (stampTag ? [stampTag] : []) : tags,
    labels,
    buildArgs,
    dockerfile: contextDir && dockerfile ? path.relative(contextDir, dockerfile).split(path.sep).join('/') : GENERATED_DOCKERFILE,
    ...(source.kind === 'dockerfile' && typeof build?.target === 'string' ? { target: build.target } : {}),
    buildKit: support.available,
    ...(registryAuth.length ? { registryAuth } : {}),
  };
  const onEvent = (event: BuildEvent): void => {
    const before = progress.current;
    for (const line of progress.push(event)) {
      log.info(line);
      if (base && !baseDigestBefore) baseDigestResolved ??= resolvedDigest(line, base);
    }
    if (progress.current !== before) o.onStep?.(progress.current);
  };
  try {
    const synced = session.available && dockerfile
      ? await buildWithSession(o.engine, { scan: context, dockerfile: path.relative(context.root, dockerfile), request, onEvent, ...(o.signal ? { signal: o.signal } : {}) })
      : undefined;
    if (synced) {
      imageId = synced.imageId;
      contextBytesSent = synced.bytesSent;
      contextTransport = 'session';
      log.info(`context synced through a BuildKit session: ${synced.filesSent} changed file${synced.filesSent === 1 ? '' : 's'} sent`);
    } else {
      if (session.available) log.info('context: this engine has no BuildKit session endpoint (POST /session); uploading the whole context as a tar');
      else if (contextDir) log.info(`context uploaded as a tar (no BuildKit session: ${session.reason})`);
      // What actually goes over the wire (tar headers and padding included), as the docker CLI reports it.
      const tar = contextDir ? packContext(context) : packFiles([{ path: GENERATED_DOCKERFILE, content: dockerfileText }]);
      const counted = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          contextBytesSent += chunk.length;
          done(null, chunk);
        },
      });
      tar.on('error', (e) => counted.destroy(e));
      tar.pipe(counted);
      const tarRequest = session.available && registryAuth.length > 1 && support.available ? withoutCredentials(request, log) : request;
      imageId = await o.engine.build(counted, tarRequest, onEvent, o.signal);
    }
  } catch (e) {
    await throwIfEngineStopped(o, e);
    if (e instanceof BuildError) {
      // The step's log lines went to the log as they streamed; the error names the step once, without them again.
      const failure = progress.failure(e.message);
      const login = /\b401\b|unauthorized|authentication required|denied: requested access/i.test(failure.error)
        ? `; if ${pulled.length ? pulled.join(', ') : 'the base image'} is private, run \`${loginCommand(/from host (\S+?) failed/.exec(failure.error)?.[1] ?? credentialHostOf(pulled))}\` (builds use the docker CLI's credentials)`
        : '';
      throw new BuildFailedError(`The build failed at "${failure.step}": ${failure.error}${login}`, failure.step, failure.logTail);
    }
    throw e;
  }
  log.info(`built ${imageId} ${features.length ? '(the Features next)' : `as ${tags.join(', ')}`}; build context sent: ${formatBytes(contextBytesSent)} (${contextTransport === 'session' ? 'BuildKit session' : 'tar'})`);
  if (base && !baseDigestBefore && !baseDigestResolved) {
    log.warn(`the digest of ${base} is not known (it is not on the engine, and the build did not report one): the image records no base digest.`);
  }
  if (layerFollows) {
    try {
      let metadata: Record<string, string> | undefined;
      if (metadataLater) {
        const built = await o.engine.inspectImage(stampTag ?? imageId, o.signal);
        const baseEntries = parseMetadataLabel(built?.labels[DEVCONTAINER_METADATA_LABEL]);
        metadata = { [DEVCONTAINER_METADATA_LABEL]: metadataLabel(metadataEntries(baseEntries, features, metadataSource)) };
        if (features.length) {
          imageId = await installFeatures(o, features, { from: stampTag ?? imageId, tags: stampTag ? [stampTag] : [], labels: metadata, buildKit: support.available, imageUser: built?.user, users: featureUsers(config, built?.user, baseEntries) });
          Object.assign(labels, metadata);
          metadata = undefined;
        }
      }
      const stamped = await stamp(o, { from: stampTag ?? imageId, tags, baseDigest: baseDigestResolved, buildKit: support.available, imageId, folder, ...(metadata ? { labels: metadata } : {}) });
      imageId = stamped.imageId;
      Object.assign(labels, stamped.labels);
    } finally {
      // Only the temporary tag goes: the image keeps its real tags, or (stamped) nothing refers to it any more.
      if (stampTag) await o.engine.removeImage(stampTag).catch((e: unknown) => log.debug(`${stampTag} not removed: ${e instanceof Error ? e.message : String(e)}`));
    }
  }
  return { imageId, tags, labels, git, context, contextFindings, contextBytesSent, contextTransport, builder: support.available ? 'buildkit' : 'classic', cachedSteps: progress.cachedSteps() };
}

/**
 * A build the engine dropped (stopped, killed, restarting) says so in one sentence, not in the stream's last words
 * ("finished the build without reporting an image id", a reset connection): the engine is asked once more.
 */
async function throwIfEngineStopped(o: BuildExperimentOptions, e: unknown): Promise<void> {
  if (o.signal?.aborted) return;
  const gone = isEngineGone(e) || (await o.engine.ping().then(() => false, (p: unknown) => isEngineGone(p)));
  if (gone) throw engineStoppedError(o.engine.endpoint, 'during the build', 'no image was tagged and no lock written; start it, then build again.');
}

/** What a devcontainer.json builds from: its Dockerfile and context, or the image it names. */
export type BuildSource = { kind: 'dockerfile'; dockerfile: string; contextDir: string } | { kind: 'image'; image: string };

const GENERATED_DOCKERFILE = 'Dockerfile';

/**
 * The spec's three ways a devcontainer.json says where its container comes from: build.dockerfile (or the older
 * dockerFile), image, or dockerComposeFile, which mlc refuses; paths resolved from the file's folder.
 */
export function buildSource(config: Record<string, unknown>, configPath: string, folder: string): BuildSource {
  const name = path.relative(folder, configPath).split(path.sep).join('/');
  if (config.dockerComposeFile !== undefined) {
    throw new BuildFailedError(`${name} uses dockerComposeFile, and mlc builds one image, not a Compose project: write a devcontainer.json with the service's build.dockerfile or image (e.g. in .devcontainer/<name>/) and build that with --devcontainer.`, '', []);
  }
  const build = isRecord(config.build) ? config.build : undefined;
  const dockerfileRel = typeof build?.dockerfile === 'string' ? build.dockerfile : typeof config.dockerFile === 'string' ? config.dockerFile : undefined;
  const configDir = path.dirname(configPath);
  if (dockerfileRel) {
    return { kind: 'dockerfile', dockerfile: path.resolve(configDir, dockerfileRel), contextDir: path.resolve(configDir, typeof build?.context === 'string' ? build.context : '.') };
  }
  if (typeof config.image === 'string') {
    // A reference, not a line of Dockerfile: it goes after FROM as it is.
    if (!tryParseReference(config.image.trim())) throw new BuildFailedError(`${name}: "${config.image}" is not an image reference; write one like python:3.12-slim.`, '', []);
    return { kind: 'image', image: config.image.trim() };
  }
  throw new BuildFailedError(`${name} names neither build.dockerfile nor image, so there is nothing to build: add one of them.`, '', []);
}

/** The context an image config sends: the generated Dockerfile alone. */
function generatedContext(configPath: string, dockerfileText: string): ContextScan {
  const size = Buffer.byteLength(dockerfileText);
  return { root: path.dirname(configPath), entries: [{ path: GENERATED_DOCKERFILE, type: 'file', size, mode: 0o644, mtimeMs: 0 }], totalBytes: size, skippedDirs: [] };
}

/**
 * The environment lock captured from the built image, then a layer with it (and a base digest BuildKit resolved)
 * on top under the real tags. Either failing is a warning, and the image as built takes the tags; an engine that
 * stopped meanwhile is not: nothing is tagged and no lock written.
 */
async function stamp(
  o: BuildExperimentOptions,
  s: { from: string; tags: string[]; baseDigest: string | undefined; buildKit: boolean; imageId: string; folder: string; labels?: Record<string, string> },
): Promise<{ imageId: string; labels: Record<string, string> }> {
  let lock: string | undefined;
  if (o.lock !== false) {
    try {
      lock = await captureLock(o.engine, s.imageId, o.signal);
      if (!lock.endsWith('\n')) lock += '\n';
    } catch (e) {
      if (o.signal?.aborted) throw e;
      await throwIfEngineStopped(o, e);
      o.log.warn(`no environment lock: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (lock === undefined && !s.baseDigest && !s.labels) {
    await tagImage(o.engine, s.imageId, s.tags, o.signal);
    return { imageId: s.imageId, labels: {} };
  }
  let stamped = { imageId: s.imageId, labels: {} as Record<string, string> };
  try {
    stamped = await stampImage(o.engine, { from: s.from, tags: s.tags, buildKit: s.buildKit, ...(lock !== undefined ? { lock } : {}), ...(s.baseDigest ? { baseDigest: s.baseDigest } : {}), ...(s.labels ? { labels: s.labels } : {}) }, o.signal);
    o.log.info(`stamped ${stamped.imageId}: ${lock !== undefined ? `environment lock at ${IMAGE_LOCK_PATH}` : ''}${lock !== undefined && s.baseDigest ? ', ' : ''}${s.baseDigest ? `base digest ${s.baseDigest}` : ''}`);
  } catch (e) {
    if (o.signal?.aborted) throw e;
    await throwIfEngineStopped(o, e);
    o.log.warn(`the environment lock and base digest are not in the image (${e instanceof Error ? e.message : String(e)}); ${s.imageId} takes its tags.`);
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
  s: { from: string; tags: string[]; labels: Record<string, string>; buildKit: boolean; imageUser: string | undefined; users: ReturnType<typeof featureUsers> },
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
    await throwIfEngineStopped(o, e);
    if (e instanceof BuildError) {
      const failure = progress.failure(e.message);
      const dir = /mlc-features\/(\d+)-/.exec(failure.step)?.[1];
      const feature = dir ? features[Number(dir) - 1] : undefined;
      throw new BuildFailedError(`${feature ? `The Feature "${feature.userId}" failed to install` : 'Installing the Features failed'} at "${failure.step}": ${failure.error}`, failure.step, failure.logTail);
    }
    throw e;
  }
}

/** A tar build through BuildKit answers every registry with one set of credentials: with several, it gets none. */
function withoutCredentials(request: BuildRequest, log: Logger): BuildRequest {
  const { registryAuth, ...rest } = request;
  log.warn(`not passing your credentials for ${(registryAuth ?? []).map((r) => r.host).join(', ')}: without a BuildKit session this engine would offer them to every registry the build pulls from. Pull the private images first (docker pull …).`);
  return rest;
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The registry of the first pulled image (docker.io when there is none to go by). */
function credentialHostOf(images: readonly string[]): string {
  const target = credentialHost(images);
  return target && 'host' in target ? target.host : target?.hosts[0] ?? DOCKER_HUB;
}

/**
 * Credentials for the registries the Dockerfile pulls from, as `docker build` finds them. Our session answers each
 * registry with its own; `sharedAnswer` (a BuildKit build with a tar, whose session is dockerode's) gives every
 * registry the same one, so then with images from several registries none are passed (and the user is told);
 * a broken helper is a warning, not a failed build: public images still pull.
 */
async function buildCredentials(
  images: readonly string[],
  sharedAnswer: boolean,
  resolve: NonNullable<BuildExperimentOptions['registryAuth']>,
  log: Logger,
  signal?: AbortSignal,
): Promise<NonNullable<BuildRequest['registryAuth']>> {
  const target = credentialHost(images);
  if (!target) return [];
  const hosts = 'host' in target ? [target.host] : target.hosts;
  const found = await Promise.all(
    hosts.map(async (host) => {
      try {
        const { auth, source } = await resolve(host, signal);
        log.debug(`credentials for ${host}: ${source}`);
        return auth ? { host, auth, source } : undefined;
      } catch (e) {
        log.warn(`credentials for ${host} not read (${e instanceof Error ? e.message : String(e)}); pulling from it anonymously.`);
        return undefined;
      }
    }),
  );
  const withAuth = found.filter((f): f is NonNullable<typeof f> => f !== undefined);
  if (sharedAnswer && withAuth.length && hosts.length > 1) {
    log.warn(
      `not passing your credentials for ${withAuth.map((f) => f.host).join(', ')}: this Dockerfile pulls from ${hosts.join(', ')}, and a BuildKit build without a session would offer them to every one of those registries. ` +
        `Pull the private images first (docker pull …): the build then uses the local copies.`,
    );
    return [];
  }
  for (const f of withAuth) log.info(`pulling from ${f.host} with your credentials (${f.source})`);
  return withAuth.map(({ host, auth }) => ({ host, auth }));
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

