// Engine faults for real: a Docker engine of the tests' own (scripts/test-fault-engine.sh, a second dockerd on this
// machine with its own socket, data and bridge) is killed under a run and under a build, then started again.
// Never the machine's main engine: the rest of the Docker tier runs on it.
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Engine } from '../../src/core/docker/engine';
import { machineEngine } from '../../src/core/docker/machine';
import { LOCK_DIR } from '../../src/core/provenance/lock';
import { readRuns } from '../../src/core/run/records';
import { git } from '../helpers/git';
import { assertBuiltCli, mlc, mlcProcess } from '../helpers/mlc';
import { devcontainerProject } from '../helpers/project';
import { STANDIN_DEBIAN, requireEngine, requireKind } from './harness';

const FAULT_HOST = 'unix:///tmp/mlc-fault-engine.sock';
const SCRIPT = path.resolve(__dirname, '../../scripts/test-fault-engine.sh');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** scripts/test-fault-engine.sh with one action (--kill, --stop, --start): resolves once it is done. */
function faultEngine(action: '--kill' | '--stop' | '--start'): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('bash', [SCRIPT, action], { timeout: 90_000 }, (error, _stdout, stderr) =>
      error ? reject(new Error(`${SCRIPT} ${action} failed: ${stderr}`)) : resolve(),
    );
  });
}

async function until(what: string, test: () => Promise<boolean>, ms = 60_000, detail: () => string = () => ''): Promise<void> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(250)) if (await test()) return;
  assert.fail(`timed out waiting for ${what}${detail()}`);
}

/** The fault engine, with the stand-in; skipped with the reason when there is none, a failure when CI=true. */
async function requireFaultEngine(context: Mocha.Context): Promise<Engine> {
  const engine = machineEngine(FAULT_HOST, { timeoutMs: 10_000 });
  const missing = await engine.ping().then(
    async () => ((await engine.inspectImage(STANDIN_DEBIAN)) ? undefined : `${FAULT_HOST} answers but lacks ${STANDIN_DEBIAN}`),
    (e: unknown) => `${FAULT_HOST} does not answer: ${e instanceof Error ? e.message : String(e)}`,
  );
  if (!missing) return engine;
  if (process.env.CI === 'true') throw new Error(`CI=true but no fault test engine: ${missing} (run scripts/test-fault-engine.sh first)`);
  console.log(`      skipped: no fault test engine (${missing}); run scripts/test-fault-engine.sh to start one`);
  context.skip();
}

describe('faults: the engine stops under a run or a build (a dockerd of the tests own, killed for real)', function () {
  let engine: Engine;
  const folders: string[] = [];

  const project = (dockerfile: string, name: string): string => {
    const dir = devcontainerProject(
      dockerfile,
      { 'configs/one.yaml': 'lr: 0.1\n', 'configs/three.yaml': 'seed: [1, 2, 3]\n', '.gitignore': '.mlcontainers/\n' },
      name,
    );
    git(dir, 'init', '-q', '-b', 'main');
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'faults');
    folders.push(dir);
    return dir;
  };

  before(async function () {
    // The fault engine is the same dockerd whatever DOCKER_HOST says: a second pass would test nothing new, and would
    // find the first pass's build steps in its cache.
    await requireKind(
      this,
      await requireEngine(this),
      'docker',
      'the fault group runs once, against a dockerd of its own (scripts/test-fault-engine.sh), which the Podman pass does not change',
    );
    engine = await requireFaultEngine(this);
    assertBuiltCli();
  });

  afterEach(async function () {
    // A failed test may leave the engine down: the next one needs it.
    if (engine) await faultEngine('--start');
  });

  after(async () => {
    if (!engine) return;
    for (const c of await engine.listContainers({ labels: ['org.mlcontainers.role=run'], all: true }).catch(() => []))
      await engine.removeContainer(c.id, { force: true }).catch(() => undefined);
    // The fault engine holds only what these tests made: their images go by name.
    for (const img of await engine.listImages({}).catch(() => [])) {
      if (img.repoTags.some((t) => t.startsWith('faults-'))) await engine.removeImage(img.id, { force: true }).catch(() => undefined);
    }
    for (const dir of folders) fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const fault of [
    { how: 'SIGKILL', action: '--kill' as const, sweep: true },
    { how: 'SIGTERM', action: '--stop' as const, sweep: false },
  ]) {
    it(`${fault.how} of the engine under a detached ${fault.sweep ? 'sweep' : 'run'}: its record says the engine stopped${fault.sweep ? ' and offers --resume' : ''}, and \`mlc runs\` shows it`, async () => {
      const dir = project(`FROM ${STANDIN_DEBIAN}\n`, `faults run ${fault.how.toLowerCase()}`);
      const built = await mlc(['build', '--no-lock', '--host', FAULT_HOST], { cwd: dir });
      assert.equal(built.code, 0, built.stderr);
      const started = await mlc(
        [
          'run',
          '--detach',
          '--host',
          FAULT_HOST,
          '--gpu',
          'none',
          '--config',
          fault.sweep ? 'configs/three.yaml' : 'configs/one.yaml',
          '--parallel',
          '1',
          '--',
          'sleep',
          '300',
        ],
        { cwd: dir },
      );
      assert.equal(started.code, 0, started.stderr);
      const running = async (): Promise<boolean> =>
        (await engine.listContainers({ labels: [`org.mlcontainers.workspace=${dir}`, 'org.mlcontainers.role=run'] })).some(
          (c) => c.state === 'running',
        );
      await until('the first run to be running', running);
      const logFile = /scheduler log (\S+)\.\s*$/.exec(started.stderr)?.[1];
      assert.ok(logFile, started.stderr);
      const schedulerSaid = (): string => fs.readFileSync(path.join(dir, logFile), 'utf8');

      await faultEngine(fault.action);
      // The scheduler following the run sees the engine go and notes it on the run's record.
      await until(
        'the run to be noted as having lost its engine',
        async () => (await readRuns(dir)).runs.some((r) => r.status === 'running' && r.engineLost !== undefined),
        60_000,
        () =>
          `; the scheduler said: ${schedulerSaid()}; runs.jsonl: ${fs.readFileSync(path.join(dir, '.mlcontainers', 'runs.jsonl'), 'utf8')}`,
      );
      await faultEngine('--start');

      const listed = await mlc(['runs', '--host', FAULT_HOST], { cwd: dir });
      assert.equal(listed.code, 0, listed.stderr);
      const { runs } = await readRuns(dir);
      const hit = runs.find((r) => r.engineLost !== undefined);
      assert.ok(hit, `no run noted the engine: ${JSON.stringify(runs)}`);
      assert.equal(hit.status, 'failed');
      assert.ok(hit.exitCode !== null && hit.exitCode > 128, `exit ${String(hit.exitCode)}: not a signal's`);
      const sentence = `the Docker engine stopped while the run ran (exit ${String(hit.exitCode)}): run it again`;
      assert.equal(
        hit.error,
        fault.sweep ? `${sentence}, or \`mlc run --resume ${hit.sweep?.id ?? '?'}\` for the sweep's points that never started` : sentence,
      );
      assert.match(listed.stdout, new RegExp(`${hit.id}\\s+engine stopped`));
      console.log(
        `      record: ${JSON.stringify({ status: hit.status, exitCode: hit.exitCode, engineLost: hit.engineLost, error: hit.error })}`,
      );
      console.log(`      mlc runs: ${listed.stdout.split('\n').find((l) => l.startsWith(hit.id)) ?? ''}`);
      if (fault.sweep) {
        // Two of its three points never started: `mlc run --resume` has them to run.
        assert.equal(runs.length, 1, 'the sweep started another point on an engine that went away');
      }
      const said = schedulerSaid();
      assert.match(
        said,
        new RegExp(
          `The Docker engine at ${FAULT_HOST} stopped while run ${hit.id} ran: once it is back, \`mlc runs\` records how the run ended`,
        ),
      );
      console.log(`      scheduler: ${said.split('\n').find((l) => l.includes('stopped while run')) ?? ''}`);
    });
  }

  it('SIGKILL of the engine during `mlc build`: exit 1 with one sentence, no tag, no torn lock; the next build works', async () => {
    // A step of its own each time: a cached one would finish before the engine is killed.
    const dir = project(
      `FROM ${STANDIN_DEBIAN}\nRUN echo building ${randomBytes(4).toString('hex')} && sleep 8 && pip --version >/dev/null 2>&1 || true\n`,
      'faults build',
    );
    const child = mlcProcess(['build', '--host', FAULT_HOST], { cwd: dir });
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', r));
    await until('the build to start its RUN step', async () => /building|RUN echo/.test(err), 60_000);
    await faultEngine('--kill');
    const code = await exited;
    assert.equal(code, 1, err);
    const lines = err
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('mlc build:'));
    assert.deepEqual(lines, [
      `mlc build: The Docker engine at ${FAULT_HOST} stopped during the build: no image was tagged and no lock written; start it, then build again.`,
    ]);
    console.log(`      said: ${lines[0] ?? ''}`);

    await faultEngine('--start');
    const name = `faults-build`;
    // Only the build's temporary tag (…:mlc-stamp-…) can be left, when the engine stopped before it was removed.
    const tagged = (await engine.listImages({})).flatMap((i) => i.repoTags).filter((t) => t.includes(name) && !t.includes(':mlc-stamp-'));
    assert.deepEqual(tagged, [], 'a tag survived the killed build');
    const lockDir = path.join(dir, LOCK_DIR);
    for (const f of fs.existsSync(lockDir) ? fs.readdirSync(lockDir) : []) {
      assert.ok(!f.endsWith('.tmp'), `a temporary lock file was left: ${f}`);
      assert.match(fs.readFileSync(path.join(lockDir, f), 'utf8'), /^# image sha256:[0-9a-f]{64}\n# tags .*\n/, `${f} is not a whole lock`);
    }

    const again = await mlc(['build', '--host', FAULT_HOST], { cwd: dir, timeoutMs: 240_000 });
    assert.equal(again.code, 0, again.stderr);
    const after = (await engine.listImages({})).flatMap((i) => i.repoTags).filter((t) => t.includes(name));
    assert.ok(after.length >= 1, `the next build tagged nothing: ${again.stderr}`);
    assert.ok(
      fs.readdirSync(lockDir).some((f) => f.endsWith('.lock') || f.length > 0),
      'the next build wrote no lock',
    );
  });
});
