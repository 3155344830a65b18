import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Engine } from '../../src/core/docker/engine';
import { GitCli } from '../../src/core/provenance/git';
import { planExperiment } from '../../src/core/run/plan';
import { silentLogger } from '../helpers/logger';
import { assertBuiltCli, mlc } from '../helpers/mlc';
import { SLURM_TEST_SECRET, cleanUpSlurm, keptScript, requireSlurm, slurmFinals, slurmProject, submitSlurm } from '../helpers/slurm';
import { requireEngine, requireImage, requireKind } from './harness';

const BASE = 'mlc-test/jupyter:bookworm';
// ch-run answers nothing, not even its version, without $USER.
const CHARLIECLOUD = ['ch-run', 'ch-convert'].map((command) => ({
  command,
  args: ['--version'],
  env: { USER: process.env.USER ?? 'root' },
  missing: 'Charliecloud is not installed',
}));

describe('experiment runs on Slurm through Charliecloud (scripts/test-slurm.sh, ch-convert from dockerd, mlc from dist/cli.js)', function () {
  let engine: Engine;
  let dir: string;
  let images: string[] = [];
  const jobs: string[] = [];

  const finals = (ids: string[]) => slurmFinals(dir, ids);
  const submit = (args: string[]) => submitSlurm(dir, ['--runtime', 'charliecloud', ...args], jobs, { MLC_TEST_TOKEN: SLURM_TEST_SECRET });

  before(async function () {
    engine = await requireEngine(this);
    await requireKind(
      this,
      engine,
      'docker',
      'ch-convert reads the image through the docker CLI on this host, which the Podman pass does not change',
    );
    requireSlurm(this, CHARLIECLOUD);
    await requireImage(this, engine, BASE);
    assertBuiltCli();
    ({ dir, images } = await slurmProject(engine, BASE, 'mlc test slurm charliecloud'));
  });

  after(() => cleanUpSlurm(engine, jobs, images, dir));

  it('runs the 2×2 sweep with ch-run of the converted image: four final records with distinct configs, metrics in mlc runs --compare', async () => {
    const started = Date.now();
    const {
      runs: ids,
      job,
      sweep,
      stderr,
    } = await submit(['--config', 'configs/sweep.yaml', '--parallel', '2', '--env', 'MLC_TEST_TOKEN', '--', 'python3', 'train.py']);
    assert.match(stderr, /with Charliecloud \(ch-run\): as --runtime asked/);
    assert.match(stderr, /converting .* to a Charliecloud image in \.mlcontainers\/charliecloud\//);
    assert.equal(ids.length, 4);
    const runs = await finals(ids);
    console.log(
      `      4-task array through ch-run: submit (with ch-convert) → four final records in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    assert.equal(new Set(runs.map((r) => r.config.sha256)).size, 4);
    assert.deepEqual(
      runs.map((r) => [r.status, r.exitCode, r.job?.id.split('_')[0], r.job?.state]),
      ids.map(() => ['succeeded', 0, job, 'COMPLETED']),
    );
    assert.deepEqual(runs.map((r) => Number(r.job?.id.split('_')[1])).sort(), [1, 2, 3, 4]);
    for (const r of runs) {
      const output = fs.readFileSync(path.join(dir, r.log), 'utf8');
      assert.ok(output.includes(`config ${r.config.content.replace(/\n/g, ' ')}`), `the task ran its own point's config:\n${output}`);
      assert.ok(output.includes('NVIDIA_VISIBLE_DEVICES=void'), 'no GPU asked, none given');
      assert.ok(
        output.includes('cwd=/workspace charliecloud=True slurm_job=None'),
        `in Charliecloud, at /workspace, without the job's environment:\n${output}`,
      );
      assert.ok(output.includes('token given'), "the secret reached the container from the job's environment");
      assert.deepEqual(r.env, ['MLC_TEST_TOKEN'], 'the record names the variable, never its value');
    }
    const script = keptScript(dir, sweep!);
    assert.match(script, /exec "\$chrun"/);
    assert.ok(!script.includes(SLURM_TEST_SECRET), 'the secret is in no file');
    assert.deepEqual(
      await engine.listContainers({ labels: [`org.mlcontainers.workspace=${dir}`], all: true }),
      [],
      'no docker container ran',
    );
    const compared = await mlc(['runs', '--sweep', sweep!], { cwd: dir });
    assert.equal(compared.code, 0, compared.stderr);
    assert.match(compared.stdout, /^RUN\s+STATUS\s+IMAGE\s+COMMIT\s+lr\s+batch_size\s+loss$/m);
    assert.match(compared.stdout, new RegExp(`^${sweep!}-3\\s+ok\\s.*\\s0\\.01\\s+32\\s+0\\.32\\*$`, 'm'));
  });

  it("reuses the converted image, and --gres gpu:1 hands the task's GPU to the container as the variables CUDA reads", async () => {
    const {
      runs: [id],
      stderr,
    } = await submit(['--config', 'configs/one.yaml', '--gres', 'gpu:1', '--', 'python3', 'train.py']);
    assert.match(stderr, /Charliecloud image: \.mlcontainers\/charliecloud\/[0-9a-f]{64} \(converted before/);
    assert.doesNotMatch(stderr, /converting/);
    const [run] = await finals([id!]);
    assert.equal(run!.status, 'succeeded', fs.readFileSync(path.join(dir, run!.log), 'utf8'));
    assert.equal(run!.gpus, '0');
    assert.match(fs.readFileSync(path.join(dir, run!.log), 'utf8'), /^CUDA_VISIBLE_DEVICES=0 NVIDIA_VISIBLE_DEVICES=0$/m);
  });

  it('submits a plan written and not started, as Run Experiment… hands it to `mlc run --resume ID --on slurm`; a started one is refused', async () => {
    const plan = await planExperiment({
      engine,
      workspace: dir,
      config: 'configs/sweep.yaml',
      image: images[0]!,
      command: ['python3', 'train.py'],
      gpu: 'none',
      shmSizeBytes: 1 << 26,
      git: new GitCli(),
      log: silentLogger('plan'),
    });
    const r = await mlc(['run', '--resume', plan.id, '--on', 'slurm', '--runtime', 'charliecloud', '--json'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { runs: string[]; job: string };
    jobs.push(out.job);
    assert.deepEqual(
      out.runs,
      plan.points.map((p) => p.runId),
    );
    const runs = await finals(out.runs);
    assert.deepEqual(
      runs.map((x) => [x.status, x.job?.id.split('_')[0]]),
      out.runs.map(() => ['succeeded', out.job]),
    );
    const again = await mlc(['run', '--resume', plan.id, '--on', 'slurm', '--runtime', 'charliecloud'], { cwd: dir });
    assert.equal(again.code, 2, again.stderr);
    assert.match(again.stderr, /--resume on Slurm takes a plan none of whose points has started/);
  });
});
