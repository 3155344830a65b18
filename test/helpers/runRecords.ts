import type { RunRecord } from '../../src/core/run/records';
import { imageDetails } from './images';

/** The start line of a run (status running, no end), as a scheduler writes it before the container; tests give what they are about. */
export function startedRecord(id: string, over: Partial<RunRecord> = {}): RunRecord {
  return {
    id,
    status: 'running',
    exitCode: null,
    image: { id: imageDetails().id, ref: 'dimuon:latest', tags: [], revision: null, dirty: false },
    commit: null,
    dirty: false,
    code: 'workspace',
    config: { path: 'configs/exp.yaml', sha256: 'a'.repeat(64), content: 'lr: 0.1\n' },
    params: {},
    sweep: null,
    command: ['python', 'train.py'],
    start: new Date().toISOString(),
    end: null,
    gpus: 'none',
    container: `dimuon-run-${id}`,
    log: `.mlcontainers/runs/${id}/output.log`,
    ...over,
  };
}
