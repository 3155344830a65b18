import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { machineEngine } from '../core/docker/machine';
import { diffLocks, formatDiff, lockFor, parseLock } from '../core/provenance/lock';
import type { CliIO } from './io';
import { UsageError } from './io';

export const diffHelp = `mlc diff IMAGE_A IMAGE_B [--dir DIR] [--json] [--host URL]

Shows the Python (and conda) packages that differ between two images: + added in B, - removed, ~ changed.
Uses the locks kept under .mlcontainers/locks/ by mlc build, else the lock an image carries
(/etc/mlc/environment.lock: a pulled image needs no project), else captures one (pip freeze in a throw-away
container).

  --json      print {"a", "b", "added": [{"name", "version"}], "removed": [{"name", "version"}],
              "changed": [{"name", "from", "to"}]}
  --dir DIR   project folder whose .mlcontainers/locks/ to read (default: .)
  --host URL  Docker host instead of DOCKER_HOST / the docker context`;

export async function diff(args: string[], io: CliIO, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { dir: { type: 'string', default: '.' }, json: { type: 'boolean', default: false }, host: { type: 'string' } },
    strict: true,
    allowPositionals: true,
  });
  if (positionals.length !== 2) {
    throw new UsageError('name two images, e.g. `mlc diff dimuon:0123456 dimuon:latest`.');
  }
  const engine = machineEngine(values.host, {}, io.env);
  const folder = path.resolve(values.dir);
  const [a, b] = await Promise.all(positionals.map((ref) => lockFor(engine, folder, ref, signal)));
  const packages = diffLocks(parseLock(a!.text), parseLock(b!.text));
  if (values.json) {
    io.out(JSON.stringify({ a: positionals[0], b: positionals[1], ...packages }));
    return 0;
  }
  const lines = formatDiff(packages);
  io.out(lines.length ? lines.join('\n') : 'No package differences.');
  return 0;
}
