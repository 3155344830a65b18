import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli } from '../../../../src/cli/main';
import { formatRuns } from '../../../../src/cli/run';
import type { ContainerCreateRequest } from '../../../../src/core/docker/engine';
import type { HostGpuProbe } from '../../../../src/core/gpu/nvidiaSmi';
import type { GitProvider } from '../../../../src/core/provenance/git';
import type { RunRecord } from '../../../../src/core/run/records';
import { gpuSlots, runContainerRequest, runExperiment } from '../../../../src/core/run/experiment';
import { RemoteEngineError, assertEngineSeesWorkspace } from '../../../../src/core/container/remote';
import { parseDockerHost } from '../../../../src/core/docker/endpoint';
import { RUNS_FILE, appendFinal, appendRun, markStopRequested, readRuns } from '../../../../src/core/run/records';
import { finishRun } from '../../../../src/core/run/lifecycle';
import { silentLogger } from '../../../helpers/logger';
import type { GpuDecision } from '../../../../src/core/container/gpu';
import { ConfigError, MAX_SWEEP_POINTS, expandConfig } from '../../../../src/core/run/sweep';
import { recordingIO } from '../../../helpers/cli';
import { imageDetails } from '../../../helpers/images';
import { recordingLogger } from '../../../helpers/logger';
import { FakeEngine } from '../../fakes/engine';

const SHA = '3f2a1bc9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3';
const IMAGE = imageDetails({
  repoTags: ['dimuon:3f2a1bc', 'dimuon:latest'],
  labels: { 'org.opencontainers.image.title': 'dimuon', 'org.opencontainers.image.revision': SHA, 'org.mlcontainers.dirty': 'false' },
});

const SWEEP = `# learning-rate study
seed: 42
optimizer:
  name: adamw
  lr: [0.1, 0.01]   # two rates
data:
  batch_size:
    - 32
    - 64
layers: [[64, 64]]
`;

describe('sweeps: list-valued keys expand to a grid', () => {
  it('expands two lists of two into four configs, last key fastest, comments and other keys kept', () => {
    const { axes, points } = expandConfig(SWEEP, 'exp.yaml');
    assert.deepEqual(
      axes.map((a) => [a.key, a.size]),
      [
        ['optimizer.lr', 2],
        ['data.batch_size', 2],
        ['layers', 1],
      ],
    );
    assert.deepEqual(
      points.map((p) => p.params),
      [
        { 'optimizer.lr': 0.1, 'data.batch_size': 32 },
        { 'optimizer.lr': 0.1, 'data.batch_size': 64 },
        { 'optimizer.lr': 0.01, 'data.batch_size': 32 },
        { 'optimizer.lr': 0.01, 'data.batch_size': 64 },
      ],
    );
    const last = points[3]!.text;
    assert.match(last, /^# learning-rate study\nseed: 42\n/);
    assert.match(last, /\n {2}lr: 0\.01\n/);
    assert.match(last, /\n {2}batch_size: 64\n/);
    assert.match(last, /\nlayers: \[ 64, 64 \]\n/, 'a one-element list of a list is that list, as one value');
    assert.equal(new Set(points.map((p) => p.text)).size, 4);
  });

  it('leaves a file without lists byte for byte, so the run hashes the file itself', () => {
    const text = 'seed: 1   # fixed\nmodel: {name: resnet18}\n';
    const { points, axes } = expandConfig(text, 'exp.yaml');
    assert.equal(axes.length, 0);
    assert.equal(points.length, 1);
    assert.equal(points[0]!.text, text);
  });

  it('refuses what cannot be run, naming the file and the key', () => {
    assert.throws(
      () => expandConfig('lr: []\n', 'configs/exp.yaml'),
      (e: Error) => e instanceof ConfigError && /configs\/exp\.yaml: lr is an empty list/.test(e.message),
    );
    assert.throws(() => expandConfig('- 1\n- 2\n', 'a.yaml'), /a\.yaml must be a mapping of hyper-parameters/);
    assert.throws(() => expandConfig('lr: [0.1\n', 'b.yaml'), /b\.yaml is not valid YAML/);
    assert.throws(() => expandConfig('', 'c.yaml'), /must be a mapping/);
    const big = `a: [${Array.from({ length: 40 }, (_, i) => i).join(', ')}]\nb: [${Array.from({ length: 40 }, (_, i) => i).join(', ')}]\n`;
    assert.throws(() => expandConfig(big, 'd.yaml'), new RegExp(`1600 runs \\(a: 40 × b: 40\\), more than ${MAX_SWEEP_POINTS}`));
  });

  it('warns when a list repeats a value (a list meant as one value)', () => {
    const { warnings, points } = expandConfig('layers: [64, 64]\n', 'e.yaml');
    assert.equal(points.length, 2);
    assert.match(warnings[0] ?? '', /layers lists 64 more than once.*wrap it: \[\[64, 64\]\]/);
  });
});

describe('GPU slots: one run per GPU by default', () => {
  const gpu = (devices: 'all' | string[]): GpuDecision => ({ mode: 'gpu', devices, via: 'device-requests', podman: false, warnings: [] });
  const host = (n: number): HostGpuProbe => ({
    kind: 'gpus',
    driverVersion: '550',
    gpus: Array.from({ length: n }, (_, i) => ({
      index: String(i),
      name: 'H100',
      uuid: `GPU-${i}`,
      driverVersion: '550',
      memoryMiB: 80000,
    })),
  });
  const devices = (slots: GpuDecision[]): unknown[] => slots.map((s) => (s.mode === 'gpu' ? s.devices : 'cpu'));

  it('gives each of four runs its own GPU on a four-GPU machine', () => {
    assert.deepEqual(devices(gpuSlots(gpu('all'), host(4), undefined, 8)), [['0'], ['1'], ['2'], ['3']]);
  });
  it('gives a single run every GPU', () => {
    assert.deepEqual(devices(gpuSlots(gpu('all'), host(4), undefined, 1)), ['all']);
  });
  it('splits GPUs between fewer slots, and shares them round-robin between more', () => {
    assert.deepEqual(devices(gpuSlots(gpu(['0', '1', '2', '3']), undefined, 2, 4)), [
      ['0', '2'],
      ['1', '3'],
    ]);
    assert.deepEqual(devices(gpuSlots(gpu(['0', '1']), undefined, 3, 6)), [['0'], ['1'], ['0']]);
  });
  it('runs one at a time on CPU unless told otherwise', () => {
    assert.deepEqual(devices(gpuSlots({ mode: 'cpu' }, undefined, undefined, 4)), ['cpu']);
    assert.deepEqual(devices(gpuSlots({ mode: 'cpu' }, undefined, 3, 4)), ['cpu', 'cpu', 'cpu']);
  });
  it('cannot split GPUs it cannot count (remote engine): every slot asks for all', () => {
    assert.deepEqual(devices(gpuSlots(gpu('all'), { kind: 'remote', host: 'ssh://gpu1' }, 2, 4)), ['all', 'all']);
  });
});

describe('the run container', () => {
  const request = (over: Partial<Parameters<typeof runContainerRequest>[0]> = {}): ContainerCreateRequest =>
    runContainerRequest({
      runId: 'r1',
      name: 'dimuon-run-r1',
      image: { ref: 'dimuon:latest', details: IMAGE },
      workspace: '/home/u/dimuon',
      code: 'workspace',
      runDir: '/home/u/dimuon/.mlcontainers/runs/r1',
      configFile: '/home/u/dimuon/.mlcontainers/runs/r1/exp.yaml',
      configName: 'exp.yaml',
      command: ['python', 'train.py'],
      decision: { mode: 'cpu' },
      shmSizeBytes: 2 ** 33,
      ...over,
    });

  it('mounts the config read-only, names it in MLC_CONFIG, and runs the command in /workspace', () => {
    const r = request();
    // .mlcontainers read-only, the run's own folder writable again on top, the config read-only.
    assert.deepEqual(r.HostConfig?.Binds, [
      '/home/u/dimuon:/workspace',
      '/home/u/dimuon/.mlcontainers:/workspace/.mlcontainers:ro',
      '/home/u/dimuon/.mlcontainers/runs/r1:/workspace/.mlcontainers/runs/r1',
      '/home/u/dimuon/.mlcontainers/runs/r1/exp.yaml:/etc/mlc/config/exp.yaml:ro',
    ]);
    assert.ok(r.Env?.includes('MLC_CONFIG=/etc/mlc/config/exp.yaml'));
    assert.ok(r.Env?.includes('MLC_RUN_DIR=/workspace/.mlcontainers/runs/r1'));
    assert.deepEqual(r.Cmd, ['python', 'train.py']);
    assert.equal(r.Entrypoint, undefined, "the image's own entrypoint stays");
    assert.equal(r.WorkingDir, '/workspace');
    assert.equal(r.Image, IMAGE.id, 'pinned to the id, so a rebuild meanwhile cannot change what runs');
    assert.equal(r.Labels?.['org.mlcontainers.role'], 'run');
    assert.equal(r.Labels?.['org.mlcontainers.image.id'], IMAGE.id);
    assert.equal(r.HostConfig?.DeviceRequests, undefined);
  });

  it("with the image's code, mounts only the run's folder (outputs still reach the project)", () => {
    const r = request({ code: 'image' });
    assert.deepEqual(r.HostConfig?.Binds, [
      '/home/u/dimuon/.mlcontainers/runs/r1:/workspace/.mlcontainers/runs/r1',
      '/home/u/dimuon/.mlcontainers/runs/r1/exp.yaml:/etc/mlc/config/exp.yaml:ro',
    ]);
    assert.ok(r.Env?.includes('MLC_RUN_DIR=/workspace/.mlcontainers/runs/r1'));
  });

  it('asks for the slot GPUs, and wraps AnalysisBase commands in a login shell', () => {
    const atlas = { ...IMAGE, labels: { ...IMAGE.labels, 'org.mlcontainers.preset': 'atlas' } };
    const r = request({
      decision: { mode: 'gpu', devices: ['1'], via: 'device-requests', podman: false, warnings: [] },
      image: { ref: 'dimuon:latest', details: atlas },
    });
    assert.deepEqual(r.HostConfig?.DeviceRequests, [{ Driver: '', DeviceIDs: ['1'], Capabilities: [['gpu']] }]);
    assert.equal(r.Labels?.['org.mlcontainers.gpu'], '1');
    assert.deepEqual(r.Entrypoint, ['/bin/bash', '-lc', 'exec "$@"', 'mlc-run']);
  });
});

describe('runExperiment against a fake engine', () => {
  let dir: string;
  let engine: FakeEngine;
  const lines: string[] = [];
  const log = recordingLogger(lines, 'run');
  const git: GitProvider = { info: () => Promise.resolve({ sha: 'c0ffee0000000000000000000000000000000000', dirty: true }) };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-runs-'));
    fs.mkdirSync(path.join(dir, 'configs'));
    fs.writeFileSync(path.join(dir, 'configs', 'exp.yaml'), SWEEP);
    engine = new FakeEngine();
    engine.images.set('dimuon:latest', IMAGE);
    lines.length = 0;
  });

  const start = (over: Partial<Parameters<typeof runExperiment>[0]> = {}) =>
    runExperiment({
      engine,
      workspace: dir,
      config: 'configs/exp.yaml',
      image: 'dimuon:latest',
      command: ['python', 'train.py'],
      gpu: 'none',
      shmSizeBytes: 1,
      git,
      log,
      ...over,
    });

  it('records one run per sweep point, each with its own config, hash, image and commit', async () => {
    engine.runScript = (cmd) => ({ output: `ran ${cmd.join(' ')}\n`, exitCode: 0 });
    const seen: string[] = [];
    const result = await start({ onLine: (r, line) => seen.push(`${r.point.index}:${line}`) });
    assert.equal(result.records.length, 4);
    assert.equal(engine.calls.filter((c) => c === 'createContainer').length, 4);
    assert.equal(engine.containers.size, 0, 'containers are removed after their run');
    const { runs } = await readRuns(dir);
    assert.equal(runs.length, 4);
    assert.equal(new Set(runs.map((r) => r.config.sha256)).size, 4);
    for (const r of runs) {
      assert.equal(r.image.id, IMAGE.id);
      assert.equal(r.image.revision, SHA);
      assert.equal(r.commit, 'c0ffee0000000000000000000000000000000000');
      assert.equal(r.dirty, true);
      assert.equal(r.code, 'workspace');
      assert.equal(r.status, 'succeeded');
      assert.equal(r.exitCode, 0);
      assert.equal(r.sweep?.size, 4);
      assert.equal(r.config.sha256, createHash('sha256').update(r.config.content).digest('hex'));
      // The file the container got is the one recorded.
      assert.equal(fs.readFileSync(path.join(dir, '.mlcontainers', 'runs', r.id, 'exp.yaml'), 'utf8'), r.config.content);
      assert.equal(fs.readFileSync(path.join(dir, r.log), 'utf8'), 'ran python train.py\n');
    }
    assert.equal(seen.length, 4);
    const mounted = [...engine.requests.values()].map((r) => r.HostConfig?.Binds?.find((b) => b.includes(':/etc/mlc/config/')));
    assert.equal(new Set(mounted).size, 4, 'each run mounts its own config');
  });

  it('refuses on an engine on another machine, which cannot see this folder, before anything is written or created', async () => {
    const remote = new (class extends FakeEngine {
      override readonly endpoint = parseDockerHost('tcp://gpu-box:2375', 'DOCKER_HOST', undefined);
    })();
    remote.images.set('dimuon:latest', IMAGE);
    await assert.rejects(
      start({ engine: remote }),
      (e: unknown) =>
        e instanceof RemoteEngineError &&
        e.message ===
          `A run bind-mounts ${dir}, which the engine at tcp://gpu-box:2375 cannot see (it runs on another machine): run mlc on that host, or use a local engine (unset DOCKER_HOST, or point mlContainers.dockerHost at a local socket).`,
    );
    assert.deepEqual(
      remote.calls.filter((c) => c === 'createContainer'),
      [],
    );
    assert.equal(fs.existsSync(path.join(dir, '.mlcontainers')), false, 'a plan or record was written');
    // A local tcp engine shares this machine's files: no refusal there.
    assertEngineSeesWorkspace(parseDockerHost('tcp://127.0.0.1:2375', 'DOCKER_HOST', undefined), dir, 'A run');
  });

  it('records a failing run with its exit code', async () => {
    fs.writeFileSync(path.join(dir, 'configs', 'exp.yaml'), 'lr: 0.1\n');
    engine.runScript = () => ({ output: 'Traceback: boom\n', exitCode: 3 });
    const result = await start();
    assert.equal(result.records[0]?.status, 'failed');
    assert.equal(result.records[0]?.exitCode, 3);
    assert.equal(result.records[0]?.sweep, null);
    assert.equal(result.records[0]?.config.content, 'lr: 0.1\n');
    const { runs } = await readRuns(dir);
    assert.equal(runs[0]?.exitCode, 3);
  });

  it("--code image records the image's commit, not the workspace's", async () => {
    const result = await start({ code: 'image' });
    assert.deepEqual(
      result.records.map((r) => [r.code, r.commit, r.dirty]),
      Array(4).fill(['image', SHA, false]),
    );
    assert.ok(
      [...engine.requests.values()].every((r) => !r.HostConfig?.Binds?.some((b) => b.startsWith(`${dir}:`))),
      'the project was mounted',
    );
  });

  it('records the GPUs nvidia-smi saw inside the container, and null where it cannot say', async () => {
    fs.writeFileSync(path.join(dir, 'configs', 'exp.yaml'), 'lr: 0.1\n');
    assert.equal((await start()).records[0]?.seenGpus, null, 'no nvidia-smi in a CPU container');
    engine.execScript = (command) =>
      command[0] === 'nvidia-smi'
        ? { exitCode: 0, stdout: '0, NVIDIA H100 80GB HBM3, GPU-5b9c4e0e-4f4e, 580.159.04, 81559 MiB\n', stderr: '' }
        : { exitCode: 127, stdout: '', stderr: 'not found' };
    assert.deepEqual((await start()).records[0]?.seenGpus, [{ index: '0', name: 'NVIDIA H100 80GB HBM3', uuid: 'GPU-5b9c4e0e-4f4e' }]);
    engine.execScript = () => ({ exitCode: 6, stdout: 'No devices were found\n', stderr: '' });
    assert.deepEqual((await start()).records[0]?.seenGpus, [], 'nvidia-smi ran and saw none');
    const { runs } = await readRuns(dir);
    assert.deepEqual(
      runs.map((r) => r.seenGpus?.length ?? null),
      [null, 1, 0],
    );
  });

  it('runs on CPU with a note when the preflight finds no GPU (auto)', async () => {
    const result = await start({ gpu: 'auto', probe: () => Promise.resolve({ kind: 'notInstalled' }) });
    assert.equal(
      result.records.every((r) => r.gpus === 'none'),
      true,
    );
    assert.match(result.note ?? '', /GPU: off/);
  });

  it('says what to do for a missing config, image or command, and starts nothing', async () => {
    await assert.rejects(
      start({ config: 'configs/nope.yaml' }),
      /configs\/nope\.yaml not found: pass the hyper-parameter YAML with --config/,
    );
    await assert.rejects(start({ image: 'other:latest' }), /Image other:latest not found: build it first/);
    await assert.rejects(start({ command: [] }), /No command to run/);
    assert.equal(engine.calls.includes('createContainer'), false);
  });

  it('skips lines of runs.jsonl that are not records', async () => {
    await start();
    fs.appendFileSync(path.join(dir, RUNS_FILE), '{"torn": \nnot json\n');
    const { runs, skipped } = await readRuns(dir);
    assert.equal(runs.length, 4);
    assert.equal(skipped, 2);
  });
});

describe('run records: a start line, one final line, merged by id', () => {
  let dir: string;
  let engine: FakeEngine;
  const started = (id: string, over: Partial<RunRecord> = {}): RunRecord => ({
    id,
    status: 'running',
    exitCode: null,
    image: { id: IMAGE.id, ref: 'dimuon:latest', tags: [], revision: SHA, dirty: false },
    commit: SHA,
    dirty: false,
    code: 'workspace',
    config: { path: 'configs/exp.yaml', sha256: 'a'.repeat(64), content: 'lr: 0.1\n' },
    params: {},
    sweep: null,
    command: ['python', 'train.py'],
    start: new Date().toISOString(),
    end: null,
    gpus: 'none',
    container: `dimuon-run-${id}`,
    log: `.mlcontainers/runs/${id}/output.log`,
    ...over,
  });
  /** A run container that exited with `exitCode` after printing `output`, as a client killed mid-run leaves it. */
  const exited = async (id: string, exitCode: number, output: string): Promise<string> => {
    engine.runScript = () => ({ output, exitCode });
    const containerId = await engine.createContainer({
      Image: IMAGE.id,
      Cmd: ['python', 'train.py'],
      Labels: { 'org.mlcontainers.run.id': id, 'org.mlcontainers.role': 'run', 'org.mlcontainers.workspace': dir },
    });
    await engine.startContainer(containerId);
    await engine.waitContainer(containerId);
    return containerId;
  };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-records-'));
    engine = new FakeEngine();
  });

  it('reads the latest line of each run, in the order runs started; a late start line never hides an end', async () => {
    await appendRun(dir, started('r1'));
    await appendRun(dir, started('r2'));
    await appendRun(dir, { ...started('r1'), status: 'succeeded', exitCode: 0, end: new Date().toISOString() });
    await appendRun(dir, started('r1'));
    const { runs } = await readRuns(dir);
    assert.deepEqual(
      runs.map((r) => [r.id, r.status]),
      [
        ['r1', 'succeeded'],
        ['r2', 'running'],
      ],
    );
  });

  it("writes a run's final line once, whoever asks first", async () => {
    await appendRun(dir, started('r1'));
    const final = { ...started('r1'), status: 'failed' as const, exitCode: 3, end: new Date().toISOString() };
    assert.deepEqual(
      await Promise.all([appendFinal(dir, final), appendFinal(dir, final), appendFinal(dir, final)]).then((w) => w.filter(Boolean).length),
      1,
    );
    const lines = fs.readFileSync(path.join(dir, RUNS_FILE), 'utf8').trim().split('\n');
    assert.equal(lines.length, 2);
  });

  it("finishes an ended run from its container: exit code, the engine's whole output, then the container removed", async () => {
    await appendRun(dir, started('r1'));
    fs.mkdirSync(path.join(dir, '.mlcontainers', 'runs', 'r1'), { recursive: true });
    fs.writeFileSync(path.join(dir, '.mlcontainers', 'runs', 'r1', 'output.log'), 'epoch 1\n');
    const containerId = await exited('r1', 2, 'epoch 1\nepoch 2\nboom\n');
    const [first, second] = await Promise.all(
      [0, 1].map(() => finishRun({ engine, workspace: dir, containerId, log: silentLogger('run') })),
    );
    assert.equal(first?.status, 'failed');
    assert.equal(first?.exitCode, 2);
    assert.equal(second?.id, 'r1');
    assert.equal(
      fs.readFileSync(path.join(dir, '.mlcontainers', 'runs', 'r1', 'output.log'), 'utf8'),
      'epoch 1\nepoch 2\nboom\n',
      'the output a dead client left half-written',
    );
    assert.equal(engine.containers.size, 0);
    assert.equal(fs.readFileSync(path.join(dir, RUNS_FILE), 'utf8').trim().split('\n').length, 2, 'finished twice');
  });

  it('a run asked to stop ends as cancelled; a running one is left alone', async () => {
    await appendRun(dir, started('r1'));
    const containerId = await exited('r1', 143, '');
    await markStopRequested(dir, 'r1');
    assert.equal((await finishRun({ engine, workspace: dir, containerId, log: silentLogger('run') }))?.status, 'cancelled');
    await appendRun(dir, started('r2'));
    const running = await engine.createContainer({ Image: IMAGE.id, Labels: { 'org.mlcontainers.run.id': 'r2' } });
    await engine.startContainer(running);
    assert.equal(await finishRun({ engine, workspace: dir, containerId: running, log: silentLogger('run') }), undefined);
    assert.ok(engine.containers.has(running));
  });
});

describe('mlc run / mlc runs', () => {
  it('wants a config and a command (usage errors, exit 2)', async () => {
    const a = recordingIO();
    assert.equal(await runCli(['run', '--', 'python', 'train.py'], a, new AbortController().signal), 2);
    assert.match(a.stderr.join('\n'), /--config FILE is required/);
    const b = recordingIO();
    assert.equal(await runCli(['run', '--config', 'c.yaml'], b, new AbortController().signal), 2);
    assert.match(b.stderr.join('\n'), /give the command after `--`/);
    const c = recordingIO();
    assert.equal(await runCli(['run', '--config', 'c.yaml', '--parallel', '0', '--', 'x'], c, new AbortController().signal), 2);
    const d = recordingIO();
    // --help after -- belongs to the user's command: mlc goes on to run (and here fails to find c.yaml).
    assert.equal(
      await runCli(
        ['run', '--config', 'c.yaml', '--dir', os.tmpdir(), '--', 'python', 'train.py', '--help'],
        d,
        new AbortController().signal,
      ),
      1,
    );
    assert.doesNotMatch(d.stdout.join('\n'), /^mlc run --config FILE/);
    assert.match(d.stderr.join('\n'), /not found: pass the hyper-parameter YAML/);
  });

  it('lists runs with status, image commit tag, commit, config hash and sweep values', () => {
    const record: RunRecord = {
      id: '20261123-101500-ab12-2',
      status: 'failed',
      exitCode: 137,
      image: { id: IMAGE.id, ref: 'dimuon:latest', tags: IMAGE.repoTags, revision: SHA, dirty: false },
      commit: SHA,
      dirty: true,
      code: 'workspace',
      config: { path: 'configs/exp.yaml', sha256: 'deadbeef'.repeat(8), content: '' },
      params: { 'optimizer.lr': 0.01, 'data.batch_size': 64 },
      sweep: { id: '20261123-101500-ab12', index: 1, size: 4 },
      command: ['python', 'train.py'],
      start: '2026-11-23T10:15:00.000Z',
      end: '2026-11-23T10:17:05.000Z',
      gpus: '1',
      container: 'c',
      log: 'l',
    };
    const [header, row] = formatRuns([record], Date.parse('2026-11-23T12:15:00Z'));
    assert.match(header ?? '', /^RUN\s+STATUS\s+IMAGE\s+COMMIT\s+CONFIG/);
    assert.match(
      row ?? '',
      /20261123-101500-ab12-2\s+exit 137\s+dimuon:3f2a1bc\s+3f2a1bc\+dirty\s+configs\/exp\.yaml@deadbeef\s+2m 05s\s+2h ago\s+gpu:1\s+optimizer\.lr=0\.01 data\.batch_size=64$/,
    );
  });
});
