// `mlc predict`: a tiny model image (weights in /opt/mlc/model, predict.py and the server as `mlc model save` puts
// them, FROM the Python stand-in) applied to 1,000 JSONL rows by dist/cli.js, in 1 and 4 shards; one shard's
// container killed mid-way, then rerun alone with --resume; the same in 4 shards as one Slurm array
// (scripts/test-slurm.sh), one array task scancelled mid-way and rerun alone as a new array.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { packFiles } from '../../src/core/docker/buildContext';
import type { Engine } from '../../src/core/docker/engine';
import { MODEL_DIR, MODEL_LABELS, MODEL_ROLE } from '../../src/core/model/card';
import type { PredictRecord } from '../../src/core/model/predict';
import { PREDICT_ROLE, SHARD_LABEL, shardFile } from '../../src/core/model/predict';
import { serveDockerfileLines } from '../../src/core/model/layout';
import { ROLE_LABEL } from '../../src/core/labels';
import { assertBuiltCli, mlc, mlcProcess } from '../helpers/mlc';
import { requireSlurm, until } from '../helpers/slurm';
import { engineKind, requireEngine, requireImage, requireKind } from './harness';

const PYTHON = 'mlc-test/jupyter:bookworm';
const RUN = '20261205-010203-cafe';
const WEIGHTS = [0.5, -2, 3];
// A linear model; the batch holding row 600 takes 8 s, long enough to kill its container on the way.
const PREDICT = `import json, os, time
def load(model_dir):
    with open(os.path.join(model_dir, "weights.json")) as f:
        return json.load(f)

def predict(model, inputs):
    rows = inputs["x"]
    if any(row[0] == 600 for row in rows):
        time.sleep(8)
    return {"score": [sum(w * v for w, v in zip(model, row)) for row in rows], "id": inputs["id"]}
`;

describe('mlc predict (real engine, mlc from dist/cli.js)', function () {
  let engine: Engine;
  let dir: string;
  let tag: string;

  const read = (out: string): string => fs.readFileSync(path.join(out, 'predictions.jsonl'), 'utf8');
  const record = (out: string): PredictRecord => JSON.parse(fs.readFileSync(path.join(out, 'predict.json'), 'utf8')) as PredictRecord;
  const predict = (out: string, more: string[]) =>
    mlc(['predict', tag, '--input', path.join(dir, 'rows.jsonl'), '--output', out, '--batch', '50', ...more], {
      cwd: dir,
      timeoutMs: 240_000,
    });

  before(async function () {
    engine = await requireEngine(this);
    await requireImage(this, engine, PYTHON);
    assertBuiltCli();
    tag = `mlc-predict-test-${randomUUID().slice(0, 8)}:${RUN}`;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-predict-'));
    const rows = Array.from({ length: 1000 }, (_, i) => `${JSON.stringify({ x: [i, i % 7, 1], id: `r${i}` })}\n`);
    fs.writeFileSync(path.join(dir, 'rows.jsonl'), rows.join(''));
    const files = [
      { path: 'Dockerfile', content: [`FROM ${PYTHON}`, `COPY model/ ${MODEL_DIR}/`, ...serveDockerfileLines(), ''].join('\n') },
      { path: 'model/weights.json', content: JSON.stringify(WEIGHTS) },
      { path: 'serve.py', content: fs.readFileSync(path.resolve(__dirname, '../../templates/model/serve.py'), 'utf8') },
      { path: 'predict.py', content: PREDICT },
    ];
    await engine.build(packFiles(files), {
      tags: [tag],
      labels: { [ROLE_LABEL]: MODEL_ROLE, [MODEL_LABELS.run]: RUN },
      dockerfile: 'Dockerfile',
      buildKit: (await engineKind(engine)) === 'docker',
    });
  });

  after(async () => {
    if (tag) await engine?.removeImage(tag, { force: true }).catch(() => undefined);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('gives the same predictions, in input order, in 4 shards as in 1; a shard killed mid-way is rerun alone', async () => {
    const one = path.join(dir, 'one');
    const r1 = await predict(one, ['--shards', '1']);
    assert.equal(r1.code, 0, r1.stderr);
    const lines = read(one)
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { row: number; key: number; outputs: { score: number; id: string } });
    assert.equal(lines.length, 1000);
    lines.forEach((l, i) => {
      assert.deepEqual(l, { row: i, key: i, outputs: { score: 0.5 * i - 2 * (i % 7) + 3, id: `r${i}` } });
    });
    assert.equal(record(one).model.run, RUN);

    const four = path.join(dir, 'four');
    const child = mlcProcess(
      ['predict', tag, '--input', path.join(dir, 'rows.jsonl'), '--output', four, '--shards', '4', '--batch', '50'],
      {
        cwd: dir,
      },
    );
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    // Shard 2 (rows 500-749) sleeps in the batch of row 600: kill its container then.
    let victim: string | undefined;
    for (let i = 0; i < 200 && !victim; i++) {
      await new Promise((r) => setTimeout(r, 100));
      victim = (await engine.listContainers({ labels: [`${ROLE_LABEL}=${PREDICT_ROLE}`, `${SHARD_LABEL}=2`] })).find(
        (c) => c.state === 'running',
      )?.id;
    }
    assert.ok(victim, `shard 2's container never ran:\n${stderr}`);
    // Killed once two batches are written and the third sleeps: mid-way, with rows done that must not count.
    for (let i = 0; i < 300 && !(await engine.containerLogs(victim, 'all')).includes('100 of 250 rows'); i++)
      await new Promise((r) => setTimeout(r, 100));
    await engine.stopContainer(victim, 0);
    assert.equal(await exited, 1, stderr);
    assert.match(stderr, /Shard 2 of 4 failed; shard 2 \(rows 500-749\) exited with code (137|143); its last lines:\n.*100 of 250 rows/s);
    assert.match(stderr, /--resume/);
    assert.deepEqual(
      record(four).shards.map((s) => s.status),
      ['succeeded', 'succeeded', 'failed', 'succeeded'],
    );
    assert.ok(!fs.existsSync(path.join(four, 'predictions.jsonl')));
    const kept = [0, 1, 3].map((i) => fs.statSync(shardFile(four, i)).mtimeMs);

    const resumed = await predict(four, ['--resume', '--json']);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.deepEqual(
      [0, 1, 3].map((i) => fs.statSync(shardFile(four, i)).mtimeMs),
      kept,
    );
    assert.equal(read(four), read(one));
    const r = JSON.parse(resumed.stdout) as PredictRecord;
    assert.equal(r.status, 'succeeded');
    assert.equal(r.output?.sha256, record(one).output?.sha256);
    assert.deepEqual(
      r.shards.map((s) => [s.start, s.end]),
      [
        [0, 250],
        [250, 500],
        [500, 750],
        [750, 1000],
      ],
    );
  });

  it('on Slurm: 4 shards as one array give the predictions of one shard; a task scancelled mid-way is rerun alone as a new array', async function () {
    await requireKind(this, engine, 'docker', "the array's tasks drive the docker CLI on the node, which the Podman pass does not change");
    requireSlurm(this);
    const one = path.join(dir, 'one');
    if (!fs.existsSync(path.join(one, 'predictions.jsonl'))) {
      const r1 = await predict(one, ['--shards', '1']);
      assert.equal(r1.code, 0, r1.stderr);
    }
    const four = path.join(dir, 'four-slurm');
    const args = [
      'predict',
      tag,
      '--input',
      path.join(dir, 'rows.jsonl'),
      '--output',
      four,
      '--shards',
      '4',
      '--batch',
      '50',
      '--on',
      'slurm',
    ];
    const child = mlcProcess(args, { cwd: dir });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    // The job is on record before a task starts; shard 2 (rows 500-749) sleeps in the batch of row 600.
    const job = await until('the array job on record', async () => {
      const r = fs.existsSync(path.join(four, 'predict.json')) ? record(four) : undefined;
      return r?.backend === 'slurm' ? r.job : undefined;
    });
    const log = path.join(four, 'slurm', `${job}_2.log`);
    await until("shard 2's task two batches in", async () =>
      fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('100 of 250 rows') ? true : undefined,
    );
    execFileSync('scancel', [`${job}_2`]);
    assert.equal(await exited, 1, stderr);
    assert.match(stderr, new RegExp(`Shard 2 of 4 failed; shard 2 \\(rows 500-749\\), Slurm task ${job}_2: Slurm ended it: CANCELLED`));
    assert.match(stderr, /--resume/);
    assert.deepEqual(
      record(four).shards.map((s) => s.status),
      ['succeeded', 'succeeded', 'failed', 'succeeded'],
    );
    assert.ok(!fs.existsSync(path.join(four, 'predictions.jsonl')));
    // One array, a task per shard, on record as the job.
    assert.match(fs.readFileSync(path.join(four, 'slurm', 'predict.sbatch'), 'utf8'), /^#SBATCH --array=0,1,2,3$/m);
    assert.equal(record(four).job, job);
    const kept = [0, 1, 3].map((i) => fs.statSync(shardFile(four, i)).mtimeMs);

    const resumed = await mlc([...args.filter((a) => a !== '--shards' && a !== '4'), '--resume', '--json'], {
      cwd: dir,
      timeoutMs: 240_000,
    });
    assert.equal(resumed.code, 0, resumed.stderr);
    const r = JSON.parse(resumed.stdout) as PredictRecord;
    assert.equal(r.backend, 'slurm');
    assert.notEqual(r.job, job);
    assert.match(fs.readFileSync(path.join(four, 'slurm', 'predict.sbatch'), 'utf8'), /^#SBATCH --array=2$/m);
    assert.deepEqual(
      [0, 1, 3].map((i) => fs.statSync(shardFile(four, i)).mtimeMs),
      kept,
    );
    assert.equal(read(four), read(one));
    assert.equal(r.output?.sha256, record(one).output?.sha256);
  });
});
