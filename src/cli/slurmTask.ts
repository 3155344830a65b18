import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../core/log';
import { recordTaskEnd, recordTaskStart } from '../core/backends/slurm/tasks';
import type { CliIO } from './io';
import { UsageError } from './io';

export const slurmTaskHelp = `mlc slurm-task start RUN --job JOB_TASK --gpus IDS --dir DIR
mlc slurm-task finish RUN --exit CODE --dir DIR

Called by the batch script \`mlc run --on slurm\` writes, not by hand: records an array task's start (the record
says running, in which container, with which GPUs) and its end (the final line, with its exit code and metrics).`;

/** The batch script's recorder: the run records are written by the same code as a local run's (core/run/records.ts). */
export async function slurmTask(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      dir: { type: 'string', default: '.' },
      job: { type: 'string' },
      gpus: { type: 'string', default: 'none' },
      exit: { type: 'string' },
    },
    strict: true,
    allowPositionals: true,
  });
  const [what, runId, ...extra] = positionals;
  if (!runId || extra.length) throw new UsageError('give start or finish and the run id');
  const workspace = path.resolve(values.dir);
  if (what === 'start') {
    if (!values.job || !/^\d+_\d+$/.test(values.job)) throw new UsageError('--job wants the array task as JOB_TASK, e.g. 12_3');
    await recordTaskStart({ workspace, runId, job: values.job, gpus: values.gpus });
    return 0;
  }
  if (what === 'finish') {
    const code = Number(values.exit);
    if (values.exit === undefined || !Number.isInteger(code)) throw new UsageError("--exit wants the container's exit code");
    // Its stderr is the run's output.log: only what went wrong goes there.
    const log = createLogger(
      { write: (level, line) => (level === 'warn' || level === 'error' ? io.err(`${level}: ${line}`) : undefined) },
      'slurm-task',
    );
    await recordTaskEnd({ workspace, runId, exitCode: code, log });
    return 0;
  }
  throw new UsageError(`start or finish, not "${what ?? ''}"`);
}
