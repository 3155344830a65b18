import type { Duplex } from 'node:stream';
import { isRecord } from '../../json';
import { buildAuthOptions } from '../buildAuth';
import type { BuildEvent, BuildRequest, TarStream } from '../engine';
import { BuildError } from '../engine';
import { EngineError } from '../errors';
import type { DockerConnection } from './client';
import { followProgress, streamError } from './progress';

export async function build(
  conn: DockerConnection,
  context: TarStream | undefined,
  request: BuildRequest,
  onEvent?: (event: BuildEvent) => void,
  signal?: AbortSignal,
): Promise<string> {
  try {
    return await followBuild(conn, context, request, onEvent, signal);
  } catch (e) {
    // Podman answers an aborted build by resetting the connection (ECONNRESET): that is the cancel, not a lost engine.
    if (signal?.aborted && !(e instanceof BuildError)) throw new EngineError('Cancelled.', 'cancelled');
    throw e;
  }
}

/** POST /session with `Upgrade: h2c`; the socket docker-modem hands back after the 101 is the session's connection. */
export async function openSession(
  conn: DockerConnection,
  headers: Record<string, string | string[]>,
  signal?: AbortSignal,
): Promise<Duplex> {
  const socket = await conn.call(
    (d) =>
      new Promise<Duplex>((resolve, reject) => {
        d.modem.dial(
          {
            path: '/session',
            method: 'POST',
            hijack: true,
            headers: { ...headers, Upgrade: 'h2c' },
            abortSignal: signal,
            statusCodes: { 101: true, 200: true, 400: 'bad request', 404: 'no such endpoint', 500: 'server error' },
          },
          (err: unknown, sock: unknown) => (err ? reject(err) : resolve(sock as Duplex)),
        );
      }),
  );
  // The request's inactivity timeout must not end a session that is quiet while a step runs.
  (socket as Duplex & { setTimeout?: (ms: number) => void }).setTimeout?.(0);
  return socket;
}

async function followBuild(
  conn: DockerConnection,
  context: TarStream | undefined,
  request: BuildRequest,
  onEvent?: (event: BuildEvent) => void,
  signal?: AbortSignal,
): Promise<string> {
  const options = {
    // The engine takes `t` once per tag; docker-modem repeats array values in the query string.
    t: request.tags as unknown as string,
    ...(request.labels ? { labels: request.labels } : {}),
    ...(request.buildArgs ? { buildargs: request.buildArgs } : {}),
    ...(request.dockerfile ? { dockerfile: request.dockerfile } : {}),
    ...(request.target ? { target: request.target } : {}),
    ...(request.noCache ? { nocache: true } : {}),
    ...(request.buildKit || request.session ? { version: '2' as const } : {}),
    rm: true,
    forcerm: true,
  };
  const stream = await conn.call((d) =>
    request.session
      ? // Not buildImage: with version=2 it opens a session of its own. The context is the session's: an empty body.
        new Promise<NodeJS.ReadableStream>((resolve, reject) => {
          d.modem.dial(
            {
              path: '/build?',
              method: 'POST',
              options: { ...options, remote: 'client-session', session: request.session },
              file: Buffer.alloc(0),
              isStream: true,
              abortSignal: signal,
              statusCodes: { 200: true, 400: 'bad request', 500: 'server error' },
            },
            (err: unknown, res: unknown) => (err ? reject(err) : resolve(res as NodeJS.ReadableStream)),
          );
        })
      : d.buildImage(context as NodeJS.ReadableStream, { ...options, ...buildAuthOptions(request), abortSignal: signal }),
  );
  const events: BuildEvent[] = [];
  let imageId = '';
  await followProgress(
    conn,
    stream as NodeJS.ReadableStream,
    'Build',
    (event) => {
      events.push(event);
      if (events.length > 2000) {
        events.splice(0, events.length - 1000);
      }
      // BuildKit sends {id: 'moby.image.id', aux: {ID}}, the classic builder {aux: {ID}}.
      if (isRecord(event.aux) && typeof event.aux.ID === 'string') {
        imageId = event.aux.ID;
      }
      onEvent?.(event);
    },
    signal,
  );
  const failure = events.map(streamError).find((e) => e !== undefined);
  if (failure !== undefined) {
    throw new BuildError(failure || 'The build failed.', events);
  }
  if (!imageId) {
    throw new BuildError('The engine finished the build without reporting an image id.', events);
  }
  return imageId;
}
