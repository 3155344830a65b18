// 10. Start-up of a run across 2 Slurm nodes against the same run on 1 node, side by side: from `mlc run --on slurm`
//     (a fresh process) to every rank's first line in its output file (output.0.log and output.1.log; the one-node
//     run's output.log). The command prints a line and exits, so what is measured is submission, scheduling,
//     the batch script, srun and the containers' start. Needs scripts/test-slurm.sh's two-node partition `multi`.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Options, Row } from './lib';
import { ROOT, git, measure, median, ok, round } from './lib';

const GOAL = 1.5;
const PARTITION = 'multi';

function waitFor(what: string, probe: () => boolean, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (probe()) return resolve();
      if (Date.now() > deadline) return reject(new Error(`gave up waiting for ${what}`));
      setTimeout(tick, 20);
    };
    tick();
  });
}

const hasLine = (file: string): boolean => {
  try {
    return fs.readFileSync(file, 'utf8').includes('first line of rank');
  } catch {
    return false;
  }
};

export async function slurmNodes(o: Options): Promise<Row[]> {
  const nodes = execFileSync('sinfo', ['-h', '-N', '-p', PARTITION, '-o', '%N'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  if (nodes.length < 2)
    throw new Error(
      `the slurmNodes bench needs Slurm's partition ${PARTITION} with 2 nodes (scripts/test-slurm.sh); it has ${nodes.length}`,
    );
  const repeats = o.quick ? 2 : 5;
  const dir = path.join(o.scratch, 'slurm-nodes');
  fs.mkdirSync(path.join(dir, '.devcontainer'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'configs'));
  fs.writeFileSync(
    path.join(dir, '.devcontainer', 'devcontainer.json'),
    '{"name": "bench slurm nodes", "build": {"dockerfile": "Dockerfile"}}\n',
  );
  fs.writeFileSync(path.join(dir, '.devcontainer', 'Dockerfile'), 'FROM mlc-test/debian:bookworm\n');
  fs.writeFileSync(path.join(dir, 'configs', 'one.yaml'), 'lr: 0.1\n');
  fs.writeFileSync(path.join(dir, '.gitignore'), '.mlcontainers/\n');
  await git(dir, 'init', '-q', '-b', 'main');
  await git(dir, 'add', '-A');
  await git(dir, 'commit', '-q', '-m', 'bench');
  const cli = path.join(ROOT, 'dist', 'cli.js');
  ok(await measure(process.execPath, [cli, 'build'], { cwd: dir }), 'mlc build');

  const once = async (n: 1 | 2): Promise<number> => {
    const started = process.hrtime.bigint();
    const extra = n === 2 ? ['--partition', PARTITION, '--nodes', '2'] : [];
    const submitted = ok(
      await measure(
        process.execPath,
        [
          cli,
          'run',
          '--on',
          'slurm',
          '--json',
          ...extra,
          '--config',
          'configs/one.yaml',
          '--',
          'sh',
          '-c',
          'echo "first line of rank ${NODE_RANK:-0}"',
        ],
        { cwd: dir },
      ),
      'mlc run --on slurm',
    );
    const { runs, job } = JSON.parse(submitted.stdout) as { runs: string[]; job: string };
    const folder = path.join(dir, '.mlcontainers', 'runs', runs[0]!);
    const files = n === 2 ? ['output.0.log', 'output.1.log'] : ['output.log'];
    await waitFor(`the first line of ${files.join(' and ')}`, () => files.every((f) => hasLine(path.join(folder, f))));
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    // The next round starts on an idle cluster.
    await waitFor(`job ${job} to leave squeue`, () => execFileSync('squeue', ['-h', '-j', job], { encoding: 'utf8' }).trim() === '');
    return ms;
  };
  await once(1);
  await once(2);
  const one: number[] = [];
  const two: number[] = [];
  for (let i = 0; i < repeats; i++) {
    if (i % 2) {
      two.push(await once(2));
      one.push(await once(1));
    } else {
      one.push(await once(1));
      two.push(await once(2));
    }
  }
  const [a, b] = [median(one), median(two)];
  o.log(`slurm nodes: submit → first line, 1 node ${one.map(Math.round).join('/')} ms, 2 nodes ${two.map(Math.round).join('/')} ms`);
  const ratio = round(b / a, 2);
  return [
    {
      benchmark: `mlc run --on slurm --nodes 2: submit → both ranks' first line, vs the same run on 1 node<br><sub>${nodes.join(' + ')}; a fresh mlc process each; medians of ${repeats}, alternated</sub>`,
      unit: 'ms',
      ours: Math.round(b),
      anchor: Math.round(a),
      anchorName: 'mlc run --on slurm, 1 node',
      ratio,
      goal: `≤ ${GOAL}×`,
      pass: ratio <= GOAL,
    },
  ];
}
