import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildExperiment } from '../../src/core/build/buildExperiment';
import type { Engine } from '../../src/core/docker/engine';
import { ExperimentImagesModel } from '../../src/core/images/model';
import { GitCli } from '../../src/core/provenance/git';
import { git } from '../helpers/git';
import { silentLogger } from '../helpers/logger';
import { mlc } from '../helpers/mlc';
import { STANDIN_DEBIAN, requireEngine, requireImage } from './harness';

const silent = silentLogger('test');

describe('Experiment Images model against real builds at three commits (real dockerd, git)', function () {
  this.timeout(300_000);
  let engine: Engine;
  let dir: string;
  const shas: string[] = [];
  const imageIds: string[] = [];
  let model: ExperimentImagesModel;

  before(async function () {
    engine = await requireEngine(this);
    await requireImage(this, engine, STANDIN_DEBIAN);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-history-'));
    fs.mkdirSync(path.join(dir, '.devcontainer'));
    fs.writeFileSync(
      path.join(dir, '.devcontainer', 'devcontainer.json'),
      '// tiny\n{ "name": "mlc test history", "build": { "dockerfile": "Dockerfile", "context": ".." } }\n',
    );
    fs.writeFileSync(path.join(dir, '.devcontainer', 'Dockerfile'), `FROM ${STANDIN_DEBIAN}\nCOPY train.py /w/train.py\n`);
    git(dir, 'init', '-q', '-b', 'main');
    const build = async (): Promise<void> => {
      const r = await buildExperiment({ folder: dir, engine, git: new GitCli(), log: silent, lock: false });
      imageIds.push(r.imageId);
    };
    for (const step of ['one', 'two', 'three']) {
      fs.writeFileSync(path.join(dir, 'train.py'), `print("${step}")\n`);
      git(dir, 'add', '-A');
      git(dir, 'commit', '-q', '-m', `step ${step}`);
      shas.push(git(dir, 'rev-parse', 'HEAD'));
      if (step !== 'three') await build();
    }
    // The third commit's only image is built from uncommitted changes.
    fs.writeFileSync(path.join(dir, 'train.py'), 'print("three, edited")\n');
    await build();
    model = new ExperimentImagesModel({
      engine: () => engine,
      git: new GitCli(),
      folder: () => dir,
      trusted: () => true,
      projectRepo: async () => 'mlc-test-history',
      log: silent,
    });
  });

  after(async () => {
    model?.dispose();
    for (const id of imageIds) await engine?.removeImage(id, { force: true }).catch(() => undefined);
  });

  it('groups the images under their commits, newest first, with the dirty one marked and HEAD known', async () => {
    const state = await model.getState();
    assert.equal(state.kind, 'ready');
    if (state.kind !== 'ready') return;
    const { tree } = state;
    assert.deepEqual(
      tree.groups.map((g) => g.sha),
      [shas[2], shas[1], shas[0]],
    );
    assert.deepEqual(
      tree.groups.map((g) => g.meta?.subject),
      ['step three', 'step two', 'step one'],
    );
    assert.deepEqual(
      tree.groups.map((g) => g.images.map((i) => [i.name, i.dirty])),
      [
        [[`mlc-test-history:${shas[2]!.slice(0, 7)}-dirty`, true]],
        [[`mlc-test-history:${shas[1]!.slice(0, 7)}`, false]],
        [[`mlc-test-history:${shas[0]!.slice(0, 7)}`, false]],
      ],
    );
    assert.deepEqual(tree.head && [tree.head.sha, tree.head.hasImage], [shas[2], true]);
    assert.deepEqual(tree.groups[1]?.images[0]?.otherTags, [], 'latest moved to the newest build');
  });

  it('a new commit is HEAD without an image', async () => {
    git(dir, 'commit', '-q', '-am', 'step four');
    model.refresh();
    const state = await model.getState();
    assert.ok(state.kind === 'ready' && state.tree.head);
    assert.equal(state.tree.head.sha, git(dir, 'rev-parse', 'HEAD'));
    assert.equal(state.tree.head.hasImage, false);
    assert.equal(state.tree.groups[0]?.isHead, false);
  });

  it('`mlc ls` (built CLI) prints the same grouping', async () => {
    const r = await mlc(['ls', '--dir', dir]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[1] ?? '', /HEAD\s+step four\s+\(no image yet: mlc build\)/);
    assert.match(
      lines[2] ?? '',
      new RegExp(`^${shas[2]!.slice(0, 7)}\\s+step three\\s+mlc-test-history:${shas[2]!.slice(0, 7)}-dirty .*dirty`),
    );
    assert.match(lines[4] ?? '', new RegExp(`^${shas[0]!.slice(0, 7)}\\s+step one`));
  });

  it('deleting an image through the engine reaches the model through /events, without a manual refresh', async () => {
    await model.getState();
    const watch = model.watch();
    try {
      await new Promise((r) => setTimeout(r, 300)); // the stream is open
      const changed = new Promise<number>((resolve) => {
        const sub = model.onDidChange(() => {
          sub.dispose();
          resolve(Date.now());
        });
      });
      const started = Date.now();
      await engine.removeImage(imageIds[0]!, { force: true });
      const at = await changed;
      console.log(`      /events → model change ${at - started} ms after the delete (debounce 250 ms)`);
      const state = await model.getState();
      assert.ok(state.kind === 'ready');
      assert.deepEqual(
        state.tree.groups.map((g) => g.sha),
        [shas[2], shas[1]],
      );
    } finally {
      watch.dispose();
    }
  });
});
