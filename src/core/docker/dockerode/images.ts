import { isRecord } from '../../json';
import type { ImageDetails, ImageSummary } from '../engine';
import { EngineError } from '../errors';
import type { DockerConnection } from './client';
import { withSignal } from './client';
import { familiarImageName } from '../../reference';
import { num, record, str, stringMap } from './parse';
import { isPodman } from './system';

export async function listImages(
  conn: DockerConnection,
  filter: { labels?: string[]; reference?: string },
  signal?: AbortSignal,
): Promise<ImageSummary[]> {
  const filters: Record<string, string[]> = {};
  if (filter.labels?.length) {
    filters.label = filter.labels;
  }
  if (filter.reference) {
    filters.reference = [filter.reference];
  }
  const [raw, podman] = await Promise.all([
    conn.call((d) => d.listImages({ filters, abortSignal: signal })) as Promise<unknown>,
    isPodman(conn, signal),
  ]);
  if (!Array.isArray(raw)) {
    throw new EngineError(`Docker engine at ${conn.endpoint.host} sent an unexpected image list.`, 'api');
  }
  return raw.filter(isRecord).map((img) => ({
    id: str(img.Id),
    repoTags: Array.isArray(img.RepoTags)
      ? img.RepoTags.map(str)
          .filter((t) => t !== '<none>:<none>')
          .map((t) => familiarImageName(t, podman))
      : [],
    labels: stringMap(img.Labels),
    created: num(img.Created),
    size: num(img.Size),
  }));
}

export async function inspectImage(conn: DockerConnection, ref: string, signal?: AbortSignal): Promise<ImageDetails | undefined> {
  try {
    const [raw, podman] = await Promise.all([
      conn.call((d) => withSignal(d.getImage(ref).inspect.bind(d.getImage(ref)), signal)),
      isPodman(conn, signal),
    ]);
    const img = record(raw, 'image');
    const config = isRecord(img.Config) ? img.Config : {};
    return {
      id: str(img.Id),
      repoTags: Array.isArray(img.RepoTags) ? img.RepoTags.map((t) => familiarImageName(str(t), podman)) : [],
      repoDigests: Array.isArray(img.RepoDigests) ? img.RepoDigests.map(str).filter((d) => /@sha256:[0-9a-f]{64}$/.test(d)) : [],
      labels: stringMap(config.Labels),
      env: Array.isArray(config.Env) ? config.Env.map(str) : [],
      user: typeof config.User === 'string' ? config.User : '',
      ...(Array.isArray(config.Entrypoint) ? { entrypoint: config.Entrypoint.map(str) } : {}),
      ...(Array.isArray(config.Cmd) ? { cmd: config.Cmd.map(str) } : {}),
      created: str(img.Created),
      size: num(img.Size),
    };
  } catch (e) {
    if (e instanceof EngineError && e.reason === 'notFound') {
      return undefined;
    }
    throw e;
  }
}

export async function removeImage(
  conn: DockerConnection,
  ref: string,
  options: { force?: boolean } = {},
  signal?: AbortSignal,
): Promise<void> {
  await conn.call((d) => d.getImage(ref).remove({ force: options.force ?? false, abortSignal: signal }));
}

export async function tagImage(conn: DockerConnection, ref: string, repo: string, tag: string, signal?: AbortSignal): Promise<void> {
  await conn.call((d) => d.getImage(ref).tag({ repo, tag, abortSignal: signal }));
}
