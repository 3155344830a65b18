// `mlc runs --compare` after a sweep: the latest sweep when nothing is named, the best K at a metric, seeds grouped.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { groupSeeds, latestSweep, topRuns } from '../../../../src/core/run/compare';
import { compareRuns } from '../../../../src/core/run/compare';
import type { RunRecord } from '../../../../src/core/run/records';
import { appendRun } from '../../../../src/core/run/records';
import { mlcInProcess } from '../../../helpers/cli';
import { startedRecord } from '../../../helpers/runRecords';

const summary = (last: number) => ({ source: 'metrics.jsonl' as const, last, lastStep: 8, min: last, max: last, steps: 8, nans: 0 });

/** A finished sweep point with its params and final val_acc / val_loss. */
function point(sweep: string, index: number, size: number, params: Record<string, unknown>, acc: number, start: string): RunRecord {
  return startedRecord(`${sweep}-${index + 1}`, {
    status: 'succeeded',
    exitCode: 0,
    end: start,
    start,
    params,
    sweep: { id: sweep, index, size },
    metrics: { metrics: { val_acc: summary(acc), val_loss: summary(1 - acc) }, skipped: 0 },
  });
}

describe('compare at scale: the latest sweep, the top K, seeds grouped', () => {
  // 2 learning rates × 3 seeds, then an older 2-point sweep.
  const grid: RunRecord[] = [];
  const accs = [
    [0.9, 0.92, 0.94],
    [0.7, 0.71, 0.69],
  ];
  [0.1, 0.01].forEach((lr, i) =>
    [0, 1, 2].forEach((seed, j) =>
      grid.push(
        point('20261205-100000-aaaa', i * 3 + j, 6, { 'optimizer.lr': lr, seed }, accs[i]![j]!, `2026-12-05T10:00:0${i * 3 + j}.000Z`),
      ),
    ),
  );
  const older = [
    point('20261204-090000-bbbb', 0, 2, { 'optimizer.lr': 1 }, 0.5, '2026-12-04T09:00:00.000Z'),
    point('20261204-090000-bbbb', 1, 2, { 'optimizer.lr': 2 }, 0.4, '2026-12-04T09:00:01.000Z'),
  ];

  it('finds the latest sweep, keeps the K best at a metric (direction from its name), and names the metrics on a typo', async () => {
    assert.equal(latestSweep([...grid, ...older]), '20261205-100000-aaaa');
    assert.equal(latestSweep([]), undefined);
    const c = await compareRuns(grid);
    assert.deepEqual(
      topRuns(c, 'val_acc', 2).runs.map((r) => r.id),
      ['20261205-100000-aaaa-3', '20261205-100000-aaaa-2'],
    );
    assert.deepEqual(
      topRuns(c, 'val_loss', 1).runs.map((r) => r.id),
      ['20261205-100000-aaaa-3'],
      'lowest loss first',
    );
    assert.throws(() => topRuns(c, 'val_acc2', 2), /No run here wrote a metric val_acc2: --by takes one of val_acc, val_loss\./);
  });

  it('groups runs that differ only in their seed: one row per setting, mean and sample standard deviation', async () => {
    const groups = groupSeeds(await compareRuns(grid));
    assert.equal(groups.length, 2);
    assert.deepEqual(
      groups.map((g) => [g.params, g.seeds, g.runs.length]),
      [
        [{ 'optimizer.lr': 0.1 }, [0, 1, 2], 3],
        [{ 'optimizer.lr': 0.01 }, [0, 1, 2], 3],
      ],
    );
    assert.ok(Math.abs(groups[0]!.metrics.val_acc!.mean - 0.92) < 1e-9);
    assert.ok(Math.abs(groups[0]!.metrics.val_acc!.std - 0.02) < 1e-9);
    assert.equal(groups[1]!.metrics.val_acc!.n, 3);
  });

  it('mlc runs --compare alone compares the latest sweep and says so; --top/--by and --group-seeds shape the table and --json', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-compare-scale-'));
    try {
      for (const r of [...older, ...grid]) await appendRun(dir, r);
      const latest = await mlcInProcess(['runs', '--compare', '--dir', dir]);
      assert.equal(latest.code, 0, latest.err);
      assert.match(latest.err, /comparing the latest sweep, 20261205-100000-aaaa/);
      assert.equal(latest.out.split('\n').filter((l) => l.startsWith('20261205-100000-aaaa-')).length, 6);
      const top = await mlcInProcess(['runs', '--compare', '--top', '2', '--by', 'val_acc', '--dir', dir]);
      assert.deepEqual(
        top.out
          .split('\n')
          .filter((l) => l.startsWith('2026'))
          .map((l) => l.split(/\s+/)[0]),
        ['20261205-100000-aaaa-3', '20261205-100000-aaaa-2'],
      );
      const grouped = await mlcInProcess(['runs', '--compare', '--group-seeds', '--dir', dir]);
      assert.equal(grouped.code, 0, grouped.err);
      assert.match(grouped.out, /^GROUP +RUNS +optimizer\.lr +val_acc +val_loss$/m);
      assert.match(grouped.out, /^20261205-100000-aaaa-1 +3 +0\.1 +0\.92 ± 0\.02 /m);
      const json = JSON.parse((await mlcInProcess(['runs', '--compare', '--group-seeds', '--json', '--dir', dir])).out) as {
        seedGroups: { runs: string[] }[];
      };
      assert.deepEqual(
        json.seedGroups.map((g) => g.runs.length),
        [3, 3],
      );
      const lonely = await mlcInProcess(['runs', '--compare', 'one-run', '--dir', dir]);
      assert.equal(lonely.code, 2);
      const bad = await mlcInProcess(['runs', '--compare', '--top', '2', '--dir', dir]);
      assert.match(bad.err, /--top K and --by METRIC go together/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
