// Image references as the docker CLI reads them (the distribution/reference grammar and docker's normalization):
// `ubuntu` is docker.io/library/ubuntu, and the first component is a registry only when it looks like a host.

/** Docker Hub, as docker names it in normalized references. */
export const DOCKER_HUB = 'docker.io';

/** A parsed, normalized image reference: `ubuntu` is { registry: docker.io, path: library/ubuntu }. */
export interface ImageReference {
  /** host[:port]; docker.io when the reference names no registry (index.docker.io becomes docker.io). */
  registry: string;
  /** The repository inside the registry, lowercase: `library/ubuntu`, `alice/dimuon`. */
  path: string;
  tag?: string;
  /** `sha256:<hex>` */
  digest?: string;
}

export type ImageReferenceErrorReason = 'format' | 'uppercase';

/** A string that is not an image reference docker would accept; the message says how to write one. */
export class ImageReferenceError extends Error {
  constructor(
    message: string,
    readonly reason: ImageReferenceErrorReason,
  ) {
    super(message);
    this.name = 'ImageReferenceError';
  }
}

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = '[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?';
const DOMAIN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9A-Fa-f:]+\\])(?::[0-9]+)?$`);
const TAG = /^\w[\w.-]{0,127}$/;
const DIGEST = /^(sha256|sha384|sha512):([0-9a-f]+)$/;
const DIGEST_HEX_LENGTH: Readonly<Record<string, number>> = { sha256: 64, sha384: 96, sha512: 128 };
const NAME_MAX = 255;
const FORMAT = 'write [HOST[:PORT]/]NAME[:TAG][@sha256:DIGEST], e.g. ubuntu:22.04 or ghcr.io/alice/dimuon:3f2a1bc';

/** docker's rule for the first component of a name: a registry when it has a `.` or a `:` or is `localhost`. */
export function isRegistryHost(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost';
}

/** One path component of a repository name: lowercase letters and digits joined by `.`, `_`, `__` or dashes. */
export function isPathComponent(component: string): boolean {
  return PATH_COMPONENT.test(component);
}

/** The registry host as written (none when the first component does not look like one) and the rest. */
function splitHost(name: string): { host?: string; rest: string } {
  const slash = name.indexOf('/');
  const first = name.slice(0, Math.max(slash, 0));
  return slash > 0 && isRegistryHost(first) ? { host: first, rest: name.slice(slash + 1) } : { rest: name };
}

/** The parts as written, unvalidated and not normalized. */
function splitWritten(raw: string): { host?: string; repository: string; tag?: string; digest?: string } {
  const at = raw.indexOf('@');
  const { host, rest } = splitHost(at < 0 ? raw : raw.slice(0, at));
  // A repository path has no ':', so the last one in the rest starts the tag.
  const colon = rest.lastIndexOf(':');
  return {
    ...(host !== undefined ? { host } : {}),
    repository: colon < 0 ? rest : rest.slice(0, colon),
    ...(colon < 0 ? {} : { tag: rest.slice(colon + 1) }),
    ...(at < 0 ? {} : { digest: raw.slice(at + 1) }),
  };
}

function normalize(host: string | undefined, rest: string): { registry: string; path: string } {
  const registry = host === undefined || host === 'index.docker.io' ? DOCKER_HUB : host;
  return { registry, path: registry === DOCKER_HUB && !rest.includes('/') ? `library/${rest}` : rest };
}

/**
 * Splits off the registry the way docker does before it validates anything (so it never throws): the registry
 * and the rest, with `library/` before a lone Docker Hub name. A tag or digest stays on the rest.
 */
export function splitRegistry(name: string): { registry: string; path: string } {
  const { host, rest } = splitHost(name);
  return normalize(host, rest);
}

/** Parses and normalizes `[host[:port]/]name[:tag][@digest]`; throws ImageReferenceError for anything docker refuses. */
export function parseReference(raw: string): ImageReference {
  const refuse = (why: string): ImageReferenceError =>
    new ImageReferenceError(`${JSON.stringify(raw)} is not an image reference (${why}): ${FORMAT}.`, 'format');
  if (/^[0-9a-f]{64}$/.test(raw)) throw refuse('it is an image id');
  const { host, repository, tag, digest } = splitWritten(raw);
  if (digest !== undefined) {
    const d = DIGEST.exec(digest);
    if (!d || d[2]!.length !== DIGEST_HEX_LENGTH[d[1]!]) throw refuse('the digest after "@" is not sha256: and 64 lowercase hex digits');
  }
  if (repository !== repository.toLowerCase()) {
    const lower = `${host !== undefined ? `${host}/` : ''}${repository.toLowerCase()}${tag !== undefined ? `:${tag}` : ''}${digest !== undefined ? `@${digest}` : ''}`;
    throw new ImageReferenceError(
      `${JSON.stringify(raw)} has capital letters in its repository name, and docker takes lowercase names only: write ${JSON.stringify(lower)}.`,
      'uppercase',
    );
  }
  const { registry, path } = normalize(host, repository);
  if (!DOMAIN.test(registry)) throw refuse(`${JSON.stringify(registry)} is not a registry host`);
  const bad = path.split('/').find((c) => !isPathComponent(c));
  if (bad !== undefined) throw refuse(bad ? `${JSON.stringify(bad)} is not a lowercase name component` : 'it has an empty name component');
  if (tag !== undefined && !TAG.test(tag)) throw refuse(tag ? `${JSON.stringify(tag)} is not a tag` : 'the tag after ":" is empty');
  if (registry.length + 1 + path.length > NAME_MAX) throw refuse(`the name is longer than ${NAME_MAX} characters`);
  return { registry, path, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** parseReference, or undefined for what docker would refuse (an image id, a malformed name). */
export function tryParseReference(raw: string): ImageReference | undefined {
  try {
    return parseReference(raw);
  } catch (e) {
    if (e instanceof ImageReferenceError) return undefined;
    throw e;
  }
}

/** `docker.io/library/ubuntu`, `localhost:5000/a/b`: the repository, fully qualified. */
export function repositoryName(ref: ImageReference): string {
  return `${ref.registry}/${ref.path}`;
}

/** The path as `docker images` shows it on Docker Hub: `ubuntu` for library/ubuntu. */
export function familiarPath(ref: ImageReference): string {
  const official = ref.registry === DOCKER_HUB && ref.path.startsWith('library/') ? ref.path.slice('library/'.length) : undefined;
  return official !== undefined && !official.includes('/') ? official : ref.path;
}

/** The repository as `docker images` shows it: `ubuntu`, `alice/dimuon`, `localhost:5000/a/b`. */
export function familiarName(ref: ImageReference): string {
  return ref.registry === DOCKER_HUB ? familiarPath(ref) : repositoryName(ref);
}

/**
 * The image's own name as written, the repository's last component: `p` for localhost:5000/p:t. Lenient (nothing
 * is validated), for names made from whatever the user or the engine called an image.
 */
export function imageBaseName(raw: string): string {
  return splitWritten(raw).repository.split('/').pop()!;
}

/** The reference as a string, fully qualified or (familiar) as docker shows it; tag and digest as parsed. */
export function formatReference(ref: ImageReference, options: { familiar?: boolean } = {}): string {
  const name = options.familiar ? familiarName(ref) : repositoryName(ref);
  return `${name}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/**
 * An image name as an engine reported it, as `docker images` shows it: `docker.io/library/x:t` → `x:t`. Podman names
 * every local-only image `localhost/<name>` and finds it by `<name>`, so with `podman` that prefix goes too. What
 * does not parse (`<none>:<none>`, an id) stays as it is.
 */
export function familiarImageName(raw: string, podman: boolean): string {
  const ref = tryParseReference(raw);
  if (!ref) return raw;
  if (podman && ref.registry === 'localhost') return formatReference({ ...ref, registry: DOCKER_HUB }, { familiar: true });
  return formatReference(ref, { familiar: true });
}

/** `ubuntu` → `docker.io/library/ubuntu:latest`: fully qualified, `latest` when it names neither tag nor digest. */
export function normalizeReference(raw: string): string {
  const ref = parseReference(raw);
  return formatReference(ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: 'latest' } : ref);
}

/** `<name>:<sha7>[-dirty]` and `<name>:latest`; without git, a UTC timestamp tag instead of the sha. */
export function imageTags(name: string, git: { sha: string; dirty: boolean } | undefined, now: Date): string[] {
  const id = git
    ? `${git.sha.slice(0, 7)}${git.dirty ? '-dirty' : ''}`
    : now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
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

/** `3f2a1bc9d0e8`: an image id as `docker images` shows it (12 hex digits); anything that is not an id, as it is. */
export function shortImageId(id: string): string {
  return /^sha256:[0-9a-f]{12}/.test(id) ? id.slice(7, 19) : id;
}
