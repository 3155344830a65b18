import * as assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildExperiment } from '../../src/core/build/buildExperiment';
import type { Engine } from '../../src/core/docker/engine';
import { RUN_ID_LABEL } from '../../src/core/labels';
import { GitCli } from '../../src/core/provenance/git';
import { readRuns } from '../../src/core/run/records';
import { silentLogger } from '../helpers/logger';
import { assertBuiltCli, mlc } from '../helpers/mlc';
import { requireEngine, requireImage } from './harness';

const BASE = 'mlc-test/jupyter:bookworm';
/** Not the image user's uid (1000) and not root: a user on a shared server. */
const OWNER = 1234;

// Says what it was given without printing a secret (its sha256 instead), waits for the test to look at the
// running container, and writes a file into /workspace.
const PROBE = `import hashlib, os, time
print("FROM_CONFIG", os.environ.get("FROM_CONFIG"))
print("data", open("/data/hello.txt").read().strip())
for name in ("WANDB_API_KEY", "FROM_LOCAL"):
    print(name, hashlib.sha256(os.environ.get(name, "").encode()).hexdigest())
print("uid", os.getuid(), "home", os.environ["HOME"])
while not os.path.exists("/workspace/go"):
    time.sleep(0.1)
open("/workspace/written-by-run.txt", "w").write("hello\\n")
`;

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Every file under dir, as text, concatenated. */
function allText(dir: string): string {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((f) => f.isFile())
    .map((f) => fs.readFileSync(path.join(f.parentPath, f.name), 'utf8'))
    .join('\n');
}

describe('runtime settings reach a run, secrets stay out of what is kept (real engine, mlc run from dist/cli.js)', function () {
  let engine: Engine;
  let root: string;
  let dir: string;
  const images: string[] = [];
  const fileSecret = `envfile-${randomBytes(8).toString('hex')}`;
  const localSecret = `localenv-${randomBytes(8).toString('hex')}`;

  before(async function () {
    engine = await requireEngine(this);
    await requireImage(this, engine, BASE);
    assertBuiltCli();
    if (process.platform !== 'linux' || process.getuid?.() !== 0) {
      console.log('      skipped: needs root on Linux, to give the project to a uid the image does not have');
      this.skip();
    }
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-runtime-'));
    fs.chmodSync(root, 0o755);
    dir = path.join(root, 'project');
    fs.mkdirSync(path.join(dir, '.devcontainer'), { recursive: true });
    fs.mkdirSync(path.join(root, 'datasets'));
    fs.writeFileSync(path.join(root, 'datasets', 'hello.txt'), 'from the mount\n');
    fs.writeFileSync(
      path.join(dir, '.devcontainer', 'devcontainer.json'),
      JSON.stringify({
        name: 'mlc test runtime',
        build: { dockerfile: 'Dockerfile', context: '..' },
        containerEnv: { FROM_CONFIG: 'config-value', FROM_LOCAL: '${localEnv:MLC_TEST_LOCAL_SECRET}' },
        mounts: ['type=bind,source=${localWorkspaceFolder}/../datasets,target=/data,readonly'],
        runArgs: ['--shm-size=256m'],
        remoteUser: 'mlc',
      }),
    );
    // The scaffold's convention: a user `mlc` with uid 1000.
    fs.writeFileSync(path.join(dir, '.devcontainer', 'Dockerfile'), `FROM ${BASE}\nRUN useradd --create-home --uid 1000 mlc\nUSER mlc\n`);
    fs.writeFileSync(path.join(dir, 'probe.py'), PROBE);
    fs.writeFileSync(path.join(dir, 'exp.yaml'), 'lr: 0.1\n');
    fs.writeFileSync(path.join(root, 'keys.env'), `# test keys\nWANDB_API_KEY=${fileSecret}\n`);
    const built = await buildExperiment({ folder: dir, engine, git: new GitCli(), log: silentLogger('build'), lock: false });
    images.push(...built.tags);
    // The project belongs to a user whose uid the image does not have.
    for (const f of [dir, ...fs.readdirSync(dir, { recursive: true }).map((f) => path.join(dir, String(f)))]) fs.chownSync(f, OWNER, OWNER);
  });

  after(async () => {
    for (const ref of images) await engine.removeImage(ref, { force: true }).catch(() => undefined);
  });

  it("a run sees containerEnv, a mounts entry and an --env-file value; no record, plan, log or label holds a value; its file in /workspace is the owner's", async function () {
    const started = await mlc(
      [
        'run',
        '--dir',
        dir,
        '--config',
        path.join(dir, 'exp.yaml'),
        '--gpu',
        'none',
        '--env-file',
        path.join(root, 'keys.env'),
        '--detach',
        '--',
        'python3',
        'probe.py',
      ],
      { env: { MLC_TEST_LOCAL_SECRET: localSecret } },
    );
    assert.equal(started.code, 0, started.stderr);
    const runId = started.stdout.trim();
    // While it runs: the engine has the values (the container needs them), its labels do not.
    // --detach returns once the run is on record, which is just before its container exists.
    let container;
    for (let i = 0; i < 600 && !container; i++, await new Promise((r) => setTimeout(r, 100)))
      container = (await engine.listContainers({ labels: [`${RUN_ID_LABEL}=${runId}`] }))[0];
    assert.ok(container, `no container for ${runId}`);
    const details = (await engine.inspectContainer(container.id)) ?? assert.fail('inspect');
    assert.ok(details.env.includes(`WANDB_API_KEY=${fileSecret}`));
    const labels = JSON.stringify(details.labels);
    for (const secret of [fileSecret, localSecret]) assert.ok(!labels.includes(secret), 'a label holds a secret');
    fs.writeFileSync(path.join(dir, 'go'), '');
    const followed = await mlc(['logs', runId, '-f', '--dir', dir]);
    assert.equal(followed.code, 0, followed.stderr);

    const [record] = (await readRuns(dir)).runs.filter((r) => r.id === runId);
    assert.equal(record?.status, 'succeeded', JSON.stringify(record));
    const output = fs.readFileSync(path.join(dir, record.log), 'utf8');
    assert.match(output, /^FROM_CONFIG config-value$/m);
    assert.match(output, /^data from the mount$/m);
    assert.ok(output.includes(`WANDB_API_KEY ${sha256(fileSecret)}`), output);
    assert.ok(output.includes(`FROM_LOCAL ${sha256(localSecret)}`), output);
    assert.deepEqual(record.env, ['FROM_CONFIG', 'FROM_LOCAL', 'WANDB_API_KEY']);
    // Everything mlc keeps: runs.jsonl, the run folder, the plan and the scheduler's log; and what it printed.
    const kept = [allText(path.join(dir, '.mlcontainers')), started.stdout, started.stderr, followed.stdout, followed.stderr].join('\n');
    for (const secret of [fileSecret, localSecret]) assert.ok(!kept.includes(secret), 'a record, plan or log holds a secret');

    // updateRemoteUserUID: the image user is uid 1000, the project's owner 1234, so the run ran as 1234.
    assert.match(output, new RegExp(`^uid ${OWNER} home /tmp/mlc-home-${OWNER}$`, 'm'));
    assert.equal(fs.statSync(path.join(dir, 'written-by-run.txt')).uid, OWNER);
  });

  it("updateRemoteUserUID: false keeps the image user, whose file then is not the owner's", async function () {
    const file = path.join(dir, '.devcontainer', 'devcontainer.json');
    fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), updateRemoteUserUID: false }));
    fs.rmSync(path.join(dir, 'written-by-run.txt'), { force: true });
    // The image user may not write into the owner's folder: give it the one file it needs.
    fs.chmodSync(dir, 0o777);
    const r = await mlc(
      [
        'run',
        '--dir',
        dir,
        '--config',
        path.join(dir, 'exp.yaml'),
        '--gpu',
        'none',
        '--env',
        'WANDB_API_KEY=x',
        '--',
        'python3',
        'probe.py',
      ],
      { env: { MLC_TEST_LOCAL_SECRET: localSecret } },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^uid 1000 home \/home\/mlc$/m);
    assert.equal(fs.statSync(path.join(dir, 'written-by-run.txt')).uid, 1000);
  });

  it('refuses a runArgs flag it cannot pass, by name, before anything starts', async () => {
    const file = path.join(dir, '.devcontainer', 'devcontainer.json');
    fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), runArgs: ['--network=host'] }));
    const before = (await readRuns(dir)).runs.length;
    const r = await mlc(['run', '--dir', dir, '--config', path.join(dir, 'exp.yaml'), '--gpu', 'none', '--', 'true']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /runArgs "--network=host" is not a flag ML Containers can pass/);
    assert.equal((await readRuns(dir)).runs.length, before);
  });
});
