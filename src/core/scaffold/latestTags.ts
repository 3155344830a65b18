// The newest tag of a catalog base, looked up on its registry (Docker Registry HTTP API v2, anonymous pull token as
// `docker pull` gets one), for `mlc init --latest` and New ML Environment. The catalog's pin stays the fallback: any
// failure (no network, a slow or refusing registry, no matching tag) answers `pinned` with the reason.
import { compareDottedVersions } from '../docker/capabilities';
import { isRecord } from '../json';
import { DOCKER_HUB, formatReference, parseReference } from '../reference';
import type { Catalog } from './catalog';
import type { ScaffoldOptions } from './render';
import { resolveOptions } from './render';

/** The environment variable naming a Docker Hub mirror (a pull-through cache such as dockerd's registry-mirrors). */
export const REGISTRY_MIRROR_ENV = 'MLC_REGISTRY_MIRROR';

/** Where Docker Hub's registry API answers; `docker.io` itself is only a name. */
const DOCKER_HUB_API = 'https://registry-1.docker.io';

const DEFAULT_TIMEOUT_MS = 5_000;
const MAX_PAGES = 50;

export type LatestTag =
  /** A tag newer than the catalog's, same pattern (same CUDA, same flavour), found on `source`. */
  | { kind: 'newer'; image: string; version: string; pinned: string; source: string }
  /** The catalog's tag is the newest of its pattern on `source`. */
  | { kind: 'current'; image: string; source: string }
  /** The lookup did not happen or failed; `why` says which, in a few words. */
  | { kind: 'pinned'; image: string; why: string };

export interface LatestTagOptions {
  env?: NodeJS.ProcessEnv;
  /** Node's fetch unless given. */
  fetch?: typeof fetch;
  /** The whole lookup, token and pages included. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** A registry lookup that failed for a reason the user can act on; the message is the reason in a few words. */
export class TagLookupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TagLookupError';
  }
}

/**
 * The tag's shape with the framework version as the only free part: `2.14.1-cuda13.0-cudnn9-runtime` with version
 * 2.14.1 matches `2.<n>.<n>-cuda13.0-cudnn9-runtime`. The major stays, like the rest of the tag (CUDA, cuDNN,
 * flavour), because the catalog's driver and architecture reasoning holds only for them. Undefined when the version
 * is not in the tag (a slim Python base that installs the framework with pip).
 */
export function tagPattern(tag: string, version: string): RegExp | undefined {
  const at = tag.indexOf(version);
  const parts = version.split('.');
  if (at < 0 || parts.length < 2 || parts.some((p) => !/^\d+$/.test(p))) return undefined;
  const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const free = `(${escape(parts[0]!)}${'\\.\\d+'.repeat(parts.length - 1)})`;
  return new RegExp(`^${escape(tag.slice(0, at))}${free}${escape(tag.slice(at + version.length))}$`);
}

/** The newest of `tags` in the pattern of the catalog's tag, by numeric version (2.14.1 > 2.9.9); undefined when none fits. */
export function newestMatching(tags: readonly string[], catalogTag: string, version: string): { tag: string; version: string } | undefined {
  const pattern = tagPattern(catalogTag, version);
  if (!pattern) return undefined;
  let best: { tag: string; version: string } | undefined;
  for (const tag of tags) {
    const v = pattern.exec(tag)?.[1];
    if (v !== undefined && (!best || compareDottedVersions(v, best.version) > 0)) best = { tag, version: v };
  }
  return best;
}

/**
 * The base URL of a registry's API: Docker Hub's is registry-1.docker.io, or the mirror in MLC_REGISTRY_MIRROR (a
 * host[:port] or URL serving Docker Hub's repositories under the same names, as a pull-through cache does). Loopback
 * hosts get plain HTTP, as dockerd treats them as insecure registries; every other host HTTPS.
 */
export function registryApiBase(registry: string, env: NodeJS.ProcessEnv = process.env): { url: string; mirror: boolean } {
  const mirror = registry === DOCKER_HUB ? env[REGISTRY_MIRROR_ENV]?.trim() : undefined;
  const host = mirror || (registry === DOCKER_HUB ? DOCKER_HUB_API : registry);
  if (/^https?:\/\//i.test(host)) return { url: host.replace(/\/+$/, ''), mirror: Boolean(mirror) };
  const loopback = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/i.test(host);
  return { url: `${loopback ? 'http' : 'https'}://${host.replace(/\/+$/, '')}`, mirror: Boolean(mirror) };
}

/**
 * The parameters of a `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` challenge; undefined for any other
 * scheme. Written here because no package in the tree parses the header, and the grammar docker uses is this small.
 */
export function parseBearerChallenge(header: string): Record<string, string> | undefined {
  const m = /^\s*Bearer\s+(.*)$/i.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of m[1]!.matchAll(/([A-Za-z][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
  }
  return params.realm ? params : undefined;
}

/**
 * Every tag of a repository: GET /v2/<name>/tags/list, pages followed by their Link header. On 401 with a Bearer
 * challenge, one anonymous token from the realm (as `docker pull` asks for it) and the request again.
 */
export async function listTags(apiBase: string, repository: string, fetchFn: typeof fetch, signal?: AbortSignal): Promise<string[]> {
  let token: string | undefined;
  const tags: string[] = [];
  let next: string | undefined = `${apiBase}/v2/${repository}/tags/list`;
  for (let page = 0; next && page < MAX_PAGES; page++) {
    const url: string = next;
    let response = await fetchFn(url, { headers: token ? { Authorization: `Bearer ${token}` } : {}, ...(signal ? { signal } : {}) });
    if (response.status === 401 && !token) {
      token = await anonymousToken(response.headers.get('www-authenticate') ?? '', repository, fetchFn, signal);
      response = await fetchFn(url, { headers: { Authorization: `Bearer ${token}` }, ...(signal ? { signal } : {}) });
    }
    if (response.status === 404) throw new TagLookupError(`${repository} is not on ${new URL(apiBase).host}`);
    if (!response.ok) throw new TagLookupError(`${new URL(apiBase).host} answered HTTP ${response.status}`);
    const body: unknown = await response.json();
    if (!isRecord(body) || (body.tags !== null && body.tags !== undefined && !Array.isArray(body.tags))) {
      throw new TagLookupError(`${new URL(apiBase).host} sent a tag list that is not one`);
    }
    tags.push(...((body.tags as unknown[] | null | undefined) ?? []).filter((t): t is string => typeof t === 'string'));
    const link = /<([^>]+)>\s*;\s*rel="?next"?/i.exec(response.headers.get('link') ?? '')?.[1];
    next = link ? new URL(link, apiBase).toString() : undefined;
  }
  return tags;
}

/** An anonymous pull token for `repository` from a registry's Bearer challenge, as `docker pull` asks for one. */
export async function anonymousToken(challenge: string, repository: string, fetchFn: typeof fetch, signal?: AbortSignal): Promise<string> {
  const params = parseBearerChallenge(challenge);
  if (!params?.realm) throw new TagLookupError('the registry asks for credentials, and only anonymous lookups are made');
  const url = new URL(params.realm);
  if (params.service) url.searchParams.set('service', params.service);
  url.searchParams.set('scope', params.scope ?? `repository:${repository}:pull`);
  const response = await fetchFn(url, signal ? { signal } : {});
  if (!response.ok) throw new TagLookupError(`the registry's token service (${url.host}) answered HTTP ${response.status}`);
  const body: unknown = await response.json();
  const token = isRecord(body) ? (body.token ?? body.access_token) : undefined;
  if (typeof token !== 'string' || !token) throw new TagLookupError(`the registry's token service (${url.host}) sent no token`);
  return token;
}

/**
 * The newest tag of `image` in its catalog pattern, from the image's registry (or the Docker Hub mirror); `pinned`
 * with the reason whenever that cannot be said, so callers always have a base to write.
 */
export async function latestTag(image: string, version: string, options: LatestTagOptions = {}): Promise<LatestTag> {
  const ref = parseReference(image);
  const pinned = (why: string): LatestTag => ({ kind: 'pinned', image, why });
  if (ref.tag === undefined || ref.digest !== undefined || !tagPattern(ref.tag, version)) {
    return pinned(`the tag of ${image} names no framework version to look for`);
  }
  const { url } = registryApiBase(ref.registry, options.env);
  const source = new URL(url).host;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  let tags: string[];
  try {
    tags = await listTags(url, ref.path, options.fetch ?? fetch, signal);
  } catch (e) {
    if (options.signal?.aborted) throw e;
    if (timeout.aborted) return pinned(`${source} did not answer within ${timeoutMs / 1000} s`);
    if (e instanceof TagLookupError) return pinned(e.message);
    return pinned(`${source} could not be reached (${lookupFailure(e)})`);
  }
  const newest = newestMatching(tags, ref.tag, version);
  if (!newest || compareDottedVersions(newest.version, version) <= 0) return { kind: 'current', image, source };
  return {
    kind: 'newer',
    image: formatReference({ ...ref, tag: newest.tag }, { familiar: true }),
    version: newest.version,
    pinned: image,
    source,
  };
}

/** fetch's TypeError hides the reason in `cause`: ENOTFOUND, ECONNREFUSED … */
function lookupFailure(e: unknown): string {
  const cause = e instanceof Error && isRecord(e.cause) ? e.cause : undefined;
  // Several addresses tried (IPv4 and IPv6): an AggregateError whose errors carry the codes.
  const first = Array.isArray(cause?.errors) ? (cause.errors as unknown[]).find(isRecord) : undefined;
  const code = [cause?.code, first?.code].find((c): c is string => typeof c === 'string');
  const message = typeof cause?.message === 'string' ? cause.message : undefined;
  return code ?? message ?? (e instanceof Error ? e.message : String(e));
}

/** One line for both shells: which tag was chosen and why. */
export function describeLatestTag(t: LatestTag): string {
  switch (t.kind) {
    case 'newer':
      return `Newest matching tag on ${t.source}: ${t.image} (the catalog pins ${t.pinned}).`;
    case 'current':
      return `The catalog's ${t.image} is the newest matching tag on ${t.source}.`;
    case 'pinned':
      return `Using the catalog's pinned ${t.image}: ${t.why}.`;
  }
}

/**
 * For a scaffold about to be written: the newest tag of its catalog base, or undefined when the user chose another
 * base (nothing of the catalog's to refresh). Both shells call this, then pass a `newer` answer on as
 * ScaffoldOptions.newerTag.
 */
export async function latestCatalogBase(
  catalog: Catalog,
  options: ScaffoldOptions,
  folderName: string,
  lookup: LatestTagOptions = {},
): Promise<LatestTag | undefined> {
  if (options.baseImage?.trim()) return undefined;
  const resolved = resolveOptions(catalog, options, folderName);
  return latestTag(resolved.catalogBaseImage, resolved.version, lookup);
}
