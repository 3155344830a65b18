// Faults that come from outside the engine, each made for real: a registry killed while a layer uploads, a run
// folder on a 4 MiB tmpfs that the run fills, slurmctld stopped while `mlc run --on slurm` submits, and `mlc
// quickstart` signalled (SIGTERM) or killed (SIGKILL) while it builds. Each leaves a named record and one sentence.
import * as assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pack } from 'tar-fs';
import { buildExperiment } from '../../src/core/build/buildExperiment';
import type { Engine } from '../../src/core/docker/engine';
import { REVISION_LABEL } from '../../src/core/labels';
import { GitCli } from '../../src/core/provenance/git';
import { readRuns } from '../../src/core/run/records';
import { PYTORCH_STANDIN } from '../../src/core/scaffold/quickstart';
import { git } from '../helpers/git';
import { silentLogger } from '../helpers/logger';
import { assertBuiltCli, mlc, mlcProcess } from '../helpers/mlc';
import { devcontainerProject } from '../helpers/project';
import { cleanUpSlurm, requireSlurm, slurmFinals, slurmProject, submitSlurm, until } from '../helpers/slurm';
import { STANDIN_DEBIAN, requireEngine, requireImage, requireKind } from './harness';
import type { TestRegistry } from './registry';
import { requireTestRegistry, startRegistry, tagsList } from './registry';

/** A child's output as it comes, and its exit. */
function watch(child: ChildProcess): {
  out: () => string;
  err: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
} {
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { out: () => out, err: () => err, exit };
}

/** Skips with the reason (fails under CI=true, where everything is set up). */
function missing(context: Mocha.Context, reason: string): never {
  if (process.env.CI === 'true') throw new Error(`CI=true but ${reason}`);
  console.log(`      skipped: ${reason}`);
  context.skip();
}

describe('faults: the registry gone mid-push (real dockerd, docker-registry killed with SIGKILL)', function () {
  this.timeout(300_000);
  let engine: Engine;
  let tools: { registry: string; htpasswd: string };
  let registry: TestRegistry | undefined;
  const name = `mlc-test-fault-push-${randomBytes(3).toString('hex')}`;
  const sha = randomBytes(20).toString('hex');
  const dirs: string[] = [];
  let imageId: string | undefined;

  const tempDir = (prefix: string): string => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    dirs.push(dir);
    return dir;
  };

  before(async function () {
    engine = await requireEngine(this);
    await requireImage(this, engine, STANDIN_DEBIAN);
    tools = await requireTestRegistry(this, engine);
    assertBuiltCli();
    // 200 MB that gzip cannot shrink: seconds of upload on loopback, time enough to kill the registry under it.
    const ctx = tempDir('mlc-fault-push-ctx-');
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), `FROM ${STANDIN_DEBIAN}\nRUN head -c 200000000 /dev/urandom > /blob\n`);
    imageId = await engine.build(pack(ctx), { tags: [`${name}:latest`], labels: { [REVISION_LABEL]: sha }, buildKit: true });
  });

  after(async () => {
    await registry?.stop().catch(() => undefined);
    if (imageId) await engine.removeImage(imageId, { force: true }).catch(() => undefined);
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('prints and records nothing as pushed, and says in one sentence that the registry went away', async () => {
    registry = await startRegistry(tools);
    const state = tempDir('mlc-fault-push-state-');
    const config = tempDir('mlc-fault-push-config-');
    const child = mlcProcess(['push', `${name}:latest`, '--registry', registry.host], {
      env: { DOCKER_CONFIG: config, XDG_STATE_HOME: state },
    });
    const seen = watch(child);
    // An upload under way: the registry's upload folder for the repository holds a blob that is growing.
    const uploads = path.join(registry.dataDir, 'docker', 'registry', 'v2', 'repositories', name, '_uploads');
    await until(
      'a layer upload to be under way',
      async () => {
        const sizes = fs.existsSync(uploads)
          ? fs.readdirSync(uploads).map((u) => fs.statSync(path.join(uploads, u, 'data'), { throwIfNoEntry: false })?.size ?? 0)
          : [];
        return sizes.some((n) => n > 1024 * 1024) ? true : undefined;
      },
      120_000,
    );
    await registry.kill();
    const { code } = await seen.exit;

    assert.equal(code, 1, seen.err());
    assert.equal(seen.out(), '', 'nothing is printed as pushed');
    const last = seen.err().trim().split('\n').pop() ?? '';
    assert.match(
      last,
      new RegExp(
        `^mlc push: The registry ${registry.host} went away in the middle of the push \\(it (refused connections|closed the connection|stopped answering|can no longer be reached)\\): ${registry.host}/${name}:${sha.slice(0, 7)} was not pushed\\. Once the registry is up again, push again: the layers it already holds are not sent twice\\.$`,
      ),
    );
    assert.doesNotMatch(seen.err(), /dial tcp|https?:\/\//, "the engine's own words stay out of it");
    assert.ok(!fs.existsSync(path.join(state, 'ml-containers', 'pushed.jsonl')), 'no push is on record');
    console.log(`      the user sees: ${last}`);
  });

  it('and a registry that answers again takes the same push', async () => {
    registry = await startRegistry(tools);
    const r = await mlc(['push', `${name}:latest`, '--registry', registry.host], {
      env: { DOCKER_CONFIG: tempDir('mlc-fault-push-config-'), XDG_STATE_HOME: tempDir('mlc-fault-push-state-') },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await tagsList(registry, name), [sha.slice(0, 7)]);
  });
});

describe("faults: the run folder's disk full (a 4 MiB tmpfs over .mlcontainers/runs, real dockerd)", function () {
  this.timeout(300_000);
  let engine: Engine;
  let dir: string | undefined;
  let mounted = false;
  const images: string[] = [];

  before(async function () {
    engine = await requireEngine(this);
    await requireKind(
      this,
      engine,
      'docker',
      'the tmpfs is mounted on this machine, and the Podman pass adds nothing to what the host writes',
    );
    await requireImage(this, engine, STANDIN_DEBIAN);
    assertBuiltCli();
    const suffix = randomBytes(3).toString('hex');
    dir = devcontainerProject(
      `FROM ${STANDIN_DEBIAN}\nCOPY . /workspace\n`,
      { '.gitignore': '.mlcontainers/\n', 'configs/one.yaml': 'lr: 0.1\n' },
      `mlc fault disk ${suffix}`,
    );
    git(dir, 'init', '-q', '-b', 'main');
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'disk full');
    // runs.jsonl stays on the machine's disk, beside the small one: the run folders' disk is what fills.
    const runs = path.join(dir, '.mlcontainers', 'runs');
    fs.mkdirSync(runs, { recursive: true });
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', runs], { encoding: 'utf8' });
    if (r.status !== 0)
      missing(
        this,
        `cannot mount a tmpfs here (mount: ${(r.stderr || r.error?.message || '').trim()}); the disk-full test needs root (CAP_SYS_ADMIN)`,
      );
    mounted = true;
    const built = await buildExperiment({ folder: dir, engine, git: new GitCli(), log: silentLogger('build'), lock: false });
    images.push(...built.tags);
  });

  after(async () => {
    if (dir) {
      for (const c of await engine.listContainers({ labels: [`org.mlcontainers.workspace=${dir}`], all: true }).catch(() => []))
        await engine.removeContainer(c.id, { force: true }).catch(() => undefined);
      if (mounted) spawnSync('umount', [path.join(dir, '.mlcontainers', 'runs')]);
      fs.rmSync(dir, { recursive: true, force: true });
    }
    for (const ref of images) await engine.removeImage(ref, { force: true }).catch(() => undefined);
  });

  it('a run that fills its disk still gets its final record, which says the disk filled', async () => {
    const script =
      'for i in $(seq 1 200); do echo "epoch $i of a long training log"; done; dd if=/dev/zero of="$MLC_RUN_DIR/checkpoint.bin" bs=1M count=16 || exit 7';
    const r = await mlc(['run', '--config', 'configs/one.yaml', '--gpu', 'none', '--', 'sh', '-c', script], { cwd: dir! });
    assert.equal(r.code, 7, r.stderr);
    const record = (await readRuns(dir!)).runs.at(-1);
    assert.ok(record, 'no record');
    assert.equal(record.status, 'failed');
    assert.equal(record.exitCode, 7);
    assert.ok(record.end, 'the record is final');
    const where = `.mlcontainers/runs/${record.id}`;
    const sentence = `the disk that holds its run folder filled up (no space left on ${where}): output.log, metrics and the run's own files may be cut short; free space there (\`df -h ${where}\`) and run it again`;
    assert.equal(record.error, sentence);
    assert.ok(r.stderr.includes(`run ${record.id}: ${sentence}`), r.stderr);
    assert.match(r.stderr, /No space left on device/, "the run's own dd said so too");
    assert.deepEqual(
      fs.readdirSync(path.join(dir!, where)).filter((f) => f.endsWith('.tmp')),
      [],
      'no half-written file of the host is left',
    );
    assert.deepEqual(
      await engine.listContainers({ labels: [`org.mlcontainers.workspace=${dir!}`, 'org.mlcontainers.role=run'], all: true }),
      [],
      'the container is removed',
    );
    const listed = await mlc(['runs'], { cwd: dir! });
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`${record.id}\\s+exit 7`));
    console.log(`      the user sees: run ${record.id}: ${sentence}`);
  });
});

describe('faults: the Slurm controller down at submit (slurmctld of scripts/test-slurm.sh stopped, then started again)', function () {
  this.timeout(300_000);
  const PID_FILE = '/run/slurm/slurmctld.pid';
  let engine: Engine;
  let dir: string | undefined;
  let images: string[] = [];
  const jobs: string[] = [];
  let stopped = false;

  const controllerPid = (): number | undefined => {
    // slurmctld removes its pid file as it exits.
    const pid = Number((fs.existsSync(PID_FILE) ? fs.readFileSync(PID_FILE, 'utf8') : '').trim() || NaN);
    if (!Number.isInteger(pid)) return undefined;
    try {
      process.kill(pid, 0);
      return pid;
    } catch {
      return undefined;
    }
  };

  /** slurmctld as test-slurm.sh starts it, then until sinfo shows the node up: later Slurm suites find it as they expect. */
  const startController = async (): Promise<void> => {
    if (!stopped) return;
    execFileSync('slurmctld');
    stopped = false;
    await until(
      'sinfo to show the node up again',
      async () => {
        const state = spawnSync('sinfo', ['-h', '-o', '%T'], { encoding: 'utf8', timeout: 10_000 }).stdout ?? '';
        return /^(idle|mixed|allocated|completing)/m.test(state) ? true : undefined;
      },
      120_000,
    );
  };

  before(async function () {
    engine = await requireEngine(this);
    await requireKind(this, engine, 'docker', 'the Slurm suites run once, against dockerd');
    requireSlurm(this);
    await requireImage(this, engine, 'mlc-test/jupyter:bookworm');
    assertBuiltCli();
    if (process.getuid?.() !== 0 || !fs.existsSync(PID_FILE))
      missing(this, `stopping slurmctld needs root and ${PID_FILE} (scripts/test-slurm.sh starts it so)`);
    ({ dir, images } = await slurmProject(engine, 'mlc-test/jupyter:bookworm', 'mlc test slurm fault'));
  });

  after(async () => {
    await startController();
    await cleanUpSlurm(engine, jobs, images, dir);
  });

  it('keeps the plan, records no run, says so with `mlc run --resume ID --on slurm`, and that submits it once the controller is back', async () => {
    const pid = controllerPid();
    assert.ok(pid, 'slurmctld is not running');
    process.kill(pid, 'SIGTERM');
    stopped = true;
    await until('slurmctld to exit', async () => (controllerPid() === undefined ? true : undefined), 30_000);

    const r = await mlc(['run', '--on', 'slurm', '--config', 'configs/one.yaml', '--', 'python3', 'train.py'], { cwd: dir! });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, '', 'no run id is printed as submitted');
    const last = r.stderr.trim().split('\n').pop() ?? '';
    const m =
      /^mlc run: The Slurm controller does not answer, so nothing was submitted and no run is on record; the plan is kept as (\S+): once `sinfo` answers, submit it with `mlc run --resume \1 --on slurm` \(and the same Slurm options\)\.$/.exec(
        last,
      );
    assert.ok(m, last);
    const id = m[1]!;
    assert.ok(fs.existsSync(path.join(dir!, '.mlcontainers', 'sweeps', `${id}.json`)), 'the plan is kept');
    assert.deepEqual((await readRuns(dir!)).runs, [], 'no run is on record');
    console.log(`      the user sees: ${last}`);

    await startController();
    const resumed = await submitSlurm(dir!, ['--resume', id], jobs);
    assert.deepEqual(resumed.runs, [id]);
    const [record] = await slurmFinals(dir!, resumed.runs);
    assert.equal(record?.status, 'succeeded');
    assert.equal(record?.job?.id.split('_')[0], resumed.job);
  });
});

describe('faults: `mlc quickstart` killed while it builds (real engine, dist/cli.js)', function () {
  this.timeout(300_000);
  // No registry answers on 127.0.0.1:1: the stand-in base every time (test/docker/quickstart.test.ts).
  const NO_REGISTRY = { MLC_REGISTRY_MIRROR: '127.0.0.1:1' };
  let engine: Engine;
  let parent: string | undefined;
  const names: string[] = [];

  before(async function () {
    engine = await requireEngine(this);
    await requireImage(this, engine, PYTORCH_STANDIN);
    assertBuiltCli();
    parent = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-fault-quickstart-'));
  });

  after(async () => {
    for (const name of names) {
      for (const image of await engine.listImages({ reference: name }).catch(() => [])) {
        for (const tag of image.repoTags) await engine.removeImage(tag, { force: true }).catch(() => undefined);
      }
    }
    if (parent) fs.rmSync(parent, { recursive: true, force: true });
  });

  /** A folder of the user's with a file in it, and `mlc quickstart DIR --force` under way at step 3 (the build). */
  const startQuickstart = async (): Promise<{ name: string; dir: string; child: ChildProcess; seen: ReturnType<typeof watch> }> => {
    const name = `mlc-qs-fault-${randomBytes(3).toString('hex')}`;
    names.push(name);
    const dir = path.join(parent!, name);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'mine\n');
    const child = mlcProcess(['quickstart', dir, '--force'], { env: NO_REGISTRY });
    const seen = watch(child);
    await until('the quickstart to start building', async () => (/\(3\/\d+\) Building/.test(seen.err()) ? true : undefined), 120_000);
    return { name, dir, child, seen };
  };
  const leftBeside = (name: string): string[] =>
    fs
      .readdirSync(parent!)
      .filter((f) => f.startsWith(name) || f.startsWith(`.${name}`))
      .sort();

  it('SIGTERM: the new project is removed and the folder --force moved aside is put back, exit 143', async () => {
    const { name, dir, child, seen } = await startQuickstart();
    child.kill('SIGTERM');
    const { code } = await seen.exit;
    assert.equal(code, 143, seen.err());
    const last = seen.err().trim().split('\n').pop() ?? '';
    assert.equal(last, `Interrupted: ${dir} was removed and the folder it replaced put back.`);
    assert.deepEqual(fs.readdirSync(dir), ['notes.txt']);
    assert.deepEqual(leftBeside(name), [name], 'no staging folder, moved-aside folder or journal is left');
    console.log(`      the user sees: ${last}`);
  });

  it('SIGKILL: nothing runs then, and the next quickstart into the folder removes the project and puts the old folder back', async () => {
    const { name, dir, child, seen } = await startQuickstart();
    child.kill('SIGKILL');
    await seen.exit;
    // What a SIGKILL leaves: the new project in place, the user's folder aside, the journal that says so.
    assert.ok(fs.existsSync(path.join(dir, 'train.py')));
    assert.equal(leftBeside(name).filter((f) => f.startsWith(`${name}.before-quickstart-`)).length, 1);
    assert.ok(fs.existsSync(path.join(parent!, `.${name}.mlc-quickstart.json`)));

    // Without --force the folder put back is refused as any non-empty folder is: nothing else happens.
    const next = await mlc(['quickstart', dir], { env: NO_REGISTRY });
    assert.equal(next.code, 2, next.stderr);
    const first = next.stderr.split('\n')[0] ?? '';
    assert.equal(
      first,
      `An earlier mlc quickstart into ${dir} was killed before it finished: what it had made was removed and the folder it had moved aside put back.`,
    );
    assert.deepEqual(fs.readdirSync(dir), ['notes.txt']);
    assert.equal(fs.readFileSync(path.join(dir, 'notes.txt'), 'utf8'), 'mine\n');
    assert.deepEqual(leftBeside(name), [name]);
    console.log(`      the user sees: ${first}`);
  });
});
