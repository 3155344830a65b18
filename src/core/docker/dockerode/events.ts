import { isRecord } from '../../json';
import type { EngineEvent } from '../engine';
import { EngineError, toEngineError } from '../errors';
import { awaitStream } from '../stream';
import type { DockerConnection } from './client';
import { num, str, stringMap } from './parse';

export async function events(
  conn: DockerConnection,
  filter: { since?: number; types?: string[] },
  onEvent: (event: EngineEvent) => void,
  signal?: AbortSignal,
): Promise<void> {
  const filters: Record<string, string[]> = filter.types?.length ? { type: filter.types } : {};
  const stream = (await conn.call((d) =>
    d.getEvents({ ...(filter.since !== undefined ? { since: filter.since } : {}), filters, abortSignal: signal }),
  )) as NodeJS.ReadableStream;
  const done = awaitStream(stream, signal);
  // An abort before this point has destroyed the stream: its buffered lines are not read.
  if (!signal?.aborted) stream.on('data', eventLines(onEvent));
  const outcome = await done.catch((e: unknown) => {
    throw toEngineError(e, conn.endpoint);
  });
  if (outcome === 'ended') throw new EngineError(`The event stream from ${conn.endpoint.host} ended.`, 'unreachable');
}

/** Splits the stream into lines and hands each valid event on. */
function eventLines(onEvent: (event: EngineEvent) => void): (chunk: Buffer) => void {
  let buffered = '';
  return (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (!line) continue;
      try {
        const raw: unknown = JSON.parse(line);
        if (!isRecord(raw)) continue;
        const actor = isRecord(raw.Actor) ? raw.Actor : {};
        onEvent({
          type: str(raw.Type),
          action: str(raw.Action),
          id: str(actor.ID ?? raw.id),
          time: num(raw.time),
          attributes: stringMap(actor.Attributes),
        });
      } catch {
        // A malformed line is skipped; the next refresh lists the truth anyway.
      }
    }
  };
}
