import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildExperiment } from '../../src/core/build/buildExperiment';
import type { Engine } from '../../src/core/docker/engine';
import { GitCli } from '../../src/core/provenance/git';
import type { RunRecord } from '../../src/core/run/records';
import { readRuns } from '../../src/core/run/records';
import { git } from '../helpers/git';
import { silentLogger } from '../helpers/logger';
import { assertBuiltCli, mlc } from '../helpers/mlc';
import { requireEngine, requireImage, requireKind } from './harness';

const BASE = 'mlc-test/jupyter:bookworm';

// Prints its config and the GPU variables it sees, writes a metric from lr, and sleeps when the config says so.
const TRAIN = `import json, os, time
text = open(os.environ["MLC_CONFIG"]).read()
cfg = dict(l.split(": ", 1) for l in text.splitlines() if ": " in l)
print("config", text.replace("\\n", " "))
print("CUDA_VISIBLE_DEVICES=%s NVIDIA_VISIBLE_DEVICES=%s" % (os.environ.get("CUDA_VISIBLE_DEVICES"), os.environ.get("NVIDIA_VISIBLE_DEVICES")), flush=True)
with open(os.path.join(os.environ["MLC_RUN_DIR"], "metrics.jsonl"), "w") as f:
    f.write(json.dumps({"step": 1, "loss": float(cfg.get("lr", "1")) * int(cfg.get("batch_size", "1"))}) + "\\n")
time.sleep(float(cfg.get("sleep", "0")))
`;

/**
 * Slurm for this suite (scripts/test-slurm.sh): skipped with the reason where no controller answers, a failure under
 * CI=true, where the set-up script has run.
 */
function requireSlurm(context: Mocha.Context): void {
  let reason: string | undefined;
  try {
    const state = execFileSync('sinfo', ['-h', '-o', '%T'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    if (!/^(idle|mixed|allocated|completing)/m.test(state)) reason = `the Slurm node is "${state || 'absent'}", not idle`;
  } catch (e) {
    reason = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'sinfo is not on PATH' : `sinfo failed: ${String((e as { stderr?: string }).stderr ?? e).trim()}`;
  }
  if (!reason) return;
  if (process.env.CI === 'true') throw new Error(`CI=true but Slurm is not usable: ${reason} (run scripts/test-slurm.sh first)`);
  console.log(`      skipped: no Slurm (${reason}); run scripts/test-slurm.sh to set up a one-node cluster`);
  context.skip();
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 240_000): Promise<T> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await new Promise((r) => setTimeout(r, 500))) {
    const v = await probe();
    if (v !== undefined) return v;
  }
  throw new Error(`gave up waiting for ${what}`);
}

describe('experiment runs on Slurm (scripts/test-slurm.sh, real dockerd, mlc from dist/cli.js)', function () {
  let engine: Engine;
  let dir: string;
  const images: string[] = [];
  const jobs: string[] = [];

  /** `mlc runs` (which reconciles with squeue and sacct) until every run of these ids has its final line. */
  const finals = (ids: string[]): Promise<RunRecord[]> =>
    until(`final records of ${ids.join(', ')}`, async () => {
      const listed = await mlc(['runs', '--json', '--last', '0'], { cwd: dir });
      const runs = listed.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as RunRecord).filter((r) => ids.includes(r.id));
      return runs.length === ids.length && runs.every((r) => r.status !== 'running') ? runs : undefined;
    });

  const submit = async (args: string[]): Promise<{ runs: string[]; job: string; sweep: string | null }> => {
    const r = await mlc(['run', '--on', 'slurm', '--json', ...args], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { runs: string[]; job: string; sweep: string | null };
    jobs.push(out.job);
    return out;
  };

  before(async function () {
    engine = await requireEngine(this);
    await requireKind(this, engine, 'docker', 'the Slurm suite runs once, against dockerd: its batch scripts drive the docker CLI on the node, which the Podman pass does not change');
    requireSlurm(this);
    await requireImage(this, engine, BASE);
    assertBuiltCli();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-slurm-'));
    fs.mkdirSync(path.join(dir, '.devcontainer'));
    fs.mkdirSync(path.join(dir, 'configs'));
    fs.writeFileSync(path.join(dir, '.devcontainer', 'devcontainer.json'), '{ "name": "mlc test slurm", "build": { "dockerfile": "Dockerfile", "context": ".." } }\n');
    fs.writeFileSync(path.join(dir, '.devcontainer', 'Dockerfile'), `FROM ${BASE}\nCOPY . /workspace\n`);
    fs.writeFileSync(path.join(dir, 'train.py'), TRAIN);
    fs.writeFileSync(path.join(dir, 'configs', 'sweep.yaml'), 'lr: [0.1, 0.01]\nbatch_size: [32, 64]\n');
    fs.writeFileSync(path.join(dir, 'configs', 'one.yaml'), 'lr: 0.5\n');
    fs.writeFileSync(path.join(dir, 'configs', 'long.yaml'), 'sleep: 600\n');
    git(dir, 'init', '-q', '-b', 'main');
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'slurm');
    const built = await buildExperiment({ folder: dir, engine, git: new GitCli(), log: silentLogger('build'), lock: false });
    images.push(...built.tags);
  });

  after(async () => {
    if (jobs.length) execFileSync('scancel', jobs);
    for (const ref of images) await engine?.removeImage(ref, { force: true }).catch(() => undefined);
  });

  it('runs a 2×2 sweep as one array job, two tasks at a time: four final records with distinct configs, metrics in mlc runs --compare', async () => {
    const started = Date.now();
    const { runs: ids, job, sweep } = await submit(['--config', 'configs/sweep.yaml', '--parallel', '2', '--', 'python3', 'train.py']);
    assert.equal(ids.length, 4);
    assert.match(execFileSync('scontrol', ['show', 'job', job], { encoding: 'utf8' }), /ArrayTaskThrottle=2/);
    const runs = await finals(ids);
    console.log(`      4-task array: submit → four final records in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.equal(new Set(runs.map((r) => r.config.sha256)).size, 4);
    assert.deepEqual(runs.map((r) => [r.status, r.exitCode, r.slurm?.job, r.slurm?.state]), ids.map(() => ['succeeded', 0, job, 'COMPLETED']));
    assert.deepEqual(runs.map((r) => r.slurm?.task).sort(), [1, 2, 3, 4]);
    for (const r of runs) {
      const output = fs.readFileSync(path.join(dir, r.log), 'utf8');
      assert.ok(output.includes(`config ${r.config.content.replace(/\n/g, ' ')}`), 'the task ran its own point\'s config');
      assert.ok(output.includes('NVIDIA_VISIBLE_DEVICES=void'), 'no GPU asked, none given');
    }
    const compared = await mlc(['runs', '--sweep', sweep!], { cwd: dir });
    assert.equal(compared.code, 0, compared.stderr);
    assert.match(compared.stdout, /^RUN\s+STATUS\s+IMAGE\s+COMMIT\s+lr\s+batch_size\s+loss$/m);
    assert.match(compared.stdout, new RegExp(`^${sweep!}-3\\s+ok\\s.*\\s0\\.01\\s+32\\s+0\\.32\\*$`, 'm'));
    assert.deepEqual(await engine.listContainers({ labels: [`org.mlcontainers.workspace=${dir}`], all: true }), [], 'every task\'s container is gone');
  });

  it('--gres gpu:1 hands the task\'s GPU to the container and the record', async () => {
    const { runs: [id] } = await submit(['--config', 'configs/one.yaml', '--gres', 'gpu:1', '--', 'python3', 'train.py']);
    const [run] = await finals([id!]);
    assert.equal(run!.status, 'succeeded');
    assert.equal(run!.gpus, '0');
    assert.match(fs.readFileSync(path.join(dir, run!.log), 'utf8'), /^CUDA_VISIBLE_DEVICES=0 NVIDIA_VISIBLE_DEVICES=0$/m);
  });

  it('mlc stop of a running task scancels it: its container is gone and its record says cancelled', async () => {
    const { runs: [id], job } = await submit(['--config', 'configs/long.yaml', '--', 'python3', 'train.py']);
    const name = `mlc-${job}-1`;
    await until('the task\'s container', async () => ((await engine.inspectContainer(name))?.running ? true : undefined));
    const stopped = await mlc(['stop', id!], { cwd: dir });
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.equal(stopped.stdout.trim(), id);
    assert.equal(await engine.inspectContainer(name), undefined, 'the container went with the task');
    const run = (await readRuns(dir)).runs.find((r) => r.id === id)!;
    assert.deepEqual([run.status, run.exitCode, run.slurm?.state], ['cancelled', null, 'CANCELLED']);
    assert.match((await mlc(['runs', '--last', '1'], { cwd: dir })).stdout, new RegExp(`^${id!}\\s+cancelled\\s`, 'm'));
  });

  it('a task over its --time ends as TIMEOUT: recorded failed with the reason, its container gone', async () => {
    const { runs: [id], job } = await submit(['--config', 'configs/long.yaml', '--time', '0:05', '--', 'python3', 'train.py']);
    const [run] = await finals([id!]);
    assert.deepEqual([run!.status, run!.exitCode, run!.slurm?.state], ['failed', null, 'TIMEOUT']);
    assert.match(run!.error ?? '', /time limit/);
    assert.equal(await engine.inspectContainer(`mlc-${job}-1`), undefined);
    assert.match((await mlc(['runs', '--last', '1'], { cwd: dir })).stdout, new RegExp(`^${id!}\\s+timeout\\s`, 'm'));
  });
});
