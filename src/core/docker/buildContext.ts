import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as TarStream from 'tar-stream';
import type { Readable } from 'node:stream';
import { UserError } from '../errors';
import { compileGlob, dockerignoreMatcher } from './dockerignore';

export interface ContextEntry {
  /** Relative to the context root, forward slashes. */
  path: string;
  type: 'file' | 'directory' | 'symlink';
  size: number;
  mode: number;
  /**
   * The mtime with the sub-millisecond part lstat gave (a BuildKit session compares stats by it). A number, not a
   * Date: a context has tens of thousands of entries, and a Date each was a measurable part of a scan's garbage.
   */
  mtimeMs: number;
  linkname?: string;
}

export interface ContextScan {
  root: string;
  entries: ContextEntry[];
  /** Bytes of file content that will be sent. */
  totalBytes: number;
  /** Ignored directories that were not walked at all. */
  skippedDirs: string[];
  /** The .dockerignore lines the scan applied, and the entries sent although they match (Dockerfile, .dockerignore). */
  ignore?: { patterns: string[]; forced: string[] };
}

export class BuildContextError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'BuildContextError';
  }
}

/**
 * Lists what the docker CLI would send as the build context: .dockerignore rules with moby's semantics
 * (dockerignore.ts), the Dockerfile and .dockerignore always included, symlinks sent as links and never
 * followed. An ignored directory is not even opened unless a `!` rule could re-include something inside it.
 */
export async function scanContext(root: string, dockerfile: string): Promise<ContextScan> {
  const absRoot = path.resolve(root);
  const relDockerfile = toSlash(path.relative(absRoot, path.resolve(absRoot, dockerfile)));
  if (relDockerfile.startsWith('../') || path.isAbsolute(relDockerfile)) {
    throw new BuildContextError(
      `The Dockerfile ${dockerfile} is outside the build context ${absRoot}; set build.context in devcontainer.json to a folder that contains it.`,
    );
  }
  const patterns = await readDockerignore(absRoot);
  const matcher = dockerignoreMatcher(patterns);
  const couldName = nameCouldMatch(patterns);
  const alwaysSent = new Set([relDockerfile, '.dockerignore']);
  // The docker CLI appends `!Dockerfile` and `!.dockerignore` exceptions, so a walk must reach them too.
  const negations = [
    ...patterns
      .map((p) => p.trim())
      .filter((p) => p.startsWith('!'))
      .map((p) => toSlash(path.posix.normalize(p.slice(1).trim().replace(/^\/+/, '')))),
    ...alwaysSent,
  ];
  const entries: ContextEntry[] = [];
  const skippedDirs: string[] = [];
  const forced = [...alwaysSent].filter((p) => matcher.ignores(p));
  let totalBytes = 0;

  let sinceYield = 0;
  /** `dirIgnored`: what the matcher says of relDir itself (false for the root). */
  const walk = async (relDir: string, dirIgnored: boolean): Promise<void> => {
    // Synchronous calls, a folder at a time, yielding to the event loop every couple of thousand entries: a promise
    // per lstat cost 3× the syscalls themselves (20,000 files: ~900 ms one at a time, ~250 ms a folder at once,
    // ~130 ms like this), and the extension host still gets its turn.
    if (sinceYield > 2000) {
      sinceYield = 0;
      await new Promise((resolve) => setImmediate(resolve));
    }
    const dirents = fs.readdirSync(path.join(absRoot, relDir), { withFileTypes: true });
    sinceYield += dirents.length;
    dirents.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const items = dirents.map((d) => {
      const rel = relDir ? `${relDir}/${d.name}` : d.name;
      // A name no rule could match is ignored exactly when its folder is: the matcher is asked only otherwise.
      const matched = couldName(d.name) ? matcher.ignores(rel) : dirIgnored;
      const ignored = matched && !alwaysSent.has(rel);
      const dir = d.isDirectory();
      // An ignored folder no `!` rule reaches into is never opened, nor stat'ed; an ignored file is not stat'ed.
      const skip = dir ? ignored && !couldReinclude(rel, negations) : ignored;
      return { rel, matched, ignored, dir, skip };
    });
    const stats = items.map((it) => (it.skip ? undefined : fs.lstatSync(path.join(absRoot, it.rel))));
    for (let i = 0; i < items.length; i++) {
      const { rel, matched, ignored, dir, skip } = items[i]!;
      const stat = stats[i];
      if (dir) {
        if (skip) {
          skippedDirs.push(rel);
          continue;
        }
        if (!ignored) {
          entries.push({ path: rel, type: 'directory', size: 0, mode: stat!.mode & 0o7777, mtimeMs: stat!.mtimeMs });
        }
        await walk(rel, matched);
        continue;
      }
      if (skip || !stat) {
        continue;
      }
      if (stat.isSymbolicLink()) {
        entries.push({
          path: rel,
          type: 'symlink',
          size: 0,
          mode: stat.mode & 0o7777,
          mtimeMs: stat.mtimeMs,
          linkname: fs.readlinkSync(path.join(absRoot, rel)),
        });
      } else if (stat.isFile()) {
        entries.push({ path: rel, type: 'file', size: stat.size, mode: stat.mode & 0o7777, mtimeMs: stat.mtimeMs });
        totalBytes += stat.size;
      }
      // Sockets, FIFOs and devices are skipped, as the docker CLI does for a build context.
    }
  };
  await walk('', false);
  if (!entries.some((e) => e.path === relDockerfile)) {
    throw new BuildContextError(`The Dockerfile ${relDockerfile} was not found in ${absRoot}.`);
  }
  return { root: absRoot, entries, totalBytes, skippedDirs, ignore: { patterns, forced } };
}

/** What a BuildKit frontend asks of a local source (fsutil's FilterOpt), as .dockerignore-style patterns. */
export interface SourceFilter {
  includes?: readonly string[];
  excludes?: readonly string[];
  /** Paths (and, for symlinks, their targets) to include, as the frontend asks for the Dockerfile. */
  followPaths?: readonly string[];
}

/**
 * The entries of a scan that a frontend's filter lets through, in walk order, each with its parent folders (a
 * folder the scan left out because .dockerignore ignores it, while a `!` rule kept something inside, is lstat'ed
 * here: the receiver needs a parent before its children). Works on the scan's list, so the files a session offers
 * are never more than the tar would hold, and ignored folders stay unopened.
 */
export async function filterEntries(
  scan: { root: string; entries: readonly ContextEntry[]; ignore?: ContextScan['ignore'] },
  filter: SourceFilter,
): Promise<ContextEntry[]> {
  const excludes = filter.excludes?.filter((p) => p.trim()) ?? [];
  const excluded = excludeTest(excludes, scan.ignore);
  const includes = [...(filter.includes ?? []), ...(filter.followPaths ?? [])].map((p) => p.replace(/^\/+/, '')).filter(Boolean);
  if (filter.followPaths?.length) {
    const followed = new Set(filter.followPaths.map((p) => p.replace(/^\/+/, '')));
    for (const link of scan.entries) {
      if (link.type === 'symlink' && link.linkname && followed.has(link.path)) {
        const target = path.posix.normalize(path.posix.join(path.posix.dirname(link.path), link.linkname));
        if (!target.startsWith('../') && !path.posix.isAbsolute(target)) includes.push(target);
      }
    }
  }
  // BuildKit asks for single files by name (the .dockerignore, the Dockerfile): looked up, not matched against every
  // entry, unless one names a folder or a link (a pattern then includes what is under it or what it points to).
  const named = !excludes.length && !filter.includes?.length && filter.followPaths?.length ? new Set(includes) : undefined;
  const byName = named && !scan.entries.some((e) => named.has(e.path) && e.type !== 'file') ? named : undefined;
  const included = includes.length && !byName ? dockerignoreMatcher(includes.map(escapeLiteral(filter))) : undefined;
  const dirs = new Map(scan.entries.filter((e) => e.type === 'directory').map((e) => [e.path, e]));
  const out: ContextEntry[] = [];
  const emitted = new Set<string>();
  const withParents = async (e: ContextEntry): Promise<void> => {
    const parts = e.path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (emitted.has(dir)) continue;
      let entry = dirs.get(dir);
      if (!entry) {
        const stat = await fs.promises.lstat(path.join(scan.root, dir));
        entry = { path: dir, type: 'directory', size: 0, mode: stat.mode & 0o7777, mtimeMs: stat.mtimeMs };
      }
      out.push(entry);
      emitted.add(dir);
    }
    out.push(e);
    emitted.add(e.path);
  };
  for (const e of scan.entries) {
    if (excluded?.(e.path)) continue;
    // A folder that is not itself included comes along with the first thing inside it that is.
    if (byName ? !byName.has(e.path) : included && !included.ignores(e.path)) continue;
    if (emitted.has(e.path)) continue;
    const slash = e.path.lastIndexOf('/');
    if (slash < 0 || emitted.has(e.path.slice(0, slash))) {
      out.push(e);
      emitted.add(e.path);
    } else {
      await withParents(e);
    }
  }
  return out;
}

/**
 * Which paths the frontend's exclude patterns drop. When they are the very .dockerignore lines the scan applied
 * (the Dockerfile frontend sends them back), the scan already dropped everything they match except what it sent
 * regardless: only those are left to drop, with no pattern matching per entry.
 */
function excludeTest(excludes: readonly string[], applied: ContextScan['ignore']): ((p: string) => boolean) | undefined {
  if (!excludes.length) return undefined;
  const meaningful = (list: readonly string[]): string[] =>
    list
      .map((p) => p.trim())
      .filter((p) => p && !p.startsWith('#'))
      .map(cleanPattern);
  const mine = applied ? meaningful(applied.patterns) : undefined;
  const theirs = meaningful(excludes);
  if (mine && mine.length === theirs.length && mine.every((p, i) => p === theirs[i])) {
    const forced = new Set(applied!.forced);
    return (p) => forced.has(p);
  }
  const matcher = dockerignoreMatcher(excludes);
  return (p) => matcher.ignores(p);
}

/** Includes and follow paths name paths, and fsutil matches them as patterns: only the followed ones are literal. */
function escapeLiteral(filter: SourceFilter): (p: string) => string {
  const literal = new Set(filter.followPaths ?? []);
  return (p) => (literal.has(p) ? p.replace(/[*?[\\]/g, (c) => `\\${c}`) : p);
}

/** Streams the scanned entries as a tar, one file open at a time: memory stays flat whatever the context size. */
export function packContext(scan: ContextScan): Readable {
  // tar-stream is loaded with the first build, not at import (activation time).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tar = (require('tar-stream') as typeof TarStream).pack();
  // A cancelled build stops reading the stream, and its files may then go (a quickstart interrupted mid-build removes
  // its project): the read error that ends the stream must not reach the process as an unhandled 'error' event (it
  // crashed `mlc quickstart` on Podman, where the context goes as this tar). A consumer still reading has its own
  // listener and gets the error as before.
  tar.on('error', () => undefined);
  void (async () => {
    try {
      for (const e of scan.entries) {
        // As the docker CLI does for build contexts: owned by root inside the archive.
        const header = { name: e.path, mode: e.mode, mtime: new Date(e.mtimeMs), uid: 0, gid: 0 };
        if (e.type === 'directory') {
          tar.entry({ ...header, type: 'directory' });
        } else if (e.type === 'symlink') {
          tar.entry({ ...header, type: 'symlink', linkname: e.linkname ?? '' });
        } else {
          await new Promise<void>((resolve, reject) => {
            const entry = tar.entry({ ...header, type: 'file', size: e.size }, (err) => (err ? reject(err) : resolve()));
            const source = fs.createReadStream(path.join(scan.root, e.path));
            source.on('error', reject);
            // tar-stream's entry (its Sink) fails too when its file cannot be read: that error is the one above.
            entry.on('error', () => undefined);
            source.pipe(entry);
          });
        }
      }
      tar.finalize();
    } catch (err) {
      tar.destroy(err instanceof Error ? err : new Error(String(err)));
    }
  })();
  return tar as unknown as Readable;
}

/**
 * A context made in memory (a generated Dockerfile, a small file to COPY): every entry owned by root, mode 0644
 * unless given and dated at the epoch, so the same content always makes the same layer.
 */
export function packFiles(files: readonly { path: string; content: string | Buffer; mode?: number }[]): Readable {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tar = (require('tar-stream') as typeof TarStream).pack();
  for (const f of files) tar.entry({ name: f.path, mode: f.mode ?? 0o644, mtime: new Date(0), uid: 0, gid: 0, type: 'file' }, f.content);
  tar.finalize();
  return tar as unknown as Readable;
}

/** The largest files and folders of a scan, for the "context is big" warning. */
export function biggestOffenders(scan: ContextScan, count = 5): { path: string; bytes: number }[] {
  const byTop = new Map<string, number>();
  for (const e of scan.entries) {
    if (e.type !== 'file') continue;
    const parts = e.path.split('/');
    const key = parts.length > 1 ? `${parts[0]}/` : e.path;
    byTop.set(key, (byTop.get(key) ?? 0) + e.size);
  }
  return [...byTop.entries()]
    .map(([p, bytes]) => ({ path: p, bytes }))
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, count);
}

async function readDockerignore(root: string): Promise<string[]> {
  try {
    return (await fs.promises.readFile(path.join(root, '.dockerignore'), 'utf8')).split(/\r?\n/);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** Whether a `!` rule could match something under `dir`, so the walk must go in (moby does the same check). */
function couldReinclude(dir: string, negations: string[]): boolean {
  return negations.some((n) => {
    const literal = n.split(/[*?[\\]/)[0] ?? '';
    return literal === '' || literal.startsWith(`${dir}/`) || `${dir}/`.startsWith(literal) || literal === dir;
  });
}

/**
 * Whether some .dockerignore rule could match a path by the path itself rather than through a parent folder, judged
 * from the path's last name alone. The matcher (moby's rules, dockerignore.ts) matches a path when a rule's pattern matches it
 * or the parent folder's prefix of as many parts as the pattern has, so a path no rule matches itself is ignored
 * exactly when its folder is: the walk then takes the folder's answer and skips the matcher, which costs ~10 µs a
 * path (20,000 files: ~200 ms in a fresh process). The test is a necessary condition only: a rule whose last part is
 * not a plain name or `*`/`?` glob, or with `**` anywhere but as a whole part, could match any name.
 */
export function nameCouldMatch(patterns: readonly string[]): (name: string) => boolean {
  const globs: { test(name: string): boolean }[] = [];
  for (const line of patterns) {
    // A comment only where `#` is the line's first character, as moby (and dockerignore.ts) read it.
    const trimmed = line.trim();
    if (!trimmed || line.startsWith('#')) continue;
    const p = cleanPattern(trimmed).replace(/^!/, '');
    const parts = p.split('/');
    const last = parts.at(-1) ?? '';
    if (!/^[A-Za-z0-9_.\-*?]+$/.test(last) || last.includes('**') || parts.some((part) => part.includes('**') && part !== '**'))
      return () => true;
    // The matcher's own glob, linear in the name: a regular expression of many `*` backtracks for seconds.
    globs.push(compileGlob(last));
  }
  return (name) => globs.some((g) => g.test(name));
}

/** A .dockerignore line as moby's ReadAll cleans it (the form BuildKit's frontend sends back). */
function cleanPattern(line: string): string {
  const invert = line.startsWith('!');
  let p = invert ? line.slice(1).trim() : line;
  if (p) {
    p = path.posix.normalize(p);
    if (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
    if (p.length > 1 && p.startsWith('/')) p = p.slice(1);
  }
  return invert ? `!${p}` : p;
}

function toSlash(p: string): string {
  return p.split(path.sep).join('/');
}
