import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Engine } from '../../src/core/docker/engine';
import { readRuns } from '../../src/core/run/records';
import { assertBuiltCli, mlc } from '../helpers/mlc';
import { cleanUpSlurm, requireSlurm, slurmFinals, slurmProject, submitSlurm, until } from '../helpers/slurm';
import { requireEngine, requireImage, requireKind } from './harness';

const BASE = 'mlc-test/jupyter:bookworm';

describe('experiment runs on Slurm (scripts/test-slurm.sh, real dockerd, mlc from dist/cli.js)', function () {
  let engine: Engine;
  let dir: string;
  let images: string[] = [];
  const jobs: string[] = [];

  const finals = (ids: string[]) => slurmFinals(dir, ids);
  const submit = (args: string[]) => submitSlurm(dir, args, jobs);

  before(async function () {
    engine = await requireEngine(this);
    await requireKind(
      this,
      engine,
      'docker',
      'the Slurm suite runs once, against dockerd: its batch scripts drive the docker CLI on the node, which the Podman pass does not change',
    );
    requireSlurm(this);
    await requireImage(this, engine, BASE);
    assertBuiltCli();
    ({ dir, images } = await slurmProject(engine, BASE, 'mlc test slurm'));
  });

  after(() => cleanUpSlurm(engine, jobs, images, dir));

  it('runs a 2×2 sweep as one array job, two tasks at a time: four final records with distinct configs, metrics in mlc runs --compare', async () => {
    const started = Date.now();
    const { runs: ids, job, sweep } = await submit(['--config', 'configs/sweep.yaml', '--parallel', '2', '--', 'python3', 'train.py']);
    assert.equal(ids.length, 4);
    assert.match(execFileSync('scontrol', ['show', 'job', job], { encoding: 'utf8' }), /ArrayTaskThrottle=2/);
    const runs = await finals(ids);
    console.log(`      4-task array: submit → four final records in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.equal(new Set(runs.map((r) => r.config.sha256)).size, 4);
    assert.deepEqual(
      runs.map((r) => [r.status, r.exitCode, r.job?.id.split('_')[0], r.job?.state]),
      ids.map(() => ['succeeded', 0, job, 'COMPLETED']),
    );
    assert.deepEqual(runs.map((r) => Number(r.job?.id.split('_')[1])).sort(), [1, 2, 3, 4]);
    for (const r of runs) {
      const output = fs.readFileSync(path.join(dir, r.log), 'utf8');
      assert.ok(output.includes(`config ${r.config.content.replace(/\n/g, ' ')}`), "the task ran its own point's config");
      assert.ok(output.includes('NVIDIA_VISIBLE_DEVICES=void'), 'no GPU asked, none given');
    }
    const compared = await mlc(['runs', '--sweep', sweep!], { cwd: dir });
    assert.equal(compared.code, 0, compared.stderr);
    assert.match(compared.stdout, /^RUN\s+STATUS\s+IMAGE\s+COMMIT\s+lr\s+batch_size\s+loss$/m);
    assert.match(compared.stdout, new RegExp(`^${sweep!}-3\\s+ok\\s.*\\s0\\.01\\s+32\\s+0\\.32\\*$`, 'm'));
    assert.deepEqual(
      await engine.listContainers({ labels: [`org.mlcontainers.workspace=${dir}`], all: true }),
      [],
      "every task's container is gone",
    );
  });

  it("--gres gpu:1 hands the task's GPU to the container and the record", async () => {
    const {
      runs: [id],
    } = await submit(['--config', 'configs/one.yaml', '--gres', 'gpu:1', '--', 'python3', 'train.py']);
    const [run] = await finals([id!]);
    assert.equal(run!.status, 'succeeded');
    assert.equal(run!.gpus, '0');
    assert.match(fs.readFileSync(path.join(dir, run!.log), 'utf8'), /^CUDA_VISIBLE_DEVICES=0 NVIDIA_VISIBLE_DEVICES=0$/m);
  });

  it('mlc stop of a running task scancels it: its container is gone and its record says cancelled', async () => {
    const {
      runs: [id],
      job,
    } = await submit(['--config', 'configs/long.yaml', '--', 'python3', 'train.py']);
    const name = `mlc-${job}-1`;
    await until("the task's container", async () => ((await engine.inspectContainer(name))?.running ? true : undefined));
    const stopped = await mlc(['stop', id!], { cwd: dir });
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.equal(stopped.stdout.trim(), id);
    assert.equal(await engine.inspectContainer(name), undefined, 'the container went with the task');
    const run = (await readRuns(dir)).runs.find((r) => r.id === id)!;
    assert.deepEqual([run.status, run.exitCode, run.job?.state], ['cancelled', null, 'CANCELLED']);
    assert.match((await mlc(['runs', '--last', '1'], { cwd: dir })).stdout, new RegExp(`^${id!}\\s+cancelled\\s`, 'm'));
  });

  it('a task over its --time ends as TIMEOUT: recorded failed with the reason, its container gone', async () => {
    const {
      runs: [id],
      job,
    } = await submit(['--config', 'configs/long.yaml', '--time', '0:05', '--', 'python3', 'train.py']);
    const [run] = await finals([id!]);
    assert.deepEqual([run!.status, run!.exitCode, run!.job?.state], ['failed', null, 'TIMEOUT']);
    assert.match(run!.error ?? '', /time limit/);
    assert.equal(await engine.inspectContainer(`mlc-${job}-1`), undefined);
    assert.match((await mlc(['runs', '--last', '1'], { cwd: dir })).stdout, new RegExp(`^${id!}\\s+timeout\\s`, 'm'));
  });
  it('a hostile task: .mlcontainers is read-only in its container, and the .gpus.json link it plants is not followed', async () => {
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-slurm-outside-'));
    const secret = path.join(outside, 'secret.json');
    const canary = '[{"index":"0","name":"CANARY-slurm","uuid":"CANARY-slurm"}]';
    fs.writeFileSync(secret, canary);
    try {
      const attack = `echo forged >> /workspace/.mlcontainers/runs.jsonl || echo READ-ONLY; ln -sf ${secret} "$MLC_RUN_DIR/.gpus.json"; echo planted`;
      const {
        runs: [id],
      } = await submit(['--config', 'configs/one.yaml', '--', 'sh', '-c', attack]);
      const [run] = await finals([id!]);
      assert.equal(run!.status, 'succeeded');
      assert.match(fs.readFileSync(path.join(dir, run!.log), 'utf8'), /READ-ONLY/);
      assert.ok(
        !fs.readFileSync(path.join(dir, '.mlcontainers', 'runs.jsonl'), 'utf8').includes('CANARY-slurm'),
        'the link was followed into the record',
      );
      assert.equal(fs.readFileSync(secret, 'utf8'), canary);
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });
});
