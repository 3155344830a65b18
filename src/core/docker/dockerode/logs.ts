import { Writable } from 'node:stream';
import { toEngineError } from '../errors';
import { awaitStream } from '../stream';
import type { DockerConnection } from './client';

export async function containerLogs(conn: DockerConnection, id: string, tail: number | 'all', signal?: AbortSignal): Promise<string> {
  const raw: unknown = await conn.call((d) =>
    d.getContainer(id).logs({ stdout: true, stderr: true, follow: false, ...(tail === 'all' ? {} : { tail }), abortSignal: signal }),
  );
  const buffer = Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw));
  return demuxLogs(buffer);
}

export async function followLogs(
  conn: DockerConnection,
  id: string,
  onOutput: (chunk: Buffer, stream: 'stdout' | 'stderr') => void,
  signal?: AbortSignal,
): Promise<void> {
  const stream = (await conn.call((d) =>
    d.getContainer(id).logs({ stdout: true, stderr: true, follow: true, abortSignal: signal }),
  )) as NodeJS.ReadableStream;
  const sink = (name: 'stdout' | 'stderr'): Writable =>
    new Writable({ write: (chunk: Buffer, _enc, done) => (onOutput(chunk, name), done()) });
  conn.dockerode().modem.demuxStream(stream, sink('stdout'), sink('stderr'));
  await awaitStream(stream, signal).catch((e: unknown) => {
    throw toEngineError(e, conn.endpoint);
  });
}

/**
 * A container without a TTY sends logs multiplexed: 8-byte frames (stream, 0, 0, 0, big-endian length) before each
 * chunk. Anything that does not parse as frames is returned as text (TTY containers send it raw).
 */
export function demuxLogs(buffer: Buffer): string {
  const frames = logFrames(buffer);
  return frames ? Buffer.concat(frames.map((f) => f.data)).toString('utf8') : buffer.toString('utf8');
}

/** The same frames, stdout and stderr apart; a buffer that is not frames counts as stdout. */
export function demuxLogStreams(buffer: Buffer): { stdout: string; stderr: string } {
  const frames = logFrames(buffer);
  if (!frames) return { stdout: buffer.toString('utf8'), stderr: '' };
  const of = (stream: number): string => Buffer.concat(frames.filter((f) => f.stream === stream).map((f) => f.data)).toString('utf8');
  return { stdout: of(1), stderr: of(2) };
}

function logFrames(buffer: Buffer): { stream: number; data: Buffer }[] | undefined {
  const frames: { stream: number; data: Buffer }[] = [];
  let offset = 0;
  while (offset + 8 <= buffer.length) {
    const stream = buffer[offset]!;
    const size = buffer.readUInt32BE(offset + 4);
    if ((stream !== 0 && stream !== 1 && stream !== 2) || buffer[offset + 1] !== 0 || offset + 8 + size > buffer.length) return undefined;
    frames.push({ stream, data: buffer.subarray(offset + 8, offset + 8 + size) });
    offset += 8 + size;
  }
  return offset === buffer.length ? frames : undefined;
}
