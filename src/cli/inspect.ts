import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { machineEngine } from '../core/docker/machine';
import type { ProvenanceReport } from '../core/images/provenance';
import { inspectProvenance } from '../core/images/provenance';
import type { ModelFacts } from '../core/model/card';
import { CARD_JSON, MODEL_DIR, readModelLabels, shownValue } from '../core/model/card';
import { formatParams } from '../core/run/sweep';
import { dataId } from '../core/run/inputs';
import type { CliIO } from './io';
import { UsageError } from './io';

export const inspectHelp = `mlc inspect IMAGE [--json] [--dir DIR] [--host URL]

Prints an image's provenance from the image alone, so it works on a pulled image on any machine: the git
commit (dirty or not), branch, remote and describe; the base image and its digest as the build resolved it;
preset and variant; the Dockerfile's path and sha256; the hyper-parameter file's; and the environment lock the
image carries (/etc/mlc/environment.lock): its sha256 and package count. Reading the lock starts a throw-away
container without network. For a model image (\`mlc model save\`), a Model section follows: the run, its sweep
point and parameters, final metrics, commit, config, training image, data and each artifact's sha256 and size.

  --json      print the whole report as one JSON object (a model's facts under "model")
  --dir DIR   project folder whose .mlcontainers/locks/ to fall back on for images without a lock (default: .)
  --host URL  Docker host instead of DOCKER_HOST / the docker context`;

export async function inspect(args: string[], io: CliIO, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { json: { type: 'boolean', default: false }, dir: { type: 'string', default: '.' }, host: { type: 'string' } },
    strict: true,
    allowPositionals: true,
  });
  if (positionals.length !== 1) {
    throw new UsageError('name one image, e.g. `mlc inspect dimuon:latest`.');
  }
  const engine = machineEngine(values.host, {}, io.env);
  const report = await inspectProvenance(engine, positionals[0]!, path.resolve(values.dir), signal);
  const model = readModelLabels((await engine.inspectImage(report.imageId, signal))?.labels);
  if (values.json) {
    io.out(JSON.stringify(model ? { ...report, model } : report, null, 2));
    return 0;
  }
  for (const [key, value] of formatProvenance(report)) io.out(`${key.padEnd(11)} ${value}`);
  if (model) {
    io.out('');
    io.out('Model');
    for (const [key, value] of formatModel(model)) io.out(`${key.padEnd(11)} ${value}`);
  }
  return 0;
}

/**
 * A model image's facts as key–value rows. Labels come with the image from wherever it was pulled: every value is
 * shown through shownValue (controls and invisible characters escaped), and ids and hashes were checked by shape.
 */
export function formatModel(m: ModelFacts): [string, string][] {
  const sweep = m.sweep
    ? `${m.sweep.id}${m.sweep.index !== undefined ? `, point ${m.sweep.index + 1}${m.sweep.size !== undefined ? ` of ${m.sweep.size}` : ''}` : ''}`
    : undefined;
  const metrics = Object.entries(m.metrics ?? {});
  const shownMetrics = metrics.slice(0, 20).map(([k, v]) => `${shownValue(k, 60)}=${v}${k === m.headline ? ' (headline)' : ''}`);
  const rows: [string, string | undefined][] = [
    ['run', m.run ? `${m.run}${sweep ? ` (sweep ${sweep})` : ''}` : 'not recorded'],
    ['commit', m.commit ? `${m.commit}${m.dirty ? ' (dirty: uncommitted changes)' : ''}` : 'none recorded (the run was outside git)'],
    [
      'params',
      m.params ? (Object.keys(m.params).length ? shownValue(formatParams(m.params), 400) : 'none (not a sweep point)') : undefined,
    ],
    [
      'metrics',
      m.metrics
        ? metrics.length
          ? `${shownMetrics.join(', ')}${metrics.length > 20 ? `, and ${metrics.length - 20} more (${CARD_JSON})` : ''}`
          : 'none recorded'
        : undefined,
    ],
    ['config', m.config ? `${shownValue(m.config.path)}${m.config.sha256 ? ` sha256:${m.config.sha256}` : ''}` : undefined],
    ['trained in', m.image ? `${m.image.id ?? '(id not recorded)'}${m.image.ref ? ` (${shownValue(m.image.ref)})` : ''}` : undefined],
    [
      'base',
      m.base || m.baseDigest ? `${m.base ? shownValue(m.base) : '(unnamed)'}${m.baseDigest ? ` @ ${m.baseDigest}` : ''}` : undefined,
    ],
    ['env lock', m.lockSha256 ? `sha256:${m.lockSha256} (the training image's, carried by this one)` : undefined],
    ['data', m.data ? (m.data.length ? m.data.map((d) => `${shownValue(d.target)} ${dataId(d)}`).join(', ') : 'none recorded') : undefined],
  ];
  const artifacts = m.artifacts ?? [];
  artifacts.forEach((a, i) => rows.push([i ? '' : 'artifacts', `${shownValue(a.name)}  ${a.size} bytes  sha256:${a.sha256}`]));
  rows.push(['card', `${shownValue(m.dir ?? MODEL_DIR)}/${CARD_JSON}${m.cardSha256 ? ` sha256:${m.cardSha256}` : ''}`]);
  if (m.cut?.length) rows.push(['cut', `${m.cut.map((c) => shownValue(c)).join(', ')}: too large for a label, in ${CARD_JSON} only`]);
  return rows.filter((row): row is [string, string] => row[1] !== undefined);
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
    [
      'dockerfile',
      p.dockerfilePath || p.dockerfileSha256
        ? `${p.dockerfilePath ?? '(path not recorded)'}${p.dockerfileSha256 ? ` sha256:${p.dockerfileSha256}` : ''}`
        : undefined,
    ],
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
