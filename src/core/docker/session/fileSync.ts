// moby.filesync.v1.FileSync/DiffCopy, the sending side (fsutil's send.go): one STAT packet per entry in walk order
// (an entry's index is its id), an empty STAT to end the listing, then the data of each file the receiver asks for
// (REQ by id) as DATA packets closed by an empty one, until the receiver's FIN, which is answered with FIN. BuildKit
// compares the stats with what it kept from the last sync under the session's shared key and asks only for files
// whose stat changed: that is what makes a warm rebuild cheap.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ContextEntry } from '../buildContext';
import type { GrpcCall } from './grpc';
import { GrpcError, GrpcStatus } from './grpc';
import type { WireStat } from './wire';
import { PacketType, ProtoWriter, appendStatFrame, canRequestData, decodePacket, encodePacket, goFileMode } from './wire';

/** STAT packets are encoded into one buffer and handed to the transport this many bytes at a time. */
const LISTING_BATCH = 64 * 1024;
/** fsutil's copy buffer: file data goes out in packets of this size. */
const CHUNK = 32 * 1024;
/**
 * Files up to this size are read at their turn with one synchronous call: a context is mostly small files, and a
 * promise read costs four thread-pool round trips (open, fstat, read, close) a file. 20,000 small files, a cold build:
 * ~2.4 s of the main thread in those promises, against the docker CLI's whole 7 s build.
 */
const READ_NOW = 256 * 1024;
/** Files read between two turns of the event loop (so that the engine's requests and our writes keep moving). */
const YIELD_EVERY = 128;
/** Bigger files read ahead while earlier ones are being sent. */
const READ_AHEAD = 4;
/** Files up to this size are read whole; bigger ones are streamed, so memory stays flat. */
const READ_WHOLE = 4 * 1024 * 1024;

export interface SyncCounters {
  /** gRPC message bytes sent (stats and data, framing included). */
  bytes: number;
  files: number;
}

/** An entry's fsutil Stat: owned by root (the docker CLI resets uid and gid too), mtime in nanoseconds. */
export function wireStat(e: ContextEntry): WireStat {
  const ms = e.mtimeMs;
  const whole = Math.floor(ms);
  return {
    path: e.path,
    mode: goFileMode(e.type, e.mode),
    uid: 0,
    gid: 0,
    size: e.type === 'file' ? e.size : 0,
    modTime: { ms: whole, ns: Math.min(999_999, Math.round((ms - whole) * 1e6)) },
    ...(e.type === 'symlink' && e.linkname ? { linkname: e.linkname } : {}),
  };
}

/**
 * Where a DiffCopy's file data comes from: files under `root`, or, with `open`, bytes made or held by the caller (a
 * context that is not a folder: a model image's, streamed from the handles its artifacts were hashed through).
 */
export interface FileSource {
  root: string;
  open?: (path: string) => AsyncIterable<Buffer>;
}

/** Runs one DiffCopy: `entries` in walk order, file data read from `source`. */
export async function sendDiffCopy(
  call: GrpcCall,
  source: FileSource,
  entries: readonly ContextEntry[],
  counters: SyncCounters,
): Promise<void> {
  const { root, open } = source;
  const files = new Map<number, string>();
  const sizes = new Map<number, number>();
  const send = async (type: PacketType, fields: { stat?: WireStat; id?: number; data?: Buffer } = {}): Promise<void> => {
    const message = encodePacket({
      type,
      id: fields.id ?? 0,
      ...(fields.stat ? { stat: fields.stat } : {}),
      ...(fields.data ? { data: fields.data } : {}),
    });
    counters.bytes += message.length + 5;
    await call.send(message);
  };

  const listing = (async () => {
    const frames = new ProtoWriter(LISTING_BATCH + 4096);
    const hand = async (): Promise<void> => {
      const out = Buffer.from(frames.finish());
      frames.reset();
      counters.bytes += out.length;
      await call.sendFramed(out);
    };
    for (let i = 0; i < entries.length; i++) {
      const stat = wireStat(entries[i]!);
      if (canRequestData(stat.mode)) {
        files.set(i, entries[i]!.path);
        sizes.set(i, stat.size);
      }
      appendStatFrame(frames, stat);
      if (frames.length >= LISTING_BATCH) await hand();
    }
    appendStatFrame(frames);
    await hand();
  })();
  // A failed listing is answered as fsutil does: an ERR packet, then the call fails.
  listing.catch(() => undefined);

  const requested: number[] = [];
  let wake: (() => void) | undefined;
  let finished = false;
  const sending = (async () => {
    const inFlight: { id: number; data: Promise<Buffer> | undefined; size: number; file: string }[] = [];
    let sinceYield = 0;
    for (;;) {
      while (requested.length && inFlight.length < READ_AHEAD) {
        const id = requested.shift()!;
        const rel = files.get(id);
        if (rel === undefined) throw new GrpcError(GrpcStatus.invalidArgument, `invalid file id ${id}`);
        files.delete(id);
        const size = sizes.get(id) ?? 0;
        const data = !open && size > READ_NOW && size <= READ_WHOLE ? fs.promises.readFile(path.join(root, rel)) : undefined;
        // Read ahead: a failure is raised when its turn comes, not as an unhandled rejection.
        data?.catch(() => undefined);
        inFlight.push({ id, data, size, file: rel });
      }
      const next = inFlight.shift();
      if (!next) {
        if (finished) return;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        continue;
      }
      if (++sinceYield >= YIELD_EVERY) {
        sinceYield = 0;
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (open) {
        for await (const chunk of open(next.file)) {
          for (let off = 0; off < chunk.length; off += CHUNK) {
            await send(PacketType.Data, { id: next.id, data: chunk.subarray(off, Math.min(off + CHUNK, chunk.length)) });
          }
        }
      } else if (next.data || next.size <= READ_NOW) {
        const data = next.data ? await next.data : fs.readFileSync(path.join(root, next.file));
        for (let off = 0; off < data.length; off += CHUNK) {
          await send(PacketType.Data, { id: next.id, data: data.subarray(off, Math.min(off + CHUNK, data.length)) });
        }
      } else {
        for await (const chunk of fs.createReadStream(path.join(root, next.file), { highWaterMark: CHUNK })) {
          await send(PacketType.Data, { id: next.id, data: chunk as Buffer });
        }
      }
      await send(PacketType.Data, { id: next.id });
      counters.files++;
    }
  })();
  sending.catch(() => undefined);

  // A file that cannot be read (or whose bytes fail the caller's check) ends the call at once: the receiver would
  // otherwise wait for the rest of that file for ever.
  const sendingFailed = new Promise<never>((_, reject) => sending.catch(reject));
  sendingFailed.catch(() => undefined);
  const messages = call.messages()[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = await Promise.race([messages.next(), sendingFailed]);
      if (next.done) break;
      const p = decodePacket(next.value);
      if (p.type === PacketType.Req) {
        requested.push(p.id);
        wake?.();
      } else if (p.type === PacketType.Err) {
        throw new GrpcError(GrpcStatus.unknown, `error from receiver: ${p.data?.toString('utf8') ?? ''}`);
      } else if (p.type === PacketType.Fin) {
        break;
      }
    }
    void messages.return?.();
    finished = true;
    wake?.();
    await listing;
    await sending;
    await send(PacketType.Fin);
  } catch (e) {
    finished = true;
    wake?.();
    void messages.return?.();
    const message = e instanceof Error ? e.message : String(e);
    await send(PacketType.Err, { data: Buffer.from(message) }).catch(() => undefined);
    throw e;
  }
}
