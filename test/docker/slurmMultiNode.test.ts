// One run across two Slurm nodes (issue 30): the two-node world of scripts/test-slurm.sh (partition `multi`: this
// machine's node and a second slurmd in a network namespace of its own, both driving this dockerd), the quickstart
// example under `--nodes 2 --launcher torchrun`, stop, a node that dies, and a sweep of two-node runs.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as yaml from 'yaml';
import { buildExperiment } from '../../src/core/build/buildExperiment';
import type { Engine } from '../../src/core/docker/engine';
import { GitCli } from '../../src/core/provenance/git';
import { readRuns } from '../../src/core/run/records';
import { PYTORCH_STANDIN, readExample } from '../../src/core/scaffold/quickstart';
import { git } from '../helpers/git';
import { silentLogger } from '../helpers/logger';
import { assertBuiltCli, mlc } from '../helpers/mlc';
import { devcontainerProject } from '../helpers/project';
import { cleanUpSlurm, requireSlurm, slurmFinals, submitSlurm, until } from '../helpers/slurm';
import { requireEngine, requireImage, requireKind } from './harness';

const ROOT = path.resolve(__dirname, '../..');
const PARTITION = 'multi';

/** The nodes of the `multi` partition, or why there are none: scripts/test-slurm.sh makes it with two. */
function multiNodes(): string[] | string {
  try {
    const nodes = execFileSync('sinfo', ['-h', '-N', '-p', PARTITION, '-o', '%N %T'], { encoding: 'utf8', timeout: 10_000 })
      .trim()
      .split('\n')
      .filter(Boolean);
    if (nodes.length < 2) return `partition ${PARTITION} has ${nodes.length} node(s), not 2`;
    const down = nodes.filter((n) => !/ (idle|mixed|allocated|completing)/.test(n));
    return down.length ? `nodes not up in ${PARTITION}: ${down.join(', ')}` : nodes.map((n) => n.split(' ')[0]!);
  } catch (e) {
    return `sinfo -p ${PARTITION} failed: ${String((e as { stderr?: string }).stderr ?? e).trim()}`;
  }
}

/** The last training loss metrics.jsonl holds. */
function finalLoss(dir: string, runId: string): number {
  const rows = fs
    .readFileSync(path.join(dir, '.mlcontainers', 'runs', runId, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n');
  return (JSON.parse(rows.at(-1)!) as { train_loss: number }).train_loss;
}

describe('one run across two Slurm nodes (scripts/test-slurm.sh partition multi, real dockerd, mlc from dist/cli.js)', function () {
  let engine: Engine;
  let dir: string;
  let images: string[] = [];
  let nodes: string[] = [];
  const jobs: string[] = [];
  const submit = (args: string[]) => submitSlurm(dir, args, jobs);
  /** A run of `sh -c LINE` with CONFIG across the two nodes of partition multi. */
  const onTwoNodes = (config: string, line: string) =>
    submit(['--config', config, '--partition', PARTITION, '--nodes', '2', '--', 'sh', '-c', line]);
  const containers = async (): Promise<string[]> =>
    (await engine.listContainers({ labels: [`org.mlcontainers.workspace=${dir}`], all: true }))
      .map((c) => c.names[0]!.replace(/^\//, ''))
      .sort();

  before(async function () {
    engine = await requireEngine(this);
    await requireKind(this, engine, 'docker', 'the Slurm suites run once, against dockerd, whose CLI the batch scripts drive');
    requireSlurm(this);
    const found = multiNodes();
    if (typeof found === 'string') {
      if (process.env.CI === 'true') throw new Error(`CI=true but no two-node Slurm: ${found} (run scripts/test-slurm.sh first)`);
      console.log(`      skipped: no two-node Slurm (${found}); scripts/test-slurm.sh makes one`);
      this.skip();
    }
    nodes = found;
    await requireImage(this, engine, PYTORCH_STANDIN);
    assertBuiltCli();
    const files: Record<string, string> = {};
    for (const f of await readExample(path.join(ROOT, 'templates'), 'pytorch-digits')) files[f.path] = f.content;
    // One point of the example's sweep: its first learning rate.
    const config = yaml.parse(files['configs/experiment.yaml']!) as { optimizer: { lr: number | number[] } };
    if (Array.isArray(config.optimizer.lr)) config.optimizer.lr = config.optimizer.lr[0]!;
    files['configs/point.yaml'] = yaml.stringify(config);
    files['configs/two.yaml'] = 'lr: [0.1, 0.2]\n';
    files['.gitignore'] = '.mlcontainers/\n';
    dir = devcontainerProject(`FROM ${PYTORCH_STANDIN}\n`, files, 'mlc test slurm multi-node');
    git(dir, 'init', '-q', '-b', 'main');
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'multi-node');
    images = (await buildExperiment({ folder: dir, engine, git: new GitCli(), log: silentLogger('build'), lock: false })).tags;
  });

  after(() => cleanUpSlurm(engine, jobs, images, dir));

  it('--nodes 2 --launcher torchrun trains the quickstart example: one record of 2 nodes, each rank logged, the loss of the one-node run', async () => {
    const point = ['--config', 'configs/point.yaml'];
    // Debian's torch 1.13 on Python 3.11 cannot parse torchrun's own default for --redirects/--tee ("0"), nor any
    // value but a single stream (IntFlag no longer lists 0 or 3): the stand-in's torchrun gets "0:1" from its PET_
    // variables, which also prefixes each line with "[default0]:" (torch 2 needs neither).
    const torchrunFix = ['--env', 'PET_REDIRECTS=0:1', '--env', 'PET_TEE=0:1', '--env', 'OMP_NUM_THREADS=1'];
    const one = await submit([...point, '--env', 'OMP_NUM_THREADS=1', '--', 'python3', 'train.py']);
    const two = await submit([
      ...point,
      ...torchrunFix,
      '--partition',
      PARTITION,
      '--nodes',
      '2',
      '--launcher',
      'torchrun',
      '--',
      'python3',
      'train.py',
    ]);
    const [single] = await slurmFinals(dir, one.runs);
    const [multi] = await slurmFinals(dir, two.runs);
    const output = (name: string): string => fs.readFileSync(path.join(dir, '.mlcontainers', 'runs', multi!.id, name), 'utf8');
    assert.equal(single!.status, 'succeeded', single!.error);
    assert.equal(multi!.status, 'succeeded', `${multi!.error}\n${output('output.log')}`);
    assert.deepEqual(multi!.nodes, { count: 2, gpusPerNode: 0, launcher: 'torchrun', names: nodes });
    // Each node's log shows the torch rank its process got; the rendezvous gives those, so which node has torch's
    // rank 0 is its choice. The run's output.log is node rank 0's.
    const torchRank = (name: string): string =>
      /^\[default0\]:rank (\d) of 2: \d+ of 1438 training images on cpu/m.exec(output(name))?.[1] ?? '';
    assert.deepEqual([torchRank('output.0.log'), torchRank('output.1.log')].sort(), ['0', '1'], output('output.1.log'));
    assert.equal(output('output.log').trim(), output('output.0.log').trim(), "node rank 0's output is the run's");
    assert.equal((output(`output.${torchRank('output.0.log') === '0' ? 0 : 1}.log`).match(/^\[default0\]:epoch /gm) ?? []).length, 8);
    // The two ranks split each batch of the one-process run, and DDP averages their gradients.
    const [a, b] = [finalLoss(dir, single!.id), finalLoss(dir, multi!.id)];
    assert.ok(Math.abs(a - b) <= 1e-3, `final loss ${b} on 2 nodes, ${a} on one`);
    assert.deepEqual(await containers(), []);
  });

  it('mlc stop mid-run ends the containers on both nodes and records the run cancelled', async () => {
    const {
      runs: [id],
      job,
    } = await onTwoNodes('configs/point.yaml', 'echo "rank $NODE_RANK of $NNODES"; sleep 600');
    const names = [`mlc-${job}-1`, `mlc-${job}-1-1`];
    await until('both nodes running their container', async () => ((await containers()).join() === names.join() ? true : undefined));
    const stopped = await mlc(['stop', id!], { cwd: dir });
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.deepEqual(await containers(), [], 'no container is left on either node');
    const run = (await readRuns(dir)).runs.find((r) => r.id === id)!;
    assert.deepEqual([run.status, run.job?.state], ['cancelled', 'CANCELLED']);
  });

  it("a node whose container is killed fails the run, named on its record, and the other node's container goes too", async () => {
    const {
      runs: [id],
      job,
    } = await onTwoNodes('configs/point.yaml', 'echo "rank $NODE_RANK"; sleep 600');
    const victim = `mlc-${job}-1-1`;
    await until('both nodes running their container', async () => ((await containers()).length === 2 ? true : undefined));
    execFileSync('docker', ['kill', victim]);
    const [run] = await slurmFinals(dir, [id!]);
    assert.equal(run!.status, 'failed');
    assert.match(
      run!.error ?? '',
      new RegExp(`^node ${nodes[1]} \\(rank 1\\) was killed \\(exit code 137\\), and the other node was stopped`),
    );
    await until('no container left', async () => ((await containers()).length === 0 ? true : undefined), 60_000);
  });

  it('a sweep of two-node runs: two records, each on both nodes', async () => {
    const { runs: ids } = await onTwoNodes(
      'configs/two.yaml',
      'echo "rank $NODE_RANK of $NNODES, master $MASTER_ADDR:$MASTER_PORT, slurm node $SLURM_NODEID"; cat "$MLC_CONFIG"',
    );
    assert.equal(ids.length, 2);
    const runs = await slurmFinals(dir, ids);
    for (const r of runs) {
      assert.equal(r.status, 'succeeded', r.error);
      assert.deepEqual(r.nodes?.names, nodes);
      const rank1 = fs.readFileSync(path.join(dir, '.mlcontainers', 'runs', r.id, 'output.1.log'), 'utf8');
      assert.match(rank1, new RegExp(`^rank 1 of 2, master ${nodes[0]}:\\d+, slurm node 1$`, 'm'));
      assert.match(rank1, new RegExp(`^lr: ${r.params.lr as number}$`, 'm'));
    }
  });
});
