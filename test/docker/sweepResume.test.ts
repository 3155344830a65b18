import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildExperiment } from '../../src/core/build/buildExperiment';
import type { Engine } from '../../src/core/docker/engine';
import { GitCli } from '../../src/core/provenance/git';
import { readRuns } from '../../src/core/run/records';
import { git } from '../helpers/git';
import { silentLogger } from '../helpers/logger';
import { assertBuiltCli, mlc, mlcProcess } from '../helpers/mlc';
import { STANDIN_DEBIAN, requireEngine, requireImage } from './harness';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('a sweep stopped with `mlc stop SWEEP`, then resumed (real dockerd, mlc from dist/cli.js)', function () {
  let engine: Engine;
  let dir: string;
  const images: string[] = [];

  const runContainers = async (): Promise<{ id: string; running: boolean }[]> =>
    (await engine.listContainers({ labels: [`org.mlcontainers.workspace=${dir}`, 'org.mlcontainers.role=run'], all: true })).map((c) => ({
      id: c.id,
      running: c.state === 'running',
    }));

  before(async function () {
    engine = await requireEngine(this);
    await requireImage(this, engine, STANDIN_DEBIAN);
    assertBuiltCli();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-sweep-resume-'));
    fs.mkdirSync(path.join(dir, '.devcontainer'));
    fs.mkdirSync(path.join(dir, 'configs'));
    // Its own image name: another checkout's Docker tier on the same engine must not remove it under this one.
    fs.writeFileSync(
      path.join(dir, '.devcontainer', 'devcontainer.json'),
      `{ "name": "mlc sweep resume ${path.basename(dir).slice(-6).toLowerCase()}", "build": { "dockerfile": "Dockerfile", "context": ".." } }\n`,
    );
    fs.writeFileSync(path.join(dir, '.devcontainer', 'Dockerfile'), `FROM ${STANDIN_DEBIAN}\nCOPY . /workspace\n`);
    fs.writeFileSync(path.join(dir, 'configs', 'three.yaml'), 'seed: [1, 2, 3]\n');
    fs.writeFileSync(path.join(dir, '.gitignore'), '.mlcontainers/\n');
    git(dir, 'init', '-q', '-b', 'main');
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'sweep resume');
    const built = await buildExperiment({ folder: dir, engine, git: new GitCli(), log: silentLogger('build'), lock: false });
    images.push(...built.tags);
  });

  after(async () => {
    for (const c of await runContainers().catch(() => [])) await engine.removeContainer(c.id, { force: true }).catch(() => undefined);
    for (const ref of images) await engine.removeImage(ref, { force: true }).catch(() => undefined);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('--resume clears the stop: the points that never started run, the stopped one stays cancelled', async () => {
    const child = mlcProcess(
      ['run', '--config', 'configs/three.yaml', '--parallel', '1', '--gpu', 'none', '--', 'sh', '-c', 'echo "in $MLC_RUN_ID"; sleep 6'],
      { cwd: dir },
    );
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise((r) => child.on('exit', r));
    for (const deadline = Date.now() + 60_000; !/^\[1\/3\] in \S+-1$/m.test(out); await sleep(200))
      assert.ok(Date.now() < deadline, `point 1 did not start: ${out}`);
    const sweep = /^\[1\/3\] in (\S+)-1$/m.exec(out)?.[1];
    assert.ok(sweep);

    const stopped = await mlc(['stop', sweep], { cwd: dir, timeoutMs: 60_000 });
    assert.equal(stopped.code, 0, stopped.stderr);
    await exited;
    assert.deepEqual(
      (await readRuns(dir)).runs.filter((r) => r.sweep?.id === sweep).map((r) => [r.params.seed, r.status]),
      [[1, 'cancelled']],
      'the stopped sweep started a further point',
    );

    const resumed = await mlc(['run', '--resume', sweep], { cwd: dir, timeoutMs: 120_000 });
    assert.match(resumed.stderr, /resuming 2 of 3 points/);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, new RegExp(`in ${sweep}-2$`, 'm'));
    assert.match(resumed.stdout, new RegExp(`in ${sweep}-3$`, 'm'));
    assert.deepEqual(
      (await readRuns(dir)).runs
        .filter((r) => r.sweep?.id === sweep)
        .map((r): [unknown, string] => [r.params.seed, r.status])
        .sort((a, b) => Number(a[0]) - Number(b[0])),
      [
        [1, 'cancelled'],
        [2, 'succeeded'],
        [3, 'succeeded'],
      ],
    );
  });
});
