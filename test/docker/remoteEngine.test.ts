import * as assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import type { Engine } from '../../src/core/docker/engine';
import { WORKSPACE_LABEL } from '../../src/core/labels';
import { readRuns } from '../../src/core/run/records';
import { recordEvents } from '../helpers/events';
import { assertBuiltCli, mlc } from '../helpers/mlc';
import { devcontainerProject } from '../helpers/project';
import { STANDIN_DEBIAN, requireEngine, requireRemoteEngine } from './harness';

// An engine on another machine (scripts/test-remote-engine.sh: a dockerd whose filesystem is not this one's, over
// tcp://). Builds stream the context, so they work there; runs and Jupyter bind-mount the project, which that
// machine cannot see, so they refuse with one sentence and create nothing on it. (Every container mlc starts for a
// project carries its folder as a label, which is how a container made for these tests is told from the lock's.)
describe('a remote engine (second dockerd over tcp://, mlc from dist/cli.js)', function () {
  let local: Engine;
  let remote: Engine;
  let host: string;
  let dir: string;
  let token: string;
  let repo: string;
  let image: { id: string; tag: string } | undefined;
  /** Images on the remote engine before the tests: the builds' (tagged, and the layer under the lock) go after. */
  let before0: Set<string>;
  const env = (): NodeJS.ProcessEnv => ({ DOCKER_HOST: host, DOCKER_CONTEXT: '', DOCKER_TLS_VERIFY: '' });

  before(async function () {
    ({ engine: remote, host } = await requireRemoteEngine(this));
    local = await requireEngine(this);
    assertBuiltCli();
    before0 = new Set((await remote.listImages({})).map((i) => i.id));
    token = randomUUID();
    repo = `mlc-remote-test-${token.slice(0, 8)}`;
    dir = devcontainerProject(
      `FROM ${STANDIN_DEBIAN}\nCOPY marker.txt /marker.txt\n`,
      { 'marker.txt': `${token}\n`, 'configs/run.yaml': 'seed: 7\n' },
      repo,
    );
    // What makes it remote for these tests: the project folder made here does not exist there.
    const seen = await remote.runCapture(STANDIN_DEBIAN, ['test', '-e', dir]);
    assert.notEqual(seen.exitCode, 0, `the remote test engine sees ${dir}: its filesystem is this machine's`);
  });

  after(async () => {
    // Ours: tagged with this run's project name, or the untagged layer under the lock (an engine refuses to remove
    // one that another run's image still stands on).
    const ours = (tags: string[]): boolean => tags.every((t) => t === '<none>:<none>') || tags.some((t) => t.startsWith(`${repo}:`));
    for (const made of remote ? await remote.listImages({}) : []) {
      if (!before0.has(made.id) && ours(made.repoTags)) await remote.removeImage(made.id, { force: true }).catch(() => undefined);
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The image `mlc build` made on the remote engine (built by the first test; built here when it runs alone). */
  const built = async (): Promise<{ id: string; tag: string }> => {
    if (image) return image;
    const r = await mlc(['build', '--dir', dir, '--no-lock'], { env: env() });
    assert.equal(r.code, 0, r.stderr);
    const [id, tag] = r.stdout.trim().split('\n');
    assert.ok(id && tag, r.stdout);
    image = { id, tag };
    return image;
  };

  it('mlc build works: the context is streamed, so the image holds a file only this machine has, and it is on the remote engine only', async () => {
    const r = await mlc(['build', '--dir', dir], { env: env() });
    assert.equal(r.code, 0, r.stderr);
    const [id, tag] = r.stdout.trim().split('\n');
    assert.ok(id?.startsWith('sha256:') && tag, r.stdout);
    image = { id, tag };
    const copied = await remote.runCapture(id, ['cat', '/marker.txt']);
    assert.equal(copied.exitCode, 0, copied.stderr);
    assert.equal(copied.stdout.trim(), token);
    assert.equal(await local.inspectImage(id), undefined, 'the image was built on the local engine too');
  });

  for (const code of ['workspace', 'image']) {
    it(`mlc run --code ${code} refuses with one sentence naming the fix, and creates no container for the project on the remote engine and no run record`, async () => {
      const { tag } = await built();
      const events = recordEvents(remote, ['container'], (e) => e.action === 'create' && e.attributes[WORKSPACE_LABEL] === dir);
      const r = await mlc(
        ['run', '--config', 'configs/run.yaml', '--image', tag, '--code', code, '--gpu', 'none', '--', 'cat', '/workspace/marker.txt'],
        { cwd: dir, env: env() },
      );
      const created = await events.stop();
      assert.notEqual(r.code, 0, r.stdout);
      assert.equal(
        r.stderr.trim().split('\n').at(-1),
        `mlc run: A run bind-mounts ${dir}, which the engine at ${host} cannot see (it runs on another machine): run mlc on that host, or use a local engine (unset DOCKER_HOST, or point mlContainers.dockerHost at a local socket).`,
      );
      assert.deepEqual(
        created.map((e) => e.id),
        [],
      );
      assert.deepEqual((await readRuns(dir)).runs, []);
    });
  }

  it('mlc up refuses with one sentence naming the fix, and creates no container for the project on the remote engine', async () => {
    const { tag } = await built();
    const events = recordEvents(remote, ['container'], (e) => e.action === 'create' && e.attributes[WORKSPACE_LABEL] === dir);
    const r = await mlc(['up', '--dir', dir, '--image', tag, '--gpu', 'none', '--timeout', '30'], { env: env() });
    const created = await events.stop();
    assert.notEqual(r.code, 0, r.stdout);
    assert.equal(
      r.stderr.trim().split('\n').at(-1),
      `mlc up: Jupyter is published on the engine host's 127.0.0.1 only, and ${host} is another machine: use a local engine, or run \`mlc up\` on that host and forward the port with \`ssh -L\`.`,
    );
    assert.deepEqual(
      created.map((e) => e.id),
      [],
    );
  });

  it('mlc doctor says the engine is remote, and doctor --gpu that its GPUs cannot be checked from here', async () => {
    const r = await mlc(['doctor'], { env: env() });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.ok(
      lines.some((l) => /^Endpoint: +/.test(l) && l.endsWith(` ${host} via DOCKER_HOST`)),
      r.stdout,
    );
    assert.ok(
      lines.some((l) => l.startsWith(`Note: Remote engine: ${host} runs on another machine. Builds work`)),
      r.stdout,
    );

    const gpu = await mlc(['doctor', '--gpu'], { cwd: dir, env: env() });
    assert.equal(gpu.code, 0, gpu.stderr);
    assert.ok(gpu.stdout.split('\n').includes(`Host GPUs: not checked (remote engine ${host})`), gpu.stdout);
    assert.match(
      gpu.stdout.trim().split('\n').at(-1) ?? '',
      /^Verdict: Can't tell whether GPU containers will work: the engine runs on tcp:\/\//,
    );
  });
});
