// The Slurm unit suites' task: point n of plan S in `workspace`, as submit.ts hands it to renderBatchScript.
import * as path from 'node:path';
import type { ImageDetails } from '../../src/core/docker/engine';
import type { RunContainerInput } from '../../src/core/run/experiment';

export function slurmTaskInput(
  workspace: string,
  n: number,
  image: ImageDetails,
  over: Partial<RunContainerInput> = {},
): RunContainerInput {
  const runId = `S-${n}`;
  const runDir = path.join(workspace, '.mlcontainers', 'runs', runId);
  return {
    runId,
    name: `dimuon-run-${runId}`,
    image: { ref: 'dimuon:latest', details: image },
    workspace,
    code: 'workspace',
    runDir,
    configFile: path.join(runDir, 'exp.yaml'),
    configName: 'exp.yaml',
    command: ['python', 'train.py'],
    decision: { mode: 'cpu' },
    shmSizeBytes: 1024,
    sweepId: 'S',
    ...over,
  };
}
