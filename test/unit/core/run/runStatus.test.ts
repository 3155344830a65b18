import * as assert from 'node:assert/strict';
import { formatComparison, formatRuns } from '../../../../src/cli/run';
import { compareRuns } from '../../../../src/core/run/compare';
import { comparePayload } from '../../../../src/core/run/comparePayload';
import type { RunRecord } from '../../../../src/core/run/records';
import { commitCell, runStatus, statusText } from '../../../../src/core/run/status';

function record(id: string, extra: Partial<RunRecord>): RunRecord {
  return {
    id,
    status: 'running',
    exitCode: null,
    image: { id: 'sha256:abc', ref: 'x:1', tags: ['x:1'], revision: null, dirty: false },
    commit: '3f2a1bc9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3',
    dirty: true,
    code: 'workspace',
    config: { path: 'c.yaml', sha256: 'f'.repeat(64), content: 'lr: 1\n' },
    params: {},
    sweep: null,
    command: ['python', 'train.py'],
    start: '2026-12-04T20:00:00.000Z',
    end: null,
    gpus: 'none',
    container: 'c',
    log: '',
    ...extra,
  };
}

describe('one run status and one commit cell for every table', () => {
  const runs = [
    record('pending', { backend: 'slurm', job: { id: '12_1', state: 'PENDING', queued: true } }),
    record('never', { status: 'failed', exitCode: null, end: '2026-12-04T20:00:01.000Z' }),
    record('timeout', {
      status: 'failed',
      exitCode: null,
      end: '2026-12-04T20:00:01.000Z',
      backend: 'slurm',
      job: { id: '12_2', state: 'TIMEOUT' },
      endedBy: 'timeout',
    }),
    record('exit3', { status: 'failed', exitCode: 3, end: '2026-12-04T20:00:01.000Z' }),
  ];

  it('words each status once: pending, not started (never "exit null"), Slurm\'s reason, exit N', () => {
    assert.deepEqual(
      runs.map((r) => statusText(runStatus(r))),
      ['pending', 'not started', 'timeout', 'exit 3'],
    );
    assert.equal(commitCell('3f2a1bc9d8e7', true), '3f2a1bc+dirty');
    assert.equal(commitCell(null, false), '-');
  });

  it('the CLI list, the CLI comparison and the Compare Runs panel say the same', async () => {
    const comparison = await compareRuns(runs);
    const panel = comparePayload(comparison, new Map()).rows.map((row) => row[1]!.text);
    const table = formatComparison(comparison)
      .slice(1, 5)
      .map((line) => line.split(/\s{2,}/)[1]);
    const list = formatRuns(runs, Date.parse('2026-12-04T20:01:00.000Z'))
      .slice(1)
      .map((line) => line.split(/\s{2,}/)[1]);
    for (const words of [panel, table, list]) assert.deepEqual(words, ['pending', 'not started', 'timeout', 'exit 3']);
  });
});
