// The data a run saw, named so that two runs (or a model and its run) can be told apart by it later: each input's
// manifest (relative paths, sizes and modification times: a change to any file changes it, and it costs a walk of
// the folder, never a read of the data), and the exact content id where the project already keeps one (DVC's
// `.dvc` file, a git-LFS pointer, a git-annex key). The data is the user's, on the host; links are recorded, not
// followed, so a link to elsewhere does not pull a whole disk into the walk.
import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { constants } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { loadYaml } from '../yaml';

export interface DataFingerprint {
  /** sha256 of the sorted manifest lines (`path\tsize\tmtime`, `path\t->\ttarget` for a link). */
  manifest: string;
  files: number;
  bytes: number;
  /** The walk stopped at MAX_ENTRIES or WALK_MS: the manifest covers what was seen. */
  truncated?: true;
  /** The exact content: `dvc-md5:…` (the `.dvc` file beside it), `git-lfs-sha256:…` (a pointer), `git-annex:KEY`. */
  contentId?: string;
}

/**
 * A data set walked past this many entries, or for longer than this, is fingerprinted by what was seen (and says
 * so): every `mlc run` takes the fingerprint before it starts, and a mount of a whole home folder must not hold it up.
 */
export const MAX_ENTRIES = 200_000;
export const WALK_MS = 3_000;
const POINTER_BYTES = 1024;
const LFS_POINTER = /^version https:\/\/git-lfs\.github\.com\/spec\/v1\noid sha256:([0-9a-f]{64})\nsize (\d+)\n/;
/** A git-annex key, the last part of the link git-annex makes (SHA256E-s1024--<hex>.csv). */
const ANNEX_KEY = /^([A-Z0-9]+-s\d+(?:-[a-zA-Z]\d+)*--[A-Za-z0-9._-]{1,200})$/;

/** The fingerprint of a file or folder on the host; undefined when there is nothing at `source`. */
export async function fingerprintData(
  source: string,
  budget: { entries?: number; ms?: number } = {},
): Promise<DataFingerprint | undefined> {
  const maxEntries = budget.entries ?? MAX_ENTRIES;
  const deadline = Date.now() + (budget.ms ?? WALK_MS);
  const st = await fs.lstat(source).catch(() => undefined);
  if (!st) return undefined;
  const lines: string[] = [];
  let files = 0;
  let bytes = 0;
  let truncated = false;
  let annexKey: string | undefined;
  const visit = async (abs: string, rel: string, s: Stats): Promise<void> => {
    if (lines.length >= maxEntries || Date.now() > deadline) {
      truncated = true;
      return;
    }
    if (s.isSymbolicLink()) {
      const target = await fs.readlink(abs).catch(() => '');
      lines.push(`${rel}\t->\t${target}`);
      if (rel === '.') annexKey = ANNEX_KEY.exec(path.basename(target))?.[1];
    } else if (s.isDirectory()) {
      const entries = await fs.readdir(abs).catch(() => [] as string[]);
      for (const name of entries.sort()) {
        const child = path.join(abs, name);
        const cs = await fs.lstat(child).catch(() => undefined);
        if (cs) await visit(child, rel === '.' ? name : `${rel}/${name}`, cs);
        if (truncated) return;
      }
    } else if (s.isFile()) {
      files++;
      bytes += s.size;
      lines.push(`${rel}\t${s.size}\t${Math.trunc(s.mtimeMs)}`);
    }
  };
  await visit(source, '.', st);
  const contentId =
    (await dvcContentId(source)) ??
    (st.isFile() ? await lfsContentId(source) : undefined) ??
    (annexKey ? `git-annex:${annexKey}` : undefined);
  return {
    manifest: createHash('sha256').update(lines.join('\n')).digest('hex'),
    files,
    bytes,
    ...(truncated ? { truncated: true as const } : {}),
    ...(contentId ? { contentId } : {}),
  };
}

/** The md5 DVC recorded for `source` in the `.dvc` file beside it (`data/` ↔ `data.dvc`). */
async function dvcContentId(source: string): Promise<string | undefined> {
  const text = await readSmall(`${source.replace(/\/+$/, '')}.dvc`, 64 * 1024);
  if (text === undefined) return undefined;
  try {
    const doc = loadYaml().parse(text) as { outs?: { md5?: unknown; path?: unknown }[] } | null;
    const md5 = doc?.outs?.find((o) => o.path === path.basename(source))?.md5 ?? doc?.outs?.[0]?.md5;
    return typeof md5 === 'string' && /^[0-9a-f]{32}(\.dir)?$/.test(md5) ? `dvc-md5:${md5}` : undefined;
  } catch {
    return undefined;
  }
}

/** The sha256 a git-LFS pointer file names (the data itself is not checked out). */
async function lfsContentId(file: string): Promise<string | undefined> {
  const text = await readSmall(file, POINTER_BYTES);
  const m = text === undefined ? null : LFS_POINTER.exec(text);
  return m ? `git-lfs-sha256:${m[1]}` : undefined;
}

/** A regular file's text when it is at most `cap` bytes (a pointer or a .dvc file); anything else is none. */
async function readSmall(file: string, cap: number): Promise<string | undefined> {
  const handle = await fs.open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(() => undefined);
  if (!handle) return undefined;
  try {
    const st = await handle.stat();
    if (!st.isFile() || st.size > cap) return undefined;
    const buf = Buffer.alloc(st.size);
    await handle.read(buf, 0, st.size, 0);
    return buf.toString('utf8');
  } finally {
    await handle.close();
  }
}
