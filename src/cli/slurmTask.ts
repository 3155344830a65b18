import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../core/log';
import { appendNodeOutput, recordTaskEnd, recordTaskStart } from '../core/backends/slurm/tasks';
import { NODE_NAME } from '../core/run/records';
import type { CliIO } from './io';
import { UsageError } from './io';

export const slurmTaskHelp = `mlc slurm-task start RUN --job JOB_TASK --gpus IDS [--nodes A,B] --dir DIR
mlc slurm-task finish RUN --exit CODE [--failed-rank R --failed-node NAME] --dir DIR
mlc slurm-task log RUN --rank R --dir DIR

Called by the batch script \`mlc run --on slurm\` writes, not by hand: records an array task's start (the record
says running, in which container, with which GPUs, on which nodes) and its end (the final line, with its exit code
and metrics, and the node that failed first); \`log\` appends its input to the run's output.<rank>.log (and rank 0's
also to its own output, the run's output.log), never through a link the run left there.`;

/** The batch script's recorder: the run records are written by the same code as a local run's (core/run/records.ts). */
export async function slurmTask(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      dir: { type: 'string', default: '.' },
      job: { type: 'string' },
      gpus: { type: 'string', default: 'none' },
      exit: { type: 'string' },
      nodes: { type: 'string' },
      rank: { type: 'string' },
      'failed-rank': { type: 'string' },
      'failed-node': { type: 'string' },
    },
    strict: true,
    allowPositionals: true,
  });
  const [what, runId, ...extra] = positionals;
  if (!runId || extra.length) throw new UsageError('give start, finish or log and the run id');
  const workspace = path.resolve(values.dir);
  if (what === 'start') {
    if (!values.job || !/^\d+_\d+$/.test(values.job)) throw new UsageError('--job wants the array task as JOB_TASK, e.g. 12_3');
    const nodes = values.nodes?.split(',');
    if (nodes && !nodes.every((n) => NODE_NAME.test(n))) throw new UsageError('--nodes wants node names separated by commas');
    await recordTaskStart({ workspace, runId, job: values.job, gpus: values.gpus, ...(nodes ? { nodes } : {}) });
    return 0;
  }
  if (what === 'log') {
    const rank = Number(values.rank);
    if (!Number.isInteger(rank) || rank < 0) throw new UsageError('--rank wants the node rank, a whole number from 0');
    // scancel and the time limit send TERM to every process of the node's share at once. This one reads on until its
    // writers close the pipe (Slurm's KILL after KillWait still ends it): dying first would break the pipe under the
    // share's shell and docker, whose SIGPIPE would end them before the shell removes the container. For the same
    // reason rank 0's echo to srun, which may be gone, is written directly and dropped once it fails (the file has it).
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => undefined);
    let echoing = true;
    const echo = (b: Buffer): void => {
      try {
        if (echoing) fs.writeSync(1, b);
      } catch {
        echoing = false;
      }
    };
    await appendNodeOutput({ workspace, runId, rank, input: process.stdin, ...(rank === 0 ? { echo } : {}) });
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
    const rank = Number(values['failed-rank']);
    const name = values['failed-node'];
    const failedNode = name !== undefined && NODE_NAME.test(name) && Number.isInteger(rank) ? { rank, name } : undefined;
    await recordTaskEnd({ workspace, runId, exitCode: code, log, ...(failedNode ? { failedNode } : {}) });
    return 0;
  }
  throw new UsageError(`start, finish or log, not "${what ?? ''}"`);
}
