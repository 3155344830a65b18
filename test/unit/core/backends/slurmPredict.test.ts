import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { renderPredictScript, runShardsOnSlurm, slurmShardArray } from '../../../../src/core/backends/slurm/predict';
import type { Slurm, SlurmTaskState } from '../../../../src/core/backends/slurm/slurm';
import type { ImageDetails } from '../../../../src/core/docker/engine';
import { createLogger } from '../../../../src/core/log';
import { shardContainerRequest, splitShards } from '../../../../src/core/model/predict';

const details: ImageDetails = {
  id: 'sha256:' + 'a'.repeat(64),
  repoTags: ['digits:20261205-010203-cafe'],
  labels: {},
  env: [],
  user: '',
  entrypoint: null,
  cmd: ['python3'],
  workingDir: '',
} as unknown as ImageDetails;

function tasks(outDir: string, indices: number[]) {
  const shards = splitShards(1000, 4, 50);
  return indices.map((i) => ({
    shard: shards[i]!,
    request: shardContainerRequest({
      image: { ref: 'digits:20261205-010203-cafe', details },
      name: `mlc-predict-${i}`,
      shard: shards[i]!,
      kind: 'jsonl',
      input: '/data/rows.jsonl',
      shardDir: path.join(outDir, 'shards', String(i)),
      runner: '/opt/mlc-install/templates/model/predict_batch.py',
      batch: 50,
      threads: 1,
    }),
  }));
}

describe('mlc predict --on slurm: the array script', () => {
  it('is one array of the shards to run, with the sbatch options, task K running shard K without network', () => {
    const t = tasks('/jobs/out', [1, 3]);
    const script = renderPredictScript({
      outDir: '/jobs/out',
      tasks: t.map((x) => ({ shard: x.shard.index, request: x.request })),
      slurm: { partition: 'cpu', time: '0:30:00', mem: '4G', extra: ['--qos=long'] },
    });
    const sbatch = script.split('\n').filter((l) => l.startsWith('#SBATCH'));
    assert.deepEqual(sbatch, [
      '#SBATCH --job-name=mlc-predict',
      '#SBATCH --array=1,3',
      '#SBATCH --chdir=/jobs/out',
      '#SBATCH --output=/jobs/out/slurm/%A_%a.log',
      '#SBATCH --partition=cpu',
      '#SBATCH --time=0:30:00',
      '#SBATCH --mem=4G',
      '#SBATCH --qos=long',
    ]);
    assert.match(script, /docker run --name "\$name" --network none/);
    // The batch runner's script is one quoted word over two lines: the case runs to its ' ;;'.
    // shell-quote writes ':' and '=' as '\:' and '\=', which bash reads back as themselves.
    const case1 = /^ {2}1\) args=\(([\s\S]*?)\) ;;$/m.exec(script)![1]!.replace(/\\([:=])/g, '$1');
    assert.ok(case1.includes('--start 250 --end 500') && case1.includes('--shard 1'), case1);
    assert.ok(case1.includes('/jobs/out/shards/1:/mlc/out'), case1);
    assert.ok(case1.includes('/data/rows.jsonl:/mlc/input/input.jsonl:ro'), case1);
    assert.ok(!script.includes('--start 0 '), 'shard 0 is not in this array');
  });

  it("runs shard K's docker words for array task K (bash, with docker stubbed)", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-slurm-predict-'));
    try {
      const t = tasks(dir, [0, 2]);
      const file = path.join(dir, 'predict.sbatch');
      fs.writeFileSync(
        file,
        renderPredictScript({ outDir: dir, tasks: t.map((x) => ({ shard: x.shard.index, request: x.request })), slurm: {} }),
      );
      fs.writeFileSync(path.join(dir, 'docker'), '#!/bin/sh\nprintf "%s\\n" "$@"\n', { mode: 0o755 });
      const env = {
        ...process.env,
        PATH: `${dir}:${process.env.PATH}`,
        SLURM_ARRAY_JOB_ID: '41',
        SLURM_ARRAY_TASK_ID: '2',
        SLURM_CPUS_PER_TASK: '3',
      };
      const words = execFileSync('bash', [file], { env, encoding: 'utf8' }).trim().split('\n');
      assert.deepEqual(words.slice(0, 8), ['run', '--name', 'mlc-predict-41-2', '--network', 'none', '--cpus', '3', '--rm']);
      assert.equal(words[words.indexOf('--start') + 1], '500');
      assert.equal(words[words.indexOf('--end') + 1], '750');
      let failed: { status: number; stderr: string } | undefined;
      try {
        execFileSync('bash', [file], { env: { ...env, SLURM_ARRAY_TASK_ID: '1' }, encoding: 'utf8', stdio: 'pipe' });
      } catch (e) {
        failed = e as { status: number; stderr: string };
      }
      assert.equal(failed?.status, 2);
      assert.match(failed!.stderr, /no shard for array task 1/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses an --output path #SBATCH cannot hold, and an option with a newline', () => {
    assert.throws(() => renderPredictScript({ outDir: '/my jobs/out', tasks: [], slurm: {} }), /choose an --output without them/);
    assert.throws(
      () => renderPredictScript({ outDir: '/jobs/out', tasks: [], slurm: { partition: 'a\nb' } }),
      /--partition takes one word/,
    );
  });
});

describe('mlc predict --on slurm: waiting for the array', () => {
  it('records the job before release, waits until no task is live, and names the task that did not complete', async () => {
    const calls: string[] = [];
    let polls = 0;
    const ended = (task: number, state: string, exitCode: number | null): SlurmTaskState => ({
      job: '41',
      task,
      state,
      exitCode,
      signal: null,
      end: '2026-12-05T07:00:00',
    });
    const slurm: Slurm = {
      submit: async (file) => {
        calls.push(`submit ${path.basename(file)}`);
        return '41';
      },
      release: async (job) => void calls.push(`release ${job}`),
      queue: async () => (polls++ === 0 ? [ended(0, 'RUNNING', null), ended(2, 'PENDING', null)] : []),
      accounting: async () => [ended(0, 'COMPLETED', 0), ended(2, 'CANCELLED', 0)],
      cancel: async (ids) => void calls.push(`cancel ${ids.join(',')}`),
    };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-slurm-predict-'));
    try {
      const array = slurmShardArray({ sbatch: {}, runtime: 'docker' }, { client: slurm });
      const result = await array.run({
        outDir: dir,
        tasks: tasks(dir, [0, 2]),
        submitted: async (job) => void calls.push(`recorded ${job}`),
        log: createLogger({ write: () => undefined }, 'test'),
      });
      assert.deepEqual(calls, ['submit predict.sbatch', 'recorded 41', 'release 41']);
      assert.ok(polls >= 2);
      assert.equal(result.job, '41');
      assert.deepEqual(result.ended.get(0), { exitCode: 0, end: '2026-12-05T07:00:00' });
      assert.equal(
        result.ended.get(2)?.error,
        'shard 2 (rows 500-749), Slurm task 41_2: Slurm ended it: CANCELLED; its log is slurm/41_2.log.',
      );
      assert.ok(fs.readFileSync(path.join(dir, 'slurm', 'predict.sbatch'), 'utf8').includes('#SBATCH --array=0,2'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('asks sacct again until a task squeue let go of is there (slurmdbd records it a moment later), then names its end', async () => {
    let asked = 0;
    const state = (task: number, s: string): SlurmTaskState => ({ job: '43', task, state: s, exitCode: 0, signal: null, end: null });
    const slurm: Slurm = {
      submit: async () => '43',
      release: async () => undefined,
      queue: async () => [],
      // A fresh slurmdbd: the cancelled task is missing, then still running, then there.
      accounting: async () =>
        [[state(0, 'COMPLETED')], [state(0, 'COMPLETED'), state(1, 'RUNNING')]][asked++] ?? [state(0, 'COMPLETED'), state(1, 'CANCELLED')],
      cancel: async () => undefined,
    };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-slurm-predict-'));
    try {
      const { ended } = await runShardsOnSlurm({
        outDir: dir,
        tasks: tasks(dir, [0, 1]).map((t) => ({ shard: t.shard.index, request: t.request })),
        slurm: {},
        client: slurm,
        log: createLogger({ write: () => undefined }, 'test'),
        submitted: async () => undefined,
        pollMs: 10,
      });
      assert.equal(asked, 3);
      assert.equal(ended.get(1)?.state, 'CANCELLED');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('cancels the array when interrupted while it waits', async () => {
    const calls: string[] = [];
    const controller = new AbortController();
    const slurm: Slurm = {
      submit: async () => '42',
      release: async () => undefined,
      queue: async () => {
        controller.abort();
        return [{ job: '42', task: 0, state: 'RUNNING', exitCode: null, signal: null, end: null }];
      },
      accounting: async () => [],
      cancel: async (ids) => void calls.push(`cancel ${ids.join(',')}`),
    };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-slurm-predict-'));
    try {
      const array = slurmShardArray({ sbatch: {}, runtime: 'docker' }, { client: slurm });
      await assert.rejects(
        array.run({
          outDir: dir,
          tasks: tasks(dir, [0]),
          submitted: async () => undefined,
          log: createLogger({ write: () => undefined }, 'test'),
          signal: controller.signal,
        }),
      );
      assert.deepEqual(calls, ['cancel 42']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
