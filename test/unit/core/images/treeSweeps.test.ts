import * as assert from 'node:assert/strict';
import { formatTree } from '../../../../src/cli/ls';
import type { ContainerSummary, ImageSummary } from '../../../../src/core/docker/engine';
import type { ImageNode } from '../../../../src/core/images/tree';
import { groupImages, imageContextValue, sweepBest, sweepContextValue, sweepPoints } from '../../../../src/core/images/tree';
import { JOB_LABEL, RUN_ID_LABEL } from '../../../../src/core/labels';
import type { RunRecord } from '../../../../src/core/run/records';
import { startedRecord } from '../../../helpers/runRecords';

const SHA = 'c'.repeat(40);
const NOW = Date.parse('2026-12-04T12:00:00Z');
const IMAGE: ImageSummary = {
  id: `sha256:${'a'.repeat(64)}`,
  repoTags: ['dimuon:ccccccc'],
  labels: { 'org.mlcontainers.managed': 'true', 'org.opencontainers.image.revision': SHA },
  created: NOW / 1000 - 3600,
  size: 2e9,
};
const at = (minutes: number): string => new Date(NOW - 120 * 60e3 + minutes * 60e3).toISOString();
const image = { id: IMAGE.id, ref: 'dimuon:ccccccc', tags: IMAGE.repoTags, revision: SHA, dirty: false };

/** A run's metrics field with one metric whose last value is `v`. */
function metrics(name: string, v: number): RunRecord['metrics'] {
  return { metrics: { [name]: { source: 'metrics.jsonl', last: v, lastStep: 9, min: v, max: v, steps: 10, nans: 0 } }, skipped: 0 };
}

function ended(r: RunRecord, status: RunRecord['status'], exitCode: number | null, loss?: number): RunRecord {
  return { ...r, status, exitCode, end: r.start, ...(loss === undefined ? {} : { metrics: metrics('loss', loss) }) };
}

/** A 36-point sweep: 30 ok (each its own loss), 2 failed, 3 running, 1 pending in Slurm's queue. */
function sweepRuns(): RunRecord[] {
  return Array.from({ length: 36 }, (_, i) => {
    const r = startedRecord(`sw-${String(i).padStart(2, '0')}`, {
      image,
      start: at(i),
      params: { lr: i },
      sweep: { id: 'S36', index: i, size: 36 },
    });
    if (i < 30) return ended(r, 'succeeded', 0, 1 + ((i * 7) % 30) / 10);
    if (i < 32) return ended(r, 'failed', 1);
    if (i < 35) return r;
    return { ...r, backend: 'slurm', job: { id: '60_35', state: 'PENDING', queued: true } };
  });
}

function container(id: string, name: string, labels: Record<string, string>, state = 'running'): ContainerSummary {
  return {
    id,
    names: [name],
    image: IMAGE.id,
    imageId: IMAGE.id,
    state,
    status: state === 'running' ? 'Up 1 minute' : 'Created',
    created: 0,
    labels: { 'org.mlcontainers.managed': 'true', 'org.mlcontainers.image.id': IMAGE.id, ...labels },
    ports: [],
  };
}

describe('Experiment Images: sweeps and one row per run', () => {
  const singles = [
    ended(startedRecord('single-1', { image, start: at(50) }), 'succeeded', 0, 0.5),
    ended(startedRecord('single-2', { image, start: at(60) }), 'failed', 2),
  ];
  // A Slurm run: its task's container carries the job's label (and the run's id, from the same request).
  const slurm = startedRecord('slurm-1', { image, start: at(70), backend: 'slurm', job: { id: '51_0', state: 'RUNNING' } });
  const containers = [
    { ...container('j1', 'dimuon-ccccccc-jupyter', { 'org.mlcontainers.role': 'jupyter' }) },
    container('t1', 'mlc-51-0', { [JOB_LABEL]: '51_0', 'org.mlcontainers.role': 'run' }, 'created'),
    container('r1', 'dimuon-run-sw-33', { [RUN_ID_LABEL]: 'sw-33', 'org.mlcontainers.role': 'run' }),
    // A run container whose record is gone: nothing else shows it, so it stays a row of its own.
    container('o1', 'dimuon-run-lost', { [RUN_ID_LABEL]: 'lost', 'org.mlcontainers.role': 'run' }, 'exited'),
  ];
  const history = { head: SHA, branchOrder: [SHA], commits: new Map() };
  const tree = groupImages([IMAGE], containers, history, 'dimuon', [...sweepRuns(), ...singles, slurm]);
  const node = tree.groups[0]!.images[0]! as ImageNode;

  it('groups a 36-point sweep into one node with its counts, beside the single runs (a Slurm one among them)', () => {
    assert.deepEqual(
      node.sweeps.map((s) => [s.id, s.size, s.runs.length]),
      [['S36', 36, 36]],
    );
    assert.deepEqual(node.sweeps[0]!.counts, { ok: 30, failed: 2, running: 3, pending: 1, cancelled: 0, notStarted: 0 });
    assert.deepEqual(
      node.singles.map((r) => r.id),
      ['slurm-1', 'single-2', 'single-1'],
      'single runs, newest first',
    );
    assert.equal(node.runs.length, 39);
  });

  it("folds a run's containers into its run: a Slurm task's by its job, a local run's by its run id", () => {
    assert.deepEqual(
      node.containers.map((c) => c.name),
      ['dimuon-ccccccc-jupyter', 'dimuon-run-lost'],
    );
    assert.deepEqual(
      node.runContainers.map((c) => [c.name, c.runId]),
      [
        ['mlc-51-0', 'slurm-1'],
        ['dimuon-run-sw-33', 'sw-33'],
      ],
    );
    assert.match(imageContextValue(node, tree.groups[0]!), /running;.*inUse;.*hasRuns;/);
  });

  it('names the best point at the headline metric: lowest for a loss, else highest', () => {
    const sweep = node.sweeps[0]!;
    const best = sweepBest(sweep, '');
    assert.equal(best?.metric, 'loss');
    assert.equal(best?.value, 1);
    assert.equal(best?.run.id, 'sw-00');
    assert.equal(sweepBest(sweep, 'acc'), undefined, 'no run wrote acc');
    const withAcc = {
      ...sweep,
      runs: sweep.runs.map((r, i) => ({ ...r, metrics: metrics('acc', i % 7) })),
    };
    assert.deepEqual([sweepBest(withAcc, 'acc')?.value, sweepBest(withAcc, 'acc')?.lowerIsBetter], [6, false]);
  });

  it("sorts a sweep's points best first at the metric (those without it after), or newest start first", () => {
    const sweep = node.sweeps[0]!;
    const byMetric = sweepPoints(sweep, 'loss', 'metric');
    const losses = byMetric.map((r) => r.metrics?.metrics.loss?.last);
    assert.deepEqual(
      losses.slice(0, 30),
      [...losses.slice(0, 30)].sort((a, b) => Number(a) - Number(b)),
    );
    assert.deepEqual(losses.slice(0, 3), [1, 1.1, 1.2]);
    assert.ok(byMetric.slice(30).every((r) => r.metrics === undefined));
    assert.deepEqual(
      sweepPoints(sweep, 'loss', 'start')
        .slice(0, 3)
        .map((r) => r.id),
      ['sw-35', 'sw-34', 'sw-33'],
    );
  });

  it('counts the points of the plan with no record as not started, which Resume Sweep offers', () => {
    const partial = sweepRuns()
      .slice(0, 4)
      .map((r) => ended({ ...r, sweep: { id: 'S10', index: r.sweep!.index, size: 10 } }, 'succeeded', 0, 1));
    const [sweep] = groupImages([IMAGE], [], history, 'dimuon', partial).groups[0]!.images[0]!.sweeps;
    assert.equal(sweep?.counts.notStarted, 6);
    assert.equal(sweepContextValue(sweep!), 'sweep;notStarted;');
    assert.equal(sweepContextValue(node.sweeps[0]!), 'sweep;running;');
  });

  it('`mlc ls` prints the same grouping: one line for the sweep, one per single run, no task container', () => {
    const lines = formatTree(tree, NOW);
    const text = lines.join('\n');
    assert.match(text, /sweep S36 {2}36 points · 30 ok · 2 failed · 3 running · 1 pending · best loss 1 \(lr=0\)/);
    assert.deepEqual(
      lines.filter((l) => /^\s+run /.test(l)).map((l) => l.trim().split(/\s+/)[1]),
      ['slurm-1', 'single-2', 'single-1'],
    );
    assert.doesNotMatch(text, /mlc-51-0|dimuon-run-sw-33/);
    assert.match(text, /dimuon-ccccccc-jupyter running/);
    assert.doesNotMatch(text, /sw-1\d/, 'the points are behind `mlc runs --compare S36`, not listed');
  });
});
