import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildExperiment } from '../../src/core/build/buildExperiment';
import type { Engine } from '../../src/core/docker/engine';
import { GitCli } from '../../src/core/provenance/git';
import { planExperiment } from '../../src/core/run/plan';
import type { RunRecord } from '../../src/core/run/records';
import { git } from '../helpers/git';
import { silentLogger } from '../helpers/logger';
import { assertBuiltCli, mlc } from '../helpers/mlc';
import { requireEngine, requireImage, requireKind } from './harness';

const BASE = 'mlc-test/jupyter:bookworm';
const SECRET = 's3cr3t-charliecloud';

// Prints its config, the GPU variables and what of the job's environment it sees, writes a metric from lr.
const TRAIN = `import json, os
text = open(os.environ["MLC_CONFIG"]).read()
cfg = dict(l.split(": ", 1) for l in text.splitlines() if ": " in l)
print("config", text.replace("\\n", " "))
print("CUDA_VISIBLE_DEVICES=%s NVIDIA_VISIBLE_DEVICES=%s" % (os.environ.get("CUDA_VISIBLE_DEVICES"), os.environ.get("NVIDIA_VISIBLE_DEVICES")))
print("cwd=%s charliecloud=%s slurm_job=%s" % (os.getcwd(), "CH_RUNNING" in os.environ, os.environ.get("SLURM_JOB_ID")))
print("token %s" % ("given" if os.environ.get("MLC_TEST_TOKEN") == "${SECRET}" else "missing"), flush=True)
with open(os.path.join(os.environ["MLC_RUN_DIR"], "metrics.jsonl"), "w") as f:
    f.write(json.dumps({"step": 1, "loss": float(cfg.get("lr", "1")) * int(cfg.get("batch_size", "1"))}) + "\\n")
`;

/** What scripts/test-slurm.sh sets up: a controller that answers and Charliecloud 0.31; skipped where absent, failed under CI=true. */
function requireSlurmAndCharliecloud(context: Mocha.Context): void {
  let reason: string | undefined;
  try {
    const state = execFileSync('sinfo', ['-h', '-o', '%T'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    if (!/^(idle|mixed|allocated|completing)/m.test(state)) reason = `the Slurm node is "${state || 'absent'}", not idle`;
  } catch (e) {
    reason = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'sinfo is not on PATH' : `sinfo failed: ${String((e as { stderr?: string }).stderr ?? e).trim()}`;
  }
  for (const tool of ['ch-run', 'ch-convert']) {
    try {
      // ch-run answers nothing, not even its version, without $USER.
      if (!reason) execFileSync(tool, ['--version'], { stdio: 'ignore', timeout: 10_000, env: { ...process.env, USER: process.env.USER ?? 'root' } });
    } catch {
      reason = `${tool} is not on PATH (Charliecloud is not installed)`;
    }
  }
  if (!reason) return;
  if (process.env.CI === 'true') throw new Error(`CI=true but Slurm with Charliecloud is not usable: ${reason} (run scripts/test-slurm.sh first)`);
  console.log(`      skipped: ${reason}; run scripts/test-slurm.sh to set up a one-node cluster with Charliecloud`);
  context.skip();
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 240_000): Promise<T> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await new Promise((r) => setTimeout(r, 500))) {
    const v = await probe();
    if (v !== undefined) return v;
  }
  throw new Error(`gave up waiting for ${what}`);
}

describe('experiment runs on Slurm through Charliecloud (scripts/test-slurm.sh, ch-convert from dockerd, mlc from dist/cli.js)', function () {
  let engine: Engine;
  let dir: string;
  const images: string[] = [];
  const jobs: string[] = [];

  const finals = (ids: string[]): Promise<RunRecord[]> =>
    until(`final records of ${ids.join(', ')}`, async () => {
      const listed = await mlc(['runs', '--json', '--last', '0'], { cwd: dir });
      const runs = listed.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as RunRecord).filter((r) => ids.includes(r.id));
      return runs.length === ids.length && runs.every((r) => r.status !== 'running') ? runs : undefined;
    });

  const submit = async (args: string[]): Promise<{ runs: string[]; job: string; sweep: string | null; stderr: string }> => {
    const r = await mlc(['run', '--on', 'slurm', '--runtime', 'charliecloud', '--json', ...args], { cwd: dir, env: { MLC_TEST_TOKEN: SECRET } });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { runs: string[]; job: string; sweep: string | null };
    jobs.push(out.job);
    return { ...out, stderr: r.stderr };
  };

  before(async function () {
    engine = await requireEngine(this);
    await requireKind(this, engine, 'docker', 'ch-convert reads the image through the docker CLI on this host, which the Podman pass does not change');
    requireSlurmAndCharliecloud(this);
    await requireImage(this, engine, BASE);
    assertBuiltCli();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-slurm-ch-'));
    fs.mkdirSync(path.join(dir, '.devcontainer'));
    fs.mkdirSync(path.join(dir, 'configs'));
    fs.writeFileSync(path.join(dir, '.devcontainer', 'devcontainer.json'), '{ "name": "mlc test slurm charliecloud", "build": { "dockerfile": "Dockerfile", "context": ".." } }\n');
    fs.writeFileSync(path.join(dir, '.devcontainer', 'Dockerfile'), `FROM ${BASE}\nCOPY . /workspace\n`);
    fs.writeFileSync(path.join(dir, '.gitignore'), '.mlcontainers/\n');
    fs.writeFileSync(path.join(dir, 'train.py'), TRAIN);
    fs.writeFileSync(path.join(dir, 'configs', 'sweep.yaml'), 'lr: [0.1, 0.01]\nbatch_size: [32, 64]\n');
    fs.writeFileSync(path.join(dir, 'configs', 'one.yaml'), 'lr: 0.5\n');
    git(dir, 'init', '-q', '-b', 'main');
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'slurm charliecloud');
    const built = await buildExperiment({ folder: dir, engine, git: new GitCli(), log: silentLogger('build'), lock: false });
    images.push(...built.tags);
  });

  after(async () => {
    if (jobs.length) execFileSync('scancel', jobs);
    for (const ref of images) await engine?.removeImage(ref, { force: true }).catch(() => undefined);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('runs the 2×2 sweep with ch-run of the converted image: four final records with distinct configs, metrics in mlc runs --compare', async () => {
    const started = Date.now();
    const { runs: ids, job, sweep, stderr } = await submit(['--config', 'configs/sweep.yaml', '--parallel', '2', '--env', 'MLC_TEST_TOKEN', '--', 'python3', 'train.py']);
    assert.match(stderr, /with Charliecloud \(ch-run\): as --runtime asked/);
    assert.match(stderr, /converting .* to a Charliecloud image in \.mlcontainers\/charliecloud\//);
    assert.equal(ids.length, 4);
    const runs = await finals(ids);
    console.log(`      4-task array through ch-run: submit (with ch-convert) → four final records in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.equal(new Set(runs.map((r) => r.config.sha256)).size, 4);
    assert.deepEqual(runs.map((r) => [r.status, r.exitCode, r.slurm?.job, r.slurm?.state]), ids.map(() => ['succeeded', 0, job, 'COMPLETED']));
    assert.deepEqual(runs.map((r) => r.slurm?.task).sort(), [1, 2, 3, 4]);
    for (const r of runs) {
      const output = fs.readFileSync(path.join(dir, r.log), 'utf8');
      assert.ok(output.includes(`config ${r.config.content.replace(/\n/g, ' ')}`), `the task ran its own point's config:\n${output}`);
      assert.ok(output.includes('NVIDIA_VISIBLE_DEVICES=void'), 'no GPU asked, none given');
      assert.ok(output.includes('cwd=/workspace charliecloud=True slurm_job=None'), `in Charliecloud, at /workspace, without the job's environment:\n${output}`);
      assert.ok(output.includes('token given'), 'the secret reached the container from the job\'s environment');
    }
    const script = fs.readFileSync(path.join(dir, '.mlcontainers', 'sweeps', `${sweep!}.sbatch`), 'utf8');
    assert.match(script, /exec "\$chrun"/);
    assert.ok(!script.includes(SECRET), 'the secret is in no file');
    assert.deepEqual(await engine.listContainers({ labels: [`org.mlcontainers.workspace=${dir}`], all: true }), [], 'no docker container ran');
    const compared = await mlc(['runs', '--sweep', sweep!], { cwd: dir });
    assert.equal(compared.code, 0, compared.stderr);
    assert.match(compared.stdout, /^RUN\s+STATUS\s+IMAGE\s+COMMIT\s+lr\s+batch_size\s+loss$/m);
    assert.match(compared.stdout, new RegExp(`^${sweep!}-3\\s+ok\\s.*\\s0\\.01\\s+32\\s+0\\.32\\*$`, 'm'));
  });

  it('reuses the converted image, and --gres gpu:1 hands the task\'s GPU to the container as the variables CUDA reads', async () => {
    const { runs: [id], stderr } = await submit(['--config', 'configs/one.yaml', '--gres', 'gpu:1', '--', 'python3', 'train.py']);
    assert.match(stderr, /Charliecloud image: \.mlcontainers\/charliecloud\/[0-9a-f]{64} \(converted before/);
    assert.doesNotMatch(stderr, /converting/);
    const [run] = await finals([id!]);
    assert.equal(run!.status, 'succeeded', fs.readFileSync(path.join(dir, run!.log), 'utf8'));
    assert.equal(run!.gpus, '0');
    assert.match(fs.readFileSync(path.join(dir, run!.log), 'utf8'), /^CUDA_VISIBLE_DEVICES=0 NVIDIA_VISIBLE_DEVICES=0$/m);
  });

  it('submits a plan written and not started, as Run Experiment… hands it to `mlc run --resume ID --on slurm`; a started one is refused', async () => {
    const plan = await planExperiment({ engine, workspace: dir, config: 'configs/sweep.yaml', image: images[0]!, command: ['python3', 'train.py'], gpu: 'none', shmSizeBytes: 1 << 26, git: new GitCli(), log: silentLogger('plan') });
    const r = await mlc(['run', '--resume', plan.id, '--on', 'slurm', '--runtime', 'charliecloud', '--json'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { runs: string[]; job: string };
    jobs.push(out.job);
    assert.deepEqual(out.runs, plan.points.map((p) => p.runId));
    const runs = await finals(out.runs);
    assert.deepEqual(runs.map((x) => [x.status, x.slurm?.job]), out.runs.map(() => ['succeeded', out.job]));
    const again = await mlc(['run', '--resume', plan.id, '--on', 'slurm', '--runtime', 'charliecloud'], { cwd: dir });
    assert.equal(again.code, 2, again.stderr);
    assert.match(again.stderr, /--resume on Slurm takes a plan none of whose points has started/);
  });
});
