// `mlc predict --on slurm`: the shards to run become one sbatch array, task K running shard K's container (the
// request model/predict.ts makes for a local shard, as `docker run` words) on the node, into the same DIR/shards/K.
// The #SBATCH options are checked and written as `mlc run --on slurm` writes them (script.ts); this waits until
// squeue lets go of every task, then says how each ended, so predict.ts checks and merges as it does locally.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { quote } from 'shell-quote';
import { toDockerRunArgs } from '../../container/dockerRun';
import type { ContainerCreateRequest } from '../../docker/engine';
import { UserError } from '../../errors';
import { hasControlCharacter, printable } from '../../generatedText';
import type { Logger } from '../../log';
import type { ShardArray } from '../../model/predict';
import type { SlurmFlags } from './backend';
import { chooseRuntime } from './runtime';
import type { SlurmOptions } from './script';
import { sbatchOptionLines, sbatchOptionsProblem } from './script';
import type { Slurm, SlurmTaskState } from './slurm';
import { SlurmCli, isLive } from './slurm';
import { taskId } from './tasks';

/** Where the script and the tasks' logs go, in the job's folder: DIR/slurm/predict.sbatch, DIR/slurm/<job>_<K>.log. */
export const SLURM_DIR = 'slurm';

export interface PredictScriptInput {
  outDir: string;
  /** One per shard to run: array task K runs shard K. */
  tasks: readonly { shard: number; request: ContainerCreateRequest }[];
  slurm: SlurmOptions;
  /** The engine the tasks' docker CLI talks to, when not the node's default. */
  dockerHost?: string;
}

/** The array's batch script; pure, so tests read every line. */
export function renderPredictScript(i: PredictScriptInput): string {
  if (/[\s%]/.test(i.outDir) || hasControlCharacter(i.outDir))
    throw new UserError(
      `Slurm's #SBATCH lines cannot hold the path ${printable(i.outDir)} (it has a space, a control character or %): choose an --output without them.`,
    );
  const problem = sbatchOptionsProblem(i.slurm);
  if (problem) throw new UserError(problem);
  const s = i.slurm;
  const sbatch = [
    '--job-name=mlc-predict',
    // Task ids are the shards' own, so that a rerun of shards 1 and 3 is `--array=1,3` and its logs say so.
    `--array=${i.tasks.map((t) => t.shard).join(',')}`,
    `--chdir=${i.outDir}`,
    `--output=${i.outDir}/${SLURM_DIR}/%A_%a.log`,
    ...sbatchOptionLines(s),
  ];
  const cases = i.tasks.map((t) => {
    const words = toDockerRunArgs({ ...t.request, name: undefined }, { remove: true, labels: true }).slice(2);
    return `  ${t.shard}) args=(${quote(words)}) ;;`;
  });
  return `#!/bin/bash
# Written by ML Containers (mlc predict --on slurm): shards ${i.tasks.map((t) => t.shard).join(', ')} of the job in this folder, one array
# task each; task K runs shard K's container, which writes shards/K/, and \`mlc predict\` checks and merges them.
${sbatch.map((x) => `#SBATCH ${x}`).join('\n')}
set -u
${i.dockerHost ? `export DOCKER_HOST=${quote([i.dockerHost])}\n` : ''}task=$SLURM_ARRAY_TASK_ID
case $task in
${cases.join('\n')}
  *) echo "mlc: no shard for array task $task" >&2; exit 2 ;;
esac
name=mlc-predict-\${SLURM_ARRAY_JOB_ID}-$task
# dockerd's containers live outside the job's cgroup: the CPUs and memory Slurm allocated become docker limits.
limits=()
[ -n "\${SLURM_CPUS_PER_TASK:-}" ] && limits+=(--cpus "$SLURM_CPUS_PER_TASK")
[ -n "\${SLURM_MEM_PER_NODE:-}" ] && limits+=(--memory "\${SLURM_MEM_PER_NODE}m")
# scancel and the time limit send TERM: the container goes with the task (docker run in the background, so the trap
# runs at once rather than after the container).
trap 'docker rm -f "$name" >/dev/null 2>&1; exit 143' TERM
docker run --name "$name" --network none "\${limits[@]}" "\${args[@]}" &
wait $!
`;
}

export interface SlurmShardsInput extends PredictScriptInput {
  slurm: SlurmOptions;
  client: Slurm;
  log: Logger;
  /** Called once sbatch took the array, before any task starts: the job goes on record. */
  submitted(job: string): Promise<void>;
  signal?: AbortSignal;
  pollMs?: number;
  /** ACCOUNTING_WAIT_MS unless told. */
  accountingWaitMs?: number;
}

/** How long a task that squeue no longer lists may take to reach sacct before it is called unknown. */
export const ACCOUNTING_WAIT_MS = 30_000;

/**
 * Submits the array (held until `submitted` has recorded it), waits until no task is queued or running, and gives
 * each shard's last Slurm state. Interrupted, it cancels the array: no task writes into the folder after we leave.
 */
export async function runShardsOnSlurm(o: SlurmShardsInput): Promise<{ job: string; ended: Map<number, SlurmTaskState | undefined> }> {
  const script = renderPredictScript(o);
  const file = path.join(o.outDir, SLURM_DIR, 'predict.sbatch');
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, script, { mode: 0o644 });
  const job = await o.client.submit(file, o.outDir, o.signal);
  try {
    await o.submitted(job);
    await o.client.release(job, o.signal);
    o.log.info(`Slurm array job ${job}: shards ${o.tasks.map((t) => t.shard).join(', ')}`);
    for (;;) {
      const queued = await o.client.queue([job], o.signal);
      if (!queued.some((t) => isLive(t.state))) break;
      await new Promise((r) => setTimeout(r, o.pollMs ?? 1000));
      if (o.signal?.aborted) throw o.signal.reason ?? new Error('interrupted');
    }
  } catch (e) {
    await o.client.cancel([job]).catch(() => undefined);
    throw e;
  }
  // sacct has the exit codes, but slurmdbd records a task a moment after squeue lets go of it (a cancelled task was
  // missing from a fresh slurmdbd's answer): asked again until every task has ended there, for at most
  // ACCOUNTING_WAIT_MS. squeue's last word stands in where accounting is off.
  const ids = o.tasks.map((t) => taskId({ job, task: t.shard }));
  const until = Date.now() + (o.accountingWaitMs ?? ACCOUNTING_WAIT_MS);
  let accounted: SlurmTaskState[] | undefined;
  for (;;) {
    accounted = await o.client.accounting([job], o.signal).catch(() => undefined);
    const done = new Set((accounted ?? []).filter((t) => !isLive(t.state)).map(taskId));
    if (!accounted || ids.every((id) => done.has(id)) || Date.now() >= until) break;
    await new Promise((r) => setTimeout(r, o.pollMs ?? 1000));
  }
  const states = accounted ?? (await o.client.queue([job], o.signal));
  const byId = new Map(states.map((t) => [taskId(t), t]));
  return { job, ended: new Map(o.tasks.map((t) => [t.shard, byId.get(taskId({ job, task: t.shard }))])) };
}

/** Why a shard's task did not give predictions, as a shard's error says it; undefined when it completed. */
export function slurmShardError(
  shard: { index: number; start: number; end: number },
  job: string,
  t: SlurmTaskState | undefined,
): string | undefined {
  if (t?.state === 'COMPLETED' && (t.exitCode ?? 0) === 0) return undefined;
  const task = taskId({ job, task: shard.index });
  const how = !t
    ? 'Slurm no longer knows it (sacct is off, or the task was purged)'
    : t.state === 'FAILED'
      ? `it exited with code ${t.exitCode ?? 'unknown'}`
      : `Slurm ended it: ${t.state}`;
  return `shard ${shard.index} (rows ${shard.start}-${shard.end - 1}), Slurm task ${task}: ${how}; its log is ${SLURM_DIR}/${task}.log.`;
}

/** The ShardArray model/predict.ts runs `--on slurm` shards through: the flags `mlc run --on slurm` takes. */
export function slurmShardArray(flags: SlurmFlags, o: { client?: Slurm; dockerHost?: string } = {}): ShardArray {
  return {
    id: 'slurm',
    async run(r) {
      // The script drives the docker CLI on the node; ch-run and apptainer exec of a model image are not written yet.
      const runtime = await chooseRuntime(flags.runtime, r.signal ? { signal: r.signal } : {});
      if (runtime.runtime !== 'docker')
        throw new UserError(
          `mlc predict --on slurm runs its shards with docker on the nodes, and ${runtime.runtime} was chosen (${runtime.why}): submit where docker answers, or pass --runtime docker.`,
        );
      const { job, ended } = await runShardsOnSlurm({
        outDir: r.outDir,
        tasks: r.tasks.map((t) => ({ shard: t.shard.index, request: t.request })),
        slurm: flags.sbatch,
        ...(o.dockerHost ? { dockerHost: o.dockerHost } : {}),
        client: o.client ?? new SlurmCli(flags.sbatch),
        log: r.log,
        submitted: r.submitted,
        ...(r.signal ? { signal: r.signal } : {}),
      });
      return {
        job,
        ended: new Map(
          r.tasks.map((t) => {
            const state = ended.get(t.shard.index);
            const error = slurmShardError(t.shard, job, state);
            return [t.shard.index, { ...(error ? { error } : {}), exitCode: state?.exitCode ?? null, end: state?.end ?? null }];
          }),
        ),
      };
    },
  };
}
