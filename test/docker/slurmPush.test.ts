// Images reach the nodes (issue 30): `mlc run --on slurm --push REGISTRY` pushes the image first and a node whose
// engine lacks it pulls it by digest. Here the node's engine is this dockerd with the image removed after the
// submission: the task can only have it back from the registry.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildExperiment } from '../../src/core/build/buildExperiment';
import type { Engine } from '../../src/core/docker/engine';
import { GitCli } from '../../src/core/provenance/git';
import { git } from '../helpers/git';
import { silentLogger } from '../helpers/logger';
import { assertBuiltCli } from '../helpers/mlc';
import { devcontainerProject } from '../helpers/project';
import { cleanUpSlurm, keptScript, requireSlurm, slurmFinals, submitSlurm } from '../helpers/slurm';
import { STANDIN_DEBIAN, requireEngine, requireImage, requireKind } from './harness';
import type { TestRegistry } from './registry';
import { requireTestRegistry, startRegistry, tagsList } from './registry';

describe('mlc run --on slurm --push: a node without the image pulls it by digest (real dockerd, Slurm, registry)', function () {
  let engine: Engine;
  let dir: string;
  let registry: TestRegistry | undefined;
  let imageId = '';
  const jobs: string[] = [];

  before(async function () {
    engine = await requireEngine(this);
    await requireKind(this, engine, 'docker', 'the Slurm suites run once, against dockerd, whose CLI the batch scripts drive');
    const tools = await requireTestRegistry(this, engine);
    requireSlurm(this);
    await requireImage(this, engine, STANDIN_DEBIAN);
    assertBuiltCli();
    registry = await startRegistry(tools);
    dir = devcontainerProject(
      `FROM ${STANDIN_DEBIAN}\nRUN echo pushed-for-the-nodes > /etc/mlc-push-test\n`,
      { '.gitignore': '.mlcontainers/\n', 'configs/one.yaml': 'lr: 0.1\n' },
      'mlc slurm push',
    );
    git(dir, 'init', '-q', '-b', 'main');
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'push');
    const built = await buildExperiment({ folder: dir, engine, git: new GitCli(), log: silentLogger('build'), lock: false });
    imageId = built.imageId;
  });

  after(async () => {
    await registry?.stop().catch(() => undefined);
    if (imageId) await engine?.removeImage(imageId, { force: true }).catch(() => undefined);
    await cleanUpSlurm(engine, jobs, [], dir);
  });

  it('pushes under the commit tag, and the task pulls the image it lacks by digest: same id, the run succeeds', async () => {
    const { runs, sweep, stderr } = await submitSlurm(
      dir,
      // --begin: the task waits a few seconds, in which the engine loses the image.
      ['--config', 'configs/one.yaml', '--push', `${registry!.host}/lab`, '--sbatch-arg=--begin=now+8', '--', 'cat', '/etc/mlc-push-test'],
      jobs,
    );
    const sha7 = git(dir, 'rev-parse', '--short=7', 'HEAD').trim();
    assert.deepEqual(await tagsList(registry!, 'lab/mlc-slurm-push'), [sha7]);
    const pushed = new RegExp(
      `Pushed ${registry!.host}/lab/mlc-slurm-push:${sha7}@sha256:[0-9a-f]{64}: a node whose engine lacks the image pulls it from there`,
    );
    assert.match(stderr, pushed);
    const reference = /Pushed (\S+@sha256:[0-9a-f]{64})/.exec(stderr)![1]!;
    const pull = keptScript(dir, sweep ?? runs[0]!)
      .split('\n')
      .find((l) => l.startsWith('pull='));
    // The script names the pinned reference once (shell-quoted), and the pull and its message use it.
    assert.equal(pull, `pull=${reference.replace(/[:@]/g, '\\$&')}`);
    await engine.removeImage(imageId, { force: true });
    assert.equal(await engine.inspectImage(imageId), undefined);
    const [run] = await slurmFinals(dir, runs);
    assert.equal(run!.status, 'succeeded', `${run!.error}\n${fs.readFileSync(path.join(dir, run!.log), 'utf8')}`);
    assert.match(fs.readFileSync(path.join(dir, run!.log), 'utf8'), /^pushed-for-the-nodes$/m);
    assert.equal((await engine.inspectImage(imageId))?.id, imageId, 'the pulled image is the one pushed, by id');
    assert.equal(run!.image.id, imageId);
  });
});
