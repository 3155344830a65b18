// A second run backend, written here and registered for this test only, taken through the same code as Slurm:
// VS Code's Run Experiment sends a 2-point sweep to it, the Experiment Images view lists its runs pending then
// running then ended, and `mlc runs`, `mlc logs -f` and `mlc stop` follow them. No file of src/ names it.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BackendContext, BatchBackend, SubmitInput, Submission } from '../../../../src/core/backends/backend';
import { batchBackends, findBackend, registerBackend } from '../../../../src/core/backends/index';
import { ExperimentImagesModel } from '../../../../src/core/images/model';
import { closeRun } from '../../../../src/core/run/lifecycle';
import type { ExperimentPlan } from '../../../../src/core/run/plan';
import type { RunRecord } from '../../../../src/core/run/records';
import { appendRun, readRuns, startRecord } from '../../../../src/core/run/records';
import { ensureRunFolder, runFolder } from '../../../../src/core/run/runFolder';
import type * as Runs from '../../../../src/vscode/commands/runs';
import type { RunScheduler } from '../../../../src/vscode/runScheduler';
import type { Services } from '../../../../src/vscode/services';
import type * as Provider from '../../../../src/vscode/tree/provider';
import type { FakeVscodeRecord } from '../../../helpers/fakeVscode';
import { installFakeVscode, loadFresh, workspaceImagesOf } from '../../../helpers/fakeVscode';
import { mlcInProcess } from '../../../helpers/cli';
import { imageDetails } from '../../../helpers/images';
import { silentLogger } from '../../../helpers/logger';
import { FakeEngine } from '../../fakes/engine';

type JobState = 'QUEUED' | 'RUNNING' | 'DONE' | 'PREEMPTED' | 'CANCELLED';

/** A batch system in this process: jobs wait until the test starts them, and end as it says. */
class FakeQueue implements BatchBackend {
  readonly id = 'fakequeue';
  readonly title = 'Fake Queue';
  readonly description = 'jobs held by this test';
  readonly flags = {
    options: { 'queue-name': { type: 'string' as const } },
    help: '  --queue-name Q  the fake queue',
    parse: (v: Readonly<Record<string, unknown>>) => ({ queue: v['queue-name'] }),
  };
  readonly jobs = new Map<string, { runId: string; state: JobState; exit: number | null }>();
  workspace = '';

  async available(): Promise<boolean> {
    return true;
  }

  async submit(plan: ExperimentPlan, _o: SubmitInput): Promise<Submission> {
    this.workspace = plan.workspace;
    for (const point of plan.points) {
      const job = `F${point.index + 1}`;
      this.jobs.set(job, { runId: point.runId, state: 'QUEUED', exit: null });
      await ensureRunFolder(plan.workspace, point.runId);
      await appendRun(
        plan.workspace,
        startRecord({
          plan,
          point,
          start: new Date().toISOString(),
          gpus: 'none',
          env: [],
          container: job,
          submitted: { backend: this.id, job: { id: job, state: 'QUEUED', queued: true } },
        }),
      );
    }
    return { runs: plan.points.map((p) => p.runId), job: 'F' };
  }

  /** The job starts: its record says running, as a batch script's first line would write it. */
  async start(job: string, output: string): Promise<void> {
    const j = this.jobs.get(job)!;
    j.state = 'RUNNING';
    const started = (await readRuns(this.workspace)).runs.find((r) => r.id === j.runId)!;
    fs.writeFileSync(path.join(runFolder(this.workspace, j.runId), 'output.log'), output);
    await appendRun(this.workspace, { ...started, job: { id: job, state: 'RUNNING' } });
  }

  end(job: string, state: JobState, exit: number | null = null): void {
    Object.assign(this.jobs.get(job)!, { state, exit });
  }

  async reconcile(records: readonly RunRecord[], o: BackendContext): Promise<boolean> {
    let changed = false;
    for (const r of records) {
      const j = this.jobs.get(r.job?.id ?? '');
      if (!j || j.state === 'QUEUED' || j.state === 'RUNNING') continue;
      const status = j.state === 'CANCELLED' ? 'cancelled' : j.state === 'DONE' && j.exit === 0 ? 'succeeded' : 'failed';
      await closeRun({
        workspace: o.workspace,
        started: r,
        log: o.log,
        outcome: {
          status,
          exitCode: j.exit,
          end: new Date().toISOString(),
          job: { id: r.job!.id, state: j.state },
          ...(j.state === 'PREEMPTED' ? { endedBy: 'preempted' } : {}),
        },
      });
      changed = true;
    }
    return changed;
  }

  async stop(target: string, o: BackendContext): Promise<string[]> {
    const open = (await readRuns(o.workspace)).runs.filter(
      (r) => r.backend === this.id && r.status === 'running' && (r.id === target || r.sweep?.id === target),
    );
    for (const r of open) this.end(r.job!.id, 'CANCELLED');
    await this.reconcile(open, o);
    return open.map((r) => r.id);
  }

  async isLive(record: RunRecord): Promise<boolean> {
    const state = this.jobs.get(record.job?.id ?? '')?.state;
    return state === 'QUEUED' || state === 'RUNNING';
  }
}

describe('a run backend added as one folder and one registration (a fake queue, through the CLI and the view)', () => {
  let uninstall: () => void;
  let record: FakeVscodeRecord;
  let dir: string;
  let queue: FakeQueue;
  let registration: { dispose(): void };
  const IMAGE_ID = `sha256:${'a'.repeat(64)}`;
  const C1 = '1'.repeat(40);

  beforeEach(() => {
    const fake = installFakeVscode();
    record = fake.record;
    uninstall = fake.uninstall;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-backend-'));
    fs.mkdirSync(path.join(dir, 'configs'));
    fs.writeFileSync(path.join(dir, 'configs', 'exp.yaml'), 'lr: [0.1, 0.01]\n');
    (fake.module.workspace as { workspaceFolders: unknown[] }).workspaceFolders = [{ uri: { fsPath: dir }, name: 'dimuon', index: 0 }];
    queue = new FakeQueue();
    registration = registerBackend(queue);
  });

  afterEach(() => {
    registration.dispose();
    uninstall();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('Run Experiment sends a 2-point sweep to it; the view and mlc runs/logs/stop follow its jobs to their ends', async () => {
    assert.equal(findBackend('fakequeue'), queue, 'registered');
    const engine = new FakeEngine();
    const labels = { 'org.mlcontainers.managed': 'true', 'org.opencontainers.image.revision': C1, 'org.mlcontainers.dirty': 'false' };
    engine.imageList = [{ id: IMAGE_ID, repoTags: ['dimuon:1111111'], created: Math.floor(Date.now() / 1000), size: 1e9, labels }];
    engine.images.set('dimuon:1111111', imageDetails({ id: IMAGE_ID, repoTags: ['dimuon:1111111'], labels, created: '' }));
    const model = new ExperimentImagesModel({
      engine: () => engine,
      git: { history: async () => ({ head: C1, branchOrder: [C1], commits: new Map() }) },
      folder: () => dir,
      trusted: () => true,
      projectRepo: async () => 'dimuon',
      log: silentLogger('x'),
      // The view's own default: every registered backend, this one among them; offered only where it can take jobs.
      backends: () => batchBackends().filter((b) => b.id === 'fakequeue'),
    });
    // What the detached `mlc run --resume ID --on fakequeue` does with the plan: the backend `--on` names submits it.
    const launched: (string | undefined)[] = [];
    const scheduler: RunScheduler = (plan, _env, o) => {
      launched.push(o?.on);
      const exited = findBackend(o!.on!)!
        .submit(plan, { engine, hostEnv: {}, options: {}, recorder: { node: 'node', cli: 'cli.js' }, log: silentLogger('submit') })
        .then(() => 0);
      return { exited, logFile: path.join(dir, '.mlcontainers', 'sweeps', `${plan.id}.log`) };
    };
    const services = {
      engines: { get: () => engine },
      images: model,
      git: { info: async () => ({ sha: C1, dirty: false }) },
      log: silentLogger('x'),
      templatesDir: '/nonexistent',
      scheduler,
      backends: () => batchBackends().filter((b) => b.id === 'fakequeue'),
      devcontainers: { choose: async () => ({}), remembered: async () => undefined },
    } as unknown as Services;
    const { ImagesTreeProvider } = loadFresh<typeof Provider>('src/vscode/tree/provider');
    const runsCommands = loadFresh<typeof Runs>('src/vscode/commands/runs');
    const provider = new ImagesTreeProvider(workspaceImagesOf({ [dir]: model }));
    const statuses = async (): Promise<string[]> => {
      model.refresh();
      const [commit] = await provider.getChildren();
      const [image] = await provider.getChildren(commit);
      // A sweep's points are under its node; single runs beside it. One row per run: no container among them.
      const rows = [];
      for (const n of await provider.getChildren(image)) rows.push(...(n.kind === 'sweep' ? await provider.getChildren(n) : [n]));
      assert.ok(rows.every((n) => n.kind === 'run'));
      return rows
        .map((n) => provider.getTreeItem(n))
        .sort((a, b) => String(a.label).localeCompare(String(b.label)))
        .map((i) => `${String(i.label)} ${String(i.description).split(' · ')[0]}`);
    };

    record.files = [path.join(dir, 'configs', 'exp.yaml')];
    record.answers.push('configs/exp.yaml', 'Fake Queue');
    record.quickInputScript.push({ type: 'python train.py' });
    await runsCommands.runExperimentCommand(services, {
      kind: 'image',
      node: { name: 'dimuon:1111111', image: { repoTags: ['dimuon:1111111'], id: IMAGE_ID } },
    });
    assert.deepEqual(launched, ['fakequeue']);
    assert.match(record.messages.at(-1)?.text ?? '', /Sweep \S+: 2 runs submitted to Fake Queue/);
    assert.equal(engine.requests.size, 0, 'nothing ran on the engine');
    const runs = (await readRuns(dir)).runs;
    assert.deepEqual(
      runs.map((r) => [r.backend, r.job?.id, r.status]),
      [
        ['fakequeue', 'F1', 'running'],
        ['fakequeue', 'F2', 'running'],
      ],
    );
    assert.deepEqual(await statuses(), ['lr=0.01 pending', 'lr=0.1 pending']);

    // F1 (lr=0.1) starts and writes output; mlc runs says so; mlc logs -f follows it until the queue says it ended.
    await queue.start('F1', 'epoch 1\nepoch 2\n');
    assert.deepEqual(await statuses(), ['lr=0.01 pending', 'lr=0.1 running']);
    const listed = await mlcInProcess(['runs', '--dir', dir]);
    assert.equal(listed.code, 0, listed.err);
    assert.match(listed.out, new RegExp(`${runs[0]!.id}\\s+running\\s`));
    assert.match(listed.out, new RegExp(`${runs[1]!.id}\\s+pending\\s`));
    const following = mlcInProcess(['logs', runs[0]!.id, '-f', '--dir', dir]);
    await new Promise((r) => setTimeout(r, 100));
    queue.end('F1', 'DONE', 0);
    const followed = await following;
    assert.equal(followed.code, 0, followed.err);
    assert.equal(followed.out, 'epoch 1\nepoch 2');
    assert.match(followed.err, new RegExp(`run ${runs[0]!.id} succeeded \\(exit 0\\)`));

    // F2 is stopped through mlc stop of the sweep: the queue cancels it, the record says so.
    const stopped = await mlcInProcess(['stop', runs[0]!.sweep!.id, '--dir', dir]);
    assert.equal(stopped.code, 0, stopped.err);
    assert.equal(stopped.out, runs[1]!.id);
    assert.deepEqual(await statuses(), ['lr=0.01 cancelled', 'lr=0.1 ok']);

    // A job the queue preempted reads in the backend's word, in mlc runs and the view alike.
    await appendRun(dir, { ...runs[1]!, id: 'P-1', sweep: null, params: { lr: 1 }, job: { id: 'F3', state: 'RUNNING' } });
    await ensureRunFolder(dir, 'P-1');
    queue.jobs.set('F3', { runId: 'P-1', state: 'PREEMPTED', exit: null });
    const after = await mlcInProcess(['runs', '--dir', dir]);
    assert.match(after.out, /P-1\s+preempted\s/);
    assert.deepEqual(
      (await statuses()).filter((s) => s.startsWith('lr=1 ')),
      ['lr=1 preempted'],
    );
    provider.dispose();
    model.dispose();
  });

  it('mlc run takes its flags only with --on naming it, and names the backend a stray flag belongs to', async () => {
    const stray = await mlcInProcess(['run', '--queue-name', 'q', '--config', 'c.yaml', '--dir', dir, '--', 'true']);
    assert.equal(stray.code, 2);
    assert.match(stray.err, /--queue-name is for Fake Queue: add --on fakequeue/);
    const unknown = await mlcInProcess(['run', '--on', 'nowhere', '--config', 'c.yaml', '--dir', dir, '--', 'true']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.err, /--on takes .*fakequeue.* not "nowhere"/);
  });
});
