// A Slurm run's record from submission to its final line: the batch script's own start and end (through
// `mlc slurm-task`), and, for tasks that could not write theirs (cancelled, over --time, out of memory, never
// started), what squeue and sacct say. Final lines go through core/run/lifecycle.ts's closeRun, written once.
import type { Logger } from '../../log';
import { closeRun } from '../../run/lifecycle';
import type { RunRecord, RunStatus } from '../../run/records';
import { appendRun, markStopRequested, readRuns, stopRequested } from '../../run/records';
import { assertRunFolder, openRunFileForAppend } from '../../run/runFolder';
import type { Slurm, SlurmTaskState } from './slurm';
import { isLive } from './slurm';

export const SLURM_BACKEND = 'slurm';

/** `12_3`, as squeue, sacct and scancel name an array task. */
export function taskId(t: { job: string; task: number }): string {
  return `${t.job}_${t.task}`;
}

/** The array task a Slurm run's record names (its job id `12_3`); undefined for any other run. */
export function recordTask(r: RunRecord): { job: string; task: number } | undefined {
  const m = r.backend === SLURM_BACKEND ? /^(\d+)_(\d+)$/.exec(r.job?.id ?? '') : null;
  return m ? { job: m[1]!, task: Number(m[2]) } : undefined;
}

/** A Slurm state as a record's job: PENDING is still queued. */
export function jobState(t: { job: string; task: number }, state: string): NonNullable<RunRecord['job']> {
  return { id: taskId(t), state, ...(state === 'PENDING' ? { queued: true } : {}) };
}

/** Slurm's word for why it ended a failed task (timeout, out of memory, node fail…); undefined when the run itself failed. */
export function slurmEndWord(status: RunStatus, state: string): string | undefined {
  if (status !== 'failed' || ['FAILED', 'COMPLETED', 'UNKNOWN'].includes(state)) return undefined;
  return state.toLowerCase().replace(/_/g, ' ');
}

/** The final line's Slurm fields: the task's last state, and Slurm's word when it ended the run. */
function ending(t: { job: string; task: number }, status: RunStatus, state: string): Pick<RunRecord, 'job'> & { endedBy?: string } {
  const word = slurmEndWord(status, state);
  return { job: jobState(t, state), ...(word ? { endedBy: word } : {}) };
}

/** How a task that ended without writing its own final line is recorded: run status, exit code, why. */
export function slurmOutcome(t: SlurmTaskState, cancelledByUs: boolean): Pick<RunRecord, 'status' | 'exitCode'> & { error?: string } {
  const status = (s: RunStatus, exitCode: number | null, error?: string): ReturnType<typeof slurmOutcome> => ({
    status: s,
    exitCode,
    ...(error ? { error } : {}),
  });
  switch (t.state) {
    case 'COMPLETED':
      return status('succeeded', t.exitCode ?? 0);
    case 'CANCELLED':
      return status('cancelled', null, cancelledByUs ? undefined : 'cancelled in Slurm (scancel or an administrator)');
    case 'TIMEOUT':
      return status('failed', null, 'Slurm stopped it at its time limit: ask for more with --time');
    case 'OUT_OF_MEMORY':
      return status('failed', null, 'Slurm stopped it for using more memory than it asked: ask for more with --mem');
    case 'FAILED':
      return status('failed', t.exitCode ?? null, t.exitCode === null ? 'the batch script failed' : undefined);
    default:
      // NODE_FAIL, PREEMPTED, BOOT_FAIL, DEADLINE, REVOKED…
      return status(cancelledByUs ? 'cancelled' : 'failed', null, `Slurm ended the task: ${t.state}`);
  }
}

/** The batch script, as its task starts: the record now says running, on which node's GPUs, in which container. */
export async function recordTaskStart(o: {
  workspace: string;
  runId: string;
  job: string;
  gpus: string;
  /** A multi-node run's nodes, rank 0's first, as the batch script read them from SLURM_JOB_NODELIST. */
  nodes?: string[];
  now?: () => Date;
}): Promise<RunRecord> {
  const started = await submitted(o.workspace, o.runId);
  const [job = '', task = ''] = o.job.split('_');
  const record: RunRecord = {
    ...started,
    ...(o.nodes && started.nodes ? { nodes: { ...started.nodes, names: o.nodes } } : {}),
    start: (o.now ?? ((): Date => new Date()))().toISOString(),
    gpus: o.gpus || 'none',
    container: `mlc-${job}-${task}`,
    job: jobState({ job, task: Number(task) }, 'RUNNING'),
  };
  await appendRun(o.workspace, record);
  return record;
}

/** The batch script, once its container exited on its own: the final line, with its exit code. */
export async function recordTaskEnd(o: {
  workspace: string;
  runId: string;
  exitCode: number;
  /** A multi-node run's node that failed first: srun ended the others after it. */
  failedNode?: { rank: number; name: string };
  log: Logger;
  now?: () => Date;
}): Promise<RunRecord> {
  const started = await submitted(o.workspace, o.runId);
  const cancelled = await stopRequested(o.workspace, o.runId);
  const status: RunStatus = cancelled ? 'cancelled' : o.exitCode === 0 ? 'succeeded' : 'failed';
  const state = cancelled ? 'CANCELLED' : o.exitCode === 0 ? 'COMPLETED' : 'FAILED';
  const task = recordTask(started);
  return closeRun({
    workspace: o.workspace,
    started,
    log: o.log,
    outcome: {
      status,
      exitCode: o.exitCode,
      end: (o.now ?? ((): Date => new Date()))().toISOString(),
      ...(task ? ending(task, status, state) : {}),
      ...(o.failedNode && status === 'failed' ? { error: nodeFailure(o.failedNode, o.exitCode, started.nodes?.count) } : {}),
    },
  });
}

/** Why a multi-node run failed, in one sentence: which node, how, and what became of the others. */
export function nodeFailure(node: { rank: number; name: string }, exitCode: number, count: number | undefined): string {
  const how = exitCode === 137 ? 'was killed (exit code 137)' : `exited with code ${exitCode}`;
  const others = count === 2 ? 'the other node was stopped' : 'the other nodes were stopped';
  return `node ${node.name} (rank ${node.rank}) ${how}, and ${others}: its output is in output.${node.rank}.log`;
}

/**
 * One node's output of a multi-node run, read until it ends, appended to output.<rank>.log in the run's folder,
 * opened without following a link (the container may have left one by that name); `echo` gets it too (rank 0's goes
 * on to the batch script's output, the run's output.log).
 */
export async function appendNodeOutput(o: {
  workspace: string;
  runId: string;
  rank: number;
  input: AsyncIterable<Buffer>;
  echo?: (chunk: Buffer) => void;
}): Promise<void> {
  const dir = await assertRunFolder(o.workspace, o.runId);
  const file = await openRunFileForAppend(dir, `output.${o.rank}.log`);
  try {
    for await (const chunk of o.input) {
      await file.write(chunk);
      o.echo?.(chunk);
    }
  } finally {
    await file.close();
  }
}

async function submitted(workspace: string, runId: string): Promise<RunRecord> {
  const record = (await readRuns(workspace)).runs.find((r) => r.id === runId);
  if (!record) throw new Error(`run ${runId} has no record in ${workspace}/.mlcontainers/runs.jsonl`);
  return record;
}

/**
 * Closes the Slurm runs on record as running whose task has ended without a final line of its own, from squeue
 * (jobs slurmctld still holds) and sacct (after it forgets them). Returns whether a record changed.
 */
export async function reconcileSlurmRuns(o: {
  slurm: Slurm;
  workspace: string;
  log: Logger;
  records?: readonly RunRecord[];
  signal?: AbortSignal;
}): Promise<boolean> {
  const open = (o.records ?? (await readRuns(o.workspace)).runs).flatMap((r) => {
    const task = r.status === 'running' ? recordTask(r) : undefined;
    return task ? [{ r, task }] : [];
  });
  if (!open.length) return false;
  const jobs = [...new Set(open.map((x) => x.task.job))];
  const queued = new Map((await o.slurm.queue(jobs, o.signal)).map((t) => [taskId(t), t]));
  const ended = open.filter((x) => !isLive(queued.get(taskId(x.task))?.state ?? 'GONE'));
  if (!ended.length) return false;
  // sacct has the exit code and the end time; squeue only the state, and only for a few minutes after the end.
  const accounted = new Map(
    ((await o.slurm.accounting([...new Set(ended.map((x) => x.task.job))], o.signal)) ?? []).map((t) => [taskId(t), t]),
  );
  // The task may have written its own final line since the records were read.
  const latest = new Map((await readRuns(o.workspace)).runs.map((r) => [r.id, r]));
  let changed = false;
  for (const { r, task } of ended) {
    const now = latest.get(r.id) ?? r;
    if (now.status !== 'running' || !recordTask(now)) continue;
    const id = taskId(task);
    const fromAcct = accounted.get(id);
    const t = fromAcct && !isLive(fromAcct.state) ? fromAcct : queued.get(id);
    const known = t && !isLive(t.state) ? t : undefined;
    const cancelledByUs = await stopRequested(o.workspace, r.id);
    const outcome = known
      ? slurmOutcome(known, cancelledByUs)
      : cancelledByUs
        ? { status: 'cancelled' as const, exitCode: null }
        : {
            status: 'failed' as const,
            exitCode: null,
            error: `Slurm no longer knows task ${id} and it recorded no end (sacct is off on this cluster, or the task was purged)`,
          };
    await closeRun({
      workspace: o.workspace,
      started: now,
      log: o.log,
      outcome: {
        ...outcome,
        end: known?.end ?? new Date().toISOString(),
        ...ending(task, outcome.status, known?.state ?? (cancelledByUs ? 'CANCELLED' : 'UNKNOWN')),
      },
    });
    changed = true;
  }
  return changed;
}

/**
 * `mlc stop` for runs on Slurm: scancel the task (a run id) or the whole array (a sweep id), wait until squeue lets
 * go of them (the batch script has stopped its container by then), and record them as cancelled. Returns the run ids.
 */
export async function stopSlurmRuns(o: {
  slurm: Slurm;
  workspace: string;
  target: string;
  log: Logger;
  signal?: AbortSignal;
  pollMs?: number;
  timeoutMs?: number;
}): Promise<string[]> {
  const records = (await readRuns(o.workspace)).runs.flatMap((r) => {
    const task = r.status === 'running' && (r.id === o.target || r.sweep?.id === o.target) ? recordTask(r) : undefined;
    return task ? [{ r, task }] : [];
  });
  if (!records.length) return [];
  for (const { r } of records) await markStopRequested(o.workspace, r.id);
  const jobs = [...new Set(records.map((x) => x.task.job))];
  const sweep = records.some((x) => x.r.sweep?.id === o.target);
  await o.slurm.cancel(sweep ? jobs : records.map((x) => taskId(x.task)), o.signal);
  const ids = new Set(records.map((x) => taskId(x.task)));
  for (
    const deadline = Date.now() + (o.timeoutMs ?? 90_000);
    Date.now() < deadline && !o.signal?.aborted;
    await new Promise((r) => setTimeout(r, o.pollMs ?? 500))
  ) {
    const live = (await o.slurm.queue(jobs, o.signal)).filter((t) => ids.has(taskId(t)) && isLive(t.state));
    if (!live.length) break;
  }
  await reconcileSlurmRuns({ slurm: o.slurm, workspace: o.workspace, log: o.log, ...(o.signal ? { signal: o.signal } : {}) });
  return records.map((x) => x.r.id);
}
