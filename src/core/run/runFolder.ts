// A run folder ($MLC_RUN_DIR) is written by the run's container, and the container is untrusted: training code is
// other people's code. Every host-side read or write of a file there goes through here. A file is opened, never
// followed (O_NOFOLLOW, O_NONBLOCK against FIFOs), checked with fstat (a regular file, one link, under a size cap) and
// by where the opened file really is; files are created exclusively and replaced by rename. The folder itself is
// made by the host, never taken over from a link the container planted.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { printable } from '../generatedText';
import { RunFileRefused, assertPlainFile, kind, openRunFileForRead } from '../untrustedFile';

/** Every run folder, under the project: .mlcontainers/runs/<id>. */
export const RUN_DIR = path.join('.mlcontainers', 'runs');

/**
 * What a run id may be: the ids we make (`20261204-203627-1a2b`, `-N` for a sweep point) and nothing that could name
 * another folder (no dot, no slash). Ids read back from records, plans and labels are checked against it.
 */
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export function isRunId(id: unknown): id is string {
  return typeof id === 'string' && RUN_ID.test(id);
}

/** The run's folder on the host: its config copy, its outputs ($MLC_RUN_DIR) and output.log. */
export function runFolder(workspace: string, runId: string): string {
  if (!isRunId(runId))
    throw new RunFileRefused(`${printable(runId)} is not a run id: a run id is letters, digits, - and _ (as \`mlc runs\` lists them).`);
  return path.join(workspace, RUN_DIR, runId);
}

/** The run's output, relative to the workspace: derived from the id, never taken from a record. */
export function runLogPath(runId: string): string {
  return path.join(RUN_DIR, runId, 'output.log').split(path.sep).join('/');
}

/** Caps on what the host reads back from a run folder (bytes). */
export const RUN_FILE_CAP = {
  /** .gpus.json, .final, small markers. */
  small: 64 * 1024,
  /** The series cache (.series.json): Compare Runs' charts. */
  series: 64 * 1024 * 1024,
  /** output.log as `mlc logs` and a follower print it: the end is kept. */
  output: 64 * 1024 * 1024,
} as const;

/**
 * Makes the run's folder (and .mlcontainers/runs) as the host's own folders: a link or a file the container planted
 * under a run's name is refused, and so is a folder whose real path is not under the project's runs folder. With
 * `owner`, the folder is given to the uid the run runs as (a root host running an image user), mode 0755; "world"
 * (core/container/hostUser.ts runFolderOwner: a rootless or remote engine whose run user cannot be known here) makes
 * it writable by every user, the one case left where the run's user could not write it otherwise.
 */
export async function makeRunFolder(workspace: string, runId: string, owner?: { uid: number; gid: number } | 'world'): Promise<string> {
  const dir = runFolder(workspace, runId);
  await fs.mkdir(path.join(workspace, '.mlcontainers'), { recursive: true });
  await mkdirNoFollow(path.dirname(dir));
  await mkdirNoFollow(dir);
  await assertRunFolder(workspace, runId);
  if (typeof owner === 'object') await fs.chown(dir, owner.uid, owner.gid);
  await fs.chmod(dir, owner === 'world' ? 0o777 : 0o755);
  return dir;
}

/** The run's folder, made by the host if it is not there yet, and refused if it is not a real folder under runs/. */
export async function ensureRunFolder(workspace: string, runId: string): Promise<string> {
  const dir = runFolder(workspace, runId);
  const there = await fs.lstat(dir).then(
    () => true,
    () => false,
  );
  if (!there) return makeRunFolder(workspace, runId);
  await assertRunFolder(workspace, runId);
  return dir;
}

async function mkdirNoFollow(dir: string): Promise<void> {
  await fs.mkdir(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e;
  });
  const st = await fs.lstat(dir);
  if (!st.isDirectory())
    throw new RunFileRefused(
      `${dir} is ${kind(st)}, not a folder the host made: remove it (a run's code may have planted it) and run again.`,
    );
}

/** Throws unless the run's folder is a real folder under the project's real .mlcontainers/runs (no link on the way). */
export async function assertRunFolder(workspace: string, runId: string): Promise<string> {
  const dir = runFolder(workspace, runId);
  const real = await realDir(workspace, runId);
  const st = await fs.lstat(dir);
  if (!st.isDirectory() || (await fs.realpath(dir)) !== real) {
    throw new RunFileRefused(
      `The run folder ${path.join(RUN_DIR, runId)} is ${st.isSymbolicLink() ? `a link to ${printable(await fs.readlink(dir).catch(() => '?'))}` : kind(st)}, not a folder under ${RUN_DIR}: remove it; the host neither reads nor writes through it.`,
    );
  }
  return real;
}

/** Where the run folder really is when nothing on the way is a link the container made. */
async function realDir(workspace: string, runId: string): Promise<string> {
  const root = await fs.realpath(path.join(workspace, '.mlcontainers'));
  const runs = path.join(root, 'runs');
  const st = await fs.lstat(runs);
  if (!st.isDirectory())
    throw new RunFileRefused(`${RUN_DIR} is ${kind(st)}, not a folder: remove it; the host neither reads nor writes through it.`);
  return path.join(runs, runId);
}

export interface RunFileRead {
  data: Buffer;
  /** The file held more than the cap: `data` is its first (or, with `tail`, last) `maxBytes`. */
  truncated: boolean;
  size: number;
}

/**
 * Reads `rel` (a name, or a path under the folder: metric files in subfolders) from a run folder without following
 * a link, opening a FIFO or device, or reading a hard link to a file elsewhere. Undefined when there is no such file;
 * RunFileRefused when it is not a plain file of the run's. Past `maxBytes`: refused, or the first (last, with `tail`)
 * `maxBytes` with `truncated` when `truncate` is set.
 */
export async function readRunFile(
  dir: string,
  rel: string,
  o: { maxBytes: number; truncate?: boolean; tail?: boolean },
): Promise<RunFileRead | undefined> {
  const handle = await openRunFileForRead(path.join(dir, rel), dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return undefined;
    throw e;
  });
  if (!handle) return undefined;
  try {
    const st = await handle.stat();
    if (st.size > o.maxBytes && !o.truncate)
      throw new RunFileRefused(
        `${rel} in the run folder is ${formatBytes(st.size)}, more than the ${formatBytes(o.maxBytes)} the host reads: it was left unread.`,
      );
    const length = Math.min(st.size, o.maxBytes);
    const data = Buffer.alloc(length);
    const position = o.tail ? st.size - length : 0;
    let got = 0;
    while (got < length) {
      const { bytesRead } = await handle.read(data, got, length - got, position + got);
      if (!bytesRead) break;
      got += bytesRead;
    }
    return { data: got === length ? data : data.subarray(0, got), truncated: st.size > length, size: st.size };
  } finally {
    await handle.close();
  }
}

/** readRunFile as text, undefined when absent or refused (the refusal goes to `onRefused`). */
export async function readRunText(
  dir: string,
  rel: string,
  maxBytes: number,
  onRefused?: (sentence: string) => void,
): Promise<string | undefined> {
  try {
    return (await readRunFile(dir, rel, { maxBytes }))?.data.toString('utf8');
  } catch (e) {
    if (e instanceof RunFileRefused) {
      onRefused?.(e.message);
      return undefined;
    }
    throw e;
  }
}

/**
 * A run's kept output (output.log) for printing: its last RUN_FILE_CAP.output bytes from `offset` on (a follower
 * passes what it has printed), '' when there is none, and a sentence instead when the run made it a link or a FIFO.
 */
export async function readRunOutput(
  workspace: string,
  runId: string,
  offset = 0,
): Promise<{ text: string; size: number; refused?: string }> {
  try {
    const read = await readRunFile(runFolder(workspace, runId), 'output.log', {
      maxBytes: RUN_FILE_CAP.output,
      truncate: true,
      tail: true,
    });
    if (!read) return { text: '', size: 0 };
    const skip = Math.max(0, offset - (read.size - read.data.length));
    return { text: read.data.subarray(Math.min(skip, read.data.length)).toString('utf8'), size: read.size };
  } catch (e) {
    if (e instanceof RunFileRefused) return { text: '', size: 0, refused: e.message };
    throw e;
  }
}

/**
 * The path of `name` in the run's folder for an editor to open (editors follow links): only when it is a plain file
 * of the run's own, with no link on the way; RunFileRefused otherwise.
 */
export async function plainRunFile(workspace: string, runId: string, name: string): Promise<string> {
  const dir = runFolder(workspace, runId);
  const file = path.join(dir, name);
  if (
    !(await fs.lstat(dir).then(
      () => true,
      () => false,
    ))
  )
    return file;
  const real = await assertRunFolder(workspace, runId);
  const st = await fs.lstat(file).catch(() => undefined);
  if (!st) return file;
  if (!st.isFile() || st.nlink > 1 || path.dirname(await fs.realpath(file)) !== real)
    throw new RunFileRefused(
      `${name} of run ${runId} is ${st.isFile() ? 'a hard link' : kind(st)}, not the run's own file: it is not opened (the run's code made it so).`,
    );
  return file;
}

/** Whether the run folder holds `name` as a plain file (a marker): a link or anything else is not one. */
export async function hasRunFile(dir: string, name: string): Promise<boolean> {
  const st = await fs.lstat(path.join(dir, name)).catch(() => undefined);
  return !!st?.isFile();
}

/**
 * Creates `name` in the run folder with `data`, only if nothing is there by that name (O_EXCL never follows a
 * link: a planted one counts as there). Returns whether this call created it.
 */
export async function createRunFile(dir: string, name: string, data: string): Promise<boolean> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(path.join(dir, name), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    await handle.writeFile(data);
  } catch (e) {
    // On a full disk the name (an inode) is still made where its bytes are not: the file is this call's all the same.
    if (!isDiskFull(e)) throw e;
  } finally {
    await handle.close();
  }
  return true;
}

/** A write refused because the disk (or the user's quota) is full: ENOSPC, EDQUOT. */
export function isDiskFull(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** Whether the disk holding `dir` has no block left for us (statfs); false where it cannot be asked. */
export async function diskIsFull(dir: string): Promise<boolean> {
  const st = await fs.statfs(dir).catch(() => undefined);
  return st !== undefined && st.blocks > 0 && st.bavail === 0;
}

/**
 * Replaces `name` in the run folder with `data`: written to a new file (created exclusively) and renamed over it, so
 * a link or FIFO the container put there is replaced, never written through, and readers see old or new. A write
 * that fails (a full disk) leaves the old file and no half-written one.
 */
export async function writeRunFile(dir: string, name: string, data: string | Buffer): Promise<void> {
  const file = path.join(dir, name);
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await fs.writeFile(tmp, data, { flag: constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode: 0o644 });
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

/**
 * Opens `name` in the run folder to append to (output.log while a run is followed): never through a link or into a
 * FIFO. What is there by that name and is not a plain file of the run's is removed first: it is the container's own
 * doing in its own folder.
 */
export async function openRunFileForAppend(dir: string, name: string): Promise<fs.FileHandle> {
  const file = path.join(dir, name);
  const flags =
    constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;
  for (let attempt = 0; ; attempt++) {
    const handle = await fs.open(file, flags, 0o644).catch((e: NodeJS.ErrnoException) => {
      if (attempt === 0 && (e.code === 'ELOOP' || e.code === 'ENXIO' || e.code === 'EISDIR')) return undefined;
      throw e;
    });
    if (handle) {
      const st = await handle.stat();
      try {
        await assertPlainFile(handle, st, dir, name);
        return handle;
      } catch (e) {
        await handle.close();
        if (attempt > 0) throw e;
      }
    }
    await fs.rm(file, { force: true, recursive: true });
  }
}

function formatBytes(n: number): string {
  return n >= 1024 * 1024
    ? `${(n / 1024 / 1024).toFixed(n >= 10 * 1024 * 1024 ? 0 : 1)} MiB`
    : n >= 1024
      ? `${Math.round(n / 1024)} KiB`
      : `${n} bytes`;
}
