// A V8 code cache for the CLI's bundles, kept in the user's cache folder. Without one, every fresh `mlc` process
// parses the whole 500 KB dist/mlc.js again and compiles again each function its command runs (~20 ms of a fresh
// `mlc model save`, bench/ row 8). Node >= 22.1 keeps such a cache itself (module.enableCompileCache) and is left to
// it; on older Node, `codeCacheLoader` compiles a bundle with the bytes the last run of the same command left, and
// writes them at exit where there were none or V8 refused them.
//
// A cache is code: it is keyed by the sha256 of the bundle's text (V8 itself checks only the text's length), read
// only as a plain file of the user's own folder, and written whole (temp + rename) or not at all. Nothing here is
// required for mlc to work: a folder that cannot be made or written leaves the run uncached, and says nothing.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import Module from 'node:module';
import * as path from 'node:path';
import * as vm from 'node:vm';

/** Where the caches live: $XDG_CACHE_HOME/ml-containers/v8, else ~/.cache/ml-containers/v8. */
export function codeCacheDir(env: Readonly<Record<string, string | undefined>>, home: string): string {
  return path.join(env.XDG_CACHE_HOME || path.join(home, '.cache'), 'ml-containers', 'v8');
}

/**
 * The cache file of one bundle for one command: each command compiles other functions, so each keeps its own
 * (`mlc.model.<place>.<key>.bin`). The place is a digest of the bundle's path: a script compiled from a cache keeps
 * the file name it was cached under, and two installs (the extension's and npm's) must not remove each other's. The
 * key is the text's digest with the V8 version and architecture, which V8 checks too.
 */
export function codeCacheFile(dir: string, bundle: string, command: string, source: string): string {
  const place = createHash('sha256').update(bundle).digest('hex').slice(0, 8);
  const key = createHash('sha256').update(`${process.versions.v8}\0${process.arch}\0`).update(source).digest('hex').slice(0, 32);
  return path.join(dir, `${path.basename(bundle, '.js')}.${commandKey(command)}.${place}.${key}.bin`);
}

/** A command name as it may appear in a file name: `model`, `slurm-task`; anything else shares `_`. */
function commandKey(command: string | undefined): string {
  return command && /^[a-z][a-z-]{0,31}$/.test(command) ? command : '_';
}

export interface CodeCacheLoader {
  /** Requires a file of the bundles' folder (dist/) through the cache; other ids go to node's own require. */
  load(file: string): unknown;
  /** The cache files flush would write: those that were missing, or that V8 refused. */
  pending(): string[];
  /** Writes those caches; called at exit. */
  flush(): void;
}

/**
 * A loader that runs the bundles in `dir` (dist/) from caches in `cacheDir`. A bundle's own requires of `./x.js`
 * (dockerode.js and the other vendored files) go through it too, each file loaded once.
 */
export function codeCacheLoader(cacheDir: string, command: string): CodeCacheLoader {
  const modules = new Map<string, Module>();
  const unsaved: { file: string; script: vm.Script }[] = [];
  const load = (file: string): unknown => {
    const known = modules.get(file);
    if (known) return known.exports;
    const source = fs.readFileSync(file, 'utf8');
    const cacheFile = codeCacheFile(cacheDir, file, command, source);
    const cachedData = readCache(cacheFile);
    // The shebang line is blanked, not cut, so that line numbers in stack traces stay the file's.
    const script = new vm.Script(Module.wrap(source.replace(/^#!.*/, '')), {
      filename: file,
      ...(cachedData ? { cachedData } : {}),
    });
    if (!cachedData || script.cachedDataRejected) unsaved.push({ file: cacheFile, script });
    const m = new Module(file, module);
    m.filename = file;
    modules.set(file, m);
    const nodeRequire = Module.createRequire(file);
    const local = (id: string): unknown =>
      id.startsWith('./') && id.endsWith('.js') && !id.slice(2).includes('/') ? load(path.join(path.dirname(file), id)) : nodeRequire(id);
    const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
    wrapper.call(
      m.exports,
      m.exports,
      Object.assign(local, { resolve: nodeRequire.resolve, cache: nodeRequire.cache }),
      m,
      file,
      path.dirname(file),
    );
    m.loaded = true;
    return m.exports;
  };
  const flush = (): void => {
    if (!unsaved.length) return;
    try {
      fs.mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
      for (const { file, script } of unsaved.splice(0)) writeCache(file, script.createCachedData());
    } catch {
      // A cache is an optimisation: a folder that cannot be written leaves the next run as this one.
    }
  };
  return { load, pending: () => unsaved.map((u) => u.file), flush };
}

/** The cache's bytes, where it is a plain file (never through a link); undefined otherwise. */
function readCache(file: string): Buffer | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    return fs.fstatSync(fd).isFile() ? fs.readFileSync(fd) : undefined;
  } catch {
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes the cache whole (temp + rename), and removes the caches of other texts of the same bundle, place and command. */
function writeCache(file: string, data: Buffer): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, data, { mode: 0o600, flag: 'wx' });
    fs.renameSync(tmp, file);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  const prefix = path.basename(file).replace(/[^.]+\.bin$/, '');
  for (const name of fs.readdirSync(path.dirname(file)))
    if (name.startsWith(prefix) && name.endsWith('.bin') && name !== path.basename(file))
      fs.rmSync(path.join(path.dirname(file), name), { force: true });
}
