import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { machineEngine } from '../core/docker/machine';
import { formatAge, formatBytes, formatDuration } from '../core/format';
import { singleLine } from '../core/generatedText';
import { loadExperimentTree } from '../core/images/model';
import type { ExperimentTree, ImageNode, SweepNode } from '../core/images/tree';
import { repoOf, sweepBest } from '../core/images/tree';
import { formatMetricValue, headlineMetric } from '../core/run/comparePayload';
import { runStatus, statusText } from '../core/run/status';
import { formatParams } from '../core/run/sweep';
import { latestProjectImage } from '../core/project';
import { GitCli } from '../core/provenance/git';
import type { RunRecord } from '../core/run/records';
import type { CliIO } from './io';

export const lsHelp = `mlc ls [--dir DIR] [--devcontainer FILE] [--json] [--host URL]

Lists the project's experiment images under the git commits they came from — the current branch newest
first, then commits not on it, then images built outside git — with size, age, dirty state, running
containers (Jupyter at its 127.0.0.1 address) and recorded runs. Under each image, one line per sweep (its
points ok / failed / running / pending and its best point at the first metric) and one per single run; a
run's containers are its line. The HEAD commit is marked, and says so when it has no image yet.

  --dir DIR   project folder (default: .)
  --devcontainer FILE  devcontainer.json whose image to list, when the folder has several
  --json      print the tree as JSON
  --host URL  Docker host instead of DOCKER_HOST / the docker context`;

export async function ls(args: string[], io: CliIO, signal: AbortSignal): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      dir: { type: 'string', default: '.' },
      devcontainer: { type: 'string' },
      json: { type: 'boolean', default: false },
      host: { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  const folder = path.resolve(values.dir);
  const engine = machineEngine(values.host, { timeoutMs: 15_000 }, io.env);
  const repo = repoOf(await latestProjectImage(folder, values.devcontainer));
  const tree = await loadExperimentTree(engine, new GitCli(), folder, repo, signal);
  if (values.json) {
    io.out(JSON.stringify(tree, null, 2));
    return 0;
  }
  for (const line of formatTree(tree, Date.now())) io.out(line);
  return 0;
}

/** The tree as a table: one row per image, the commit columns filled on its first image. */
export function formatTree(tree: ExperimentTree, now: number): string[] {
  // A string is a line under the image before it (its sweeps and runs), indented to the IMAGE column.
  const rows: (string[] | string)[] = [['COMMIT', 'SUBJECT', 'IMAGE', 'SIZE', 'CREATED', 'STATUS']];
  if (tree.head && !tree.head.hasImage) {
    rows.push([`${tree.head.sha.slice(0, 7)} HEAD`, clip(tree.head.meta?.subject ?? ''), '(no image yet: mlc build)', '', '', '']);
  }
  for (const group of tree.groups) {
    group.images.forEach((node, i) => {
      const status = [
        node.dirty ? 'dirty' : '',
        node.otherTags.length ? `also ${node.otherTags.join(', ')}` : '',
        ...node.containers.map((c) => `${c.name} ${c.state}${c.jupyterUrl ? ` ${c.jupyterUrl}` : ''}`),
        node.runs.length ? `${node.runs.length} run${node.runs.length > 1 ? 's' : ''}${failedRuns(node.runs)} (mlc runs)` : '',
      ]
        .filter(Boolean)
        .join('; ');
      const commit = group.sha
        ? `${group.sha.slice(0, 7)}${group.isHead ? ' HEAD' : group.onBranch ? '' : ' (off branch)'}`
        : '(no commit)';
      rows.push([
        i === 0 ? commit : '',
        i === 0 ? clip(group.meta?.subject ?? '') : '',
        node.name,
        formatBytes(node.image.size),
        formatAge(node.image.created, now),
        status,
      ]);
      rows.push(...runLines(node, now));
    });
  }
  if (rows.length === 1)
    return [
      tree.repository
        ? 'No experiment images for this project yet: run `mlc build`.'
        : 'No experiment images, and this folder is not a git repository.',
    ];
  const table = rows.filter((r): r is string[] => Array.isArray(r));
  const widths = table[0]!.map((_, c) => Math.max(...table.map((r) => (r[c] ?? '').length)));
  const indent = ' '.repeat((widths[0] ?? 0) + (widths[1] ?? 0) + 4);
  return rows.map((r) =>
    typeof r === 'string'
      ? `${indent}${r}`
      : r
          .map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c] ?? 0)))
          .join('  ')
          .trimEnd(),
  );
}

/** Single runs listed under an image, as in the view; `mlc runs` lists them all. */
const RUNS_SHOWN = 20;

/** The image's sweeps, then its single runs (newest first), one line each, as the view groups them. */
function runLines(node: ImageNode, now: number): string[] {
  const lines = node.sweeps.map((s) => `sweep ${singleLine(s.id)}  ${sweepSummary(s)}`);
  for (const r of node.singles.slice(0, RUNS_SHOWN)) {
    const metric = headlineMetric(r.metrics, '');
    const cells = [
      statusText(runStatus(r)),
      metric ? `${metric.name} ${metric.text}` : '',
      formatDuration((r.end ? Date.parse(r.end) : now) - Date.parse(r.start)),
      formatAge(Date.parse(r.start) / 1000, now),
      formatParams(r.params),
    ];
    lines.push(singleLine(`run ${r.id}  ${cells.filter(Boolean).join(' · ')}`));
  }
  if (node.singles.length > RUNS_SHOWN) lines.push(`${node.singles.length - RUNS_SHOWN} older runs (mlc runs --last 0)`);
  return lines;
}

/** "36 points · 30 ok · 2 failed · 3 running · 1 pending · best loss 0.125 (lr=0.01)". */
export function sweepSummary(s: SweepNode, headline = ''): string {
  const c = s.counts;
  const best = sweepBest(s, headline);
  const parts = [
    `${s.size} points`,
    c.ok ? `${c.ok} ok` : '',
    c.failed ? `${c.failed} failed` : '',
    c.running ? `${c.running} running` : '',
    c.pending ? `${c.pending} pending` : '',
    c.cancelled ? `${c.cancelled} cancelled` : '',
    c.notStarted ? `${c.notStarted} not started` : '',
    best ? `best ${best.metric} ${formatMetricValue(best.value)} (${formatParams(best.run.params) || best.run.id})` : '',
  ];
  return singleLine(parts.filter(Boolean).join(' · '));
}

function failedRuns(runs: readonly RunRecord[]): string {
  const failed = runs.filter((r) => r.status === 'failed').length;
  return failed ? `, ${failed} failed` : '';
}

function clip(text: string): string {
  return text.length > 48 ? `${text.slice(0, 47)}…` : text;
}
