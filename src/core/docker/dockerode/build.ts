import { isRecord } from '../../json';
import { buildAuthOptions } from '../buildAuth';
import type { BuildEvent, BuildRequest, TarStream } from '../engine';
import { BuildError } from '../engine';
import { EngineError } from '../errors';
import type { DockerConnection } from './client';
import { followProgress, streamError } from './progress';

export async function build(conn: DockerConnection, context: TarStream, request: BuildRequest, onEvent?: (event: BuildEvent) => void, signal?: AbortSignal): Promise<string> {
  try {
    return await followBuild(conn, context, request, onEvent, signal);
  } catch (e) {
    // Podman answers an aborted build by resetting the connection (ECONNRESET): that is the cancel, not a lost engine.
    if (signal?.aborted && !(e instanceof BuildError)) throw new EngineError('Cancelled.', 'cancelled');
    throw e;
  }
}

async function followBuild(conn: DockerConnection, context: TarStream, request: BuildRequest, onEvent?: (event: BuildEvent) => void, signal?: AbortSignal): Promise<string> {
  const stream = await conn.call((d) =>
    d.buildImage(context as NodeJS.ReadableStream, {
      // The engine takes `t` once per tag; docker-modem repeats array values in the query string.
      t: request.tags as unknown as string,
      ...(request.labels ? { labels: request.labels } : {}),
      ...(request.buildArgs ? { buildargs: request.buildArgs } : {}),
      ...(request.dockerfile ? { dockerfile: request.dockerfile } : {}),
      ...(request.target ? { target: request.target } : {}),
      ...(request.noCache ? { nocache: true } : {}),
      ...(request.buildKit ? { version: '2' as const } : {}),
      ...buildAuthOptions(request),
      rm: true,
      forcerm: true,
      abortSignal: signal,
    }),
  );
  const events: BuildEvent[] = [];
  let imageId = '';
  await followProgress(conn, stream as NodeJS.ReadableStream, 'Build', (event) => {
    events.push(event);
    if (events.length > 2000) {
      events.splice(0, events.length - 1000);
    }
    // BuildKit sends {id: 'moby.image.id', aux: {ID}}, the classic builder {aux: {ID}}.
    if (isRecord(event.aux) && typeof event.aux.ID === 'string') {
      imageId = event.aux.ID;
    }
    onEvent?.(event);
  }, signal);
  const failure = events.map(streamError).find((e) => e !== undefined);
  if (failure !== undefined) {
    throw new BuildError(failure || 'The build failed.', events);
  }
  if (!imageId) {
    throw new BuildError('The engine finished the build without reporting an image id.', events);
  }
  return imageId;
}
