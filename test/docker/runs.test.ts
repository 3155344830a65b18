import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildExperiment } from '../../src/core/build/buildExperiment';
import type { Engine } from '../../src/core/docker/engine';
import { GitCli } from '../../src/core/provenance/git';
import { readRuns } from '../../src/core/run/records';
import { recordEvents } from '../helpers/events';
import { git } from '../helpers/git';
import { silentLogger } from '../helpers/logger';
import { assertBuiltCli, mlc, mlcProcess } from '../helpers/mlc';
import { requireEngine, requireImage } from './harness';

const BASE = 'mlc-test/jupyter:bookworm';

// Prints its config, proves it cannot write it, leaves a file in its run directory, and exits with `exit_code`.
const TRAIN = `import os, socket, sys
print("code committed")
path = os.environ["MLC_CONFIG"]
text = open(path).read()
print("host", socket.gethostname())
print("config", path)
print(text, end="")
try:
    open(path, "a").write("tampered")
    print("config writable")
except OSError:
    print("config read-only")
os.makedirs(os.environ["MLC_RUN_DIR"], exist_ok=True)
open(os.path.join(os.environ["MLC_RUN_DIR"], "metrics.txt"), "w").write("loss 0.1\\n")
code = [l.split(":")[1].strip() for l in text.splitlines() if l.startswith("exit_code:")]
sys.exit(int(code[0]) if code else 0)
`;

describe('experiment runs and sweeps (real dockerd, mlc run from dist/cli.js)', function () {
  let engine: Engine;
  let dir: string;
  let imageId: string;
  let sha: string;
  const images: string[] = [];

  before(async function () {
    engine = await requireEngine(this);
    await requireImage(this, engine, BASE);
    assertBuiltCli();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-runs-'));
    fs.mkdirSync(path.join(dir, '.devcontainer'));
    fs.mkdirSync(path.join(dir, 'configs'));
    fs.writeFileSync(
      path.join(dir, '.devcontainer', 'devcontainer.json'),
      '{ "name": "mlc test runs", "build": { "dockerfile": "Dockerfile", "context": ".." } }\n',
    );
    // As pytorch/pytorch's Dockerfile does: on an engine whose default runtime is nvidia, this alone hands out GPUs.
    fs.writeFileSync(path.join(dir, '.devcontainer', 'Dockerfile'), `FROM ${BASE}\nENV NVIDIA_VISIBLE_DEVICES=all\nCOPY . /workspace\n`);
    fs.writeFileSync(path.join(dir, 'train.py'), TRAIN);
    fs.writeFileSync(path.join(dir, 'configs', 'sweep.yaml'), '# two by two\nseed: 7\nlr: [0.1, 0.01]\nbatch_size: [32, 64]\n');
    fs.writeFileSync(path.join(dir, 'configs', 'fail.yaml'), 'exit_code: 3\n');
    git(dir, 'init', '-q', '-b', 'main');
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'sweep');
    sha = git(dir, 'rev-parse', 'HEAD');
    const built = await buildExperiment({ folder: dir, engine, git: new GitCli(), log: silentLogger('build'), lock: false });
    images.push(...built.tags);
    imageId = built.imageId;
  });

  after(async () => {
    for (const ref of images) await engine.removeImage(ref, { force: true }).catch(() => undefined);
  });

  it('runs a 2×2 sweep as four containers and records four runs with distinct configs, the image and the commit', async () => {
    const events = recordEvents(engine, ['container'], (e) => e.action === 'create');
    const r = await mlc(['run', '--config', 'configs/sweep.yaml', '--gpu', 'none', '--parallel', '2', '--', 'python3', 'train.py'], {
      cwd: dir,
    });
    const created = await events.stop();
    assert.equal(r.code, 0, r.stderr);

    const { runs } = await readRuns(dir);
    assert.equal(runs.length, 4);
    assert.equal(new Set(runs.map((x) => x.config.sha256)).size, 4, 'each sweep point has its own config');
    assert.deepEqual(runs.map((x) => `${String(x.params.lr)}/${String(x.params.batch_size)}`).sort(), [
      '0.01/32',
      '0.01/64',
      '0.1/32',
      '0.1/64',
    ]);
    const ours = created.filter(
      (e) => e.attributes['org.mlcontainers.role'] === 'run' && e.attributes['org.mlcontainers.workspace'] === dir,
    );
    assert.equal(ours.length, 4, 'four containers were created');
    for (const run of runs) {
      assert.equal(run.image.id, imageId);
      assert.equal(run.image.revision, sha);
      assert.ok(run.image.tags.includes(`mlc-test-runs:${sha.slice(0, 7)}`));
      assert.equal(run.commit, sha);
      assert.equal(run.dirty, false, 'the run directories under .mlcontainers/ do not make the tree dirty');
      assert.equal(run.status, 'succeeded');
      assert.equal(run.exitCode, 0);
      assert.equal(run.gpus, 'none');
      assert.equal(run.config.sha256, createHash('sha256').update(run.config.content).digest('hex'));
      assert.match(run.config.content, /^# two by two\nseed: 7\nlr: 0\.0?1\nbatch_size: (32|64)\n$/);
      const output = fs.readFileSync(path.join(dir, run.log), 'utf8');
      assert.ok(output.includes(run.config.content), 'the container saw the recorded config');
      assert.match(output, /config \/etc\/mlc\/config\/sweep\.yaml\n/);
      assert.match(output, /config read-only/);
      assert.equal(fs.readFileSync(path.join(dir, '.mlcontainers', 'runs', run.id, 'metrics.txt'), 'utf8'), 'loss 0.1\n');
    }
    assert.equal(
      new Set(runs.map((x) => /host (\S+)/.exec(fs.readFileSync(path.join(dir, x.log), 'utf8'))?.[1])).size,
      4,
      'four different containers ran',
    );
    assert.equal(
      (await engine.listContainers({ labels: [`org.mlcontainers.workspace=${dir}`], all: true })).length,
      0,
      'run containers are removed',
    );
    assert.match(r.stdout, /^\[[1-4]\/4\] config \/etc\/mlc\/config\/sweep\.yaml$/m, 'output streams with the run number');
    assert.equal(git(dir, 'status', '--porcelain', '--', '.', ':(exclude).mlcontainers'), '');
  });

  it('records a failing run with its exit code, and mlc exits with it', async () => {
    const r = await mlc(['run', '--config', 'configs/fail.yaml', '--gpu', 'none', '--', 'python3', 'train.py'], { cwd: dir });
    assert.equal(r.code, 3, r.stderr);
    const { runs } = await readRuns(dir);
    const last = runs.at(-1);
    assert.equal(last?.status, 'failed');
    assert.equal(last?.exitCode, 3);
    assert.equal(last?.config.content, 'exit_code: 3\n');
    assert.equal(last?.sweep, null);
    const listed = await mlc(['runs', '--last', '1'], { cwd: dir });
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(
      listed.stdout,
      new RegExp(`${last?.id ?? '?'}\\s+exit 3\\s+mlc-test-runs:${sha.slice(0, 7)}\\s+${sha.slice(0, 7)}\\s+configs/fail\\.yaml@`),
    );
    const ls = await mlc(['ls'], { cwd: dir });
    assert.match(
      ls.stdout,
      new RegExp(`mlc-test-runs:${sha.slice(0, 7)} .*5 runs, 1 failed \\(mlc runs\\)`),
      'mlc ls counts the runs under their image',
    );
  });

  it("Ctrl-C stops the run's container, records the run as cancelled, and exits 130", async () => {
    const child = mlcProcess(['run', '--config', 'configs/fail.yaml', '--gpu', 'none', '--', 'sh', '-c', 'echo started; sleep 60'], {
      cwd: dir,
    });
    let stdout = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
    const deadline = Date.now() + 30_000;
    while (!stdout.includes('started') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.ok(stdout.includes('started'), 'the run did not start');
    const before = Date.now();
    child.kill('SIGINT');
    assert.equal(await exited, 130);
    assert.ok(Date.now() - before < 15_000, 'the container was not stopped promptly');
    const last = (await readRuns(dir)).runs.at(-1);
    assert.equal(last?.status, 'cancelled');
    assert.deepEqual(last?.command, ['sh', '-c', 'echo started; sleep 60']);
    assert.equal(
      (await engine.listContainers({ labels: [`org.mlcontainers.workspace=${dir}`], all: true })).length,
      0,
      'the container is gone',
    );
  });

  it('--code image runs the code built into the image, not the edited workspace, and records the image commit', async () => {
    fs.writeFileSync(path.join(dir, 'train.py'), TRAIN.replace('code committed', 'code edited'));
    try {
      const fromImage = await mlc(
        ['run', '--config', 'configs/fail.yaml', '--code', 'image', '--gpu', 'none', '--', 'python3', 'train.py'],
        { cwd: dir },
      );
      assert.equal(fromImage.code, 3, fromImage.stderr);
      assert.match(fromImage.stdout, /^code committed$/m);
      const imageRun = (await readRuns(dir)).runs.at(-1);
      assert.deepEqual([imageRun?.code, imageRun?.commit, imageRun?.dirty], ['image', sha, false]);
      assert.equal(
        fs.readFileSync(path.join(dir, '.mlcontainers', 'runs', imageRun?.id ?? '?', 'metrics.txt'), 'utf8'),
        'loss 0.1\n',
        'outputs reach the project',
      );

      const fromWorkspace = await mlc(['run', '--config', 'configs/fail.yaml', '--gpu', 'none', '--', 'python3', 'train.py'], { cwd: dir });
      assert.match(fromWorkspace.stdout, /^code edited$/m);
      const workspaceRun = (await readRuns(dir)).runs.at(-1);
      assert.deepEqual([workspaceRun?.code, workspaceRun?.commit, workspaceRun?.dirty], ['workspace', sha, true]);
    } finally {
      fs.writeFileSync(path.join(dir, 'train.py'), TRAIN);
    }
  });

  it('--gpu none on an image that sets NVIDIA_VISIBLE_DEVICES=all: the container is created with void, and the run sees void', async () => {
    // The container is inspected while it runs: a run's container is removed once the run is recorded.
    const child = mlcProcess(
      ['run', '--config', 'configs/fail.yaml', '--gpu', 'none', '--', 'sh', '-c', 'echo "visible=$NVIDIA_VISIBLE_DEVICES"; sleep 3'],
      { cwd: dir },
    );
    const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
    let running: string | undefined;
    for (const deadline = Date.now() + 30_000; !running && Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
      running = (await engine.listContainers({ labels: [`org.mlcontainers.workspace=${dir}`, 'org.mlcontainers.role=run'] }))[0]?.id;
    }
    const inspected = running ? await engine.inspectContainer(running) : undefined;
    assert.equal(await exited, 0);
    assert.ok(inspected?.env.includes('NVIDIA_VISIBLE_DEVICES=void'), `the created container's env: ${JSON.stringify(inspected?.env)}`);
    assert.equal(inspected?.deviceRequests, 0);
    const last = (await readRuns(dir)).runs.at(-1);
    assert.equal(fs.readFileSync(path.join(dir, last?.log ?? '?'), 'utf8'), 'visible=void\n');
    assert.equal(last?.gpus, 'none');
    assert.equal(last?.seenGpus, null, 'no nvidia-smi in a container without GPUs');
  });
});
