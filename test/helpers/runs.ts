import type { RunRecord } from '../../src/core/run/records';

/** A finished run record; `last` gives it metrics (each metric's last value, as its summary would hold). */
export function runRecord(id: string, over: Partial<RunRecord> & { last?: Record<string, number | 'NaN'> } = {}): RunRecord {
  const { last, ...rest } = over;
  return {
    id,
    status: 'succeeded',
    exitCode: 0,
    image: { id: 'sha256:aaaaaaaaaaaaaaaa', ref: 'dimuon:3f2a1bc', tags: [], revision: null, dirty: false },
    commit: '3f2a1bc9d0',
    dirty: false,
    code: 'workspace',
    config: { path: 'configs/exp.yaml', sha256: 'x', content: 'lr: 0.1\nmodel:\n  width: 64\n' },
    params: {},
    sweep: null,
    command: ['python', 'train.py'],
    start: '2026-11-25T10:00:00Z',
    end: '2026-11-25T10:01:00Z',
    gpus: 'none',
    container: id,
    log: `.mlcontainers/runs/${id}/output.log`,
    ...(last
      ? {
          metrics: {
            skipped: 0,
            metrics: Object.fromEntries(
              Object.entries(last).map(([k, v]) => [
                k,
                { source: 'metrics.jsonl' as const, last: v, lastStep: 9, min: v, max: v, steps: 10, nans: 0 },
              ]),
            ),
          },
        }
      : {}),
    ...rest,
  };
}
