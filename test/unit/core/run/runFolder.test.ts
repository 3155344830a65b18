import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { RunRecord } from '../../../../src/core/run/records';
import {
  MAX_RECORD_LINE,
  RUNS_FILE,
  appendFinal,
  markStopRequested,
  readRuns,
  recordLine,
  stopRequested,
} from '../../../../src/core/run/records';
import { RunFileRefused } from '../../../../src/core/untrustedFile';
import { makeRunFolder, openRunFileForAppend, readRunFile, runFolder, writeRunFile } from '../../../../src/core/run/runFolder';

function record(id: string, extra: Partial<RunRecord> = {}): RunRecord {
  return {
    id,
    status: 'running',
    exitCode: null,
    image: { id: 'sha256:abc', ref: 'x:1', tags: ['x:1'], revision: null, dirty: false },
    commit: null,
    dirty: false,
    code: 'workspace',
    config: { path: 'c.yaml', sha256: 'f'.repeat(64), content: 'lr: 1\n' },
    params: {},
    sweep: null,
    command: ['python', 'train.py'],
    start: '2026-12-04T20:00:00.000Z',
    end: null,
    gpus: 'none',
    container: 'c',
    log: `.mlcontainers/runs/${id}/output.log`,
    ...extra,
  };
}

describe('run folders: the container writes them, the host opens and never follows', () => {
  let ws: string;
  let outside: string;
  const canary = 'CANARY-do-not-read';
  beforeEach(() => {
    ws = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-rf-'));
    outside = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-outside-')), 'secret');
    fs.writeFileSync(outside, canary);
  });
  afterEach(() => {
    fs.rmSync(ws, { recursive: true, force: true });
    fs.rmSync(path.dirname(outside), { recursive: true, force: true });
  });

  it('refuses run ids that could name another folder', () => {
    for (const id of ['../x', '../../../x', 'a/b', '.', '..', '', '.hidden', 'a'.repeat(65)])
      assert.throws(() => runFolder(ws, id), RunFileRefused, id);
    assert.equal(runFolder(ws, '20261204-203627-1a2b-3'), path.join(ws, '.mlcontainers', 'runs', '20261204-203627-1a2b-3'));
  });

  it('reads no link, absolute or relative, and no hard link or FIFO the run put in its folder', async () => {
    const dir = await makeRunFolder(ws, 'r1');
    fs.symlinkSync(outside, path.join(dir, 'abs.json'));
    fs.symlinkSync(path.relative(dir, outside), path.join(dir, 'rel.json'));
    fs.linkSync(outside, path.join(dir, 'hard.json'));
    execFileSync('mkfifo', [path.join(dir, 'fifo.json')]);
    for (const name of ['abs.json', 'rel.json', 'hard.json', 'fifo.json']) {
      await assert.rejects(readRunFile(dir, name, { maxBytes: 1024 }), RunFileRefused, name);
    }
    assert.equal(await readRunFile(dir, 'absent.json', { maxBytes: 1024 }), undefined);
  });

  it('reads nothing through a folder on the way that is a link, nor through a run folder that is one', async () => {
    const dir = await makeRunFolder(ws, 'r1');
    fs.symlinkSync(path.dirname(outside), path.join(dir, 'logs'));
    await assert.rejects(readRunFile(dir, 'logs/secret', { maxBytes: 1024 }), /leads out of it/);
    const planted = runFolder(ws, 'r2');
    fs.symlinkSync(path.dirname(outside), planted);
    await assert.rejects(readRunFile(planted, 'secret', { maxBytes: 1024 }), /leads out of it/);
  });

  it('refuses a file past its cap, or reads only its end when asked', async () => {
    const dir = await makeRunFolder(ws, 'r1');
    fs.writeFileSync(path.join(dir, 'big'), 'a'.repeat(2000) + 'END');
    await assert.rejects(readRunFile(dir, 'big', { maxBytes: 1000 }), /more than the 1000 bytes/);
    const tail = await readRunFile(dir, 'big', { maxBytes: 3, truncate: true, tail: true });
    assert.equal(tail?.data.toString(), 'END');
    assert.equal(tail?.truncated, true);
  });

  it("makes no run folder where the run planted a link under the next point's name", async () => {
    await makeRunFolder(ws, 'r1');
    fs.symlinkSync(path.dirname(outside), runFolder(ws, 'r2'));
    await assert.rejects(makeRunFolder(ws, 'r2'), /a link/);
    assert.equal(fs.statSync(path.dirname(outside)).mode & 0o777, 0o700);
    assert.deepEqual(fs.readdirSync(path.dirname(outside)), ['secret']);
  });

  it('gives a run folder mode 0755, not 0777', async () => {
    const dir = await makeRunFolder(ws, 'r1');
    assert.equal(fs.statSync(dir).mode & 0o777, 0o755);
  });

  it("replaces a link by the host's own file, never writing through it", async () => {
    const dir = await makeRunFolder(ws, 'r1');
    fs.symlinkSync(outside, path.join(dir, '.gpus.json'));
    await writeRunFile(dir, '.gpus.json', '[]');
    assert.equal(fs.readFileSync(outside, 'utf8'), canary);
    assert.equal(fs.readFileSync(path.join(dir, '.gpus.json'), 'utf8'), '[]');
    fs.symlinkSync(outside, path.join(dir, 'output.log'));
    const log = await openRunFileForAppend(dir, 'output.log');
    await log.write('hello\n');
    await log.close();
    assert.equal(fs.readFileSync(outside, 'utf8'), canary);
    assert.equal(fs.lstatSync(path.join(dir, 'output.log')).isFile(), true);
  });

  it('Stop Run truncates nothing a planted .stop link points to', async () => {
    const dir = await makeRunFolder(ws, 'r1');
    fs.symlinkSync(outside, path.join(dir, '.stop'));
    assert.equal(await stopRequested(ws, 'r1'), false, 'a link is no stop request');
    await markStopRequested(ws, 'r1');
    assert.equal(fs.readFileSync(outside, 'utf8'), canary);
    assert.equal(await stopRequested(ws, 'r1'), true);
  });
});

describe('run records: read back as untrusted input', () => {
  let ws: string;
  beforeEach(() => {
    ws = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-rec-'));
    fs.mkdirSync(path.join(ws, '.mlcontainers'));
  });
  afterEach(() => fs.rmSync(ws, { recursive: true, force: true }));

  const write = (lines: string[]): void => fs.writeFileSync(path.join(ws, RUNS_FILE), lines.map((l) => `${l}\n`).join(''));

  it("derives each run's output path from its id, whatever the line says", async () => {
    write([JSON.stringify(record('r1', { log: '../outside/.bashrc' }))]);
    const { runs } = await readRuns(ws);
    assert.equal(runs[0]!.log, '.mlcontainers/runs/r1/output.log');
  });

  it('skips and names lines whose id, sweep id or shape is forged, and acts on none', async () => {
    write([
      JSON.stringify(record('r1')),
      JSON.stringify(record('../../../x')),
      JSON.stringify(record('r2', { sweep: { id: '../../etc', index: 0, size: 2 } })),
      JSON.stringify({ ...record('r3'), status: 'pwned' }),
      'not json',
    ]);
    const read = await readRuns(ws);
    assert.deepEqual(
      read.runs.map((r) => r.id),
      ['r1'],
    );
    assert.equal(read.skipped, 4);
    assert.match(read.notes.join(' '), /lines 2, 3, 4, 5 are not a run record/);
  });

  it('keeps a final line over a later start line, and the order runs started in', async () => {
    write([
      JSON.stringify(record('a')),
      JSON.stringify(record('b')),
      JSON.stringify(record('a', { status: 'succeeded', exitCode: 0, end: '2026-12-04T20:01:00.000Z' })),
      JSON.stringify(record('a', { container: 'late' })),
    ]);
    const { runs } = await readRuns(ws);
    assert.deepEqual(
      runs.map((r) => [r.id, r.status]),
      [
        ['a', 'succeeded'],
        ['b', 'running'],
      ],
    );
  });

  it('streams past a line longer than a record can be, naming it, with the runs around it kept', async () => {
    const file = path.join(ws, RUNS_FILE);
    fs.writeFileSync(file, `${JSON.stringify(record('r1'))}\n{"id":"r9","x":"`);
    fs.appendFileSync(file, 'x'.repeat(MAX_RECORD_LINE + 5 * 1024 * 1024));
    fs.appendFileSync(file, `"}\n${JSON.stringify(record('r2'))}\n`);
    const read = await readRuns(ws);
    assert.deepEqual(
      read.runs.map((r) => r.id),
      ['r1', 'r2'],
    );
    assert.equal(read.skipped, 1);
    assert.match(read.notes[0]!, /line 2 \(9 MB\) is longer than a run record can be/);
  });

  it('writes a record line under the cap: a huge config text is left out, its sha256 kept', () => {
    const line = recordLine(record('r1', { config: { path: 'c.yaml', sha256: 'e'.repeat(64), content: 'x'.repeat(MAX_RECORD_LINE) } }));
    assert.ok(Buffer.byteLength(line) <= MAX_RECORD_LINE);
    assert.equal((JSON.parse(line) as RunRecord).config.sha256, 'e'.repeat(64));
  });

  it('writes a final line once, even where the run planted .final as a link', async () => {
    const dir = await makeRunFolder(ws, 'r1');
    const target = path.join(ws, 'target');
    fs.symlinkSync(target, path.join(dir, '.final'));
    assert.equal(await appendFinal(ws, record('r1', { status: 'failed' })), false);
    assert.equal(fs.existsSync(target), false, 'nothing was written through the link');
  });
});
