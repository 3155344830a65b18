import { isRecord } from '../../json';
import type { PushEvent, RegistryAuth } from '../engine';
import { EngineError } from '../errors';
import { familiarName, tryParseReference } from '../../reference';
import type { DockerConnection } from './client';
import { str } from './parse';
import { followProgress, streamError } from './progress';

export async function pushImage(
  conn: DockerConnection,
  ref: string,
  auth: RegistryAuth | undefined,
  onProgress?: (event: PushEvent) => void,
  signal?: AbortSignal,
): Promise<string> {
  const { repository, tag } = splitTaggedReference(ref);
  // The engine answers 400 "missing X-Registry-Auth" without the header: an anonymous push sends `{}`.
  const stream = (await conn.call((d) =>
    d.getImage(repository).push({ tag, authconfig: auth ?? {}, abortSignal: signal }),
  )) as NodeJS.ReadableStream;
  let digest = '';
  let failure = '';
  await followProgress(
    conn,
    stream,
    'Push',
    (event) => {
      const error = streamError(event);
      if (error !== undefined) failure ||= error || 'the push failed';
      if (isRecord(event.aux) && typeof event.aux.Digest === 'string') {
        digest = event.aux.Digest;
      }
      // Engines without the aux line still print "<tag>: digest: sha256:… size: N".
      const status = /\bdigest: (sha256:[0-9a-f]{64})\b/.exec(str(event.status));
      if (!digest && status) digest = status[1]!;
      onProgress?.(event);
    },
    signal,
  );
  if (failure) {
    const unauthorized =
      /unauthori[sz]ed|authentication required|no basic auth credentials|denied|insufficient_scope|incorrect username or password/i.test(
        failure,
      );
    throw new EngineError(`Pushing ${ref} failed: ${failure}`, unauthorized ? 'unauthorized' : 'api', undefined, failure);
  }
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) {
    throw new EngineError(`Docker engine at ${conn.endpoint.host} finished pushing ${ref} without reporting the manifest digest.`, 'api');
  }
  return digest;
}

/** `host/name:tag` → its repository and tag; a digest or no tag is refused (see Engine.pushImage). */
export function splitTaggedReference(ref: string): { repository: string; tag: string } {
  const parsed = tryParseReference(ref);
  if (!parsed?.tag || parsed.digest) {
    throw new EngineError(`Cannot push ${ref}: name one tag (host/name:tag), or the engine pushes every tag of the repository.`, 'api');
  }
  return { repository: familiarName(parsed), tag: parsed.tag };
}
