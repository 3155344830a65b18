// A model image's build context, made here rather than from a folder: the generated Dockerfile, the card, and each
// artifact streamed from the file handle it was hashed through (opened once, never by path again, so what is packed
// is what was hashed, and a file swapped meanwhile is not read). Every entry is owned by root, dated at the epoch,
// 0644 (folders 0755), in name order: the same artifacts always make the same context, and the build cache then
// gives the same image.
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type * as TarStream from 'tar-stream';
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

/**
 * The context as a tar: `files` then `artifacts`, each folder on the way as an entry of its own. The stream fails
 * with ArtifactChangedError when an artifact no longer reads as it hashed (`onError` hears it first).
 */
export function packModelContext(
  files: readonly MemoryFile[],
  artifacts: readonly HashedArtifact[],
  onError?: (e: Error) => void,
): Readable {
  // tar-stream is loaded with the first build, as buildContext.ts does.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tar = (require('tar-stream') as typeof TarStream).pack();
  // A build the engine stopped stops reading: the error that ends the stream is the build's to report.
  tar.on('error', () => undefined);
  const header = { mtime: EPOCH, uid: 0, gid: 0, uname: '', gname: '' };
  const dirs = new Set<string>();
  const parents = (p: string): void => {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (dirs.has(dir)) continue;
      dirs.add(dir);
      tar.entry({ ...header, name: `${dir}/`, mode: 0o755, type: 'directory' });
    }
  };
  void (async () => {
    try {
      for (const f of files) {
        parents(f.path);
        tar.entry({ ...header, name: f.path, mode: 0o644, type: 'file' }, f.content);
      }
      for (const a of [...artifacts].sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0))) {
        parents(a.path);
        await packArtifact(tar, a, header);
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

async function packArtifact(tar: TarStream.Pack, a: HashedArtifact, header: object): Promise<void> {
  const hash = createHash('sha256');
  let seen = 0;
  await new Promise<void>((resolve, reject) => {
    const done = (err?: Error | null): void => (err ? reject(err) : resolve());
    if (!a.size) {
      tar.entry({ ...header, name: a.path, mode: 0o644, type: 'file' }, Buffer.alloc(0), done);
      return;
    }
    const entry = tar.entry({ ...header, name: a.path, mode: 0o644, type: 'file', size: a.size }, done);
    entry.on('error', () => undefined);
    // Exactly the bytes that were hashed: a file that grew is cut there, one that shrank or changed fails below.
    const source = a.handle.createReadStream({ start: 0, end: a.size - 1, autoClose: false, highWaterMark: CHUNK });
    source.on('data', (chunk: Buffer | string) => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      hash.update(bytes);
      seen += bytes.length;
      if (!entry.write(bytes)) {
        source.pause();
        entry.once('drain', () => source.resume());
      }
    });
    source.on('error', reject);
    source.on('end', () => {
      if (seen !== a.size || hash.digest('hex') !== a.sha256) reject(new ArtifactChangedError(a.path));
      else entry.end(Buffer.alloc(0));
    });
  });
}
