import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UsageError, asUsage } from '../../../../src/cli/io';
import { formatRuns } from '../../../../src/cli/run';
import { createSlurmBackend, slurmOptions } from '../../../../src/core/backends/slurm/backend';
import type { RunContainerInput } from '../../../../src/core/run/experiment';
import type { ExperimentPlan } from '../../../../src/core/run/plan';
import { RunError } from '../../../../src/core/run/plan';
import { appendRun, readRuns } from '../../../../src/core/run/records';
import { gresHasGpu, renderBatchScript } from '../../../../src/core/backends/slurm/script';
import { SlurmCli, SlurmError, parseAccounting, parseQueue, slurmErrorMessage } from '../../../../src/core/backends/slurm/slurm';
import { submitToSlurm } from '../../../../src/core/backends/slurm/submit';
import { reconcileSlurmRuns, recordTaskEnd, recordTaskStart, stopSlurmRuns } from '../../../../src/core/backends/slurm/tasks';
import { mlcInProcess } from '../../../helpers/cli';
import { imageDetails } from '../../../helpers/images';
import { slurmTaskInput } from '../../../helpers/slurmTask';
import { silentLogger } from '../../../helpers/logger';
import { startedRecord } from '../../../helpers/runRecords';
import { FakeEngine } from '../../fakes/engine';
import { FakeSlurm, task } from '../../fakes/slurm';

const log = silentLogger('slurm');
const IMAGE = imageDetails();

const taskInput = (workspace: string, n: number): RunContainerInput =>
  slurmTaskInput(workspace, n, IMAGE, { command: ['python', 'train.py', '--epochs', '2'] });

function plan(workspace: string, points = 2): ExperimentPlan {
  return {
    id: 'S',
    sweep: points > 1,
    workspace,
    image: { id: IMAGE.id, ref: 'dimuon:latest', tags: ['dimuon:latest'], revision: 'c0ffee', dirty: false },
    code: 'workspace',
    commit: 'c0ffee',
    dirty: false,
    config: { path: 'configs/exp.yaml', name: 'exp.yaml' },
    command: ['python', 'train.py'],
    gpu: 'none',
    parallel: 2,
    shmSizeBytes: 1024,
    created: '2026-11-25T10:00:00Z',
    warnings: [],
    points: Array.from({ length: points }, (_, i) => ({
      runId: points > 1 ? `S-${i + 1}` : 'S',
      index: i,
      params: { lr: i },
      text: `lr: ${i}\n`,
      sha256: String(i).repeat(64),
    })),
  };
}

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-slurm-'));

describe('Slurm batch script', () => {
  const ws = '/home/u/dimuon';
  const script = (over: Partial<Parameters<typeof renderBatchScript>[0]> = {}): string =>
    renderBatchScript({
      planId: 'S',
      sweep: true,
      workspace: ws,
      tasks: [taskInput(ws, 1), taskInput(ws, 2)],
      slurm: { parallel: 2 },
      recorder: { node: '/usr/bin/node', cli: '/opt/mlc/cli.js' },
      ...over,
    });

  it('is one array job, task i for point i, P at a time, with its output in the run folder', () => {
    const s = script();
    assert.match(s, /^#SBATCH --array=1-2%2$/m);
    assert.match(s, /^#SBATCH --output=\/home\/u\/dimuon\/\.mlcontainers\/runs\/S-%a\/output\.log$/m);
    assert.match(s, /^#SBATCH --chdir=\/home\/u\/dimuon$/m);
    assert.match(s, /^ {2}1\) run=S-1; args=\(/m);
    assert.match(s, /^ {2}2\) run=S-2; args=\(/m);
  });

  it('runs docker run --init --rm of the image by id with the mounts, env and labels of a local run', () => {
    const line = /^ {2}2\) .*$/m.exec(script())![0];
    for (const part of [
      '--rm',
      '--init',
      `${IMAGE.id.replace(':', '\\:')} python train.py --epochs 2`,
      '-v /home/u/dimuon\\:/workspace',
      '-v /home/u/dimuon/.mlcontainers/runs/S-2/exp.yaml\\:/etc/mlc/config/exp.yaml\\:ro',
      '-e MLC_CONFIG\\=/etc/mlc/config/exp.yaml',
      '-e MLC_RUN_DIR\\=/workspace/.mlcontainers/runs/S-2',
      '--label org.mlcontainers.run.id\\=S-2',
      '--label org.mlcontainers.run.sweep\\=S',
      '--label org.mlcontainers.role\\=run',
      '-e NVIDIA_VISIBLE_DEVICES\\=void',
    ])
      assert.ok(line.includes(part), `${part} in ${line}`);
    assert.match(script(), /docker run --name "\$name" --label "org\.mlcontainers\.run\.job=\$job"/);
    assert.match(script(), /^name=mlc-\$\{SLURM_ARRAY_JOB_ID\}-\$task$/m);
  });

  it("gives the container devcontainer.json's env and the user's, a secret by name only: its value is in no file", () => {
    const runtime = {
      env: [
        { name: 'WANDB_MODE', value: 'offline', secret: false },
        { name: 'HF_TOKEN', value: 'hf_s3cr3t_value_123', secret: true },
      ],
      mounts: [],
      binds: [],
      ulimits: [],
      capAdd: [],
      devices: [],
      updateRemoteUserUID: false,
    };
    const s = script({ tasks: [{ ...taskInput(ws, 1), runtime }] });
    const line = /^ {2}1\) .*$/m.exec(s)![0];
    assert.ok(line.includes('-e WANDB_MODE\\=offline'), line);
    assert.match(line, / -e HF_TOKEN /);
    assert.ok(!s.includes('hf_s3cr3t_value_123'), 'the secret value is not in the script');
  });

  it('where runArgs ask --ulimit memlock=-1, a task whose engine cannot lift it starts again without it, as a local run does', () => {
    const runtime = {
      env: [],
      mounts: [],
      binds: [],
      ulimits: [{ Name: 'memlock', Soft: -1, Hard: -1 }],
      capAdd: [],
      devices: [],
      updateRemoteUserUID: false,
    };
    const s = script({ tasks: [{ ...taskInput(ws, 1), runtime }, taskInput(ws, 2)] });
    const line = /^ {2}1\) .*$/m.exec(s)![0];
    const [args, lowmem] = [/args=\(([^)]*)\)/.exec(line)![1]!, /lowmem=\(([^)]*)\)/.exec(line)![1]!];
    assert.ok(args.includes('--ulimit memlock\\=-1'), args);
    assert.equal(lowmem, args.replace('--ulimit memlock\\=-1 ', ''), 'the same words but the limit');
    assert.doesNotMatch(/^ {2}2\) .*$/m.exec(s)![0], /lowmem=/, 'nothing to fall back from');
    assert.match(
      s,
      /^if \[ "\$code" = 125 \] && \[ "\$stopped" = 0 \] && \[ \$\{#lowmem\[@\]\} -gt 0 \] && grep -q 'rlimit type 8' "\$err"; then$/m,
    );
    assert.match(s, /^ {2}docker run --name "\$name" .* "\$\{lowmem\[@\]\}"$/m);
  });

  it('records start and end through mlc slurm-task, and leaves a stopped task to squeue and sacct', () => {
    const s = script();
    assert.match(s, /^mlc=\(\/usr\/bin\/node \/opt\/mlc\/cli\.js slurm-task --dir \/home\/u\/dimuon\)$/m);
    assert.match(s, /"\$\{mlc\[@\]\}" start "\$run" --job "\$job"/);
    assert.match(s, /"\$\{mlc\[@\]\}" finish "\$run" --exit "\$code"/);
    assert.ok(s.indexOf("trap 'stopped=1' TERM") < s.indexOf('docker run --name'));
    assert.ok(s.indexOf('if [ "$stopped" = 1 ]') < s.indexOf('finish "$run"'), 'a stopped task writes no final line of its own');
  });

  it('writes each sbatch option as its own #SBATCH line, extra ones as given', () => {
    const s = script({
      slurm: { partition: 'gpu', time: '1:00:00', cpusPerTask: 4, mem: '16G', gres: 'gpu:1', account: 'phys', extra: ['--qos=long'] },
    });
    for (const l of ['--partition=gpu', '--time=1:00:00', '--cpus-per-task=4', '--mem=16G', '--gres=gpu:1', '--account=phys', '--qos=long'])
      assert.match(s, new RegExp(`^#SBATCH ${l}$`, 'm'));
    assert.match(s, /^#SBATCH --array=1-2$/m, 'no %P without --parallel');
  });

  it("with a GPU gres the container gets the allocation's GPUs instead of NVIDIA_VISIBLE_DEVICES=void", () => {
    assert.ok(!script({ slurm: { gres: 'gpu:1' } }).includes('NVIDIA_VISIBLE_DEVICES\\=void'));
    assert.ok(gresHasGpu('gpu:a100:2') && gresHasGpu('gres/gpu:1') && !gresHasGpu('tmpfs:10G') && !gresHasGpu(undefined));
  });

  it('refuses a workspace #SBATCH cannot hold and an --sbatch-arg that is not one option', () => {
    assert.throws(() => script({ workspace: '/home/u/my project' }), SlurmError);
    assert.throws(() => script({ slurm: { extra: ['--qos=long\n#SBATCH --x'] } }), /one sbatch option per flag/);
    assert.throws(() => script({ slurm: { extra: ['qos=long'] } }), /one sbatch option per flag/);
  });

  it('refuses a --partition, --time, --gres, --mem or --account that would be another #SBATCH line or option', () => {
    for (const [key, flag] of [
      ['partition', '--partition'],
      ['time', '--time'],
      ['gres', '--gres'],
      ['mem', '--mem'],
      ['account', '--account'],
    ] as const) {
      for (const bad of ['gpu\n#SBATCH --uid=0', 'gpu\rx', 'gpu --uid=0', 'gpu\tx', 'gpu\x00']) {
        assert.throws(
          () => script({ slurm: { [key]: bad } }),
          (e: unknown) => e instanceof SlurmError && e.message.startsWith(`${flag} takes one word`),
          `${flag} ${JSON.stringify(bad)}`,
        );
      }
    }
    assert.throws(() => script({ slurm: { extra: ['--qos=long\x0b#x'] } }), /one sbatch option per flag/);
    assert.throws(() => script({ planId: 'S\n#SBATCH --uid=0' }), SlurmError);
    assert.throws(() => script({ workspace: '/home/u/a\x01b' }), SlurmError);
  });

  it('mlc run --on slurm takes a --partition with a newline as a usage error (exit 2), one sentence saying what to give', () => {
    assert.throws(
      () => asUsage(() => slurmOptions({ partition: 'gpu\n#SBATCH --uid=0' })),
      (e: unknown) =>
        e instanceof UsageError &&
        e.message === '--partition takes one word without spaces or newlines, such as --partition=gpu, not "gpu\\n#SBATCH --uid=0".',
    );
    assert.throws(() => asUsage(() => slurmOptions({ time: '1:00:00\n' })), UsageError);
    assert.throws(() => asUsage(() => slurmOptions({ gres: 'gpu:1 --x' })), UsageError);
    assert.throws(() => asUsage(() => slurmOptions({ 'sbatch-arg': ['--qos=long\n#SBATCH --x'] })), UsageError);
    assert.deepEqual(
      asUsage(() => slurmOptions({ partition: 'gpu', time: '1-00:00:00', gres: 'gpu:a100:2', 'sbatch-arg': ['--comment=a b'] })),
      { partition: 'gpu', time: '1-00:00:00', gres: 'gpu:a100:2', extra: ['--comment=a b'] },
    );
  });

  it('mlc run --on slurm refuses a bad --partition with exit 2 before it plans anything', async () => {
    const dir = tmp();
    const r = await mlcInProcess([
      'run',
      '--on',
      'slurm',
      '--partition',
      'gpu\n#SBATCH --uid=0',
      '--config',
      'c.yaml',
      '--dir',
      dir,
      '--',
      'python',
      'train.py',
    ]);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /--partition takes one word without spaces or newlines/);
    assert.ok(!fs.existsSync(path.join(dir, '.mlcontainers')), 'nothing written');
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('Slurm: --push, for nodes whose engine lacks the image', () => {
  const REF = `registry.lab:5000/lab/dimuon:c0ffee1@sha256:${'a'.repeat(64)}`;

  // The lines before the container starts, run with a docker on PATH that logs its arguments and answers as told.
  function fetchLines(pull: string | undefined, docker: string): { calls: string[]; stderr: string } {
    const s = renderBatchScript({
      planId: 'S',
      sweep: false,
      workspace: '/home/u/dimuon',
      tasks: [taskInput('/home/u/dimuon', 1)],
      slurm: {},
      recorder: { node: 'node', cli: 'cli.js' },
      ...(pull ? { pull } : {}),
    });
    execFileSync('bash', ['-n'], { input: s });
    const lines = s.split('\n');
    const from = lines.findIndex((l) => l.startsWith('pull='));
    const part = from < 0 ? '' : lines.slice(from, lines.indexOf('fi', from) + 1).join('\n');
    const bin = tmp();
    fs.writeFileSync(path.join(bin, 'docker'), `#!/bin/sh\necho "$*" >> ${bin}/calls\n${docker}\n`, { mode: 0o755 });
    // stdin not a pipe: node's pipes are sockets, and bash reads ~/.bashrc when stdin is one (as if rshd ran it).
    const r = spawnSync('bash', ['-c', part], {
      env: { PATH: `${bin}:/usr/bin:/bin` },
      stdio: ['ignore', 'pipe', 'pipe'],
      encoding: 'utf8',
    });
    const calls = fs.existsSync(path.join(bin, 'calls')) ? fs.readFileSync(path.join(bin, 'calls'), 'utf8').trim().split('\n') : [];
    fs.rmSync(bin, { recursive: true, force: true });
    assert.equal(r.status, 0, r.stderr);
    return { calls, stderr: r.stderr };
  }

  it('the task pulls the pinned reference only where the engine lacks the image by id; a failed pull is said in one sentence', () => {
    const lacks = fetchLines(REF, 'case "$1 $2" in "image inspect") exit 1;; *) exit 0;; esac');
    assert.deepEqual(lacks.calls, [`image inspect ${IMAGE.id}`, `pull -q ${REF}`]);
    assert.equal(lacks.stderr, '');
    const has = fetchLines(REF, 'exit 0');
    assert.deepEqual(has.calls, [`image inspect ${IMAGE.id}`]);
    const unreachable = fetchLines(REF, 'exit 1');
    assert.deepEqual(unreachable.calls, [`image inspect ${IMAGE.id}`, `pull -q ${REF}`]);
    assert.match(
      unreachable.stderr,
      new RegExp(
        `^mlc: node \\S+ has no image ${IMAGE.id.slice(7, 19)} and could not pull ${REF.replace(/[.]/g, '\\.')}: check that it can reach the registry and log in there \\(docker login\\)\n$`,
      ),
    );
    assert.deepEqual(fetchLines(undefined, 'exit 0').calls, [], 'without --push the script pulls nothing');
  });

  it('--push with Apptainer or Charliecloud is refused in one sentence before anything is pushed', async () => {
    const ws = tmp();
    const engine = new FakeEngine();
    engine.images.set(IMAGE.id, IMAGE);
    const backend = createSlurmBackend(() => new FakeSlurm());
    for (const runtime of ['apptainer', 'charliecloud']) {
      const options = asUsage(() => backend.flags.parse({ runtime, push: 'registry.lab:5000/lab' }));
      await assert.rejects(
        backend.submit(plan(ws), { engine, hostEnv: {}, options, recorder: { node: 'node', cli: 'cli.js' }, dryRun: true, log }),
        (e: unknown) =>
          e instanceof RunError &&
          /^--push is for --runtime docker: with (Apptainer|Charliecloud) .*every node reads the image converted once into this folder, so there is nothing to pull; leave --push out\.$/.test(
            e.message,
          ),
      );
    }
    assert.deepEqual(engine.pushes, []);
    assert.throws(
      () => asUsage(() => backend.flags.parse({ push: 'https://registry.lab/lab' })),
      (e: unknown) =>
        e instanceof UsageError && e.message === '--push takes host[:port][/namespace], without a scheme: e.g. registry.lab/lab.',
    );
    fs.rmSync(ws, { recursive: true, force: true });
  });

  it('a dry run with --push names the tag it would push and pushes nothing', async () => {
    const ws = tmp();
    const engine = new FakeEngine();
    const image = { ...IMAGE, labels: { ...IMAGE.labels, 'org.opencontainers.image.revision': 'c0ffee1234567' } };
    engine.images.set(IMAGE.id, image);
    const backend = createSlurmBackend(() => new FakeSlurm());
    const options = asUsage(() => backend.flags.parse({ runtime: 'docker', push: 'registry.lab:5000/lab' }));
    const sub = await backend.submit(plan(ws), {
      engine,
      hostEnv: {},
      options,
      recorder: { node: 'node', cli: 'cli.js' },
      dryRun: true,
      log,
    });
    assert.match(sub.script!, /^pull=registry\.lab\\:5000\/lab\/dimuon\\:c0ffee1$/m);
    assert.deepEqual(engine.pushes, []);
    assert.deepEqual(fs.readdirSync(ws), []);
    fs.rmSync(ws, { recursive: true, force: true });
  });
});

describe('Slurm messages and output', () => {
  it("turns Slurm 22.05's errors into one sentence each", () => {
    assert.match(
      slurmErrorMessage('sbatch', 'sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)'),
      /^The Slurm controller does not answer .*slurmctld is up\.$/,
    );
    assert.equal(
      slurmErrorMessage('sbatch', 'sbatch: error: Batch job submission failed: Invalid partition name specified', { partition: 'gpux' }),
      'Slurm has no partition gpux: `sinfo -s` lists the partitions you can use.',
    );
    assert.match(
      slurmErrorMessage(
        'sbatch',
        'allocation failure: Requested node configuration is not available\nsbatch: error: Batch job submission failed: Requested node configuration is not available',
        { gres: 'gpu:4' },
      ),
      /^No node in the partition can give what was asked \(--gres gpu:4\)/,
    );
    assert.match(
      slurmErrorMessage('sbatch', 'allocation failure: Requested node configuration is not available', { mem: '999999G', cpusPerTask: 64 }),
      /asked \(--mem 999999G, --cpus-per-task 64\)/,
    );
    assert.match(
      slurmErrorMessage('sbatch', 'sbatch: error: Invalid generic resource (gres) specification', { gres: 'tpu:1' }),
      /does not know the resource in --gres tpu:1/,
    );
    assert.match(slurmErrorMessage('sbatch', 'sbatch: error: Invalid --time specification'), /^Slurm refused the time limit/);
    assert.equal(
      slurmErrorMessage('scancel', 'scancel: error: Kill job error on job id 9: Access/permission denied'),
      'scancel failed: Kill job error on job id 9: Access/permission denied.',
    );
  });

  it('says sbatch is not on PATH when it is not', async () => {
    const cli = new SlurmCli({ exec: () => Promise.reject(Object.assign(new Error('spawn sbatch ENOENT'), { code: 'ENOENT' })) });
    await assert.rejects(cli.submit('/w/s.sbatch', '/w'), /^SlurmError: sbatch is not on PATH: run this on a Slurm login node/);
  });

  it('checks the request with --test-only before the held submission, and reads the job id', async () => {
    const calls: string[][] = [];
    const cli = new SlurmCli({
      exec: (file, args) => (
        calls.push([file, ...args]),
        Promise.resolve({ stdout: args.includes('--parsable') ? '57;mlc\n' : '', stderr: '' })
      ),
    });
    assert.equal(await cli.submit('/w/s.sbatch', '/w'), '57');
    assert.deepEqual(calls, [
      ['sbatch', '--test-only', '/w/s.sbatch'],
      ['sbatch', '--parsable', '--hold', '/w/s.sbatch'],
    ]);
  });

  it('reads squeue and sacct lines; sacct off is undefined, a forgotten job is an empty queue', async () => {
    assert.deepEqual(
      parseQueue('12_3|RUNNING\n12_[4-9]|PENDING\n12_1|COMPLETED\n').map((t) => `${t.job}_${t.task} ${t.state}`),
      ['12_3 RUNNING', '12_1 COMPLETED'],
    );
    assert.deepEqual(
      parseAccounting('12_2|CANCELLED by 0|0:15|2026-11-25T10:01:02\n12_1|FAILED|3:0|2026-11-25T10:00:59\n').map((t) => [
        t.task,
        t.state,
        t.exitCode,
        t.signal,
      ]),
      [
        [2, 'CANCELLED', 0, 15],
        [1, 'FAILED', 3, 0],
      ],
    );
    assert.deepEqual(
      parseAccounting('7_[2-4,6%2]|CANCELLED by 0|0:0|2026-12-02T06:16:44\n').map((t) => `${t.job}_${t.task} ${t.state}`),
      ['7_2 CANCELLED', '7_3 CANCELLED', '7_4 CANCELLED', '7_6 CANCELLED'],
    );
    const off = new SlurmCli({ exec: () => Promise.resolve({ stdout: 'Slurm accounting storage is disabled\n', stderr: '' }) });
    assert.equal(await off.accounting(['12']), undefined);
    const gone = new SlurmCli({
      exec: () => Promise.reject(Object.assign(new Error('exit 1'), { stderr: 'slurm_load_jobs error: Invalid job id specified\n' })),
    });
    assert.deepEqual(await gone.queue(['12']), []);
  });
});

describe('Slurm runs: submission, task records, reconcile, stop', () => {
  it('submits held, puts every point on record as PENDING, then releases; the script is kept beside the plan', async () => {
    const ws = tmp();
    const slurm = new FakeSlurm();
    let onRecordAtRelease = 0;
    slurm.onRelease = async () => void (onRecordAtRelease = (await readRuns(ws)).runs.length);
    const s = await submitToSlurm({ plan: plan(ws), image: IMAGE, slurm, options: {}, recorder: { node: 'node', cli: 'cli.js' } });
    assert.equal(s.job, '41');
    assert.deepEqual(slurm.submitted, [{ scriptFile: path.join(ws, '.mlcontainers', 'sweeps', 'S.sbatch'), cwd: ws }]);
    assert.equal(fs.readFileSync(path.join(ws, '.mlcontainers', 'sweeps', 'S.sbatch'), 'utf8'), s.script);
    assert.equal(onRecordAtRelease, 2, 'both records were written before the tasks could start');
    const { runs } = await readRuns(ws);
    assert.deepEqual(
      runs.map((r) => [r.id, r.status, r.backend, r.job, r.container, r.config.content]),
      [
        ['S-1', 'running', 'slurm', { id: '41_1', state: 'PENDING', queued: true }, 'mlc-41-1', 'lr: 0\n'],
        ['S-2', 'running', 'slurm', { id: '41_2', state: 'PENDING', queued: true }, 'mlc-41-2', 'lr: 1\n'],
      ],
    );
    assert.equal(fs.readFileSync(path.join(ws, '.mlcontainers', 'runs', 'S-2', 'exp.yaml'), 'utf8'), 'lr: 1\n');
    assert.match(formatRuns(runs, Date.now())[1]!, /^S-1\s+pending\s/);
  });

  it('hands a secret to sbatch in its environment, names it in the start records, and writes its value into no file of the workspace', async () => {
    const ws = tmp();
    const slurm = new FakeSlurm();
    const runtime = {
      env: [{ name: 'HF_TOKEN', value: 'hf_s3cr3t_value_123', secret: true }],
      mounts: [],
      binds: [],
      ulimits: [],
      capAdd: [],
      devices: [],
      updateRemoteUserUID: false,
    };
    await submitToSlurm({ plan: plan(ws), image: IMAGE, runtime, slurm, options: {}, recorder: { node: 'node', cli: 'cli.js' } });
    assert.deepEqual(slurm.submittedEnv, [{ HF_TOKEN: 'hf_s3cr3t_value_123' }]);
    assert.deepEqual(
      (await readRuns(ws)).runs.map((r) => r.env),
      [['HF_TOKEN'], ['HF_TOKEN']],
      "the start records name the variable, as a local run's do",
    );
    const files = fs.readdirSync(ws, { recursive: true, withFileTypes: true }).filter((d) => d.isFile());
    assert.ok(files.length > 3);
    for (const f of files)
      assert.ok(!fs.readFileSync(path.join(f.parentPath, f.name), 'utf8').includes('hf_s3cr3t'), `${f.name} holds no secret`);
  });

  it('a controller that does not answer at submit: the plan kept, no run on record, one sentence naming --resume --on slurm', async () => {
    const ws = tmp();
    const down = Object.assign(new Error('exit 1'), {
      stderr: 'sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)\n',
    });
    const slurm = new SlurmCli({ exec: () => Promise.reject(down) });
    await assert.rejects(
      submitToSlurm({ plan: plan(ws), image: IMAGE, slurm, options: {}, recorder: { node: 'node', cli: 'cli.js' } }),
      (e: unknown) =>
        e instanceof SlurmError &&
        e.reason === 'controller' &&
        e.message ===
          'The Slurm controller does not answer, so nothing was submitted and no run is on record; the plan is kept as S: once `sinfo` answers, submit it with `mlc run --resume S --on slurm` (and the same Slurm options).',
    );
    assert.deepEqual((await readRuns(ws)).runs, []);
  });

  it('a dry run renders the script and writes nothing', async () => {
    const ws = tmp();
    const slurm = new FakeSlurm();
    const s = await submitToSlurm({
      plan: plan(ws),
      image: IMAGE,
      slurm,
      options: {},
      recorder: { node: 'node', cli: 'cli.js' },
      dryRun: true,
    });
    assert.match(s.script, /#SBATCH --array=1-2%2/);
    assert.equal(slurm.submitted.length, 0);
    assert.deepEqual(fs.readdirSync(ws), []);
  });

  it('the task records its start and its end with exit code and metrics, once', async () => {
    const ws = tmp();
    await submitToSlurm({ plan: plan(ws), image: IMAGE, slurm: new FakeSlurm(), options: {}, recorder: { node: 'node', cli: 'cli.js' } });
    await recordTaskStart({ workspace: ws, runId: 'S-2', job: '41_2', gpus: '0' });
    let r = (await readRuns(ws)).runs.find((x) => x.id === 'S-2')!;
    assert.deepEqual([r.status, r.gpus, r.job?.state], ['running', '0', 'RUNNING']);
    fs.writeFileSync(path.join(ws, '.mlcontainers', 'runs', 'S-2', 'metrics.jsonl'), '{"step": 1, "loss": 0.5}\n');
    await recordTaskEnd({ workspace: ws, runId: 'S-2', exitCode: 3, log });
    await recordTaskEnd({ workspace: ws, runId: 'S-2', exitCode: 0, log });
    r = (await readRuns(ws)).runs.find((x) => x.id === 'S-2')!;
    assert.deepEqual([r.status, r.exitCode, r.job?.state], ['failed', 3, 'FAILED']);
    assert.ok(r.metrics && JSON.stringify(r.metrics).includes('loss'));
    assert.equal(
      fs
        .readFileSync(path.join(ws, '.mlcontainers', 'runs.jsonl'), 'utf8')
        .split('\n')
        .filter((l) => l.includes('"S-2"') && !l.includes('"status":"running"')).length,
      1,
    );
  });

  it('closes tasks that ended unrecorded from sacct (TIMEOUT, OUT_OF_MEMORY, CANCELLED) and leaves live ones', async () => {
    const ws = tmp();
    const at = (n: number, over = {}) => startedRecord(`R-${n}`, { backend: 'slurm', job: { id: `7_${n}`, state: 'RUNNING' }, ...over });
    for (const n of [1, 2, 3, 4, 5]) await appendRun(ws, at(n));
    const slurm = new FakeSlurm();
    slurm.queued = [task('7', 1, 'RUNNING'), task('7', 2, 'TIMEOUT'), task('7', 5, 'PENDING')];
    slurm.accounted = [
      task('7', 2, 'TIMEOUT', [0, 0], '2026-11-25T10:05:00.000Z'),
      task('7', 3, 'OUT_OF_MEMORY', [0, 125]),
      task('7', 4, 'CANCELLED', [0, 15]),
    ];
    assert.equal(await reconcileSlurmRuns({ slurm, workspace: ws, log }), true);
    const by = new Map((await readRuns(ws)).runs.map((r) => [r.id, r]));
    assert.deepEqual(
      [1, 2, 3, 4, 5].map((n) => [by.get(`R-${n}`)!.status, by.get(`R-${n}`)!.exitCode, by.get(`R-${n}`)!.job!.state]),
      [
        ['running', null, 'RUNNING'],
        ['failed', null, 'TIMEOUT'],
        ['failed', null, 'OUT_OF_MEMORY'],
        ['cancelled', null, 'CANCELLED'],
        ['running', null, 'RUNNING'],
      ],
    );
    assert.equal(by.get('R-2')!.end, '2026-11-25T10:05:00.000Z');
    assert.match(by.get('R-2')!.error ?? '', /time limit: ask for more with --time/);
    const lines = formatRuns([by.get('R-2')!, by.get('R-3')!], Date.now());
    assert.match(lines[1]!, /^R-2\s+timeout\s/);
    assert.match(lines[2]!, /^R-3\s+out of memory\s/);
  });

  it('a task Slurm has forgotten, with accounting off, is closed as failed with the reason', async () => {
    const ws = tmp();
    await appendRun(ws, startedRecord('R-1', { backend: 'slurm', job: { id: `7_${1}`, state: 'RUNNING' } }));
    const slurm = new FakeSlurm();
    slurm.accounted = undefined;
    await reconcileSlurmRuns({ slurm, workspace: ws, log });
    const r = (await readRuns(ws)).runs[0]!;
    assert.deepEqual([r.status, r.job?.state], ['failed', 'UNKNOWN']);
    assert.match(r.error ?? '', /Slurm no longer knows task 7_1/);
  });

  it('mlc stop scancels the task of a run, the whole array of a sweep, waits for squeue, and records them cancelled', async () => {
    const ws = tmp();
    for (const n of [1, 2])
      await appendRun(
        ws,
        startedRecord(`S-${n}`, { sweep: { id: 'S', index: n - 1, size: 2 }, backend: 'slurm', job: { id: `9_${n}`, state: 'RUNNING' } }),
      );
    const slurm = new FakeSlurm();
    // A cancelled task leaves squeue's live states on the third poll after its scancel.
    let polls = 0;
    const live = new Set(['9_1', '9_2']);
    slurm.queued = () => {
      if (++polls >= 3)
        for (const id of slurm.cancelled.flat()) for (const t of [...live]) if (t === id || t.startsWith(`${id}_`)) live.delete(t);
      return [1, 2].map((n) => task('9', n, live.has(`9_${n}`) ? 'RUNNING' : 'CANCELLED'));
    };
    slurm.accounted = [];
    assert.deepEqual(await stopSlurmRuns({ slurm, workspace: ws, target: 'S-1', log, pollMs: 1 }), ['S-1']);
    assert.deepEqual(slurm.cancelled, [['9_1']]);
    assert.ok(polls >= 3, 'it waited until squeue let go of the task');
    let by = new Map((await readRuns(ws)).runs.map((r) => [r.id, r]));
    assert.equal(by.get('S-1')!.status, 'cancelled');
    assert.equal(by.get('S-2')!.status, 'running');
    polls = 0;
    await stopSlurmRuns({ slurm, workspace: ws, target: 'S', log, pollMs: 1 });
    assert.deepEqual(slurm.cancelled[1], ['9']);
    by = new Map((await readRuns(ws)).runs.map((r) => [r.id, r]));
    assert.equal(by.get('S-2')!.status, 'cancelled');
  });
});
