import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { machineEngine } from '../core/docker/machine';
import type { ProvenanceReport } from '../core/images/provenance';
import { inspectProvenance } from '../core/images/provenance';
import type { CliIO } from './io';
import { UsageError } from './io';

export const inspectHelp = `mlc inspect IMAGE [--json] [--dir DIR] [--host URL]

Prints an image's provenance from the image alone, so it works on a pulled image on any machine: the git
commit (dirty or not), branch, remote and describe; the base image and its digest as the build resolved it;
preset and variant; the Dockerfile's path and sha256; the hyper-parameter file's; and the environment lock the
image carries (/etc/mlc/environment.lock): its sha256 and package count. Reading the lock starts a throw-away
container without network.

  --json      print the whole report as one JSON object
  --dir DIR   project folder whose .mlcontainers/locks/ to fall back on for images without a lock (default: .)
  --host URL  Docker host instead of DOCKER_HOST / the docker context`;

export async function inspect(args: string[], io: CliIO, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { json: { type: 'boolean', default: false }, dir: { type: 'string', default: '.' }, host: { type: 'string' } }, strict: true, allowPositionals: true });
  if (positionals.length !== 1) {
    throw new UsageError('name one image, e.g. `mlc inspect dimuon:latest`.');
  }
  const engine = machineEngine(values.host, {}, io.env);
  const report = await inspectProvenance(engine, positionals[0]!, path.resolve(values.dir), signal);
  if (values.json) {
    io.out(JSON.stringify(report, null, 2));
    return 0;
  }
  for (const [key, value] of formatProvenance(report)) io.out(`${key.padEnd(11)} ${value}`);
  return 0;
}

/** The report as key–value rows; a row whose label the image lacks is left out, commit and lock always shown. */
export function formatProvenance(r: ProvenanceReport): [string, string][] {
  const p = r.provenance;
  const rows: [string, string | undefined][] = [
    ['image', r.imageId],
    ['tags', r.tags.join(', ') || undefined],
    ['digests', r.repoDigests.join(', ') || undefined],
    ['title', p.title],
    ['created', r.created || p.created],
    ['commit', p.revision ? `${p.revision}${p.dirty ? ' (dirty: uncommitted changes)' : ''}` : 'none recorded (built outside git)'],
    ['branch', p.branch],
    ['describe', p.version],
    ['source', p.source],
    ['base', p.base || p.baseDigest ? `${p.base ?? '(unnamed)'}${p.baseDigest ? ` @ ${p.baseDigest}` : ''}` : undefined],
    ['preset', p.preset ? `${p.preset}${p.variant ? ` (${p.variant})` : ''}` : undefined],
    ['dockerfile', p.dockerfilePath || p.dockerfileSha256 ? `${p.dockerfilePath ?? '(path not recorded)'}${p.dockerfileSha256 ? ` sha256:${p.dockerfileSha256}` : ''}` : undefined],
    ['config', p.configPath ? `${p.configPath}${p.configSha256 ? ` sha256:${p.configSha256}` : ''}` : undefined],
    ['lock', formatLock(r)],
  ];
  return rows.filter((row): row is [string, string] => row[1] !== undefined);
}

function formatLock(r: ProvenanceReport): string {
  const l = r.lock;
  if (!l) return 'none (built without one: mlc diff captures one when asked)';
  const sha = l.sha256 ? `sha256:${l.sha256}, ` : '';
  const where = l.source === 'image' ? `in the image at ${l.path}` : `the project's ${l.path} (the image carries none)`;
  const check = l.matchesLabel === false ? '; the file does not match the label: changed after the build' : '';
  return `${sha}${l.packages} packages (${where})${check}`;
}
