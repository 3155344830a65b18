import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { machineEngine } from '../core/docker/machine';
import { formatAge, formatDuration } from '../core/format';
import { openProject } from '../core/project';
import { commitTag } from '../core/images/tree';
import { GitCli } from '../core/provenance/git';
import type { RunRecord } from '../core/run/experiment';
import { RUNS_FILE, readRuns, runExperiment } from '../core/run/experiment';
import { parseGpuSetting } from '../core/container/gpu';
import { parseSize } from '../core/container/request';
import { formatParams } from '../core/run/sweep';
import { templatesDir } from '../core/scaffold/templateFiles';
import type { CliIO } from './io';
import { UsageError, asUsage, cliLogger } from './io';

export const runHelp = `mlc run --config FILE [--image REF] [--gpu auto|all|none|0,1] [--parallel N] [--dir DIR] -- COMMAND…

Runs COMMAND in the experiment image with the project mounted at /workspace (the working directory) and the
hyper-parameter YAML mounted read-only at /etc/mlc/config/<name>; its path is in $MLC_CONFIG. Output streams
here and is kept in .mlcontainers/runs/<id>/output.log; a record of the run (image, commit, config hash and
content, command, times, exit code, GPUs) is appended to .mlcontainers/runs.jsonl (see \`mlc runs\`).

A sweep: every list in the YAML is an axis and the runs cover the grid (lr: [0.1, 0.01] with
batch_size: [32, 64] is 4 runs, each with its own config). To pass a list as one value, wrap it: [[64, 64]].

  --config FILE     hyper-parameter YAML (e.g. configs/experiment.yaml)
  --image REF       image to run in (default: <project>:latest, the last \`mlc build\`)
  --code WHICH      workspace: the project folder mounted at /workspace (default); image: the code built
                    into the image (COPY . /workspace), to rerun an image exactly as built — only the run's
                    folder is mounted then, and the record's commit is the image's
  --gpu MODE        auto (GPU when the preflight passes, else CPU with a note), all, none, or device ids
                    (default: auto)
  --parallel N      runs at a time in a sweep (default: one per GPU, one on CPU); the GPUs are shared out
  --shm-size SIZE   /dev/shm size for data loaders (default: 8g)
  --dir DIR         project folder (default: .)
  --host URL        Docker host instead of DOCKER_HOST / the docker context

Exit code: a single run's own; for a sweep, 0 when every run succeeded, else 1.`;

export const runsHelp = `mlc runs [--dir DIR] [--image REF] [--last N] [--json]

Lists the project's experiment runs from .mlcontainers/runs.jsonl, newest last: status and exit code, the
image tag and the commit the code came from, the config and its hash, sweep values, duration and GPUs.

  --image REF  only runs in this image (a tag, or an id prefix)
  --last N     only the last N runs (default: 20; 0 for all)
  --json       print the records as JSON lines, as stored`;

export async function run(args: string[], io: CliIO, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      config: { type: 'string' },
      image: { type: 'string' },
      code: { type: 'string', default: 'workspace' },
      gpu: { type: 'string', default: 'auto' },
      parallel: { type: 'string' },
      'shm-size': { type: 'string', default: '8g' },
      dir: { type: 'string', default: '.' },
      host: { type: 'string' },
    },
    strict: true,
    allowPositionals: true,
  });
  if (!values.config) throw new UsageError('--config FILE is required (the hyper-parameter YAML, e.g. configs/experiment.yaml)');
  if (!positionals.length) throw new UsageError('give the command after `--`, e.g. mlc run --config configs/experiment.yaml -- python train.py');
  const parallel = values.parallel === undefined ? undefined : Number(values.parallel);
  if (parallel !== undefined && !(Number.isInteger(parallel) && parallel >= 1)) throw new UsageError(`--parallel wants a whole number of runs, not "${values.parallel}"`);
  const code = values.code;
  if (code !== 'workspace' && code !== 'image') throw new UsageError(`--code is workspace or image, not "${code}"`);
  const folder = path.resolve(values.dir);
  const gpu = asUsage(() => parseGpuSetting(values.gpu));
  const shm = asUsage(() => parseSize(values['shm-size']));
  const engine = machineEngine(values.host, {}, io.env);
  const log = cliLogger(io, 'run');
  const project = await openProject(folder, { templatesDir: templatesDir() });
  const catalog = project.catalog;
  const result = await runExperiment({
    engine,
    workspace: folder,
    config: path.resolve(values.config),
    image: values.image ?? project.imageRef,
    command: positionals,
    code,
    gpu,
    ...(parallel !== undefined ? { parallel } : {}),
    shmSizeBytes: shm,
    git: new GitCli(),
    log,
    ...(catalog ? { catalog } : {}),
    onLine: (r, line, stream) => {
      const prefixed = r.size > 1 ? `[${r.point.index + 1}/${r.size}] ${line}` : line;
      if (stream === 'stdout') io.out(prefixed);
      else io.err(prefixed);
    },
    signal,
  });
  const single = result.records.length === 1 && !result.records[0]?.sweep ? result.records[0] : undefined;
  if (single) {
    io.err(`log: ${single.log}`);
    // Cancelled (Ctrl-C): 130, as a shell reports an interrupted command.
    return single.status === 'cancelled' || single.exitCode === null ? 130 : Math.min(single.exitCode, 255);
  }
  const ok = result.records.filter((r) => r.status === 'succeeded').length;
  const failed = result.records.filter((r) => r.status !== 'succeeded').map((r) => `${(r.sweep?.index ?? 0) + 1}: ${r.status === 'failed' ? `exit ${String(r.exitCode)}` : r.status}`);
  io.err(`sweep: ${ok} of ${result.records.length + result.notStarted} runs succeeded${failed.length ? ` (${failed.join(', ')})` : ''}${result.notStarted ? `, ${result.notStarted} not started` : ''}; \`mlc runs\` lists them, logs in .mlcontainers/runs/.`);
  return ok === result.records.length && !result.notStarted ? 0 : 1;
}

export async function runs(args: string[], io: CliIO): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { dir: { type: 'string', default: '.' }, image: { type: 'string' }, last: { type: 'string', default: '20' }, json: { type: 'boolean', default: false } },
    strict: true,
    allowPositionals: false,
  });
  const last = Number(values.last);
  if (!(Number.isInteger(last) && last >= 0)) throw new UsageError(`--last wants a whole number, not "${values.last}"`);
  const folder = path.resolve(values.dir);
  const { runs: all, skipped } = await readRuns(folder);
  if (skipped) io.err(`${skipped} line(s) of ${RUNS_FILE} are not run records and were skipped.`);
  const image = values.image;
  const chosen = (image ? all.filter((r) => r.image.ref === image || r.image.tags.includes(image) || r.image.id.replace(/^sha256:/, '').startsWith(image.replace(/^sha256:/, ''))) : all).slice(last ? -last : 0);
  if (values.json) {
    for (const r of chosen) io.out(JSON.stringify(r));
    return 0;
  }
  if (!chosen.length) {
    io.err(all.length ? 'No run matches.' : 'No runs yet: `mlc run --config configs/experiment.yaml -- python train.py` starts one.');
    return 0;
  }
  for (const line of formatRuns([...chosen].sort((a, b) => a.start.localeCompare(b.start) || a.id.localeCompare(b.id)), Date.now())) io.out(line);
  return 0;
}

/** One row per run, columns aligned. */
export function formatRuns(records: readonly RunRecord[], nowMs: number): string[] {
  const rows = records.map((r) => [
    r.id,
    r.status === 'succeeded' ? 'ok' : r.status === 'failed' ? `exit ${String(r.exitCode)}` : 'cancelled',
    primaryTag(r),
    r.commit ? `${r.commit.slice(0, 7)}${r.dirty ? '+dirty' : ''}` : '-',
    `${r.config.path}@${r.config.sha256.slice(0, 8)}`,
    formatDuration(Date.parse(r.end) - Date.parse(r.start)),
    formatAge(Date.parse(r.start) / 1000, nowMs),
    `gpu:${r.gpus}`,
    formatParams(r.params),
  ]);
  const header = ['RUN', 'STATUS', 'IMAGE', 'COMMIT', 'CONFIG', 'TOOK', 'STARTED', 'GPU', 'PARAMS'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  return [header, ...rows].map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd());
}

/** The image's commit tag when it has one, else the reference the run named. */
function primaryTag(r: RunRecord): string {
  return commitTag(r.image.tags, r.image.revision ?? undefined) ?? r.image.ref;
}
