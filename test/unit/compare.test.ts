import * as assert from 'node:assert/strict';
import { formatComparison } from '../../src/cli/run';
import { compareRuns, selectRuns } from '../../src/core/run/compare';
import { runRecord } from '../helpers/runs';

const run = runRecord;

describe('comparing runs', () => {
  it('marks the best run per metric: lowest for loss-like names, highest otherwise; NaN never wins', async () => {
    const c = await compareRuns([
      run('a', { params: { lr: 0.1 }, last: { val_loss: 0.4, val_acc: 0.9 } }),
      run('b', { params: { lr: 0.01 }, last: { val_loss: 0.3, val_acc: 'NaN' } }),
      run('c', { params: { lr: 0.001 }, last: { val_loss: 'NaN', val_acc: 0.8 } }),
    ]);
    assert.deepEqual(c.best, { val_loss: { run: 'b', lowerIsBetter: true }, val_acc: { run: 'a', lowerIsBetter: false } });
    const lines = formatComparison(c);
    assert.match(lines[0]!, /^RUN\s+STATUS\s+IMAGE\s+COMMIT\s+lr\s+val_loss\s+val_acc$/);
    assert.match(lines[2]!, /^b\s+ok\s+dimuon:3f2a1bc\s+3f2a1bc\s+0\.01\s+0\.3\*\s+NaN$/);
    assert.ok(lines.includes('* best: val_loss lowest, val_acc highest'));
  });

  it('names the config keys that differ (nested as dotted keys) and the packages between different images', async () => {
    const other = { id: 'sha256:bbbbbbbbbbbbbbbb', ref: 'dimuon:9e8d7c6', tags: [], revision: null, dirty: false };
    const c = await compareRuns(
      [run('a'), run('b', { image: other, config: { path: 'configs/exp.yaml', sha256: 'y', content: 'lr: 0.1\nmodel:\n  width: 128\nseed: 1\n' } })],
      async (id) => (id === other.id ? 'numpy==2.1.0\ntorch==2.5.1\n' : 'numpy==2.0.0\ntorch==2.5.1\n'),
    );
    assert.deepEqual(c.configKeys, ['model.width', 'seed']);
    assert.deepEqual(c.packages, [{ from: 'sha256:aaaaaaaaaaaaaaaa', to: other.id, lines: ['~ numpy 2.0.0 -> 2.1.0'] }]);
    assert.ok(formatComparison(c).some((l) => /No metrics recorded: write \$MLC_RUN_DIR\/metrics\.jsonl/.test(l)));
  });

  it('selects a sweep\'s points, or named runs, and says what to do for an unknown one', () => {
    const all = [run('s-1', { sweep: { id: 's', index: 0, size: 2 } }), run('s-2', { sweep: { id: 's', index: 1, size: 2 } }), run('x')];
    assert.deepEqual(selectRuns(all, { sweep: 's' }).map((r) => r.id), ['s-1', 's-2']);
    assert.deepEqual(selectRuns(all, { ids: ['x', 's-1'] }).map((r) => r.id), ['x', 's-1']);
    assert.throws(() => selectRuns(all, { ids: ['nope'] }), /No run nope in this project: `mlc runs` lists them/);
    assert.throws(() => selectRuns(all, { sweep: 'q' }), /No runs of sweep q/);
  });
});
