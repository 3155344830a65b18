import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildExperiment } from '../../src/core/build/buildExperiment';
import type { Engine } from '../../src/core/docker/engine';
import { GitCli } from '../../src/core/provenance/git';
import { RUNS_FILE, readRuns } from '../../src/core/run/records';
import { git } from '../helpers/git';
import { silentLogger } from '../helpers/logger';
import { assertBuiltCli, mlc, mlcProcess } from '../helpers/mlc';
import { STANDIN_DEBIAN, requireEngine, requireImage } from './harness';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('runs that outlive their client (real dockerd, mlc from dist/cli.js)', function () {
  let engine: Engine;
  let dir: string;
  const images: string[] = [];

  const runContainers = async (): Promise<{ id: string; running: boolean }[]> =>
    (await engine.listContainers({ labels: [`org.mlcontainers.workspace=${dir}`, 'org.mlcontainers.role=run'], all: true })).map((c) => ({
      id: c.id,
      running: c.state === 'running',
    }));

  /** Waits until `test` holds, polling; fails with `what` after `ms`. */
  const until = async (what: string, test: () => Promise<boolean>, ms = 60_000): Promise<void> => {
    for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(200)) if (await test()) return;
    assert.fail(`timed out waiting for ${what}`);
  };

  before(async function () {
    engine = await requireEngine(this);
    await requireImage(this, engine, STANDIN_DEBIAN);
    assertBuiltCli();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-durable-'));
    fs.mkdirSync(path.join(dir, '.devcontainer'));
    fs.mkdirSync(path.join(dir, 'configs'));
    // Its own image name: another checkout's Docker tier on the same engine must not remove it under this one.
    fs.writeFileSync(
      path.join(dir, '.devcontainer', 'devcontainer.json'),
      `{ "name": "mlc durable runs ${path.basename(dir).slice(-6).toLowerCase()}", "build": { "dockerfile": "Dockerfile", "context": ".." } }\n`,
    );
    fs.writeFileSync(path.join(dir, '.devcontainer', 'Dockerfile'), `FROM ${STANDIN_DEBIAN}\nCOPY . /workspace\n`);
    fs.writeFileSync(path.join(dir, 'configs', 'one.yaml'), 'lr: 0.1\n');
    fs.writeFileSync(path.join(dir, 'configs', 'four.yaml'), 'seed: [1, 2, 3, 4]\n');
    fs.writeFileSync(path.join(dir, 'configs', 'fifty.yaml'), `seed: [${Array.from({ length: 50 }, (_, i) => i).join(', ')}]\n`);
    fs.writeFileSync(path.join(dir, '.gitignore'), '.mlcontainers/\n');
    git(dir, 'init', '-q', '-b', 'main');
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'durable');
    const built = await buildExperiment({ folder: dir, engine, git: new GitCli(), log: silentLogger('build'), lock: false });
    images.push(...built.tags);
  });

  after(async () => {
    for (const c of await runContainers().catch(() => [])) await engine.removeContainer(c.id, { force: true }).catch(() => undefined);
    for (const ref of images) await engine.removeImage(ref, { force: true }).catch(() => undefined);
  });

  it('kill -9 of `mlc run`: the container runs on; `mlc runs` then records it succeeded, with its whole output, and removes it', async () => {
    const script = 'for i in 1 2 3 4 5 6 7 8; do echo "step $i"; sleep 1; done';
    const child = mlcProcess(['run', '--config', 'configs/one.yaml', '--gpu', 'none', '--', 'sh', '-c', script], { cwd: dir });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    await until('the run to print step 2', async () => out.includes('step 2'));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    const [container] = await runContainers();
    assert.ok(container?.running, 'the container stopped with its client');
    const { runs } = await readRuns(dir);
    assert.equal(runs.at(-1)?.status, 'running', 'the start was not on record');

    await until('the container to end', async () => !(await runContainers())[0]?.running, 30_000);
    const listed = await mlc(['runs'], { cwd: dir });
    assert.equal(listed.code, 0, listed.stderr);
    const record = (await readRuns(dir)).runs.at(-1);
    assert.equal(record?.status, 'succeeded');
    assert.equal(record?.exitCode, 0);
    assert.ok(record?.end, 'no end time');
    assert.equal(
      fs.readFileSync(path.join(dir, record?.log ?? '?'), 'utf8'),
      Array.from({ length: 8 }, (_, i) => `step ${i + 1}\n`).join(''),
    );
    assert.deepEqual(await runContainers(), [], 'the container was left behind');
    assert.match(listed.stdout, new RegExp(`${record?.id ?? '?'}\\s+ok`));
  });

  it('--detach returns with the run id; `mlc logs -f` streams it; `mlc stop` records it cancelled', async () => {
    const detached = await mlc(
      ['run', '--detach', '--config', 'configs/one.yaml', '--gpu', 'none', '--', 'sh', '-c', 'echo ready; sleep 120'],
      { cwd: dir, timeoutMs: 120_000 },
    );
    assert.equal(detached.code, 0, detached.stderr);
    const id = detached.stdout.trim();
    assert.match(id, /^\d{8}-\d{6}-[0-9a-f]{4}$/);
    await until('the detached run to start', async () => (await runContainers()).some((c) => c.running));
    const listed = await mlc(['runs'], { cwd: dir });
    assert.match(listed.stdout, new RegExp(`${id}\\s+running`), 'mlc runs does not show it running');

    const follower = mlcProcess(['logs', id, '-f'], { cwd: dir });
    let followed = '';
    follower.stdout?.on('data', (d: Buffer) => (followed += d.toString()));
    const followerExit = new Promise<number>((resolve) => follower.on('exit', (code) => resolve(code ?? -1)));
    await until('logs -f to print the output', async () => followed.includes('ready'));

    const stopped = await mlc(['stop', id], { cwd: dir, timeoutMs: 60_000 });
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.equal(stopped.stdout.trim(), id);
    assert.equal(await followerExit, 0, 'logs -f did not end with the run');
    const record = (await readRuns(dir)).runs.find((r) => r.id === id);
    assert.equal(record?.status, 'cancelled');
    assert.equal(fs.readFileSync(path.join(dir, record?.log ?? '?'), 'utf8'), 'ready\n');
    assert.deepEqual(await runContainers(), []);
  });

  it('a sweep whose client is killed during point 2: --resume runs points 3 and 4 only, and point 2 is recorded once', async () => {
    const child = mlcProcess(
      ['run', '--config', 'configs/four.yaml', '--parallel', '1', '--gpu', 'none', '--', 'sh', '-c', 'echo "seed in $MLC_RUN_ID"; sleep 4'],
      { cwd: dir },
    );
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    await until('point 2 to start', async () => out.includes('[2/4]'), 60_000);
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    const sweep = /^\[2\/4\] seed in (\S+)-2$/m.exec(out)?.[1];
    assert.ok(sweep, `no sweep id in: ${out}`);

    const resumed = await mlc(['run', '--resume', sweep], { cwd: dir, timeoutMs: 120_000 });
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, /resuming 2 of 4 points/);
    assert.doesNotMatch(resumed.stdout, /seed in \S+-[12]$/m, 'a point ran again');
    await until('point 2 to end', async () => !(await runContainers()).some((c) => c.running), 30_000);
    assert.equal((await mlc(['runs'], { cwd: dir })).code, 0);

    const lines = fs
      .readFileSync(path.join(dir, RUNS_FILE), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; status: string });
    const mine = lines.filter((l) => l.id.startsWith(`${sweep}-`));
    for (const point of [1, 2, 3, 4]) {
      const id: string = `${sweep}-${point}`;
      assert.equal(
        mine.filter((l) => l.id === id && l.status !== 'running').length,
        1,
        `point ${point} has ${mine.filter((l) => l.id === id).length} lines`,
      );
    }
    const records = (await readRuns(dir)).runs.filter((r) => r.sweep?.id === sweep);
    assert.deepEqual(
      records.map((r) => r.status),
      ['succeeded', 'succeeded', 'succeeded', 'succeeded'],
    );
  });

  it('100 short runs from two concurrent `mlc run`s: 100 well-formed records, each finished once', async () => {
    const before = new Set((await readRuns(dir)).runs.map((r) => r.id));
    const [a, b] = await Promise.all(
      [0, 1].map(() =>
        mlc(['run', '--config', 'configs/fifty.yaml', '--parallel', '4', '--gpu', 'none', '--', 'true'], { cwd: dir, timeoutMs: 600_000 }),
      ),
    );
    assert.equal(a?.code, 0, a?.stderr);
    assert.equal(b?.code, 0, b?.stderr);
    const text = fs.readFileSync(path.join(dir, RUNS_FILE), 'utf8');
    assert.ok(text.endsWith('\n'));
    const lines = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; status: string });
    const fresh = lines.filter((l) => !before.has(l.id));
    const finals = fresh.filter((l) => l.status !== 'running');
    assert.equal(finals.length, 100);
    assert.equal(new Set(finals.map((l) => l.id)).size, 100, 'a run was finished twice');
    const { runs, skipped } = await readRuns(dir);
    assert.equal(skipped, 0, 'a line was torn');
    assert.equal(runs.filter((r) => !before.has(r.id) && r.status === 'succeeded').length, 100);
    assert.deepEqual(await runContainers(), []);
  });

  it('metrics.jsonl, a Lightning CSVLogger file and DVCLive files: their summaries in `mlc runs --compare --json`', async () => {
    const writers = [
      `printf '{"step": 1, "loss": 0.9}\\n{"step": 2, "loss": 0.5}\\n' > "$MLC_RUN_DIR/metrics.jsonl"`,
      `mkdir -p "$MLC_RUN_DIR/lightning_logs/version_0" && printf 'epoch,step,train_loss,val_acc\\n0,10,0.8,\\n0,10,,0.7\\n1,20,0.4,\\n1,20,,0.85\\n' > "$MLC_RUN_DIR/lightning_logs/version_0/metrics.csv"`,
      `mkdir -p "$MLC_RUN_DIR/dvclive/plots/metrics/train" && printf '{"train": {"loss": 0.3}}' > "$MLC_RUN_DIR/dvclive/metrics.json" && printf 'step\\tloss\\n0\\t0.6\\n1\\t0.3\\n' > "$MLC_RUN_DIR/dvclive/plots/metrics/train/loss.tsv"`,
    ];
    const ids: string[] = [];
    for (const script of writers) {
      const r = await mlc(['run', '--config', 'configs/one.yaml', '--gpu', 'none', '--', 'sh', '-c', script], {
        cwd: dir,
        timeoutMs: 120_000,
      });
      assert.equal(r.code, 0, r.stderr);
      ids.push((await readRuns(dir)).runs.at(-1)!.id);
    }
    const compared = await mlc(['runs', '--compare', ...ids, '--json'], { cwd: dir, timeoutMs: 120_000 });
    assert.equal(compared.code, 0, compared.stderr);
    const c = JSON.parse(compared.stdout) as {
      runs: { id: string; metrics: Record<string, unknown> }[];
      best: Record<string, { run: string }>;
    };
    assert.deepEqual(
      c.runs.map((r) => r.metrics),
      [{ loss: 0.5 }, { epoch: 1, train_loss: 0.4, val_acc: 0.85 }, { 'train/loss': 0.3 }],
    );
    const records = (await readRuns(dir)).runs.filter((r) => ids.includes(r.id));
    assert.deepEqual(records[0]?.metrics?.metrics.loss, {
      source: 'metrics.jsonl',
      last: 0.5,
      lastStep: 2,
      min: 0.5,
      max: 0.9,
      steps: 2,
      nans: 0,
    });
    assert.equal(records[1]?.metrics?.metrics.val_acc?.source, 'lightning');
    assert.equal(records[2]?.metrics?.metrics['train/loss']?.source, 'dvclive');
    const table = await mlc(['runs', '--compare', ...ids], { cwd: dir, timeoutMs: 120_000 });
    assert.match(table.stdout, /^RUN\s+STATUS\s+IMAGE\s+COMMIT\s+loss\s+epoch\s+train_loss\s+val_acc\s+train\/loss$/m);
  });
});
