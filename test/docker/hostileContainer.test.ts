// The container is untrusted: a "training" command that attacks the host through what it writes (links, FIFOs,
// hard links, forged records, huge files, links swapped in while the run is followed), run through the bundled
// `mlc`. After each: canary files outside the run folder (in a home folder, beside the project, in the registry
// config) are unchanged, their content is in no record, log or payload, and the user got one sentence.
import * as assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildExperiment } from '../../src/core/build/buildExperiment';
import { packFiles } from '../../src/core/docker/buildContext';
import type { Engine } from '../../src/core/docker/engine';
import { GitCli } from '../../src/core/provenance/git';
import { compareRuns } from '../../src/core/run/compare';
import { comparePayload, readChartSeries } from '../../src/core/run/comparePayload';
import { RUNS_FILE, readRuns } from '../../src/core/run/records';
import { git } from '../helpers/git';
import { silentLogger } from '../helpers/logger';
import { CLI, assertBuiltCli, mlc } from '../helpers/mlc';
import { STANDIN_DEBIAN, requireEngine, requireImage } from './harness';

const CANARY = 'CANARY-7f3a-do-not-read';

describe('a hostile container reaches nothing outside its run folder (real engine, mlc from dist/cli.js)', function () {
  let engine: Engine;
  let root: string;
  let dir: string;
  let home: string;
  const images: string[] = [];
  const canaries: Record<string, string> = {};

  /** Every canary as it was, and its content nowhere the tool writes. */
  const assertCanariesUntouched = (): void => {
    for (const [file, content] of Object.entries(canaries)) {
      assert.ok(fs.existsSync(file), `${file} was removed`);
      assert.equal(fs.lstatSync(file).isFile(), true, `${file} is no longer a file`);
      assert.equal(fs.readFileSync(file, 'utf8'), content, `${file} was changed`);
    }
    const records = fs.existsSync(path.join(dir, RUNS_FILE)) ? fs.readFileSync(path.join(dir, RUNS_FILE), 'utf8') : '';
    assert.ok(!records.includes(CANARY), "a canary's content reached runs.jsonl");
    for (const run of fs.existsSync(path.join(dir, '.mlcontainers', 'runs'))
      ? fs.readdirSync(path.join(dir, '.mlcontainers', 'runs'))
      : []) {
      for (const name of ['output.log', '.series.json', '.gpus.json']) {
        const file = path.join(dir, '.mlcontainers', 'runs', run, name);
        if (fs.existsSync(file) && fs.lstatSync(file).isFile())
          assert.ok(!fs.readFileSync(file, 'utf8').includes(CANARY), `a canary's content reached ${run}/${name}`);
      }
    }
  };

  const run = (args: string[], timeoutMs = 120_000): ReturnType<typeof mlc> => mlc(args, { cwd: dir, env: { HOME: home }, timeoutMs });
  const lastRecord = async (): Promise<NonNullable<Awaited<ReturnType<typeof readRuns>>['runs'][number]>> =>
    (await readRuns(dir)).runs.at(-1)!;

  before(async function () {
    engine = await requireEngine(this);
    await requireImage(this, engine, STANDIN_DEBIAN);
    assertBuiltCli();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-hostile-'));
    dir = path.join(root, 'project');
    home = path.join(root, 'home');
    fs.mkdirSync(path.join(dir, '.devcontainer'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'configs'));
    fs.mkdirSync(path.join(home, '.docker'), { recursive: true });
    fs.mkdirSync(path.join(home, '.ssh'), { recursive: true });
    fs.mkdirSync(path.join(root, 'outside'), { mode: 0o700 });
    canaries[path.join(home, '.docker', 'config.json')] = `{"auths":{"registry.example":{"auth":"${CANARY}"}}}`;
    canaries[path.join(home, '.ssh', 'authorized_keys')] = `ssh-ed25519 AAAA ${CANARY}\n`;
    canaries[path.join(home, '.bashrc')] = `# ${CANARY}\n`;
    canaries[path.join(root, 'outside', 'secret.json')] = `[{"index":"0","name":"${CANARY}","uuid":"${CANARY}"}]`;
    canaries[path.join(root, 'outside', 'series.json')] = `{"loss":{"source":"${CANARY}","steps":[1],"values":[9]}}`;
    for (const [file, content] of Object.entries(canaries)) fs.writeFileSync(file, content);
    fs.writeFileSync(
      path.join(dir, '.devcontainer', 'devcontainer.json'),
      `{ "name": "mlc hostile ${path.basename(root).slice(-6).toLowerCase()}", "build": { "dockerfile": "Dockerfile", "context": ".." } }\n`,
    );
    fs.writeFileSync(path.join(dir, '.devcontainer', 'Dockerfile'), `FROM ${STANDIN_DEBIAN}\n`);
    fs.writeFileSync(path.join(dir, 'configs', 'one.yaml'), 'lr: 0.1\n');
    fs.writeFileSync(path.join(dir, 'configs', 'two.yaml'), 'seed: [1, 2]\n');
    fs.writeFileSync(path.join(dir, '.gitignore'), '.mlcontainers/\n');
    git(dir, 'init', '-q', '-b', 'main');
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'hostile');
    const built = await buildExperiment({ folder: dir, engine, git: new GitCli(), log: silentLogger('build'), lock: false });
    images.push(...built.tags);
  });

  after(async () => {
    const left = await engine.listContainers({ labels: [`org.mlcontainers.workspace=${dir}`], all: true }).catch(() => []);
    for (const c of left) await engine.removeContainer(c.id, { force: true }).catch(() => undefined);
    for (const ref of images) await engine.removeImage(ref, { force: true }).catch(() => undefined);
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  afterEach(() => assertCanariesUntouched());

  it(".mlcontainers is read-only inside the run: no forged record line, no link planted under the next point's id", async () => {
    const attack = [
      'echo \'{"id":"forged","status":"succeeded","log":"../outside/.bashrc"}\' >> /workspace/.mlcontainers/runs.jsonl && echo WROTE-RECORD',
      `ln -s ${path.join(root, 'outside')} "/workspace/.mlcontainers/runs/\${MLC_RUN_ID%-1}-2" && echo PLANTED`,
      'touch /workspace/.mlcontainers/sweeps/x && echo WROTE-PLAN',
      'echo ok > "$MLC_RUN_DIR/mine.txt" && echo OWN-FOLDER-WRITABLE',
    ].join('; ');
    const result = await run(['run', '--config', 'configs/two.yaml', '--parallel', '1', '--gpu', 'none', '--', 'sh', '-c', attack]);
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stdout, /WROTE-RECORD|PLANTED|WROTE-PLAN/);
    assert.match(result.stdout, /OWN-FOLDER-WRITABLE/);
    assert.match(result.stdout + result.stderr, /Read-only file system/);
    const { runs } = await readRuns(dir);
    assert.ok(!runs.some((r) => r.id === 'forged'));
    assert.deepEqual(
      runs.slice(-2).map((r) => r.status),
      ['succeeded', 'succeeded'],
      'the second point ran in a folder of its own',
    );
    assert.deepEqual(fs.readdirSync(path.join(root, 'outside')).sort(), ['secret.json', 'series.json']);
    assert.equal(fs.statSync(path.join(root, 'outside')).mode & 0o777, 0o700, 'the folder outside was chmod-ed');
  });

  it('.gpus.json as a link (relative or absolute) to a file outside: read as nothing, named in one sentence', async () => {
    // The host writes .gpus.json once nvidia-smi answered (here: none); the run then swaps it for a link.
    const rel = path.relative(path.join(dir, '.mlcontainers', 'runs', 'x'), path.join(root, 'outside', 'secret.json'));
    const result = await run([
      'run',
      '--config',
      'configs/one.yaml',
      '--gpu',
      'none',
      '--',
      'sh',
      '-c',
      `sleep 3; ln -sf ${rel} "$MLC_RUN_DIR/.gpus.json"; echo swapped`,
    ]);
    assert.equal(result.code, 0, result.stderr);
    const record = await lastRecord();
    assert.equal(record.status, 'succeeded');
    assert.ok(!JSON.stringify(record).includes(CANARY));
    assert.match(result.stderr, /\.gpus\.json in the run folder is a link/);
  });

  it('output.log swapped for a link while the run is followed: the host writes its own file, not through the link', async () => {
    const target = path.join(home, '.bashrc');
    const result = await run([
      'run',
      '--config',
      'configs/one.yaml',
      '--gpu',
      'none',
      '--',
      'sh',
      '-c',
      `echo one; sleep 1; rm -f "$MLC_RUN_DIR/output.log"; ln -s ${target} "$MLC_RUN_DIR/output.log"; echo two; sleep 1; echo three`,
    ]);
    assert.equal(result.code, 0, result.stderr);
    const record = await lastRecord();
    const log = path.join(dir, record.log);
    assert.equal(fs.lstatSync(log).isFile(), true, 'output.log is still a link');
    assert.equal(fs.readFileSync(log, 'utf8'), 'one\ntwo\nthree\n');
  });

  it('mlc stop with .stop planted as a link to authorized_keys: the run is cancelled, the file untouched', async () => {
    const keys = path.join(home, '.ssh', 'authorized_keys');
    const detached = await run([
      'run',
      '--detach',
      '--config',
      'configs/one.yaml',
      '--gpu',
      'none',
      '--',
      'sh',
      '-c',
      `ln -s ${keys} "$MLC_RUN_DIR/.stop"; echo planted; sleep 120`,
    ]);
    assert.equal(detached.code, 0, detached.stderr);
    const id = detached.stdout.trim();
    for (let i = 0; i < 100 && !fs.existsSync(path.join(dir, '.mlcontainers', 'runs', id, 'output.log')); i++)
      await new Promise((r) => setTimeout(r, 200));
    await new Promise((r) => setTimeout(r, 1500));
    const stopped = await run(['stop', id]);
    assert.equal(stopped.code, 0, stopped.stderr);
    const record = (await readRuns(dir)).runs.find((r) => r.id === id);
    assert.equal(record?.status, 'cancelled');
  });

  it('a FIFO, a hard link and a 10 GB sparse file as metric files: the run ends and is recorded, nothing hangs', async () => {
    const attack = [
      'mkfifo "$MLC_RUN_DIR/metrics.jsonl"',
      'mkdir -p "$MLC_RUN_DIR/lightning_logs/version_0"',
      // A hard link across the bind mounts is refused by the kernel (EXDEV): the run folder is a mount of its own.
      'ln /workspace/configs/one.yaml "$MLC_RUN_DIR/dvclive.json" 2>&1 || echo NO-HARDLINK',
      'truncate -s 10G "$MLC_RUN_DIR/lightning_logs/version_0/metrics.csv"',
      'echo done',
    ].join('; ');
    const started = Date.now();
    const result = await run(['run', '--config', 'configs/one.yaml', '--gpu', 'none', '--', 'sh', '-c', attack]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout + result.stderr, /NO-HARDLINK/);
    const record = await lastRecord();
    assert.equal(record.status, 'succeeded');
    assert.ok(Date.now() - started < 90_000);
  });

  it('a forged record (written by hand or by a runtime without read-only binds): skipped, counted, never acted on', async () => {
    const forged = {
      id: '../../../escape',
      status: 'running',
      exitCode: null,
      image: { id: 'sha256:x', ref: 'x', tags: [], revision: null, dirty: false },
      commit: null,
      dirty: false,
      code: 'workspace',
      config: { path: 'c', sha256: 'x', content: '' },
      params: {},
      sweep: null,
      command: ['x'],
      start: '2020-01-01T00:00:00.000Z',
      end: null,
      gpus: 'none',
      container: 'x',
      log: '../../home/.bashrc',
    };
    const logForged = { ...forged, id: 'fine-id', log: `../${path.relative(dir, path.join(home, '.bashrc'))}` };
    fs.appendFileSync(path.join(dir, RUNS_FILE), `${JSON.stringify(forged)}\n${JSON.stringify(logForged)}\n`);
    const listed = await run(['runs']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stderr, /not a run record \(edited, torn or forged\) and was skipped/);
    assert.equal(fs.existsSync(path.join(root, 'escape')), false);
    assert.equal(fs.existsSync(path.resolve(dir, '.mlcontainers', 'runs', '../../../escape')), false);
    // A minute later the reconciler closes fine-id as failed: its output path came from its id, never the line.
    const logs = await run(['logs', 'fine-id']);
    assert.ok(!logs.stdout.includes(CANARY));
  });

  it('a config that is a link out of the project: refused with one sentence, nothing copied or recorded', async () => {
    fs.symlinkSync(path.join(home, '.docker', 'config.json'), path.join(dir, 'configs', 'evil.yaml'));
    const before = (await readRuns(dir)).runs.length;
    const result = await run(['run', '--config', 'configs/evil.yaml', '--gpu', 'none', '--', 'true']);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /configs\/evil\.yaml is a link to .*config\.json, outside the project: a hyper-parameter file must be a file in the project/,
    );
    assert.equal((await readRuns(dir)).runs.length, before);
    fs.rmSync(path.join(dir, 'configs', 'evil.yaml'));
  });

  it("Compare Runs' payload: a .series.json link to a file outside gives no series from it", async () => {
    const result = await run([
      'run',
      '--config',
      'configs/one.yaml',
      '--gpu',
      'none',
      '--',
      'sh',
      '-c',
      'echo \'{"step": 1, "loss": 0.5}\' > "$MLC_RUN_DIR/metrics.jsonl"',
    ]);
    assert.equal(result.code, 0, result.stderr);
    const record = await lastRecord();
    const series = path.join(dir, '.mlcontainers', 'runs', record.id, '.series.json');
    fs.rmSync(series, { force: true });
    // Shaped as the cache is: followed, its "source" would reach the payload.
    fs.symlinkSync(path.join(root, 'outside', 'series.json'), series);
    const other = (await readRuns(dir)).runs.filter((r) => r.status === 'succeeded' && r.id !== record.id).at(-1)!;
    const comparison = await compareRuns([other, record]);
    const payload = comparePayload(comparison, await readChartSeries(dir, [other.id, record.id], comparison.metricNames));
    const text = JSON.stringify(payload);
    assert.ok(!text.includes(CANARY), 'the linked file was read');
    assert.match(text, /"loss"/, "the run's own metrics files were read instead");
  });

  it('mlc export apptainer: an image label whose key carries a %setup section writes no such section', async () => {
    const tag = `mlc-hostile-label:${path.basename(root).slice(-6).toLowerCase()}`;
    // Only provenance keys (org.opencontainers.image.*, org.mlcontainers.*) are carried into the .def: the attack wears one.
    const key = `org.opencontainers.image.evil\n%setup\n    touch ${path.join(root, 'outside', 'pwned')}\n%labels\n    x`;
    // Through the Engine API's labels, as any image built elsewhere can carry it (the docker CLI refuses such a key).
    await engine.build(packFiles([{ path: 'Dockerfile', content: `FROM ${STANDIN_DEBIAN}\n` }]), {
      tags: [tag],
      labels: { [key]: '1' },
      buildKit: false,
    });
    images.push(tag);
    const out = path.join(root, 'defs');
    const result = await run(['export', 'apptainer', tag, '--out', out]);
    assert.equal(result.code, 0, result.stderr);
    const def = fs.readFileSync(
      path.join(
        out,
        fs.readdirSync(out).find((f) => f.endsWith('.def'))!,
      ),
      'utf8',
    );
    assert.doesNotMatch(def, /^%setup/m);
    assert.match(result.stderr, /left out of the Apptainer definition/);
    assert.equal(fs.existsSync(path.join(root, 'outside', 'pwned')), false);
  });

  it('runs.jsonl of 2 GB with one 600 MB line: mlc runs lists the other runs, names the skipped lines, peak RSS under 200 MB', async function () {
    this.timeout(300_000);
    const big = fs.mkdtempSync(path.join(root, 'big-'));
    fs.mkdirSync(path.join(big, '.mlcontainers'));
    const file = path.join(big, RUNS_FILE);
    const record = (id: string): object => ({
      id,
      status: 'succeeded',
      exitCode: 0,
      image: { id: 'sha256:1', ref: 'x:1', tags: ['x:1'], revision: null, dirty: false },
      commit: null,
      dirty: false,
      code: 'workspace',
      config: { path: 'c.yaml', sha256: 'e'.repeat(64), content: 'lr: 1\n' },
      params: {},
      sweep: null,
      command: ['true'],
      start: '2026-12-04T20:00:00.000Z',
      end: '2026-12-04T20:00:01.000Z',
      gpus: 'none',
      container: 'c',
      log: '',
    });
    const records = [record('20261204-200000-aaaa'), record('20261204-200000-bbbb')] as { id: string }[];
    const fd = fs.openSync(file, 'w');
    fs.writeSync(fd, `${JSON.stringify(records[0])}\n`);
    // The 600 MB line: a hole (NUL bytes) ended by a newline; then 1.4 GB of 3 MiB NUL lines, then a record.
    let at = fs.fstatSync(fd).size + 600 * 1024 * 1024;
    fs.writeSync(fd, '\n', at++);
    for (const end = 2 * 1024 * 1024 * 1024 - 4096; at < end; at += 3 * 1024 * 1024) fs.writeSync(fd, '\n', at + 3 * 1024 * 1024 - 1);
    fs.writeSync(fd, `${JSON.stringify(records[1])}\n`, at);
    fs.closeSync(fd);
    assert.ok(fs.statSync(file).size >= 2 * 1024 * 1024 * 1024 - 4096);
    // Peak RSS of the process itself (VmHWM), read just before it exits.
    const child = spawn(process.execPath, ['-r', path.join(__dirname, '../helpers/peakRss.cjs'), CLI, 'runs', '--dir', big], {
      env: { ...process.env, HOME: home },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? 1)));
    assert.equal(code, 0, stderr);
    assert.match(stdout, new RegExp(records[0]!.id));
    assert.match(stdout, new RegExp(records[1]!.id));
    assert.match(stderr, /line 2 \(600 MB\) is longer than a run record can be/);
    const peak = Number(/peak-rss-kb=(\d+)/.exec(stderr)?.[1]);
    console.log(`      mlc runs over a 2 GB runs.jsonl: peak RSS ${Math.round(peak / 1024)} MB`);
    assert.ok(peak > 0 && peak < 200 * 1024, `peak RSS ${peak} kB`);
    execFileSync('rm', ['-rf', big]);
  });
});
