import type { Engine, ImageDetails, PushEvent } from '../docker/engine';
import { EngineError } from '../docker/errors';
import type { ResolvedAuth } from '../docker/registryAuth';
import { loginCommand } from '../docker/registryAuth';
import { UserError } from '../errors';
import { REVISION_LABEL, readProvenance } from '../labels';
import { readModelLabels } from '../model/card';
import { DOCKER_HUB, familiarPath, isPathComponent, isRegistryHost, parseReference } from '../reference';

export type PushErrorReason = 'registry' | 'notFound' | 'noName' | 'dirty' | 'revision' | 'unauthorized' | 'registryGone';

/** A push refused before or by the registry; the message says what to do next. */
export class PushError extends UserError {
  /** `pushed`: the tags the registry took before it failed (with --latest, the commit tag may be there already). */
  constructor(
    message: string,
    readonly reason: PushErrorReason,
    readonly pushed: readonly PushedReference[] = [],
  ) {
    super(message);
    this.name = 'PushError';
  }
}

/** `--registry host[:port][/namespace]`. */
export interface RegistryTarget {
  host: string;
  namespace?: string;
}

const HOST =
  /^(?:localhost|[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:]+\])(?::[0-9]{1,5})?$/;

/**
 * Parses `host[:port][/namespace]`. The host must look like one (a `.`, a port or `localhost`), as docker decides:
 * `--registry alice` would otherwise push to Docker Hub's `alice/…` without saying so.
 */
export function parseRegistryTarget(raw: string, flag = '--registry'): RegistryTarget {
  const value = raw.trim().replace(/\/+$/, '');
  if (/^[a-z]+:\/\//i.test(value)) {
    throw new PushError(`${flag} takes host[:port][/namespace], without a scheme: e.g. ${value.replace(/^[a-z]+:\/\//i, '')}.`, 'registry');
  }
  const [host = '', ...path] = value.split('/');
  if (!HOST.test(host) || !isRegistryHost(host)) {
    throw new PushError(
      `${flag} ${JSON.stringify(raw)} does not start with a registry host: write host[:port][/namespace], e.g. ghcr.io/alice, registry.example.org:5000/team or docker.io/alice for Docker Hub.`,
      'registry',
    );
  }
  const bad = path.find((c) => !isPathComponent(c));
  if (bad !== undefined) {
    throw new PushError(
      `${flag} namespace component ${JSON.stringify(bad)} is not valid: lowercase letters, digits and single . _ - separators.`,
      'registry',
    );
  }
  return { host: host === 'index.docker.io' ? DOCKER_HUB : host, ...(path.length ? { namespace: path.join('/') } : {}) };
}

export interface PushPlan {
  /** The local image id the tags point at. */
  imageId: string;
  /** `host[/namespace]/name`. */
  repository: string;
  /** The commit tag first, then `latest` when asked. */
  tags: string[];
  /** Things the user should know (no revision, a dirty image pushed on purpose). */
  notes: string[];
}

/** The repository (without any registry host) and tag of a local reference; undefined parts when it is an id. */
function splitLocal(ref: string): { name?: string; tag?: string } {
  if (/^(sha256:)?[0-9a-f]{12,64}$/.test(ref)) return {};
  const parsed = parseReference(ref);
  const tag = parsed.tag ?? (parsed.digest ? undefined : 'latest');
  return { name: familiarPath(parsed), ...(tag ? { tag } : {}) };
}

/**
 * What to push for an image: `<registry>/<name>:<sha7>[-dirty]` from its revision label (the tag the build gave
 * it), or the given tag when it has none; `latest` only when asked, since it moves under whoever pulls it.
 */
export function planPush(input: {
  ref: string;
  image: ImageDetails;
  registry: RegistryTarget;
  latest: boolean;
  allowDirty: boolean;
}): PushPlan {
  const { ref, image, registry } = input;
  let { name, tag } = splitLocal(ref);
  if (!name) {
    const named = image.repoTags.map(splitLocal).find((r) => r.name);
    if (!named?.name)
      throw new PushError(
        `Image ${ref} has no name to push it under: tag it first (docker tag ${ref} NAME:TAG), or name it by a tag.`,
        'noName',
      );
    ({ name, tag } = named);
  }
  const notes: string[] = [];
  const { revision, dirty } = readProvenance(image.labels);
  const model = readModelLabels(image.labels);
  let commitTag: string;
  if (model?.run) {
    // A model is its run's: the runs of a sweep share one commit, and a commit tag would put each sweep point's model
    // under the same name, the last push taking it from the others. The run id is the tag `mlc model save` gave it.
    commitTag = model.run;
    if (model.dirty && !input.allowDirty) {
      throw new PushError(
        `Model ${ref} was trained from uncommitted changes (run ${model.run}), so nobody could trace it to a commit: commit your changes, run again and save that run's model — or pass --allow-dirty to push it as ${name}:${model.run} anyway.`,
        'dirty',
      );
    }
    if (model.dirty) notes.push(`pushing ${name}:${model.run}, trained from uncommitted changes (--allow-dirty)`);
  } else if (revision) {
    if (!/^[0-9a-f]{7,64}$/.test(revision)) {
      throw new PushError(
        `Image ${ref} has a ${REVISION_LABEL} label that is not a git commit: rebuild it with \`mlc build\`.`,
        'revision',
      );
    }
    commitTag = `${revision.slice(0, 7)}${dirty ? '-dirty' : ''}`;
    if (dirty && !input.allowDirty) {
      throw new PushError(
        `Image ${ref} was built from uncommitted changes (${commitTag}), so nobody could trace it to a commit: commit your changes, rebuild with \`mlc build\` and push the new ${name}:${revision.slice(0, 7)} — or pass --allow-dirty to push it as ${commitTag} anyway.`,
        'dirty',
      );
    }
    if (dirty) notes.push(`pushing ${name}:${commitTag}, built from uncommitted changes on top of ${revision.slice(0, 7)} (--allow-dirty)`);
  } else {
    commitTag = tag ?? 'latest';
    notes.push(
      `${ref} has no ${REVISION_LABEL} label (not built by \`mlc build\` in a git repository): pushing it as ${name}:${commitTag}, which names no commit`,
    );
  }
  const tags = input.latest && commitTag !== 'latest' ? [commitTag, 'latest'] : [commitTag];
  return { imageId: image.id, repository: [registry.host, registry.namespace, name].filter(Boolean).join('/'), tags, notes };
}

export interface PushedReference {
  /** `host/name:tag@sha256:…` */
  reference: string;
  digest: string;
  /** The local image that was pushed. */
  imageId: string;
}

export interface PushInput {
  engine: Engine;
  ref: string;
  registry: RegistryTarget;
  latest: boolean;
  allowDirty: boolean;
  /** Credentials for the registry host (registryAuth.ts's loadRegistryAuth on a real machine). */
  credentials: (host: string) => Promise<ResolvedAuth>;
  onNote?: (line: string) => void;
  onProgress?: (event: PushEvent) => void;
  signal?: AbortSignal;
}

/** Tags the experiment image for the registry and pushes each tag; resolves with the pushed references. */
export async function pushExperimentImage(input: PushInput): Promise<PushedReference[]> {
  const { engine, ref, registry, signal } = input;
  const image = await engine.inspectImage(ref, signal);
  if (!image) throw new PushError(`No image ${ref} in this engine: build it first (mlc build), or name one from mlc ls.`, 'notFound');
  const plan = planPush({ ref, image, registry, latest: input.latest, allowDirty: input.allowDirty });
  for (const note of plan.notes) input.onNote?.(note);
  const { auth, source } = await input.credentials(registry.host);
  input.onNote?.(`credentials for ${registry.host}: ${source}`);
  const pushed: PushedReference[] = [];
  for (const tag of plan.tags) {
    await engine.tagImage(plan.imageId, plan.repository, tag, signal);
    const target = `${plan.repository}:${tag}`;
    let digest: string;
    try {
      digest = await engine.pushImage(target, auth, input.onProgress, signal);
    } catch (e) {
      if (e instanceof EngineError && e.reason === 'unauthorized') {
        const said = e.message.replace(`Pushing ${target} failed: `, '');
        throw new PushError(
          auth
            ? `${registry.host} refused the credentials from ${source} for ${plan.repository} ("${said}"): run \`${loginCommand(registry.host)}\` with an account that may push there, then push again.`
            : `${registry.host} wants credentials to push ${plan.repository} ("${said}"): run \`${loginCommand(registry.host)}\`, then push again.`,
          'unauthorized',
        );
      }
      const gone = e instanceof EngineError ? registryGone(e.raw ?? e.message) : undefined;
      if (gone) {
        const before = pushed.length ? ` (${pushed.map((p) => p.reference.split('@')[0]).join(', ')} was pushed before)` : '';
        throw new PushError(
          `The registry ${registry.host} went away in the middle of the push (it ${gone}): ${target} was not pushed${before}. Once the registry is up again, push again: the layers it already holds are not sent twice.`,
          'registryGone',
          pushed,
        );
      }
      throw e;
    }
    pushed.push({ reference: `${target}@${digest}`, digest, imageId: plan.imageId });
  }
  return pushed;
}

/**
 * What the engine's words say of a registry that stopped answering mid-push, in our words (the engine's are a Go
 * error with a URL in it); undefined when they say something else. dockerd retries a layer five times first.
 */
export function registryGone(raw: string): string | undefined {
  if (/connection refused/i.test(raw)) return 'refused connections';
  if (/connection reset|broken pipe|\bEOF\b|use of closed network connection|server closed/i.test(raw)) return 'closed the connection';
  if (/i\/o timeout|deadline exceeded|Client\.Timeout|TLS handshake timeout/i.test(raw)) return 'stopped answering';
  if (/no such host|server misbehaving|network is unreachable|no route to host/i.test(raw)) return 'can no longer be reached';
  return undefined;
}
