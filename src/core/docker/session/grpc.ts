// A gRPC server over one HTTP/2 connection that the engine opened towards us: on a BuildKit session the daemon is
// the HTTP/2 client and calls the services we expose. node:http2 does HTTP/2; gRPC on top of it is the 5-byte
// message framing, `content-type: application/grpc` and a `grpc-status` trailer, which is all this file adds.
import type * as http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import { GrpcDeframer, grpcFrame } from './wire';

/** gRPC status codes used here. */
export const GrpcStatus = { ok: 0, cancelled: 1, unknown: 2, invalidArgument: 3, notFound: 5, unimplemented: 12 } as const;

export class GrpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'GrpcError';
  }
}

/** Request metadata: each header's values in order (gRPC repeats a header for a list). */
export type Metadata = Map<string, string[]>;

/** One call's stream, as a handler sees it. */
export interface GrpcCall {
  readonly metadata: Metadata;
  /** Messages as they arrive; ends with the client's half-close. */
  messages(): AsyncIterable<Buffer>;
  /** Queues a message; resolves once the transport can take more (backpressure). */
  send(message: Buffer): Promise<void>;
  /** Queues messages already framed (a run of grpcFrame's layout), as send does. */
  sendFramed(frames: Buffer): Promise<void>;
  readonly signal: AbortSignal;
}

export type Handler = (call: GrpcCall) => Promise<void>;

/** Messages smaller than this are gathered into one HTTP/2 write: a context has tens of thousands of STAT packets. */
const BATCH_BYTES = 64 * 1024;

export class GrpcServer {
  // node:http2 is loaded with the first session, not at import: ~9 ms of the extension's activation otherwise.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  private readonly server = (require('node:http2') as typeof http2).createServer();
  private readonly sessions = new Set<http2.ServerHttp2Session>();

  constructor(private readonly handlers: ReadonlyMap<string, Handler>) {
    this.server.on('session', (s) => {
      this.sessions.add(s);
      s.on('close', () => this.sessions.delete(s));
      s.on('error', () => undefined);
    });
    this.server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, _flags: number, rawHeaders: unknown) =>
      this.serve(stream, headers, rawHeaders as unknown as string[] | undefined),
    );
  }

  /** Serves HTTP/2 on a socket that is already connected (the hijacked /session request). */
  attach(socket: Duplex): void {
    this.server.emit('connection', socket);
  }

  close(): void {
    for (const s of this.sessions) s.destroy();
    this.sessions.clear();
    this.server.close();
  }

  private serve(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, rawHeaders: string[] | undefined): void {
    const path = String(headers[':path'] ?? '');
    const handler = this.handlers.get(path);
    stream.on('error', () => undefined);
    if (!handler) {
      stream.respond(
        {
          ':status': 200,
          'content-type': 'application/grpc',
          'grpc-status': String(GrpcStatus.unimplemented),
          'grpc-message': encodeURIComponent(`unknown method ${path}`),
        },
        { endStream: true },
      );
      return;
    }
    const controller = new AbortController();
    stream.on('close', () => controller.abort());
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    const call = new Call(stream, metadataOf(headers, rawHeaders), controller.signal);
    let status: number = GrpcStatus.ok;
    let message = '';
    stream.on('wantTrailers', () => {
      stream.sendTrailers({ 'grpc-status': String(status), ...(message ? { 'grpc-message': encodeURIComponent(message) } : {}) });
    });
    handler(call)
      .catch((e: unknown) => {
        status = e instanceof GrpcError ? e.code : GrpcStatus.unknown;
        message = e instanceof Error ? e.message : String(e);
      })
      // A stream the engine already closed (a cancelled build) has nowhere to flush to: that is no error of the process.
      .then(() => call.flush())
      .catch(() => undefined)
      .finally(() => {
        if (!stream.destroyed && !stream.closed) stream.end();
      });
  }
}

class Call implements GrpcCall {
  private batch: Buffer[] = [];
  private batchBytes = 0;

  constructor(
    private readonly stream: http2.ServerHttp2Stream,
    readonly metadata: Metadata,
    readonly signal: AbortSignal,
  ) {}

  /**
   * The call's messages. Leaving the loop early does not close the stream (a FileSync receiver sends FIN and then
   * waits for ours), unlike iterating the http2 stream itself.
   */
  messages(): AsyncIterable<Buffer> {
    const stream = this.stream;
    return {
      [Symbol.asyncIterator]: () => {
        const deframer = new GrpcDeframer();
        const queue: Buffer[] = [];
        let ended = false;
        let failure: unknown;
        let wake: (() => void) | undefined;
        const onData = (chunk: Buffer): void => {
          try {
            queue.push(...deframer.push(chunk));
          } catch (e) {
            failure = e;
          }
          wake?.();
        };
        const onEnd = (): void => {
          ended = true;
          wake?.();
        };
        const detach = (): void => {
          stream.off('data', onData);
          stream.off('end', onEnd);
          stream.off('close', onEnd);
        };
        stream.on('data', onData);
        stream.on('end', onEnd);
        stream.on('close', onEnd);
        return {
          next: async (): Promise<IteratorResult<Buffer>> => {
            for (;;) {
              if (failure) throw failure;
              const m = queue.shift();
              if (m) return { value: m, done: false };
              if (ended) {
                detach();
                return { value: undefined, done: true };
              }
              await new Promise<void>((resolve) => (wake = resolve));
              wake = undefined;
            }
          },
          return: async (): Promise<IteratorResult<Buffer>> => {
            detach();
            return { value: undefined, done: true };
          },
        };
      },
    };
  }

  send(message: Buffer): Promise<void> {
    return this.sendFramed(grpcFrame(message));
  }

  async sendFramed(frames: Buffer): Promise<void> {
    // What is gathered goes out at the latest once the current run of work yields to the event loop.
    if (!this.batchBytes) setImmediate(() => void this.flush().catch(() => undefined));
    this.batch.push(frames);
    this.batchBytes += frames.length;
    if (this.batchBytes >= BATCH_BYTES) await this.flush();
  }

  /** Writes what was gathered; resolves when the stream can take more. */
  async flush(): Promise<void> {
    if (!this.batchBytes) return;
    const data = this.batch.length === 1 ? this.batch[0]! : Buffer.concat(this.batch, this.batchBytes);
    this.batch = [];
    this.batchBytes = 0;
    if (this.stream.destroyed || this.stream.closed) throw new GrpcError(GrpcStatus.cancelled, 'the engine closed the stream');
    if (!this.stream.write(data)) await this.drained();
  }

  /** One wait for 'drain' shared by every writer that found the stream full (the listing and the file data). */
  private draining: Promise<void> | undefined;

  private drained(): Promise<void> {
    this.draining ??= new Promise<void>((resolve, reject) => {
      const done = (): void => {
        this.stream.off('drain', done);
        this.stream.off('close', closed);
        this.draining = undefined;
        resolve();
      };
      const closed = (): void => {
        this.stream.off('drain', done);
        this.draining = undefined;
        reject(new GrpcError(GrpcStatus.cancelled, 'the engine closed the stream'));
      };
      this.stream.on('drain', done);
      this.stream.once('close', closed);
    });
    return this.draining;
  }
}

/** gRPC metadata from the request headers; raw headers keep a repeated header's values apart (node joins them). */
function metadataOf(headers: http2.IncomingHttpHeaders, rawHeaders: string[] | undefined): Metadata {
  const md: Metadata = new Map();
  if (rawHeaders && rawHeaders.length) {
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      const key = rawHeaders[i]!.toLowerCase();
      if (key.startsWith(':')) continue;
      const list = md.get(key);
      if (list) list.push(rawHeaders[i + 1]!);
      else md.set(key, [rawHeaders[i + 1]!]);
    }
    return md;
  }
  for (const [key, value] of Object.entries(headers)) {
    if (key.startsWith(':') || value === undefined) continue;
    md.set(key, Array.isArray(value) ? value : String(value).split(', '));
  }
  return md;
}

/** An unary call: one message in, one out. */
export function unary(fn: (request: Buffer, call: GrpcCall) => Promise<Buffer>): Handler {
  return async (call) => {
    let request: Buffer | undefined;
    for await (const m of call.messages()) {
      request ??= m;
    }
    await call.send(await fn(request ?? Buffer.alloc(0), call));
  };
}
