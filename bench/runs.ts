// 6. Experiment records at scale, against budgets (no other tool lists these): `mlc runs` over 10,000 records in a
//    fresh process, and the data Compare Runs needs for 20 runs × 10,000 steps (their comparison and one metric's
//    series each).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readRunSeries } from '../src/core/metrics/metrics';
import { compareRuns } from '../src/core/run/compare';
import type { RunRecord } from '../src/core/run/records';
import { RUNS_FILE, readRuns, runFolder } from '../src/core/run/records';
import { writeSeriesCache } from '../src/core/run/series';
import { comparePayload, readChartSeries } from '../src/core/run/comparePayload';
import type { Options, Row } from './lib';
import { ROOT, measure, median, ok, round, timeIt } from './lib';

const CONFIG = '# learning-rate study\nseed: 7\nlr: 0.001\nbatch_size: 64\noptimizer:\n  name: adamw\n  weight_decay: 0.01\nepochs: 20\n';

function record(i: number): RunRecord {
  const sweep = `20261101-${String(Math.floor(i / 20)).padStart(6, '0')}-ab12`;
  const start = new Date(Date.UTC(2026, 10, 1) + i * 60_000).toISOString();
  return {
    id: `${sweep}-${(i % 20) + 1}`,
    status: i % 17 ? 'succeeded' : 'failed',
    exitCode: i % 17 ? 0 : 1,
    image: {
      id: `sha256:${'ab'.repeat(32)}`,
      ref: 'dimuon:latest',
      tags: ['dimuon:3f2a1bc', 'dimuon:latest'],
      revision: '3f2a1bc9d0e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4',
      dirty: false,
    },
    commit: '3f2a1bc9d0e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4',
    dirty: false,
    code: 'workspace',
    config: { path: 'configs/experiment.yaml', sha256: 'cd'.repeat(32), content: CONFIG.replace('0.001', String(0.001 * (1 + (i % 20)))) },
    params: { lr: 0.001 * (1 + (i % 20)) },
    sweep: { id: sweep, index: i % 20, size: 20 },
    command: ['python', 'train.py'],
    start,
    end: new Date(Date.parse(start) + 45_000).toISOString(),
    gpus: '0',
    seenGpus: [{ index: '0', name: 'NVIDIA H100 80GB HBM3', uuid: 'GPU-5b9c4e0e-4f4e-4c3a-9d2b-1f0e0a7b6c5d' }],
    container: `dimuon-run-${i}`,
    log: `.mlcontainers/runs/${i}/output.log`,
    metrics: {
      skipped: 0,
      metrics: {
        loss: { source: 'metrics.jsonl', last: 0.3, lastStep: 9999, min: 0.29, max: 2.3, steps: 10_000, nans: 0 },
        val_loss: { source: 'metrics.jsonl', last: 0.35, lastStep: 9999, min: 0.34, max: 2.2, steps: 100, nans: 0 },
        val_acc: { source: 'metrics.jsonl', last: 0.91, lastStep: 9999, min: 0.1, max: 0.92, steps: 100, nans: 0 },
      },
    },
  };
}

export async function runs(o: Options): Promise<Row[]> {
  const repeats = o.quick ? 5 : 11;
  const dir = path.join(o.scratch, 'runs-project');
  fs.mkdirSync(path.join(dir, '.mlcontainers'), { recursive: true });
  const lines: string[] = [];
  for (let i = 0; i < 10_000; i++) {
    const r = record(i);
    lines.push(JSON.stringify({ ...r, status: 'running', exitCode: null, end: null, metrics: undefined }), JSON.stringify(r));
  }
  fs.writeFileSync(path.join(dir, RUNS_FILE), `${lines.join('\n')}\n`);
  const cli = path.join(ROOT, 'dist', 'cli.js');
  // Every run here has ended on record, so the listing asks the engine nothing (it would, with a run on record as running).
  const listing = async (): Promise<number> => ok(await measure(process.execPath, [cli, 'runs', '--dir', dir]), 'mlc runs').ms;
  await listing();
  const listed: number[] = [];
  for (let i = 0; i < repeats; i++) listed.push(await listing());

  // 20 runs, each with a metrics.jsonl of 10,000 steps of three metrics.
  const chosen = (await readRuns(dir)).runs.slice(0, 20);
  for (const r of chosen) {
    const steps = Array.from({ length: 10_000 }, (_, s) =>
      JSON.stringify({ step: s, loss: 2.3 / (1 + s / 500), lr: 0.001, grad_norm: 1 / (1 + s) }),
    );
    fs.mkdirSync(runFolder(dir, r.id), { recursive: true });
    fs.writeFileSync(path.join(runFolder(dir, r.id), 'metrics.jsonl'), `${steps.join('\n')}\n`);
    // What finishing a run keeps beside its record (core/run/lifecycle.ts).
    await writeSeriesCache(dir, r.id, (await readRunSeries(runFolder(dir, r.id))).series);
  }
  const prepare = async (): Promise<number> =>
    (
      await timeIt(async () => {
        // What the Compare Runs panel posts: the comparison and the chart of one metric over every run.
        const comparison = await compareRuns(chosen);
        const series = await readChartSeries(
          dir,
          chosen.map((r) => r.id),
          ['loss'],
        );
        const payload = comparePayload(comparison, series);
        if ([...series.values()].some((s) => !s[0]?.values.length) || payload === undefined) throw new Error('compare data incomplete');
      })
    ).ms;
  await prepare();
  const prepared: number[] = [];
  for (let i = 0; i < repeats; i++) prepared.push(await prepare());
  o.log(`runs: mlc runs over 10,000 records; compare data for 20 runs × 10,000 steps; ${repeats} times each`);
  const list = median(listed);
  const data = median(prepared);
  return [
    {
      benchmark: '`mlc runs` over 10,000 records (fresh process, 20,000 lines: a start and a final line per run)',
      unit: 'ms',
      ours: round(list, 0),
      anchor: 300,
      anchorName: 'budget',
      ratio: round(list / 300, 2),
      goal: '≤ 300 ms',
      pass: list <= 300,
      detail: `median of ${repeats}; includes node's start`,
    },
    {
      benchmark: "Compare Runs data: 20 runs × 10,000 steps (the comparison and one metric's series per run)",
      unit: 'ms',
      ours: round(data, 0),
      anchor: 200,
      anchorName: 'budget',
      ratio: round(data / 200, 2),
      goal: '≤ 200 ms',
      pass: data <= 200,
      detail: `median of ${repeats}, in process; finished runs keep their series thinned to 2,000 points a metric`,
    },
  ];
}
