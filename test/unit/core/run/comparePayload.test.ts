import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { MetricSeries } from '../../../../src/core/metrics/metrics';
import { compareRuns } from '../../../../src/core/run/compare';
import {
  compareChart,
  comparePayload,
  formatMetricValue,
  headlineMetric,
  packChart,
  readChartSeries,
  sweptParam,
  withLiveMetrics,
} from '../../../../src/core/run/comparePayload';
import type { RunRecord } from '../../../../src/core/run/records';
import { runRecord } from '../../../helpers/runs';

const series = (name: string, steps: number[], values: number[]): MetricSeries => ({ name, source: 'metrics.jsonl', steps, values });

describe('Compare Runs data (what the webview is posted)', () => {
  it('lays out the CLI table as cells: varying params, metric last values, image, short commit; best marked per metric', async () => {
    const c = await compareRuns([
      runRecord('a', { params: { lr: 0.1, seed: 1 }, last: { val_loss: 0.41234, acc: 0.9 } }),
      runRecord('b', { params: { lr: 0.01, seed: 1 }, last: { val_loss: 0.3, acc: 'NaN' }, dirty: true }),
      runRecord('c', { params: { lr: 0.001, seed: 1 }, status: 'failed', exitCode: 2, commit: null, last: { acc: 0.8 } }),
    ]);
    const p = comparePayload(c, new Map());
    assert.deepEqual(
      p.columns.map((col) => col.key),
      ['run', 'status', 'param:lr', 'metric:val_loss', 'metric:acc', 'image', 'commit'],
      'seed is the same everywhere: no column',
    );
    assert.deepEqual(
      p.rows.map((r) => r.map((cell) => cell.text)),
      [
        ['a', 'ok', '0.1', '0.4123', '0.9', 'dimuon:3f2a1bc', '3f2a1bc'],
        ['b', 'ok', '0.01', '0.3', 'NaN', 'dimuon:3f2a1bc', '3f2a1bc+dirty'],
        ['c', 'exit 2', '0.001', '-', '0.8', 'dimuon:3f2a1bc', '-'],
      ],
    );
    assert.deepEqual(
      p.rows.map((r) => r[3]!.sort),
      [0.41234, 0.3, null],
      'metrics sort by value; missing and NaN sort last',
    );
    assert.deepEqual(p.best, { 'metric:val_loss': 'b', 'metric:acc': 'a' });
    assert.equal(p.columns[3]!.lowerIsBetter, true);
    assert.deepEqual(
      p.runs.map((r) => r.label),
      ['lr=0.1', 'lr=0.01', 'lr=0.001'],
      'chart lines are named by what differs',
    );
    assert.deepEqual(p.charts, [], 'no series read: no charts');
  });

  it('charts each metric it has series of, the runs aligned on one step axis with gaps where a run has no value', async () => {
    const c = await compareRuns([
      runRecord('a', { last: { loss: 1 } }),
      runRecord('b', { last: { loss: 1 } }),
      runRecord('c', { last: { loss: 1 } }),
    ]);
    const p = comparePayload(
      c,
      new Map([
        ['a', [series('loss', [0, 10, 20], [1, 0.5, 0.25])]],
        // Logged at other steps, a NaN (a gap, not a point), and step 10 twice (a resumed run: the last value counts).
        ['b', [series('loss', [5, 10, 10, 15], [0.9, 0.7, 0.6, NaN])]],
      ]),
    );
    assert.equal(p.charts.length, 1);
    assert.deepEqual(p.charts[0], {
      metric: 'loss',
      steps: [0, 5, 10, 15, 20],
      values: [
        [1, null, 0.5, null, 0.25],
        [null, 0.9, 0.6, null, null],
        [null, null, null, null, null],
      ],
    });
  });

  it('aligns 20 runs × 10,000 steps into one axis of the union of their steps', () => {
    const runs = Array.from({ length: 20 }, (_, r) =>
      series(
        'loss',
        Array.from({ length: 10_000 }, (_, i) => i * 2 + (r % 2)),
        Array.from({ length: 10_000 }, (_, i) => 1 / (i + 1)),
      ),
    );
    const chart = compareChart('loss', runs);
    assert.equal(chart.steps.length, 20_000);
    assert.equal(chart.values.length, 20);
    assert.equal(chart.values[1]![1], 1);
    assert.equal(chart.values[1]![0], null);
  });

  it('gives each swept param an axis: log when positive numbers span two decades, linear otherwise, categorical for the rest', async () => {
    assert.deepEqual(sweptParam('lr', [0.1, 0.001, 0.01]), { key: 'lr', scale: 'log', at: [0.1, 0.001, 0.01], seed: false });
    assert.equal(sweptParam('lr', [0.1, 0.002]).scale, 'linear', 'under two decades');
    assert.equal(sweptParam('shift', [-1, 10, 1000]).scale, 'linear', 'not all positive');
    assert.equal(sweptParam('width', [0, 100]).scale, 'linear', 'zero has no logarithm');
    assert.deepEqual(
      sweptParam('bs', [64, undefined, 32]),
      { key: 'bs', scale: 'linear', at: [64, null, 32], seed: false },
      'a run without the param has no place on the axis',
    );
    assert.deepEqual(sweptParam('opt', ['sgd', 'adam', 'sgd', undefined]), {
      key: 'opt',
      scale: 'categorical',
      categories: ['adam', 'sgd'],
      at: [1, 0, 1, null],
      seed: false,
    });
    assert.deepEqual(
      sweptParam('mixed', [8, 'auto', 16, true]),
      { key: 'mixed', scale: 'categorical', categories: ['8', '16', 'auto', 'true'], at: [0, 2, 1, 3], seed: false },
      'numbers mixed with text are categories, in numeric order',
    );
    const c = await compareRuns([
      runRecord('a', { params: { lr: 0.1, opt: 'sgd', seed: 1 } }),
      runRecord('b', { params: { lr: 0.001, opt: 'adam', seed: 2 } }),
    ]);
    assert.deepEqual(
      comparePayload(c, new Map()).params.map((p) => [p.key, p.scale, p.seed]),
      [
        ['lr', 'log', false],
        ['opt', 'categorical', false],
        ['seed', 'linear', true],
      ],
    );
  });

  it('folds runs that differ only in their seed into groups of run indices, with mean and std per metric', async () => {
    const c = await compareRuns([
      runRecord('a1', { params: { lr: 0.1, seed: 1 }, last: { loss: 1 } }),
      runRecord('b1', { params: { lr: 0.01, seed: 1 }, last: { loss: 4 } }),
      runRecord('a2', { params: { lr: 0.1, seed: 2 }, last: { loss: 3 } }),
      runRecord('b2', { params: { lr: 0.01, seed: 2 }, status: 'failed', exitCode: 1 }),
    ]);
    const p = comparePayload(c, new Map());
    assert.deepEqual(
      p.seeds?.groups.map(({ cells: _, ...g }) => g),
      [
        { runs: [0, 2], label: 'lr=0.1', seeds: ['1', '2'], metrics: { loss: { mean: 2, std: Math.SQRT2, n: 2 } } },
        { runs: [1, 3], label: 'lr=0.01', seeds: ['1', '2'], metrics: { loss: { mean: 4, std: 0, n: 1 } } },
      ],
    );
    assert.equal(p.seeds?.key, 'seed');
    // The table's row per group, column for column, as `mlc runs --compare --group-seeds` prints it.
    assert.deepEqual(
      p.columns.map((col) => col.key),
      ['run', 'status', 'param:lr', 'param:seed', 'metric:loss', 'image', 'commit'],
    );
    assert.deepEqual(
      p.seeds?.groups.map((g) => g.cells.map((cell) => cell.text)),
      [
        ['a1 (2 runs)', p.rows[0]![1]!.text, '0.1', '1, 2', '2 ± 1.4', 'dimuon:3f2a1bc', '3f2a1bc'],
        ['b1 (2 runs)', '2 different', '0.01', '1, 2', '4 ± 0 (1 of 2)', 'dimuon:3f2a1bc', '3f2a1bc'],
      ],
    );
    assert.deepEqual(
      p.seeds?.groups.map((g) => g.cells[4]!.sort),
      [2, 4],
      'a group sorts by its mean',
    );
    assert.deepEqual(p.seeds?.best, { 'metric:loss': 0 }, 'the best group by mean loss (lower is better)');
    const byRun = comparePayload(c, new Map(), { seedKey: 'lr' });
    assert.deepEqual(
      byRun.seeds?.groups.map((g) => g.runs),
      [
        [0, 1],
        [2, 3],
      ],
      'the seed key is a setting',
    );
    assert.deepEqual(
      byRun.params.filter((x) => x.seed).map((x) => x.key),
      ['lr'],
    );
    const distinct = await compareRuns([
      runRecord('x', { params: { lr: 0.1, seed: 1 } }),
      runRecord('y', { params: { lr: 0.2, seed: 1 } }),
    ]);
    assert.equal(comparePayload(distinct, new Map()).seeds, undefined, 'no two runs share their params: nothing to group');
  });

  it("packs a chart for posting: steps and every run's values (run after run) in Float64Arrays, gaps as NaN", () => {
    const packed = packChart({
      metric: 'loss',
      steps: [0, 5, 10],
      values: [
        [1, null, 0.5],
        [null, 0.9, null],
      ],
    });
    assert.equal(packed.metric, 'loss');
    assert.ok(packed.steps instanceof Float64Array && packed.values instanceof Float64Array);
    assert.deepEqual([...packed.steps], [0, 5, 10]);
    assert.deepEqual([...packed.values], [1, NaN, 0.5, NaN, 0.9, NaN]);
  });

  it('formats metric values in a few significant digits, keeping NaN and infinities', () => {
    assert.deepEqual(
      [0.312345, 1234.567, 42, 0.00001234, 123456.7, 0, 'NaN', '-Infinity', Infinity].map((v) => formatMetricValue(v as number)),
      ['0.3123', '1235', '42', '1.234e-5', '1.235e+5', '0', 'NaN', '-Infinity', 'Infinity'],
    );
  });

  it('picks the headline metric: the one the setting names, else the first the run wrote', () => {
    const metrics = runRecord('a', { last: { train_loss: 0.5, val_loss: 0.31 } }).metrics;
    assert.deepEqual(headlineMetric(metrics, ''), { name: 'train_loss', text: '0.5' });
    assert.deepEqual(headlineMetric(metrics, ' val_loss '), { name: 'val_loss', text: '0.31' });
    assert.equal(headlineMetric(metrics, 'accuracy'), undefined);
    assert.equal(headlineMetric(undefined, ''), undefined);
  });

  describe('from run folders', () => {
    let dir: string;
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-compare-'));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    const write = (id: string, lines: object[]): void => {
      fs.mkdirSync(path.join(dir, '.mlcontainers', 'runs', id), { recursive: true });
      fs.writeFileSync(path.join(dir, '.mlcontainers', 'runs', id, 'metrics.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n'));
    };

    it("reads each run's series of the chosen metrics from its metrics files", async () => {
      write('a', [
        { step: 1, loss: 0.9, acc: 0.1 },
        { step: 2, loss: 0.5, acc: 0.3 },
      ]);
      write('b', [{ step: 1, acc: 0.2 }]);
      const read = await readChartSeries(dir, ['a', 'b', 'gone'], ['loss']);
      assert.deepEqual(read.get('a'), [series('loss', [1, 2], [0.9, 0.5])]);
      assert.deepEqual(read.get('b'), []);
      assert.deepEqual(read.get('gone'), []);
    });

    it("fills in what a running run's files say so far (its record gets metrics only when it ends)", async () => {
      write('live', [
        { step: 1, loss: 0.9 },
        { step: 2, loss: 0.7 },
      ]);
      write('done', [{ step: 1, loss: 5 }]);
      const runs: RunRecord[] = [
        runRecord('live', { status: 'running', exitCode: null, end: null }),
        runRecord('done', { last: { loss: 0.2 } }),
      ];
      const [live, done] = await withLiveMetrics(dir, runs);
      assert.equal(live?.metrics?.metrics.loss?.last, 0.7);
      assert.equal(done?.metrics?.metrics.loss?.last, 0.2, 'a finished run keeps what its record says');
    });
  });
});
