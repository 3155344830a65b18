// A model image's build context, made here rather than from a folder: the generated Dockerfile, the card, and each
// artifact streamed from the file handle it was hashed through (opened once, never by path again, so what is packed
// is what was hashed, and a file swapped meanwhile is not read). Every entry is owned by root, dated at the epoch,
// 0644 (folders 0755), in name order: the same artifacts always make the same context, and the build cache then
// gives the same image.
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type * as TarStream from 'tar-stream';
import type { ContextEntry } from '../docker/buildContext';
import { UserError } from '../errors';

/** A file of the context made in memory (the Dockerfile, the card). */
export interface MemoryFile {
  path: string;
  content: string | Buffer;
}

/** An artifact as hashed: its open handle, its size and sha256 then. */
export interface HashedArtifact {
  /** Its path in the context (forward slashes). */
  path: string;
  handle: FileHandle;
  size: number;
  sha256: string;
}

/** An artifact whose bytes changed between hashing and packing: nothing is tagged. */
export class ArtifactChangedError extends UserError {
  constructor(readonly artifact: string) {
    super(`${artifact} changed while the model was being saved: save again once nothing writes to the run's folder.`);
    this.name = 'ArtifactChangedError';
  }
}

const EPOCH = new Date(0);
const CHUNK = 1024 * 1024;

/** sha256 and length of a file read through its handle from the start, a chunk at a time (memory stays flat). */
export async function hashHandle(handle: FileHandle): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  const buffer = Buffer.alloc(CHUNK);
  let size = 0;
  for (;;) {
    const { bytesRead } = await handle.read(buffer, 0, CHUNK, size);
    if (!bytesRead) break;
    hash.update(buffer.subarray(0, bytesRead));
    size += bytesRead;
  }
  return { sha256: hash.digest('hex'), size };
}

/** A model's build context: its entries in walk order (a BuildKit session's listing) and each file's bytes. */
export interface ModelContext {
  entries: ContextEntry[];
  /** sha256 over every entry's path and bytes (an artifact's as hashed): the same files, the same digest. */
  digest: string;
  /** A file's bytes: from memory, or from its artifact's handle (failing with ArtifactChangedError at the end). */
  open(path: string): AsyncIterable<Buffer>;
}

/**
 * The context as a listing: `files` and `artifacts`, each folder on the way an entry of its own, sorted as a walk
 * visits them (by path component: BuildKit's receiver refuses anything else).
 */
export function modelContext(files: readonly MemoryFile[], artifacts: readonly HashedArtifact[]): ModelContext {
  const bytes = new Map<string, Buffer | HashedArtifact>();
  for (const f of files) bytes.set(f.path, typeof f.content === 'string' ? Buffer.from(f.content) : f.content);
  for (const a of artifacts) bytes.set(a.path, a);
  const dirs = new Set<string>();
  for (const p of bytes.keys()) {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  const at = EPOCH.getTime();
  const entries: ContextEntry[] = [
    ...[...dirs].map((p): ContextEntry => ({ path: p, type: 'directory', size: 0, mode: 0o755, mtimeMs: at })),
    ...[...bytes].map(([p, b]): ContextEntry => ({
      path: p,
      type: 'file',
      size: Buffer.isBuffer(b) ? b.length : b.size,
      mode: 0o644,
      mtimeMs: at,
    })),
  ].sort((x, y) => walkOrder(x.path, y.path));
  const digest = createHash('sha256');
  for (const e of entries) {
    const b = bytes.get(e.path);
    digest.update(`${e.type}\0${e.path}\0${e.size}\0`);
    if (b !== undefined) digest.update(Buffer.isBuffer(b) ? createHash('sha256').update(b).digest('hex') : b.sha256);
  }
  return {
    entries,
    digest: digest.digest('hex'),
    open(p: string): AsyncIterable<Buffer> {
      const b = bytes.get(p);
      if (b === undefined) throw new Error(`${p} is not in the model's context`);
      return Buffer.isBuffer(b)
        ? (async function* () {
            yield b;
          })()
        : readHashed(b);
    },
  };
}

/** A before B as a walk of their folders meets them: component by component, a folder before what is in it. */
function walkOrder(a: string, b: string): number {
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
  return x.length - y.length;
}

/** Exactly the bytes that were hashed: a file that grew is cut there; one that shrank or changed fails at the end. */
async function* readHashed(a: HashedArtifact): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  let seen = 0;
  if (a.size) {
    for await (const chunk of a.handle.createReadStream({ start: 0, end: a.size - 1, autoClose: false, highWaterMark: CHUNK })) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      hash.update(bytes);
      seen += bytes.length;
      yield bytes;
    }
  }
  if (seen !== a.size || hash.digest('hex') !== a.sha256) throw new ArtifactChangedError(a.path);
}

/**
 * The same context as a tar (for an engine without BuildKit sessions). The stream fails with ArtifactChangedError
 * when an artifact no longer reads as it hashed (`onError` hears it first).
 */
export function packModelContext(context: ModelContext, onError?: (e: Error) => void): Readable {
  // tar-stream is loaded with the first build, as buildContext.ts does.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tar = (require('tar-stream') as typeof TarStream).pack();
  // A build the engine stopped stops reading: the error that ends the stream is the build's to report.
  tar.on('error', () => undefined);
  const header = { mtime: EPOCH, uid: 0, gid: 0, uname: '', gname: '' };
  void (async () => {
    try {
      for (const e of context.entries) {
        if (e.type === 'directory') tar.entry({ ...header, name: `${e.path}/`, mode: 0o755, type: 'directory' });
        else await packFile(tar, { ...header, name: e.path, mode: 0o644, type: 'file', size: e.size }, context.open(e.path));
      }
      tar.finalize();
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      onError?.(e);
      tar.destroy(e);
    }
  })();
  return tar as unknown as Readable;
}

async function packFile(tar: TarStream.Pack, header: Parameters<TarStream.Pack['entry']>[0], data: AsyncIterable<Buffer>): Promise<void> {
  let failed: unknown;
  await new Promise<void>((resolve, reject) => {
    const entry = tar.entry(header, (err) => (err ? reject(err) : resolve()));
    entry.on('error', () => undefined);
    void (async () => {
      try {
        for await (const chunk of data) if (!entry.write(chunk)) await new Promise<void>((r) => entry.once('drain', () => r()));
        entry.end(Buffer.alloc(0));
      } catch (e) {
        failed = e;
        reject(e);
      }
    })();
  });
  if (failed) throw failed;
}
