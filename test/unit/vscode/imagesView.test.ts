import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Engine, ImageSummary } from '../../../src/core/docker/engine';
import { executePlan } from '../../../src/core/run/experiment';
import { appendRun, readRuns } from '../../../src/core/run/records';
import type { ExperimentPlan } from '../../../src/core/run/plan';
import { planExperiment } from '../../../src/core/run/plan';
import { ExperimentImagesModel } from '../../../src/core/images/model';
import type { GitHistory } from '../../../src/core/provenance/git';
import type * as ImageActions from '../../../src/vscode/commands/imageActions';
import type * as Runs from '../../../src/vscode/commands/runs';
import { schedulerLaunch } from '../../../src/core/run/detach';
import { submitToSlurm } from '../../../src/core/backends/slurm/submit';
import type { RunScheduler } from '../../../src/vscode/runScheduler';
import type { Services } from '../../../src/vscode/services';
import type * as Provider from '../../../src/vscode/tree/provider';
import type { FakeVscodeRecord } from '../../helpers/fakeVscode';
import { installFakeVscode, loadFresh, workspaceImagesOf } from '../../helpers/fakeVscode';
import { imageDetails } from '../../helpers/images';
import { recordingLogger, silentLogger } from '../../helpers/logger';
import { until } from '../../helpers/wait';

/** These waits span a scheduler and its runs on the fake engine: longer than one call, under the tier's 10 s. */
const SLOW = 8_000;
import { FakeEngine } from '../fakes/engine';
import { FakeSlurm, task } from '../fakes/slurm';
import type { RunBackend } from '../../../src/core/backends/backend';
import { createSlurmBackend } from '../../../src/core/backends/slurm/backend';

const C1 = '1'.repeat(40);
const C2 = '2'.repeat(40);
// One time for every image, so that images made in the same test sort in the order they were made.
const CREATED = Math.floor(Date.now() / 1000) - 120;
const image = (id: string, tag: string, sha: string, dirty = false): ImageSummary => ({
  id: `sha256:${id.repeat(64).slice(0, 64)}`,
  repoTags: [tag],
  created: CREATED,
  size: 1.5e9,
  labels: {
    'org.mlcontainers.managed': 'true',
    'org.opencontainers.image.revision': sha,
    'org.mlcontainers.dirty': String(dirty),
    'org.mlcontainers.preset': 'pytorch',
    'org.mlcontainers.variant': 'gpu',
  },
});

describe('Experiment Images view (fake vscode over the real model)', () => {
  let uninstall: () => void;
  let record: FakeVscodeRecord;
  let engine: FakeEngine;
  let model: ExperimentImagesModel;
  let provider: Provider.ImagesTreeProvider;
  let head = C2;

  beforeEach(() => {
    const fake = installFakeVscode();
    record = fake.record;
    uninstall = fake.uninstall;
    const { ImagesTreeProvider } = loadFresh<typeof Provider>('src/vscode/tree/provider');
    engine = new FakeEngine();
    engine.imageList = [image('a', 'dimuon:1111111', C1), image('b', 'dimuon:1111111-dirty', C1, true)];
    head = C2;
    const history = (): GitHistory => ({
      head,
      branchOrder: [C2, C1],
      commits: new Map([
        [C2, { sha: C2, subject: 'tune lr', author: 'Ada', date: new Date().toISOString() }],
        [C1, { sha: C1, subject: 'first', author: 'Ada', date: new Date().toISOString() }],
      ]),
    });
    model = new ExperimentImagesModel({
      engine: () => engine,
      git: { history: async () => history() },
      folder: () => '/w',
      trusted: () => record.trusted,
      projectRepo: async () => 'dimuon',
      log: silentLogger('x'),
    });
    provider = new ImagesTreeProvider(workspaceImagesOf({ ['/w']: model }));
  });

  afterEach(() => {
    provider.dispose();
    model.dispose();
    uninstall();
  });

  it('shows "HEAD: no image yet — Build" above the commits that have images', async () => {
    const roots = await provider.getChildren();
    assert.deepEqual(
      roots.map((n) => n.kind),
      ['head', 'commit'],
    );
    const headItem = provider.getTreeItem(roots[0]!);
    assert.equal(headItem.label, 'HEAD 2222222: no image yet — Build');
    assert.equal(headItem.command?.command, 'mlContainers.images.build');
    const commit = provider.getTreeItem(roots[1]!);
    assert.equal(commit.label, '1111111  first');
    assert.equal(commit.contextValue, 'commitGroup;onBranch;commit;');
    const images = await provider.getChildren(roots[1]);
    const items = images.map((n) => provider.getTreeItem(n));
    assert.deepEqual(
      items.map((i) => i.label),
      ['dimuon:1111111', 'dimuon:1111111-dirty'],
    );
    // CREATED is two minutes before this file loaded; a slow run of the tier reaches this line minutes later.
    const age = Math.floor((Date.now() / 1000 - CREATED) / 60);
    assert.match(String(items[1]?.description), new RegExp(`^dirty · 1\\.5 GB · (${age}|${age - 1})m ago$`));
    assert.equal(items[1]?.contextValue, 'image;dirty;commit;');
    assert.ok(record.executed.includes('setContext'));
  });

  it('opens an image row once a container runs in it (a new id, since VS Code keeps collapsed state by id)', async () => {
    const [, commit] = await provider.getChildren();
    const [first] = await provider.getChildren(commit);
    assert.ok(first?.kind === 'image');
    const idle = provider.getTreeItem(first);
    assert.equal(idle.collapsibleState, 0);
    const container = {
      id: 'c1',
      name: 'mlc-jupyter-1',
      role: 'jupyter',
      state: 'running',
      status: 'Up 1 second',
      jupyterUrl: 'http://127.0.0.1:49153',
    };
    const running = provider.getTreeItem({ ...first, node: { ...first.node, containers: [container as never] } });
    assert.equal(running.collapsibleState, 2);
    assert.notEqual(running.id, idle.id);
  });

  it('builds the Markdown tooltip on hover: preset, commit, labels', async () => {
    const [, commit] = await provider.getChildren();
    const [first] = await provider.getChildren(commit);
    const item = await provider.resolveTreeItem(provider.getTreeItem(first!), first!);
    const md = (item.tooltip as { value: string }).value;
    assert.match(md, /Preset: pytorch \(gpu\)/);
    assert.match(md, /Commit: first — Ada/);
    assert.match(md, /\| `org\.opencontainers\.image\.revision` \| 1{40} \|/);
    assert.match(md, /No environment lock recorded/);
  });

  it('shows nothing (the welcome content) when the engine is down, and says so through the context key', async () => {
    engine.listImages = () => Promise.reject(new Error('down'));
    assert.deepEqual(await provider.getChildren(), []);
    assert.ok(record.executed.filter((c) => c === 'setContext').length >= 1);
  });

  it('refuses to delete an image a container still uses, and asks before deleting otherwise', async () => {
    const actions = loadFresh<typeof ImageActions>('src/vscode/commands/imageActions');
    const [, commit] = await provider.getChildren();
    const [node] = await provider.getChildren(commit);
    if (node?.kind !== 'image') throw new Error('no image node');
    const services = { engines: { get: () => engine }, images: model } as unknown as Services;
    const used = {
      ...node,
      node: {
        ...node.node,
        containers: [{ id: 'c', name: 'dimuon-1111111-jupyter', state: 'running', status: 'Up', role: 'jupyter', jupyterUrl: undefined }],
      },
    };
    await assert.rejects(actions.deleteImageCommand(services, used), /is used by dimuon-1111111-jupyter: stop and remove it first/);
    await actions.deleteImageCommand(services, node);
    assert.ok(!engine.calls.includes('removeImage'), 'deleted without a confirmation');
    record.answers.push('Delete');
    await actions.deleteImageCommand(services, node);
    assert.ok(engine.calls.includes('removeImage'));
  });
});

describe('runs in the Experiment Images view and "Run Experiment…" (fake vscode, fake engine)', () => {
  let uninstall: () => void;
  let record: FakeVscodeRecord;
  let engine: FakeEngine;
  let dir: string;
  const IMAGE_ID = `sha256:${'a'.repeat(64)}`;
  const scheduled: ExperimentPlan[] = [];
  const lines: string[] = [];

  beforeEach(() => {
    const fake = installFakeVscode();
    record = fake.record;
    uninstall = fake.uninstall;
    scheduled.length = 0;
    lines.length = 0;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-view-runs-'));
    fs.mkdirSync(path.join(dir, 'configs'));
    fs.writeFileSync(path.join(dir, 'configs', 'exp.yaml'), 'lr: [0.1, 0.01]\nepochs: 1\n');
    (fake.module.workspace as { workspaceFolders: unknown[] }).workspaceFolders = [{ uri: { fsPath: dir }, name: 'dimuon', index: 0 }];
    engine = new FakeEngine();
    engine.imageList = [{ ...image('a', 'dimuon:1111111', C1), id: IMAGE_ID }];
    engine.images.set(
      'dimuon:1111111',
      imageDetails({ id: IMAGE_ID, repoTags: ['dimuon:1111111'], labels: engine.imageList[0]!.labels, created: '' }),
    );
  });

  afterEach(() => uninstall());

  /**
   * Runs that go on until stopped, as a long training does: their output does not end while their container runs,
   * for the scheduler and for any follower.
   */
  const longRuns = (): void => {
    const followers = new Map<string, (() => void)[]>();
    const fake: Engine = engine;
    fake.followLogs = async (id, onOutput, signal) => {
      onOutput(Buffer.from('epoch 1\n'), 'stdout');
      if (!engine.containers.get(id)?.running) return;
      await new Promise<void>((resolve) => {
        followers.set(id, [...(followers.get(id) ?? []), resolve]);
        signal?.addEventListener('abort', () => resolve(), { once: true });
      });
    };
    // Waiting for such a container returns when it is stopped, as the engine's wait does.
    const wait = fake.waitContainer.bind(engine);
    fake.waitContainer = async (id, signal) => {
      if (engine.containers.get(id)?.running) {
        await new Promise<void>((resolve) => {
          followers.set(id, [...(followers.get(id) ?? []), resolve]);
          signal?.addEventListener('abort', () => resolve(), { once: true });
        });
      }
      return wait(id);
    };
    const stop = fake.stopContainer.bind(engine);
    fake.stopContainer = async (id, timeout) => {
      await stop(id, timeout);
      for (const resolve of followers.get(id) ?? []) resolve();
    };
  };
  const runningContainers = (): number => [...engine.containers.values()].filter((c) => c.running).length;

  /** The last in-process scheduler's end. */
  let schedulerExit: Promise<number> = Promise.resolve(0);
  /** What the detached `mlc run --resume` does with a plan, done in this process against the fake engine. */
  const inProcess: RunScheduler = (plan) => {
    schedulerExit = executePlan({
      engine,
      plan,
      log: silentLogger('scheduler'),
      probe: () => Promise.resolve({ kind: 'notInstalled' }),
    }).then(
      () => 0,
      () => 1,
    );
    return { exited: schedulerExit, logFile: path.join(dir, '.mlcontainers', 'sweeps', `${plan.id}.log`) };
  };
  const services = (model: ExperimentImagesModel, scheduler: RunScheduler = inProcess, sbatchOnPath = false): Services =>
    ({
      engines: { get: () => engine },
      images: model,
      git: { info: async () => ({ sha: C1, dirty: false }) },
      log: recordingLogger(lines, 'x'),
      templatesDir: '/nonexistent',
      scheduler: ((plan, env, o) => (scheduled.push(plan), scheduler(plan, env, o))) satisfies RunScheduler,
      backends: () => [{ ...createSlurmBackend(() => new FakeSlurm()), available: async () => sbatchOnPath }],
      devcontainers: { choose: async () => ({}), remembered: async () => undefined },
    }) as unknown as Services;

  it('offers Slurm where sbatch is on PATH: the plan goes to the scheduler with --on slurm and its runs are listed under the image, pending', async () => {
    const { ImagesTreeProvider } = loadFresh<typeof Provider>('src/vscode/tree/provider');
    const runsCommands = loadFresh<typeof Runs>('src/vscode/commands/runs');
    const slurm = new FakeSlurm();
    // squeue holds both tasks, waiting: the view asks Slurm (through its backend) and shows them pending.
    slurm.queued = [task('41', 1, 'PENDING'), task('41', 2, 'PENDING')];
    const m = model(() => [createSlurmBackend(() => slurm)]);
    const provider = new ImagesTreeProvider(workspaceImagesOf({ [dir]: m }));
    const launches: string[][] = [];
    /** What the detached `mlc run --resume ID --on slurm` does with the plan, against a fake Slurm. */
    const submitting: RunScheduler = (plan, _env, o) => {
      launches.push(
        schedulerLaunch({ nodePath: 'node', cliPath: 'cli.js', planId: plan.id, workspace: dir, ...(o?.on ? { on: o.on } : {}), env: {} })
          .args,
      );
      const exited = engine
        .inspectImage(plan.image.id)
        .then((details) => submitToSlurm({ plan, image: details!, slurm, options: {}, recorder: { node: 'node', cli: 'cli.js' } }))
        .then(() => 0);
      return { exited, logFile: path.join(dir, '.mlcontainers', 'sweeps', `${plan.id}.log`) };
    };
    record.files = [path.join(dir, 'configs', 'exp.yaml')];
    record.answers.push('configs/exp.yaml', 'Slurm');
    record.quickInputScript.push({ type: 'python train.py' });
    await runsCommands.runExperimentCommand(services(m, submitting, true), {
      kind: 'image',
      node: { name: 'dimuon:1111111', image: { repoTags: ['dimuon:1111111'], id: IMAGE_ID } },
    });

    assert.equal(launches.length, 1);
    assert.deepEqual(launches[0]!.slice(1, 3), ['run', '--resume']);
    assert.deepEqual(launches[0]!.slice(-2), ['--on', 'slurm']);
    assert.equal(slurm.submitted.length, 1, 'one array job');
    assert.equal(record.ptyOutput.length, 0, 'no terminal follows a Slurm job');
    assert.match(record.messages.at(-1)?.text ?? '', /Sweep \S+: 2 runs submitted to Slurm/);
    assert.equal(engine.requests.size, 0, 'nothing ran on the engine');
    const [commit] = await provider.getChildren();
    const [imageNode] = await provider.getChildren(commit);
    // One row per run: the sweep's node holds its points, and no task container is listed beside them.
    const [sweepNode, ...others] = await provider.getChildren(imageNode);
    assert.equal(sweepNode?.kind, 'sweep');
    assert.deepEqual(others, []);
    assert.match(String(provider.getTreeItem(sweepNode!).description), /^2 points · 2 pending$/);
    const items = (await provider.getChildren(sweepNode)).map((n) => provider.getTreeItem(n));
    assert.deepEqual(items.map((i) => i.label).sort(), ['lr=0.01', 'lr=0.1']);
    for (const item of items) assert.match(String(item.contextValue), /^run;running;/);
    for (const item of items) assert.match(String(item.description), /^pending · /, 'Slurm has not started them');
    // One ran over its --time: Slurm's word for it, as `mlc runs` prints it, not an exit code it never had.
    const [first] = (await readRuns(dir)).runs.filter((r) => r.backend === 'slurm');
    await appendRun(dir, {
      ...first!,
      status: 'failed',
      end: new Date().toISOString(),
      job: { id: first!.job!.id, state: 'TIMEOUT' },
      endedBy: 'timeout',
    });
    m.refresh();
    const [commitAgain] = await provider.getChildren();
    const [imageAgain] = await provider.getChildren(commitAgain);
    const [sweepAgain] = await provider.getChildren(imageAgain);
    assert.match(String(provider.getTreeItem(sweepAgain!).description), /^2 points · 1 failed · 1 pending$/);
    const descriptions = (await provider.getChildren(sweepAgain)).map((n) => String(provider.getTreeItem(n).description));
    assert.deepEqual(descriptions.map((d) => d.split(' · ')[0]).sort(), ['pending', 'timeout']);
    provider.dispose();
    m.dispose();
  });

  it('runs a sweep from the palette: config and command asked, the plan handed to the scheduler, its runs followed in a terminal and listed under the image', async () => {
    const { ImagesTreeProvider } = loadFresh<typeof Provider>('src/vscode/tree/provider');
    const runsCommands = loadFresh<typeof Runs>('src/vscode/commands/runs');
    const model = new ExperimentImagesModel({
      engine: () => engine,
      git: { history: async () => ({ head: C1, branchOrder: [C1], commits: new Map() }) },
      folder: () => dir,
      trusted: () => true,
      projectRepo: async () => 'dimuon',
      log: silentLogger('x'),
    });
    const provider = new ImagesTreeProvider(workspaceImagesOf({ [dir]: model }));
    record.files = [path.join(dir, 'configs', 'exp.yaml'), path.join(dir, 'data', 'other.yaml')];
    record.answers.push('configs/exp.yaml');
    record.quickInputScript.push({ type: 'python train.py --epochs "1 2"' });
    engine.runScript = (cmd) => ({ output: `epoch ${cmd.at(-1) ?? ''}\n`, exitCode: 0 });
    await runsCommands.runExperimentCommand(services(model), {
      kind: 'image',
      node: { name: 'dimuon:1111111', image: { repoTags: ['dimuon:1111111'], id: IMAGE_ID } },
    });

    assert.equal(record.quickInputsShown.at(-1)?.value, 'python train.py', 'the first run suggests python train.py');
    assert.equal(scheduled.length, 1);
    assert.deepEqual(
      scheduled[0]?.points.map((p) => p.params),
      [{ lr: 0.1 }, { lr: 0.01 }],
    );
    assert.ok(
      fs.existsSync(path.join(dir, '.mlcontainers', 'sweeps', `${scheduled[0]?.id ?? '?'}.json`)),
      'the plan was not written for the scheduler to read',
    );
    assert.deepEqual(
      [...engine.requests.values()].map((r) => r.Cmd),
      [
        ['python', 'train.py', '--epochs', '1 2'],
        ['python', 'train.py', '--epochs', '1 2'],
      ],
    );
    const out = record.ptyOutput.join('');
    assert.match(out, /\[1\/2\] epoch 1 2\r\n/);
    assert.match(out, /\[2\/2\] run \S+: succeeded \(exit 0\)/);
    assert.match(record.messages.at(-1)?.text ?? '', /Sweep: 2 of 2 runs succeeded/);

    const [commit] = await provider.getChildren();
    const [imageNode] = await provider.getChildren(commit);
    const imageItem = provider.getTreeItem(imageNode!);
    assert.match(String(imageItem.description), /2 runs/);
    assert.match(String(imageItem.contextValue), /hasRuns;/);
    const [sweepNode, ...others] = await provider.getChildren(imageNode);
    assert.equal(sweepNode?.kind, 'sweep');
    assert.deepEqual(others, [], "the sweep's points are under its node, not beside it");
    assert.equal(provider.getTreeItem(sweepNode!).contextValue, 'sweep;');
    const runs = await provider.getChildren(sweepNode);
    assert.deepEqual(
      runs.map((n) => n.kind),
      ['run', 'run'],
    );
    const items = runs.map((n) => provider.getTreeItem(n));
    assert.deepEqual(items.map((i) => i.label).sort(), ['lr=0.01', 'lr=0.1']);
    assert.match(String(items[0]?.description), /^ok · /);
    assert.equal(items[0]?.contextValue, 'run;succeeded;sweep;');
    assert.match((items[0]?.tooltip as { value: string }).value, /python train\.py --epochs 1 2/);
    // A click goes through Show Output, which opens output.log only when it is the run's own plain file.
    assert.equal(items[0]?.command?.command, 'mlContainers.runs.showOutput');
    const clicked = items[0]?.command?.arguments?.[0] as { kind: string; run: { log: string }; folder: string };
    assert.equal(clicked.kind, 'run');
    assert.ok(fs.existsSync(path.join(clicked.folder, clicked.run.log)), 'a click opens the run output');

    // A second run of the same config suggests the command it ran last, quoted back.
    record.answers.push('configs/exp.yaml');
    await runsCommands.runExperimentCommand(services(model));
    assert.equal(record.quickInputsShown.at(-1)?.value, `python train.py --epochs '1 2'`);
    provider.dispose();
    model.dispose();
  });

  it('refuses to run in Restricted Mode, before asking anything', async () => {
    const runsCommands = loadFresh<typeof Runs>('src/vscode/commands/runs');
    record.trusted = false;
    await assert.rejects(runsCommands.runExperimentCommand({} as Services), /runs nothing in Restricted Mode/);
    assert.equal(record.quickInputsShown.length, 0);
    assert.equal(engine.calls.length, 0);
  });

  /** `backends`: the run backends the view asks about their open runs (none: the records alone). */
  const model = (backends: () => readonly RunBackend[] = () => []): ExperimentImagesModel =>
    new ExperimentImagesModel({
      engine: () => engine,
      git: { history: async () => ({ head: C1, branchOrder: [C1], commits: new Map() }) },
      folder: () => dir,
      trusted: () => true,
      projectRepo: async () => 'dimuon',
      log: silentLogger('x'),
      backends,
    });

  /** Run Experiment of the two-point sweep, left following until its terminal is closed. */
  const startLongSweep = async (m: ExperimentImagesModel): Promise<{ done: Promise<void> }> => {
    const runsCommands = loadFresh<typeof Runs>('src/vscode/commands/runs');
    longRuns();
    record.files = [path.join(dir, 'configs', 'exp.yaml')];
    record.answers.push('configs/exp.yaml');
    record.quickInputScript.push({ type: 'python train.py' });
    const done = runsCommands.runExperimentCommand(services(m), {
      kind: 'image',
      node: { name: 'dimuon:1111111', image: { repoTags: ['dimuon:1111111'], id: IMAGE_ID } },
    });
    await until(
      () => runningContainers() === 1 && record.ptyOutput.join('').includes('[1/2] epoch 1'),
      "the sweep's first point to run and its terminal to show [1/2] epoch 1",
      SLOW,
    );
    return { done };
  };

  /** Starts the long sweep, closes its terminal, answers the question, and waits until the answer was acted on. */
  const closeWith = async (answer: string, acted: RegExp): Promise<ExperimentImagesModel> => {
    const m = model();
    const { done } = await startLongSweep(m);
    record.answers.push(answer);
    record.closeTerminal();
    await done;
    await until(
      () => lines.some((l) => acted.test(l)),
      () => `a log line matching ${String(acted)}`,
      SLOW,
    );
    return m;
  };

  it('closing the terminal of running runs asks; "Leave them running" stops nothing', async () => {
    const m = await closeWith('Leave them running', /left running in the background/);
    const asked = record.messages.at(-1);
    assert.match(asked?.text ?? '', /^Sweep \S+ is still running\.$/);
    assert.deepEqual(asked?.buttons, ['Leave them running', 'Stop the runs']);
    assert.equal(runningContainers(), 1);
    assert.ok(!engine.calls.includes('stopContainer'));
    const plan = scheduled[0]!;
    assert.ok(!fs.existsSync(path.join(dir, '.mlcontainers', 'sweeps', `${plan.id}.stop`)), 'the sweep was told to stop');
    assert.deepEqual(
      (await readRuns(dir)).runs.map((r) => r.status),
      ['running'],
    );
    m.dispose();
  });

  it('closing the terminal of running runs with "Stop the runs": the running one is cancelled, the sweep starts no further point', async () => {
    const m = await closeWith('Stop the runs', /stopped 1 run\(s\)/);
    const plan = scheduled[0]!;
    assert.ok(fs.existsSync(path.join(dir, '.mlcontainers', 'sweeps', `${plan.id}.stop`)));
    assert.equal(runningContainers(), 0);
    // The scheduler saw the stop: it ends without starting the second point.
    await schedulerExit;
    assert.deepEqual(
      (await readRuns(dir)).runs.map((r) => [r.id, r.status]),
      [[plan.points[0]!.runId, 'cancelled']],
    );
    m.dispose();
  });

  it('Show Output on a running run follows its container in a terminal; Stop Run stops it as cancelled', async () => {
    const m = model();
    const { ImagesTreeProvider } = loadFresh<typeof Provider>('src/vscode/tree/provider');
    const provider = new ImagesTreeProvider(workspaceImagesOf({ [dir]: m }));
    const { done } = await startLongSweep(m);
    const closeSweepTerminal = record.closeTerminal;
    const runsCommands = loadFresh<typeof Runs>('src/vscode/commands/runs');
    const [commit] = await provider.getChildren();
    const [imageNode] = await provider.getChildren(commit);
    const [sweepNode] = await provider.getChildren(imageNode);
    const runRow = (await provider.getChildren(sweepNode)).find((n) => n.kind === 'run');
    assert.ok(runRow?.kind === 'run');
    assert.equal(provider.getTreeItem(runRow).contextValue, 'run;running;sweep;');

    record.ptyOutput.length = 0;
    const following = runsCommands.showRunOutputCommand(services(m), runRow);
    await until(() => record.ptyOutput.join('').includes('epoch 1'), 'the terminal to show epoch 1', SLOW);
    assert.equal(record.terminals.at(-1)?.name, `ML Run: ${runRow.run.id}`);
    await runsCommands.stopRunCommand(services(m), runRow);
    await following;
    assert.match(record.ptyOutput.join(''), new RegExp(`run ${runRow.run.id}: cancelled`));
    assert.match(record.messages.at(-1)?.text ?? '', /stopped \(recorded as cancelled\)/);
    assert.equal((await readRuns(dir)).runs.find((r) => r.id === runRow.run.id)?.status, 'cancelled');

    // Its sweep goes on: the scheduler starts the second point.
    await until(
      () => runningContainers() === 1 && engine.calls.filter((c) => c === 'createContainer').length === 2,
      'the second container to be created while one runs',
      SLOW,
    );
    // Ended: Show Output opens its output.log instead.
    const ended = (await readRuns(dir)).runs.find((r) => r.id === runRow.run.id)!;
    await runsCommands.showRunOutputCommand(services(m), { ...runRow, run: ended });
    assert.deepEqual(record.shownDocuments, [path.join(dir, ended.log)]);
    record.answers.push('Stop the runs');
    closeSweepTerminal();
    await done;
    await until(() => lines.some((l) => /stopped 1 run\(s\)/.test(l)), 'the log line "stopped 1 run(s)"', SLOW);
    provider.dispose();
    m.dispose();
  });

  /** A run whose scheduler follows it no more (killed, or this window reloaded): its container then ends alone. */
  const orphanRun = async (): Promise<{ containerId: string; runId: string }> => {
    longRuns();
    const plan = await planExperiment({
      engine,
      workspace: dir,
      config: 'configs/exp.yaml',
      image: 'dimuon:1111111',
      command: ['python', 'train.py'],
      gpu: 'none',
      shmSizeBytes: 1,
      git: { info: async () => undefined },
      log: silentLogger('x'),
    });
    void executePlan({ engine, plan, points: plan.points.slice(0, 1), log: silentLogger('scheduler') });
    await until(() => runningContainers() === 1, 'one container running', SLOW);
    const [containerId, container] = [...engine.containers.entries()][0]!;
    return { containerId, runId: container.labels['org.mlcontainers.run.id']! };
  };
  const exit = (containerId: string, exitCode: number): void =>
    void Object.assign(engine.containers.get(containerId)!, { running: false, status: 'exited', exitCode });

  it("the view finishes a run whose container died while nobody followed it (the engine's die event), then shows it ended", async () => {
    const m = model();
    const { containerId, runId } = await orphanRun();
    await m.getState();
    const watching = m.watch();
    let changed = 0;
    m.onDidChange(() => changed++);
    exit(containerId, 3);
    // What the engine kept of its output; its scheduler wrote only the first line before it stopped following.
    engine.runScript = () => ({ output: 'epoch 1\nepoch 2\nboom\n', exitCode: 3 });
    engine.emit({ type: 'container', action: 'die', id: containerId, time: 1, attributes: engine.containers.get(containerId)!.labels });
    await until(
      async () => (await readRuns(dir)).runs.find((r) => r.id === runId)?.status !== 'running',
      () => `run ${runId}'s final record`,
      SLOW,
    );
    const finished = (await readRuns(dir)).runs.find((r) => r.id === runId);
    assert.deepEqual([finished?.status, finished?.exitCode], ['failed', 3]);
    assert.equal(
      fs.readFileSync(path.join(dir, finished!.log), 'utf8'),
      'epoch 1\nepoch 2\nboom\n',
      'its whole output kept from the engine',
    );
    await until(() => !engine.containers.has(containerId), 'the ended container to be removed', SLOW);
    await until(() => changed > 0, 'the view to change', SLOW);
    watching.dispose();
    m.dispose();
  });

  it('on its first load the view finishes the runs that ended while it was not there (a reload)', async () => {
    const { containerId, runId } = await orphanRun();
    exit(containerId, 0);
    const m = model();
    const state = await m.getState();
    assert.equal(state.kind, 'ready');
    if (state.kind !== 'ready') return;
    assert.deepEqual(
      state.tree.groups[0]?.images[0]?.runs.map((r) => [r.id, r.status]),
      [[runId, 'succeeded']],
    );
    assert.ok(!engine.containers.has(containerId));
    m.dispose();
  });

  it('splits a command like a shell, and refuses pipes and redirections (no shell runs it)', () => {
    const runsCommands = loadFresh<typeof Runs>('src/vscode/commands/runs');
    assert.deepEqual(runsCommands.splitCommand(`python train.py --name 'a b' $HOME`), ['python', 'train.py', '--name', 'a b', '$HOME']);
    assert.throws(
      () => runsCommands.splitCommand('python train.py > out.txt'),
      /without a shell, so ">" means nothing to it: wrap it as sh -c/,
    );
  });
});
