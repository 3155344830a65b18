// A process that loads a temporary dist/ through the CLI's code cache, as dist/cli.js does, and prints what it saw:
// the code cache test runs each load in a process of its own, since V8 reuses a script compiled in the same process
// and would never read the cache. Arguments: CACHE_DIR COMMAND DIST.
import * as path from 'node:path';
import { codeCacheLoader } from '../../src/cli/codeCache';

const [cache = '', command = '', dist = ''] = process.argv.slice(2);
const loader = codeCacheLoader(cache, command);
const cli = loader.load(path.join(dist, 'mlc.js')) as { answer(): string };
const vendored = loader.load(path.join(dist, 'vendored.js')) as { loads: number };
const pending = loader.pending().map((f) => path.basename(f));
loader.flush();
process.stdout.write(JSON.stringify({ answer: cli.answer(), pending, loadsOfVendored: vendored.loads }));
