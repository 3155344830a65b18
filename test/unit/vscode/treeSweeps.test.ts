import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ImageSummary } from '../../../src/core/docker/engine';
import { ExperimentImagesModel } from '../../../src/core/images/model';
import type { ExperimentPlan } from '../../../src/core/run/plan';
import { PLANS_DIR, markSweepStopped, sweepStopped } from '../../../src/core/run/plan';
import type { RunRecord } from '../../../src/core/run/records';
import { appendRun } from '../../../src/core/run/records';
import type * as Sweeps from '../../../src/vscode/commands/sweeps';
import type { Services } from '../../../src/vscode/services';
import type * as Provider from '../../../src/vscode/tree/provider';
import type { FakeVscodeRecord } from '../../helpers/fakeVscode';
import { installFakeVscode, loadFresh, workspaceImagesOf } from '../../helpers/fakeVscode';
import { silentLogger } from '../../helpers/logger';
import { startedRecord } from '../../helpers/runRecords';
import { FakeEngine } from '../fakes/engine';

const SHA = '1'.repeat(40);
const IMAGE: ImageSummary = {
  id: `sha256:${'b'.repeat(64)}`,
  repoTags: ['dimuon:1111111'],
  created: Math.floor(Date.now() / 1000) - 120,
  size: 1.5e9,
  labels: { 'org.mlcontainers.managed': 'true', 'org.opencontainers.image.revision': SHA },
};
const image = { id: IMAGE.id, ref: 'dimuon:1111111', tags: IMAGE.repoTags, revision: SHA, dirty: false };

/** A sweep of `size` points, `recorded` of them on record: the first three failed, the rest ok with val_loss (37i mod 100)/100 + 0.01. */
function sweep(size: number, recorded: number): RunRecord[] {
  return Array.from({ length: recorded }, (_, i) => {
    const r = startedRecord(`p-${String(i).padStart(3, '0')}`, {
      image,
      start: new Date(Date.now() - (recorded - i) * 60e3).toISOString(),
      params: { lr: i },
      sweep: { id: 'S1', index: i, size },
    });
    const end = r.start;
    if (i < 3) return { ...r, status: 'failed', exitCode: 1, end };
    const v = ((i * 37) % 100) / 100 + 0.01;
    return {
      ...r,
      status: 'succeeded',
      exitCode: 0,
      end,
      metrics: { metrics: { val_loss: { source: 'metrics.jsonl', last: v, lastStep: 4, min: v, max: v, steps: 5, nans: 0 } }, skipped: 0 },
    };
  });
}

describe('Experiment Images view: a sweep node (fake vscode)', () => {
  let uninstall: () => void;
  let record: FakeVscodeRecord;
  let runs: RunRecord[];
  let provider: Provider.ImagesTreeProvider;
  let model: ExperimentImagesModel;

  beforeEach(() => {
    const fake = installFakeVscode();
    record = fake.record;
    uninstall = fake.uninstall;
    const { ImagesTreeProvider } = loadFresh<typeof Provider>('src/vscode/tree/provider');
    const engine = new FakeEngine();
    engine.imageList = [IMAGE];
    model = new ExperimentImagesModel({
      engine: () => engine,
      git: { history: async () => ({ head: SHA, branchOrder: [SHA], commits: new Map() }) },
      folder: () => '/w',
      trusted: () => true,
      projectRepo: async () => 'dimuon',
      log: silentLogger('x'),
      runs: async () => runs,
      reconcile: async () => undefined,
      backends: () => [],
    });
    provider = new ImagesTreeProvider(workspaceImagesOf({ ['/w']: model }));
  });

  afterEach(() => {
    provider.dispose();
    model.dispose();
    uninstall();
  });

  async function imageChildren(): Promise<Provider.TreeNode[]> {
    const [commit] = await provider.getChildren();
    const [imageNode] = await provider.getChildren(commit);
    return provider.getChildren(imageNode);
  }

  it('shows a sweep as one collapsed row: counts, the best point at the headline metric, its menu tokens', async () => {
    runs = [...sweep(12, 10), startedRecord('single', { image, start: new Date().toISOString() })];
    const children = await imageChildren();
    assert.deepEqual(
      children.map((n) => n.kind),
      ['sweep', 'run'],
    );
    const item = provider.getTreeItem(children[0]!);
    assert.equal(item.label, 'Sweep S1');
    assert.equal(item.collapsibleState, 1);
    // Point i's val_loss is (37i mod 100)/100 + 0.01: of the ok points 3..9, point 3's (0.12) is the lowest, then 6 and 9.
    assert.equal(item.description, '12 points · 7 ok · 3 failed · 2 not started · best val_loss 0.12 (lr=3)');
    assert.equal(item.contextValue, 'sweep;notStarted;');
    const points = (await provider.getChildren(children[0])).map((n) => provider.getTreeItem(n).label);
    assert.deepEqual(points.slice(0, 3), ['lr=3', 'lr=6', 'lr=9'], 'best first');
    assert.deepEqual(points.slice(-3), ['lr=2', 'lr=1', 'lr=0'], 'points without the metric last, newest first');
  });

  it('lists the first 50 points and puts the rest behind a "show N more" row that expands to them', async () => {
    runs = sweep(120, 120);
    const [sweepNode] = await imageChildren();
    assert.equal(provider.getTreeItem(sweepNode!).description, '120 points · 117 ok · 3 failed · best val_loss 0.01 (lr=100)');
    const shown = await provider.getChildren(sweepNode);
    assert.equal(shown.length, 51);
    assert.deepEqual(
      shown.slice(0, 50).map((n) => n.kind),
      Array(50).fill('run'),
    );
    const more = shown[50]!;
    const moreItem = provider.getTreeItem(more);
    assert.equal(moreItem.label, 'show 70 more');
    assert.equal(moreItem.collapsibleState, 1);
    const rest = await provider.getChildren(more);
    const ids = [...shown.slice(0, 50), ...rest].map((n) => (n.kind === 'run' ? n.run.id : '?'));
    assert.equal(rest.length, 70);
    assert.equal(new Set(ids).size, 120, 'every point once');
  });

  it('sorts the points by start when mlContainers.runs.sweepOrder says so', async () => {
    runs = sweep(12, 10);
    record.config['mlContainers.runs.sweepOrder'] = 'start';
    const [sweepNode] = await imageChildren();
    const points = (await provider.getChildren(sweepNode)).map((n) => provider.getTreeItem(n).label);
    assert.deepEqual(points, ['lr=9', 'lr=8', 'lr=7', 'lr=6', 'lr=5', 'lr=4', 'lr=3', 'lr=2', 'lr=1', 'lr=0']);
  });
});

describe('Resume Sweep on a stopped sweep (fake vscode, a plan on disk)', () => {
  let uninstall: () => void;
  let dir: string;

  beforeEach(() => {
    uninstall = installFakeVscode().uninstall;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-resume-sweep-'));
  });

  afterEach(() => {
    uninstall();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('clears the stop that Stop Sweep left, and hands the points that never started to the scheduler', async () => {
    const id = '20261205-060000-ab12';
    const points = [1, 2, 3].map((i) => ({ runId: `${id}-${i}`, text: `seed: ${i}\n`, index: i, params: { seed: i } }));
    fs.mkdirSync(path.join(dir, PLANS_DIR), { recursive: true });
    fs.writeFileSync(
      path.join(dir, PLANS_DIR, `${id}.json`),
      JSON.stringify({ id, image: { id: IMAGE.id }, config: { name: 'three.yaml' }, command: ['true'], points }),
    );
    // Point 1 ran and was stopped with its sweep: the marker makes the scheduler start no further point.
    const stopped: RunRecord = {
      ...startedRecord(`${id}-1`, { image, params: { seed: 1 }, sweep: { id, index: 1, size: 3 } }),
      status: 'cancelled',
    };
    await appendRun(dir, stopped);
    await markSweepStopped(dir, id);

    const scheduled: ExperimentPlan[] = [];
    const services = {
      scheduler: (plan: ExperimentPlan) => (scheduled.push(plan), { exited: new Promise<number>(() => undefined), logFile: 'x.log' }),
      images: { scheduleRefresh: () => undefined },
      log: silentLogger('x'),
    } as unknown as Services;
    const { resumeSweepCommand } = loadFresh<typeof Sweeps>('src/vscode/commands/sweeps');
    await resumeSweepCommand(services, { kind: 'sweep', folder: dir, sweep: { id, runs: [stopped] } });

    assert.equal(await sweepStopped(dir, id), false, 'the stop marker is still there: the scheduler would start nothing');
    assert.deepEqual(
      scheduled.map((p) => p.id),
      [id],
    );
  });
});
