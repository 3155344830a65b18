import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatTree } from '../../../../src/cli/ls';
import type { ContainerSummary, EngineEvent, ImageSummary } from '../../../../src/core/docker/engine';
import { EngineError } from '../../../../src/core/docker/errors';
import type { Timers } from '../../../../src/core/docker/events';
import { ExperimentImagesModel, isRelevantEvent, isRunEnd } from '../../../../src/core/images/model';
import { appendRun, readRuns } from '../../../../src/core/run/records';
import type { ExperimentTree } from '../../../../src/core/images/tree';
import { commitContextValue, containerContextValue, groupImages, imageContextValue, repoOf } from '../../../../src/core/images/tree';
import type { GitHistory, GitHistoryProvider } from '../../../../src/core/provenance/git';
import { recordingLogger } from '../../../helpers/logger';
import { startedRecord } from '../../../helpers/runRecords';
import { FakeSlurm, task } from '../../fakes/slurm';
import { createSlurmBackend } from '../../../../src/core/backends/slurm/backend';
import { FakeEngine } from '../../fakes/engine';

const sha = (n: number): string => n.toString(16).padStart(40, 'c');
const NOW = Date.parse('2026-11-23T12:00:00Z');

function image(id: string, tags: string[], labels: Record<string, string>, createdMinutesAgo: number): ImageSummary {
  return {
    id: `sha256:${id.padEnd(64, '0')}`,
    repoTags: tags,
    labels: { 'org.mlcontainers.managed': 'true', ...labels },
    created: NOW / 1000 - createdMinutesAgo * 60,
    size: 2e9,
  };
}

function history(order: string[], extra: string[] = []): GitHistory {
  const commits = new Map(
    [...order, ...extra].map((s, i) => [
      s,
      { sha: s, subject: `subject ${s.slice(-2)}`, author: 'Ada', date: new Date(NOW - i * 3600e3).toISOString() },
    ]),
  );
  return { head: order[0], branchOrder: order, commits };
}

/** A fake of our own GitHistoryProvider that counts calls. */
class FakeGit implements GitHistoryProvider {
  calls = 0;
  constructor(public result: GitHistory | undefined) {}
  async history(): Promise<GitHistory | undefined> {
    this.calls++;
    return this.result;
  }
}

class FakeTimers implements Timers {
  private time = NOW;
  private queue: { at: number; fn: () => void; id: number }[] = [];
  private ids = 0;
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.ids;
    this.queue.push({ at: this.time + ms, fn, id });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.queue = this.queue.filter((t) => t.id !== handle);
  }
  now(): number {
    return this.time;
  }
  advance(ms: number): void {
    const until = this.time + ms;
    for (;;) {
      const next = this.queue.filter((t) => t.at <= until).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      this.queue = this.queue.filter((t) => t !== next);
      this.time = next.at;
      next.fn();
    }
    this.time = until;
  }
  get pending(): number {
    return this.queue.length;
  }
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));
const event = (type: string, action: string, time: number, attributes: Record<string, string> = {}): EngineEvent => ({
  type,
  action,
  id: 'x',
  time,
  attributes,
});

describe('Experiment Images: grouping under commits', () => {
  const c1 = sha(1),
    c2 = sha(2),
    c3 = sha(3),
    gone = sha(9);
  const images = [
    image('a1', ['dimuon:ccccccc', 'dimuon:latest'], { 'org.opencontainers.image.revision': c3, 'org.mlcontainers.dirty': 'false' }, 5),
    image('a2', ['dimuon:ccccccc-dirty'], { 'org.opencontainers.image.revision': c3, 'org.mlcontainers.dirty': 'true' }, 1),
    image('b1', ['dimuon:old'], { 'org.opencontainers.image.revision': c1 }, 300),
    image('d1', ['dimuon:side'], { 'org.opencontainers.image.revision': gone }, 60),
    image('e1', ['dimuon:20261123-101010'], {}, 30),
    image('f1', ['someoneelse:abc'], { 'org.opencontainers.image.revision': sha(77) }, 2),
  ];
  const jupyter: ContainerSummary = {
    id: 'j1',
    names: ['dimuon-ccccccc-jupyter'],
    image: images[0]!.id,
    imageId: images[0]!.id,
    state: 'running',
    status: 'Up 3 minutes',
    created: 0,
    labels: { 'org.mlcontainers.role': 'jupyter', 'org.mlcontainers.image.id': images[0]!.id },
    ports: [{ privatePort: 8888, publicPort: 49153, ip: '127.0.0.1', type: 'tcp' }],
  };
  const tree = groupImages(images, [jupyter], history([c3, c2, c1], [gone]), 'dimuon');

  it('orders the branch by git log, then commits off the branch, then images without a commit; leaves other projects out', () => {
    assert.deepEqual(
      tree.groups.map((g) => g.sha),
      [c3, c1, gone, undefined],
    );
    assert.deepEqual(
      tree.groups.map((g) => [g.onBranch, g.isHead]),
      [
        [true, true],
        [true, false],
        [false, false],
        [false, false],
      ],
    );
    assert.ok(!JSON.stringify(tree).includes('someoneelse'));
  });

  it("lists a commit's images newest first, marks dirty ones, folds extra tags into one node", () => {
    const head = tree.groups[0]!;
    assert.deepEqual(
      head.images.map((i) => [i.name, i.dirty]),
      [
        ['dimuon:ccccccc-dirty', true],
        ['dimuon:ccccccc', false],
      ],
    );
    assert.deepEqual(head.images[1]?.otherTags, ['dimuon:latest']);
    assert.equal(head.meta?.subject, 'subject cc'.replace('cc', c3.slice(-2)));
  });

  it('puts running containers under their image with the Jupyter address, never a token', () => {
    const node = tree.groups[0]!.images[1]!;
    assert.deepEqual(
      node.containers.map((c) => [c.name, c.jupyterUrl]),
      [['dimuon-ccccccc-jupyter', 'http://127.0.0.1:49153']],
    );
  });

  it('marks HEAD, and says when HEAD has no image yet', () => {
    assert.deepEqual(tree.head && [tree.head.sha, tree.head.hasImage], [c3, true]);
    const later = groupImages(images, [], history([sha(4), c3, c2, c1]), 'dimuon');
    assert.deepEqual(later.head && [later.head.sha, later.head.hasImage], [sha(4), false]);
    assert.equal(groupImages(images, [], undefined, 'dimuon').repository, false);
  });

  it('carries the tokens menus match on', () => {
    const [head] = tree.groups;
    assert.equal(imageContextValue(head!.images[1]!, head!), 'image;clean;running;jupyter;inUse;commit;head;');
    assert.equal(imageContextValue(head!.images[0]!, head!), 'image;dirty;commit;head;');
    assert.equal(commitContextValue(tree.groups[2]!), 'commitGroup;commit;');
    assert.equal(commitContextValue(head!), 'commitGroup;head;onBranch;commit;');
    assert.equal(containerContextValue(head!.images[1]!.containers[0]!), 'container;running;jupyter;');
    assert.equal(repoOf('registry:5000/lab/dimuon:3f2a1bc'), 'registry:5000/lab/dimuon');
    assert.equal(repoOf('registry:5000/lab/dimuon'), 'registry:5000/lab/dimuon');
  });

  it('`mlc ls` prints the same grouping as a table', () => {
    const lines = formatTree(tree, NOW);
    assert.match(lines[0] ?? '', /^COMMIT\s+SUBJECT\s+IMAGE\s+SIZE\s+CREATED\s+STATUS$/);
    assert.match(lines[1] ?? '', /^ccccccc HEAD\s+subject .*dimuon:ccccccc-dirty\s+2\.0 GB\s+1m ago\s+dirty$/);
    assert.match(lines[2] ?? '', /^\s+dimuon:ccccccc\s+.*also dimuon:latest; dimuon-ccccccc-jupyter running http:\/\/127\.0\.0\.1:49153$/);
    assert.ok(lines.some((l) => /\(off branch\)/.test(l)));
    assert.ok(lines.some((l) => /^\(no commit\)/.test(l)));
    const empty: ExperimentTree = { repository: true, head: { sha: c3, meta: undefined, hasImage: false }, groups: [] };
    assert.match(formatTree(empty, NOW)[1] ?? '', /\(no image yet: mlc build\)/);
  });
});

describe('Experiment Images: the model', () => {
  let engine: FakeEngine;
  let timers: FakeTimers;
  let git: FakeGit;
  let model: ExperimentImagesModel;
  const lines: string[] = [];

  beforeEach(() => {
    engine = new FakeEngine();
    timers = new FakeTimers();
    git = new FakeGit(history([sha(1)]));
    lines.length = 0;
    model = new ExperimentImagesModel({
      engine: () => engine,
      git,
      folder: () => '/home/ada/dimuon',
      trusted: () => true,
      projectRepo: async () => 'dimuon',
      log: recordingLogger(lines, 'images'),
      timers,
      debounceMs: 250,
      // The fake timers drive every step: no file read may race them.
      runs: async () => [],
      reconcile: async () => undefined,
    });
  });

  afterEach(() => model.dispose());

  const listCalls = (): number => engine.calls.filter((c) => c === 'listImages').length;

  /** What a visible tree view does: reload whenever the model says it changed. */
  function attachView(): void {
    model.onDidChange(() => void model.getState());
  }

  it('a burst of 100 engine events costs at most 2 list calls', async () => {
    attachView();
    await model.getState();
    const watch = model.watch();
    await flush();
    // 100 events over 100 ms, with the view free to reload between any two of them.
    for (let i = 0; i < 100; i++) {
      engine.emit(event('image', i % 2 ? 'tag' : 'untag', 1000 + i));
      timers.advance(1);
      await flush();
    }
    timers.advance(1000);
    await flush();
    assert.ok(listCalls() - 1 <= 2, `${listCalls() - 1} list calls for one burst`);
    assert.ok(listCalls() - 1 >= 1, 'the burst did not reload the list at all');
    watch.dispose();
  });

  it('ignores events that cannot change the view (other containers, exec, pulls of layers)', () => {
    assert.equal(isRelevantEvent(event('container', 'start', 1, { 'org.mlcontainers.managed': 'true' })), true);
    assert.equal(isRelevantEvent(event('container', 'start', 1, {})), false);
    assert.equal(isRelevantEvent(event('container', 'exec_start', 1, { 'org.mlcontainers.managed': 'true' })), false);
    assert.equal(isRelevantEvent(event('image', 'delete', 1)), true);
    assert.equal(isRelevantEvent(event('network', 'connect', 1)), false);
  });

  it('reconnects after a dropped stream with since= the last event, then reloads', async () => {
    attachView();
    await model.getState();
    const watch = model.watch();
    await flush();
    engine.emit(event('image', 'tag', 1700000042));
    timers.advance(300);
    await flush();
    const before = listCalls();
    engine.dropStreams();
    await flush();
    assert.equal(engine.openStreams, 0);
    timers.advance(999);
    assert.deepEqual(
      engine.calls.filter((c) => c.startsWith('events')),
      ['events'],
      'reconnected before the backoff',
    );
    timers.advance(1);
    await flush();
    assert.deepEqual(
      engine.calls.filter((c) => c.startsWith('events')),
      ['events', 'events since=1700000042'],
    );
    timers.advance(300);
    await flush();
    assert.ok(listCalls() > before, 'no reload after reconnecting (events during the gap would be lost)');
    assert.ok(lines.some((l) => /event stream dropped .*reconnecting in 1 s/.test(l)));
    watch.dispose();
  });

  it('follows events only while watched, once however many watchers there are', async () => {
    const a = model.watch();
    const b = model.watch();
    await flush();
    assert.equal(engine.openStreams, 1);
    a.dispose();
    assert.equal(engine.openStreams, 1);
    b.dispose();
    assert.equal(engine.openStreams, 0);
    b.dispose();
    assert.equal(engine.openStreams, 0);
  });

  it('1,000 images over 1,000 commits: one image list, one container list, one git lookup, no per-image call', async () => {
    const order = Array.from({ length: 1000 }, (_, i) => sha(5000 - i));
    git.result = history(order);
    engine.imageList = order.map((s, i) => image(`i${i}`, [`dimuon:${s.slice(0, 7)}`], { 'org.opencontainers.image.revision': s }, i));
    const state = await model.getState();
    assert.equal(state.kind, 'ready');
    if (state.kind !== 'ready') return;
    assert.equal(state.tree.groups.length, 1000);
    assert.deepEqual(
      state.tree.groups.slice(0, 3).map((g) => g.sha),
      order.slice(0, 3),
    );
    assert.deepEqual(engine.calls, ['listImages', 'listContainers']);
    assert.equal(git.calls, 1);
  });

  it('while a Slurm run is pending or running and the view watched, reads the records again and asks squeue/sacct, until it has ended', async () => {
    const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-images-slurm-'));
    await appendRun(ws, startedRecord('R-1', { backend: 'slurm', job: { id: '7_1', state: 'PENDING', queued: true } }));
    const slurm = new FakeSlurm();
    slurm.queued = [task('7', 1, 'PENDING')];
    const m = new ExperimentImagesModel({
      engine: () => engine,
      git,
      folder: () => ws,
      trusted: () => true,
      projectRepo: async () => 'dimuon',
      log: recordingLogger(lines, 'images'),
      timers,
      reconcile: async () => undefined,
      backends: () => [createSlurmBackend(() => slurm)],
      pollMs: 5000,
    });
    m.onDidChange(() => void m.getState());
    try {
      await m.getState();
      assert.equal(timers.pending, 0, 'no poll while the view is hidden');
      const watch = m.watch();
      await flush();
      timers.advance(5000);
      await m.getState();
      assert.equal(m.loads, 2, 'read again after the poll interval');
      assert.equal((await readRuns(ws)).runs[0]?.status, 'running', 'a pending task stays open');
      // The task ran over its time: squeue lets go of it and sacct says why.
      slurm.queued = [];
      slurm.accounted = [task('7', 1, 'TIMEOUT', [0, 0], '2026-11-25T10:05:00.000Z')];
      timers.advance(5000);
      const state = await m.getState();
      assert.equal(state.kind, 'ready');
      assert.deepEqual(
        (await readRuns(ws)).runs.map((r) => [r.status, r.job?.state]),
        [['failed', 'TIMEOUT']],
      );
      timers.advance(60_000);
      await flush();
      assert.equal(m.loads, 3, 'no more polls once no Slurm run is open');
      watch.dispose();
    } finally {
      m.dispose();
      fs.rmSync(ws, { recursive: true, force: true });
    }
  });

  it("leaves a Slurm task's container to its batch script: its end is no run end for the view to finish", () => {
    const die = (labels: Record<string, string>): EngineEvent =>
      event('container', 'die', 1, { 'org.mlcontainers.role': 'run', 'org.mlcontainers.workspace': '/w', ...labels });
    assert.equal(isRunEnd(die({}), '/w'), true);
    assert.equal(isRunEnd(die({ 'org.mlcontainers.run.job': '7_1' }), '/w'), false);
  });

  it('an engine that does not answer is a state, not an exception', async () => {
    engine.listImages = () => Promise.reject(new EngineError('Docker engine is not running at unix:///x: start Docker', 'notRunning'));
    const state = await model.getState();
    assert.deepEqual(state, { kind: 'down', message: 'Docker engine is not running at unix:///x: start Docker' });
  });
});
