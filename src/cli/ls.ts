import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { machineEngine } from '../core/docker/machine';
import { formatAge, formatBytes } from '../core/format';
import { loadExperimentTree } from '../core/images/model';
import type { ExperimentTree } from '../core/images/tree';
import { repoOf } from '../core/images/tree';
import { latestProjectImage } from '../core/project';
import { GitCli } from '../core/provenance/git';
import type { RunRecord } from '../core/run/records';
import type { CliIO } from './io';

export const lsHelp = `mlc ls [--dir DIR] [--devcontainer FILE] [--json] [--host URL]

Lists the project's experiment images under the git commits they came from — the current branch newest
first, then commits not on it, then images built outside git — with size, age, dirty state, running
containers (Jupyter at its 127.0.0.1 address) and recorded runs. The HEAD commit is marked, and says so when
it has no image yet.

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
  const rows: string[][] = [['COMMIT', 'SUBJECT', 'IMAGE', 'SIZE', 'CREATED', 'STATUS']];
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
    });
  }
  if (rows.length === 1)
    return [
      tree.repository
        ? 'No experiment images for this project yet: run `mlc build`.'
        : 'No experiment images, and this folder is not a git repository.',
    ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) =>
    r
      .map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

function failedRuns(runs: readonly RunRecord[]): string {
  const failed = runs.filter((r) => r.status === 'failed').length;
  return failed ? `, ${failed} failed` : '';
}

function clip(text: string): string {
  return text.length > 48 ? `${text.slice(0, 47)}…` : text;
}
