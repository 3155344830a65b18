// The build and push streams: JSON progress lines that carry their own failures.
import { isRecord } from '../../json';
import { EngineError, toEngineError } from '../errors';
import { awaitStream } from '../stream';
import type { DockerConnection } from './client';
import { str } from './parse';

/** Follows a JSON progress stream (build, push) to its end; an abort destroys it and rejects as cancelled. */
export async function followProgress(
  conn: DockerConnection,
  stream: NodeJS.ReadableStream,
  what: string,
  onEvent: (event: Record<string, unknown>) => void,
  signal?: AbortSignal,
): Promise<void> {
  // docker-modem only parses the lines here; awaitStream decides when the stream is done.
  conn.dockerode().modem.followProgress(
    stream,
    () => undefined,
    (event: unknown) => {
      if (isRecord(event)) onEvent(event);
    },
  );
  const outcome = await awaitStream(stream, signal).catch((e: unknown) => {
    throw toEngineError(e, conn.endpoint);
  });
  if (outcome === 'aborted') throw new EngineError(`${what} cancelled.`, 'cancelled');
}

/** A progress line's error message ('' when it has one without text); undefined when the line is no error. */
export function streamError(event: Record<string, unknown>): string | undefined {
  if (event.error === undefined && event.errorDetail === undefined) return undefined;
  return (isRecord(event.errorDetail) ? str(event.errorDetail.message) : '') || str(event.error);
}
