import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Engine } from '../../../../src/core/docker/engine';
import { schedulerLaunch, startScheduler } from '../../../../src/core/run/detach';
import { followRuns, lineSplitter } from '../../../../src/core/run/follow';
import { appendFinal, appendRun, readRuns } from '../../../../src/core/run/records';
import { silentLogger } from '../../../helpers/logger';
import { startedRecord } from '../../../helpers/runRecords';
import { until, within } from '../../../helpers/wait';
import { FakeEngine } from '../../fakes/engine';

describe('the detached scheduler (mlc run --resume in the background)', () => {
  it('runs the bundled CLI with the given node, the plan id, the folder, and --host only when a host is set', () => {
    const env = { PATH: '/usr/bin', ELECTRON_RUN_AS_NODE: '1' };
    const launch = schedulerLaunch({
      nodePath: '/opt/code/code',
      cliPath: '/ext/dist/cli.js',
      planId: '20261125-101500-ab12',
      workspace: '/home/ada/dimuon',
      host: 'ssh://gpu1',
      env,
    });
    assert.equal(launch.command, '/opt/code/code');
    assert.deepEqual(launch.args, [
      '/ext/dist/cli.js',
      'run',
      '--resume',
      '20261125-101500-ab12',
      '--dir',
      '/home/ada/dimuon',
      '--host',
      'ssh://gpu1',
    ]);
    // Its plan's id beside the given environment: a plan's scheduler keeps the sweep's stop marker (a person's --resume clears it).
    assert.deepEqual(launch.env, { ...env, MLC_SCHEDULER_OF: '20261125-101500-ab12' });
    assert.equal(launch.logFile, path.join('/home/ada/dimuon', '.mlcontainers', 'sweeps', '20261125-101500-ab12.log'));
    const local = schedulerLaunch({ nodePath: 'node', cliPath: 'cli.js', planId: 'p', workspace: '/w', host: undefined, env: {} });
    assert.deepEqual(local.args, ['cli.js', 'run', '--resume', 'p', '--dir', '/w']);
  });

  it('starts it with its output appended to the log, and reports its exit code', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-detach-'));
    const cli = path.join(dir, 'cli.js');
    // A stand-in CLI that says how it was called and what it was given.
    fs.writeFileSync(
      cli,
      "process.stdout.write(process.argv.slice(2).join(' ') + '\\n'); process.stderr.write('mode ' + process.env.MLC_TEST_MODE + '\\n'); process.exit(3);\n",
    );
    const launch = schedulerLaunch({
      nodePath: process.execPath,
      cliPath: cli,
      planId: 'p1',
      workspace: dir,
      env: { ...process.env, MLC_TEST_MODE: 'detached' },
    });
    fs.mkdirSync(path.dirname(launch.logFile), { recursive: true });
    fs.writeFileSync(launch.logFile, 'earlier\n');
    assert.equal(await startScheduler(launch).exited, 3);
    assert.equal(fs.readFileSync(launch.logFile, 'utf8'), `earlier\nrun --resume p1 --dir ${dir}\nmode detached\n`);
  });
});

describe('following runs another process schedules', () => {
  let dir: string;
  let engine: FakeEngine;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-follow-'));
    engine = new FakeEngine();
  });

  /** A run on record as started, with its container running. */
  const running = async (id: string): Promise<string> => {
    await appendRun(dir, startedRecord(id));
    const containerId = await engine.createContainer({
      Image: 'x',
      Cmd: [id],
      Labels: {
        'org.mlcontainers.managed': 'true',
        'org.mlcontainers.run.id': id,
        'org.mlcontainers.role': 'run',
        'org.mlcontainers.workspace': dir,
      },
    });
    await engine.startContainer(containerId);
    return containerId;
  };

  it("prints each run's lines with its prefix and its end; a run that ended unseen is shown from output.log; one never started is said", async () => {
    engine.runScript = (cmd) => (cmd[0] === 'r1' ? { output: 'epoch 1\r\nepoch 2', exitCode: 0 } : { output: '', exitCode: 0 });
    const containerId = await running('r1');
    await appendRun(dir, startedRecord('r2'));
    fs.mkdirSync(path.join(dir, '.mlcontainers', 'runs', 'r2'), { recursive: true });
    fs.writeFileSync(path.join(dir, '.mlcontainers', 'runs', 'r2', 'output.log'), 'loss 0.5\nTraceback\n');
    await appendFinal(dir, { ...startedRecord('r2'), status: 'failed', exitCode: 1, end: new Date().toISOString() });
    const out: string[] = [];
    const result = await followRuns({
      engine,
      workspace: dir,
      targets: [
        { id: 'r1', prefix: '[1/3] ' },
        { id: 'r2', prefix: '[2/3] ' },
        { id: 'r3', prefix: '[3/3] ' },
      ],
      log: silentLogger('follow'),
      moreToCome: async () => false,
      onStart: (t) => out.push(`${t.prefix}start`),
      onLine: (t, line) => out.push(`${t.prefix}${line}`),
      onEnd: (t, r) => out.push(`${t.prefix}${r.status}`),
      signal: new AbortController().signal,
    });
    assert.deepEqual(
      out.filter((l) => l.startsWith('[1/3]')),
      ['[1/3] start', '[1/3] epoch 1', '[1/3] epoch 2', '[1/3] succeeded'],
    );
    assert.deepEqual(
      out.filter((l) => l.startsWith('[2/3]')),
      ['[2/3] loss 0.5', '[2/3] Traceback', '[2/3] failed'],
    );
    assert.deepEqual(
      result.records.map((r) => [r.id, r.status]),
      [
        ['r1', 'succeeded'],
        ['r2', 'failed'],
      ],
    );
    assert.deepEqual(
      result.notStarted.map((t) => t.id),
      ['r3'],
    );
    // The follower saw r1 end first: it recorded it and removed its container.
    assert.equal((await readRuns(dir)).runs.find((r) => r.id === 'r1')?.status, 'succeeded');
    assert.ok(!engine.containers.has(containerId));
  });

  it("shows a run's lines without terminal controls, colours kept, while output.log keeps the bytes", async () => {
    const raw = 'ok \x1b[32mgreen\x1b[0m\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2A\nlink \x1b]8;;https://evil.example/\x1b\\docs\x1b]8;;\x1b\\\n';
    engine.runScript = () => ({ output: raw, exitCode: 0 });
    await running('r1');
    fs.mkdirSync(path.join(dir, '.mlcontainers', 'runs', 'r1'), { recursive: true });
    const out: string[] = [];
    await followRuns({
      engine,
      workspace: dir,
      targets: [{ id: 'r1', prefix: '' }],
      log: silentLogger('follow'),
      moreToCome: async () => false,
      onLine: (_t, line) => out.push(line),
      signal: new AbortController().signal,
    });
    assert.deepEqual(out, ['ok \x1b[32mgreen\x1b[0m', 'link docs']);
    assert.equal(fs.readFileSync(path.join(dir, '.mlcontainers', 'runs', 'r1', 'output.log'), 'utf8'), raw);
  });

  it('stops following, and nothing else, when its signal aborts', async () => {
    const containerId = await running('r1');
    const fake: Engine = engine;
    let followed = false;
    fake.followLogs = (_id, _on, signal) => (
      (followed = true),
      new Promise<void>((resolve) => signal?.addEventListener('abort', () => resolve(), { once: true }))
    );
    const controller = new AbortController();
    const following = followRuns({
      engine,
      workspace: dir,
      targets: [{ id: 'r1', prefix: '' }],
      log: silentLogger('follow'),
      moreToCome: async () => true,
      onLine: () => undefined,
      signal: controller.signal,
    });
    try {
      await until(() => followed, "followRuns to follow r1's logs");
    } finally {
      // A follower left running would keep mocha from exiting after the failure.
      controller.abort();
    }
    assert.deepEqual(await within(following, 'followRuns to return once its signal aborted'), { records: [], notStarted: [] });
    assert.ok(engine.containers.get(containerId)?.running);
    assert.ok(!engine.calls.includes('stopContainer'));
    assert.equal((await readRuns(dir)).runs[0]?.status, 'running');
  });

  it('splits chunks into lines across chunk boundaries, CRLF or LF', () => {
    const lines: string[] = [];
    const split = lineSplitter((l) => lines.push(l));
    split.push('a\r\nb');
    split.push('c\nd');
    split.flush();
    assert.deepEqual(lines, ['a', 'bc', 'd']);
  });
});
