// The `mlc` executable, dist/cli.js: runs the CLI's bundle (dist/mlc.js, main.ts) from a V8 code cache in the user's
// cache folder (codeCache.ts). Node >= 22.1 keeps that cache itself; NODE_DISABLE_COMPILE_CACHE=1 turns either off,
// as it does Node's. Only node's built-ins are loaded before the bundle.
import Module from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { codeCacheDir, codeCacheLoader } from './codeCache';
import type * as CliModule from './main';

type Cli = typeof CliModule;

function start(): Cli {
  const bundle = path.join(__dirname, 'mlc.js');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const plain = (): Cli => require(bundle) as Cli;
  if (process.env.NODE_DISABLE_COMPILE_CACHE) return plain();
  const dir = codeCacheDir(process.env, process.env.HOME || os.homedir());
  const nodeCache = (Module as { enableCompileCache?: (dir: string) => unknown }).enableCompileCache;
  if (nodeCache) {
    nodeCache(path.join(dir, 'node'));
    return plain();
  }
  const loader = codeCacheLoader(dir, process.argv[2] ?? '');
  // Not after a usage error (exit 2): a mistyped command would leave a cache of its own.
  process.on('exit', (code) => code !== 2 && loader.flush());
  return loader.load(bundle) as Cli;
}

start().main();
