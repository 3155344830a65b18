import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatComparison } from '../../../../src/cli/run';
import { MAX_METRIC_NAMES, readRunSeries } from '../../../../src/core/metrics/metrics';
import { compareRuns, selectRuns } from '../../../../src/core/run/compare';
import { loadRunSeries, writeSeriesCache } from '../../../../src/core/run/series';
import { runRecord } from '../../../helpers/runs';

const run = runRecord;

describe('comparing runs', () => {
  it('marks the best run per metric: lowest for loss-like names, highest otherwise; NaN never wins', async () => {
    const c = await compareRuns([
      run('a', { params: { lr: 0.1 }, last: { val_loss: 0.4, val_acc: 0.9 } }),
      run('b', { params: { lr: 0.01 }, last: { val_loss: 0.3, val_acc: 'NaN' } }),
      run('c', { params: { lr: 0.001 }, last: { val_loss: 'NaN', val_acc: 0.8 } }),
    ]);
    assert.deepEqual({ ...c.best }, { val_loss: { run: 'b', lowerIsBetter: true }, val_acc: { run: 'a', lowerIsBetter: false } });
    const lines = formatComparison(c);
    assert.match(lines[0]!, /^RUN\s+STATUS\s+IMAGE\s+COMMIT\s+lr\s+val_loss\s+val_acc$/);
    assert.match(lines[2]!, /^b\s+ok\s+dimuon:3f2a1bc\s+3f2a1bc\s+0\.01\s+0\.3\*\s+NaN$/);
    assert.ok(lines.includes('* best: val_loss lowest, val_acc highest'));
  });

  it('keeps a metric named constructor or toString apart from what objects inherit, and caps the columns', async () => {
    const c = await compareRuns([run('a', { last: { constructor: 0.5, loss: 1 } }), run('b', { last: { toString: 2, loss: 0.5 } })]);
    assert.deepEqual(c.metricNames, ['constructor', 'loss', 'toString']);
    assert.deepEqual([c.runs[0]!.metrics.toString, c.runs[1]!.metrics.constructor], [undefined, undefined]);
    assert.equal(c.best.constructor, undefined, 'one run has it: no best');
    assert.ok(
      formatComparison(c).some((l) => /^b\s.*\s-\s+0\.5\*\s+2$/.test(l)),
      formatComparison(c).join('\n'),
    );
    const many = (id: string, from: number): ReturnType<typeof run> =>
      run(id, { last: Object.fromEntries(Array.from({ length: MAX_METRIC_NAMES }, (_, i) => [`m${from + i}`, i])) });
    const wide = await compareRuns([many('a', 0), many('b', MAX_METRIC_NAMES)]);
    assert.equal(wide.metricNames.length, MAX_METRIC_NAMES);
    assert.equal(wide.metricsLeftOut, MAX_METRIC_NAMES);
  });

  it('names the config keys that differ (nested as dotted keys) and the packages between different images', async () => {
    const other = { id: 'sha256:bbbbbbbbbbbbbbbb', ref: 'dimuon:9e8d7c6', tags: [], revision: null, dirty: false };
    const c = await compareRuns(
      [
        run('a'),
        run('b', { image: other, config: { path: 'configs/exp.yaml', sha256: 'y', content: 'lr: 0.1\nmodel:\n  width: 128\nseed: 1\n' } }),
      ],
      async (id) => (id === other.id ? 'numpy==2.1.0\ntorch==2.5.1\n' : 'numpy==2.0.0\ntorch==2.5.1\n'),
    );
    assert.deepEqual(c.configKeys, ['model.width', 'seed']);
    assert.deepEqual(c.packages, [{ from: 'sha256:aaaaaaaaaaaaaaaa', to: other.id, lines: ['~ numpy 2.0.0 -> 2.1.0'] }]);
    assert.ok(formatComparison(c).some((l) => /No metrics recorded: write \$MLC_RUN_DIR\/metrics\.jsonl/.test(l)));
  });

  it("selects a sweep's points, or named runs, and says what to do for an unknown one", () => {
    const all = [run('s-1', { sweep: { id: 's', index: 0, size: 2 } }), run('s-2', { sweep: { id: 's', index: 1, size: 2 } }), run('x')];
    assert.deepEqual(
      selectRuns(all, { sweep: 's' }).map((r) => r.id),
      ['s-1', 's-2'],
    );
    assert.deepEqual(
      selectRuns(all, { ids: ['x', 's-1'] }).map((r) => r.id),
      ['x', 's-1'],
    );
    assert.throws(() => selectRuns(all, { ids: ['nope'] }), /No run nope in this project: `mlc runs` lists them/);
    assert.throws(() => selectRuns(all, { sweep: 'q' }), /No runs of sweep q/);
  });
});

describe('metric series kept with a finished run', () => {
  it('thins every metric to the chart budget in one pass, keeping the first and the last point', async () => {
    const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-series-'));
    const dir = path.join(workspace, '.mlcontainers', 'runs', 'r1');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(
      path.join(dir, 'metrics.jsonl'),
      `${Array.from({ length: 10_001 }, (_, s) => JSON.stringify({ step: s, loss: 1 / (1 + s), acc: s === 5000 ? 'NaN' : s / 10_000 })).join('\n')}\n`,
    );
    const { metrics, series } = await readRunSeries(dir, 100);
    assert.equal(metrics.metrics.loss?.steps, 10_001, 'the summary still counts every point');
    for (const name of ['loss', 'acc']) {
      const s = series[name]!;
      assert.ok(s.steps.length <= 101 && s.steps.length >= 50, `${name}: ${s.steps.length} points`);
      assert.deepEqual([s.steps[0], s.steps.at(-1)], [0, 10_000]);
      assert.ok(
        s.steps.every((step, i) => i === 0 || step > s.steps[i - 1]!),
        'steps stay in order',
      );
    }
    await writeSeriesCache(workspace, 'r1', series);
    fs.rmSync(path.join(dir, 'metrics.jsonl'));
    const cached = await loadRunSeries(workspace, 'r1', 'loss');
    assert.deepEqual(cached?.values, series.loss?.values, 'read back from the cache, not the (now gone) file');
  });
});
