// Phase 3 of a build: the context checked, the registries' credentials found, the context sent as the plan says (a
// BuildKit session, else a tar) and the build followed; a failed step told in one sentence.
import * as path from 'node:path';
import { Transform } from 'node:stream';
import type { Readable } from 'node:stream';
import type { ContextScan } from '../docker/buildContext';
import { biggestOffenders, packContext, packFiles } from '../docker/buildContext';
import { BuildProgress } from '../docker/buildProgress';
import type { BuildEvent, BuildRequest } from '../docker/engine';
import { BuildError } from '../docker/engine';
import { loginCommand } from '../docker/registryAuth';
import { buildWithSession } from '../docker/session/build';
import { formatBytes } from '../format';
import type { Logger } from '../log';
import { DOCKER_HUB } from '../reference';
import type { BuildPlan } from './buildPlan';
import { GENERATED_DOCKERFILE } from './buildPlan';
import type { ContextFinding } from './contextCheck';
import { checkContext, findingWarning, LeakyContextError } from './contextCheck';
import { BuildFailedError, throwIfEngineStopped } from './errors';
import type { BuildExperimentOptions } from './options';
import { credentialHost } from './pulledImages';
import type { BuildInputs } from './readInputs';
import { resolvedDigest } from './stamp';

export interface BuiltImage {
  imageId: string;
  context: ContextScan;
  /** Secret-looking and huge files the context held (sent all the same: the build was not strict). */
  contextFindings: ContextFinding[];
  /** Bytes of the context sent to the engine: the tar, or the session's stats and the files BuildKit asked for. */
  contextBytesSent: number;
  /** How the context went, as it turned out: a session the engine had no endpoint for became a tar. */
  contextTransport: 'session' | 'tar';
  /** The base's digest as BuildKit reported it while pulling, where it was not known before. */
  baseDigestResolved: string | undefined;
  cachedSteps: string[];
}

export async function runBuild(o: BuildExperimentOptions, inputs: BuildInputs, plan: BuildPlan): Promise<BuiltImage> {
  const log = o.log;
  const { context, contextFindings } = await checkedContext(o, inputs, plan);
  const registryAuth = o.registryAuth ? await buildCredentials(inputs.pulled, plan.sharedCredentials, o.registryAuth, log, o.signal) : [];
  const request: BuildRequest = { ...plan.request, ...(registryAuth.length ? { registryAuth } : {}) };
  const progress = new BuildProgress();
  log.info(`building ${plan.tags.join(', ')} with ${plan.builderName}`);
  const base = plan.base;
  let baseDigestResolved: string | undefined;
  const onEvent = (event: BuildEvent): void => {
    const before = progress.current;
    for (const line of progress.push(event)) {
      log.info(line);
      if (base && !base.digest) baseDigestResolved ??= resolvedDigest(line, base.ref);
    }
    if (progress.current !== before) o.onStep?.(progress.current);
  };
  const dockerfile = inputs.source.kind === 'dockerfile' ? inputs.source.dockerfile : undefined;
  let imageId: string;
  let contextBytesSent: number;
  let contextTransport: BuiltImage['contextTransport'] = 'tar';
  try {
    const synced =
      plan.transport.kind === 'session' && dockerfile
        ? await buildWithSession(o.engine, {
            scan: context,
            dockerfile: path.relative(context.root, dockerfile),
            request,
            onEvent,
            ...(o.signal ? { signal: o.signal } : {}),
          })
        : undefined;
    if (synced) {
      imageId = synced.imageId;
      contextBytesSent = synced.bytesSent;
      contextTransport = 'session';
      log.info(`context synced through a BuildKit session: ${synced.filesSent} changed file${synced.filesSent === 1 ? '' : 's'} sent`);
    } else {
      if (plan.transport.kind === 'session')
        log.info('context: this engine has no BuildKit session endpoint (POST /session); uploading the whole context as a tar');
      else if (plan.contextDir) log.info(`context uploaded as a tar (no BuildKit session: ${plan.transport.reason})`);
      const tar = countBytes(
        plan.contextDir ? packContext(context) : packFiles([{ path: GENERATED_DOCKERFILE, content: inputs.dockerfileText }]),
      );
      const tarRequest =
        plan.transport.kind === 'session' && registryAuth.length > 1 && plan.builder === 'buildkit'
          ? withoutCredentials(request, log)
          : request;
      imageId = await o.engine.build(tar.stream, tarRequest, onEvent, o.signal);
      contextBytesSent = tar.bytes();
    }
  } catch (e) {
    await throwIfEngineStopped(o.engine, o.signal, e);
    if (e instanceof BuildError) {
      // The step's log lines went to the log as they streamed; the error names the step once, without them again.
      const failure = progress.failure(e.message);
      const pulled = inputs.pulled;
      const login = /\b401\b|unauthorized|authentication required|denied: requested access/i.test(failure.error)
        ? `; if ${pulled.length ? pulled.join(', ') : 'the base image'} is private, run \`${loginCommand(/from host (\S+?) failed/.exec(failure.error)?.[1] ?? credentialHostOf(pulled))}\` (builds use the docker CLI's credentials)`
        : '';
      throw new BuildFailedError(`The build failed at "${failure.step}": ${failure.error}${login}`, failure.step, failure.logTail);
    }
    throw e;
  }
  log.info(
    `built ${imageId} ${inputs.features.length ? '(the Features next)' : `as ${plan.tags.join(', ')}`}; build context sent: ${formatBytes(contextBytesSent)} (${contextTransport === 'session' ? 'BuildKit session' : 'tar'})`,
  );
  if (base && !base.digest && !baseDigestResolved) {
    log.warn(
      `the digest of ${base.ref} is not known (it is not on the engine, and the build did not report one): the image records no base digest.`,
    );
  }
  return { imageId, context, contextFindings, contextBytesSent, contextTransport, baseDigestResolved, cachedSteps: progress.cachedSteps() };
}

/**
 * The context, its scan finished, told in the log (what it holds; when it is big, what makes it so) and checked for
 * what it should not hold: each finding a warning with its .dockerignore line, or with strict, no build at all.
 */
async function checkedContext(
  o: BuildExperimentOptions,
  inputs: BuildInputs,
  plan: BuildPlan,
): Promise<Pick<BuiltImage, 'context' | 'contextFindings'>> {
  const context = await inputs.context;
  if (plan.contextDir) {
    o.log.info(
      `context ${plan.contextDir}: ${context.entries.length} entries, ${formatBytes(context.totalBytes)}${context.skippedDirs.length ? `; not read (ignored): ${context.skippedDirs.join(', ')}` : ''}`,
    );
  } else {
    o.log.info(`${inputs.configRel} names the image ${plan.base?.ref}: building FROM it, with an empty context`);
  }
  if (context.totalBytes > (o.contextWarnBytes ?? 500 * 1024 ** 2)) {
    o.log.warn(
      `the build context is ${formatBytes(context.totalBytes)}; biggest: ${biggestOffenders(context)
        .map((b) => `${b.path} ${formatBytes(b.bytes)}`)
        .join(', ')}. Add them to .dockerignore if the image does not need them.`,
    );
  }
  const contextFindings = checkContext(context);
  if (contextFindings.length && o.strict) {
    throw new LeakyContextError(contextFindings, context.root);
  }
  for (const f of contextFindings) o.log.warn(findingWarning(f));
  if (contextFindings.length) o.onContextFindings?.(contextFindings, context.root);
  return { context, contextFindings };
}

/** The tar as it goes over the wire (headers and padding included), counted: the size the docker CLI reports. */
function countBytes(tar: Readable): { stream: Transform; bytes: () => number } {
  let bytes = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  tar.on('error', (e) => stream.destroy(e));
  tar.pipe(stream);
  return { stream, bytes: () => bytes };
}

/** A tar build through BuildKit answers every registry with one set of credentials: with several, it gets none. */
function withoutCredentials(request: BuildRequest, log: Logger): BuildRequest {
  const { registryAuth, ...rest } = request;
  log.warn(
    `not passing your credentials for ${(registryAuth ?? []).map((r) => r.host).join(', ')}: without a BuildKit session this engine would offer them to every registry the build pulls from. Pull the private images first (docker pull …).`,
  );
  return rest;
}

/** The registry of the first pulled image (docker.io when there is none to go by). */
function credentialHostOf(images: readonly string[]): string {
  const target = credentialHost(images);
  return target && 'host' in target ? target.host : (target?.hosts[0] ?? DOCKER_HUB);
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
