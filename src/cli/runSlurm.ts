// `mlc run --on slurm`: the plan as one sbatch array job (core/slurm/), and the Slurm side of `mlc runs`, `mlc stop`
// and `mlc logs`.
import { planRuntime } from '../core/run/plan';
import type { Engine } from '../core/docker/engine';
import type { RunRecord } from '../core/run/records';
import { readRuns } from '../core/run/records';
import { readRunOutput } from '../core/run/runFolder';
import { runFolderOwner } from '../core/container/hostUser';
import type { ExperimentPlan } from '../core/run/plan';
import { RunError } from '../core/run/plan';
import type { SlurmOptions } from '../core/backends/slurm/script';
import { sbatchOptionsProblem } from '../core/backends/slurm/script';
import type { Slurm } from '../core/backends/slurm/slurm';
import { SlurmCli, isLive } from '../core/backends/slurm/slurm';
import { submitToSlurm } from '../core/backends/slurm/submit';
import { chooseRuntime, isApptainer, runtimeTitle } from '../core/backends/slurm/runtime';
import { presetSetupScript } from '../core/export/rules';
import { optionalCatalog, templatesDir } from '../core/scaffold/templateFiles';
import { reconcileSlurmRuns, stopSlurmRuns, taskId } from '../core/backends/slurm/tasks';
import type { CliIO } from './io';
import { UsageError, cliLogger } from './io';

export const slurmRunHelp = `
On Slurm (--on slurm): the runs become one array job (sbatch --array=1-N%P, P from --parallel); task i runs point i
in \`docker run --init\` of the image pinned by id on the node, with the same mounts, env and labels, and records its
own start and end. The nodes need Docker, the image and this folder at the same path. The script is kept in
.mlcontainers/sweeps/<id>.sbatch; its output goes to each run's output.log. GPUs come from --gres, not --gpu.
With Charliecloud instead, the image is converted once (ch-convert) into .mlcontainers/charliecloud/<image id>/
and each task runs \`ch-run\` of it, with the same binds, env and working directory. With Apptainer (or Singularity),
the image is built once (apptainer build, from the .def \`mlc export apptainer\` writes) into
.mlcontainers/apptainer/<image id>.sif and each task runs \`apptainer exec\` of it (--nv when --gres asks for GPUs).
  --on slurm            submit to Slurm instead of running here; returns once sbatch accepted the job
  --runtime R           docker, apptainer, singularity or charliecloud (default: docker where it answers on this
                        host, else apptainer or singularity where on PATH, else charliecloud where ch-run is)
  --partition P  --time T  --cpus-per-task N  --mem M  --gres G  --account A
                        the sbatch options of the same names, one #SBATCH line each
  --sbatch-arg OPT      another #SBATCH line (repeatable), e.g. --sbatch-arg=--qos=long
  --dry-run             print the batch script and submit nothing`;

export interface SlurmRunValues {
  partition?: string | undefined;
  time?: string | undefined;
  'cpus-per-task'?: string | undefined;
  mem?: string | undefined;
  gres?: string | undefined;
  account?: string | undefined;
  'sbatch-arg'?: string[] | undefined;
}

export function slurmOptions(v: SlurmRunValues): SlurmOptions {
  const cpus = v['cpus-per-task'] === undefined ? undefined : Number(v['cpus-per-task']);
  if (cpus !== undefined && !(Number.isInteger(cpus) && cpus >= 1)) throw new UsageError(`--cpus-per-task wants a whole number of CPUs, not "${v['cpus-per-task']}"`);
  const options: SlurmOptions = {
    ...(v.partition ? { partition: v.partition } : {}),
    ...(v.time ? { time: v.time } : {}),
    ...(cpus ? { cpusPerTask: cpus } : {}),
    ...(v.mem ? { mem: v.mem } : {}),
    ...(v.gres ? { gres: v.gres } : {}),
    ...(v.account ? { account: v.account } : {}),
    ...(v['sbatch-arg']?.length ? { extra: v['sbatch-arg'] } : {}),
  };
  const problem = sbatchOptionsProblem(options);
  if (problem) throw new UsageError(problem);
  return options;
}

/** Submits the plan (or prints its script with --dry-run) and prints the run ids. */
export async function submitPlan(
  plan: ExperimentPlan,
  o: { hostEnv: Readonly<Record<string, string | undefined>>; engine: Engine; options: SlurmOptions; runtime?: string | undefined; dryRun: boolean; json: boolean; host: string | undefined; cliPath: string; slurm?: Slurm },
  io: CliIO,
  signal: AbortSignal,
): Promise<number> {
  const details = await o.engine.inspectImage(plan.image.id, signal);
  if (!details) throw new RunError(`Image ${plan.image.ref} is no longer on this engine: rebuild it.`);
  // A dry run prints the script of the runtime asked for, even where that runtime is not installed.
  const runtime = await chooseRuntime(o.runtime, { signal, requireTool: !o.dryRun });
  io.err(`Slurm tasks run the image with ${runtimeTitle(runtime.runtime)}: ${runtime.why}.`);
  const setupScript = isApptainer(runtime.runtime) ? presetSetupScript(details.labels, await optionalCatalog(templatesDir())) : undefined;
  const settings = await planRuntime(plan.workspace, plan.runtime, o.hostEnv);
  const folderOwner = runtime.runtime === 'docker' && !o.dryRun ? await runFolderOwner(o.engine, details, settings, undefined, signal) : undefined;
  const submission = await submitToSlurm({
    plan,
    image: details,
    runtime: settings,
    ...(folderOwner ? { folderOwner } : {}),
    slurm: o.slurm ?? new SlurmCli(o.options),
    options: o.options,
    recorder: { node: process.execPath, cli: o.cliPath },
    ...(o.host ? { dockerHost: o.host } : {}),
    containerRuntime: runtime.runtime,
    ...(setupScript ? { setupScript } : {}),
    log: cliLogger(io, 'slurm'),
    dryRun: o.dryRun,
    signal,
  });
  if (o.dryRun) {
    io.out(submission.script.replace(/\n$/, ''));
    return 0;
  }
  if (o.json) io.out(JSON.stringify({ sweep: plan.sweep ? plan.id : null, runs: submission.runs, job: submission.job }));
  else for (const id of submission.runs) io.out(id);
  io.err(`${plan.sweep ? `sweep ${plan.id}: ${submission.runs.length} runs` : `run ${plan.id}`} submitted to Slurm as job ${submission.job ?? '?'} (script ${submission.scriptFile}): \`mlc runs\`, \`mlc logs ${submission.runs[0] ?? plan.id}\`, \`mlc stop ${plan.id}\`.`);
  return 0;
}

/** Closes the Slurm runs whose task ended unrecorded; a Slurm that does not answer is a note, as an engine's is. */
export async function reconcileSlurm(folder: string, io: CliIO, signal: AbortSignal, records?: readonly RunRecord[], slurm: Slurm = new SlurmCli()): Promise<boolean> {
  const list = records ?? (await readRuns(folder)).runs;
  if (!list.some((r) => r.status === 'running' && r.slurm)) return false;
  try {
    return await reconcileSlurmRuns({ slurm, workspace: folder, log: cliLogger(io, 'runs'), records: list, signal });
  } catch (e) {
    io.err(`note: Slurm did not answer (${e instanceof Error ? e.message : String(e)}); runs on Slurm are listed as last recorded.`);
    return false;
  }
}

/** `mlc stop` of a run or sweep on Slurm: the run ids stopped (none when the target is not on Slurm). */
export async function stopOnSlurm(folder: string, target: string, io: CliIO, signal: AbortSignal, slurm: Slurm = new SlurmCli()): Promise<string[]> {
  const records = (await readRuns(folder)).runs.filter((r) => r.slurm && (r.id === target || r.sweep?.id === target));
  if (!records.some((r) => r.status === 'running')) return [];
  return stopSlurmRuns({ slurm, workspace: folder, target, log: cliLogger(io, 'stop'), signal });
}

/** `mlc logs -f` of a Slurm run: its output file as Slurm writes it, until the task has ended. */
export async function followSlurmLog(folder: string, record: RunRecord, io: CliIO, signal: AbortSignal, slurm: Slurm = new SlurmCli()): Promise<number> {
  let offset = 0;
  let pending = '';
  const drain = async (): Promise<void> => {
    // Slurm appends as the task runs; the run can still make it a link or a FIFO, which is read as nothing.
    const kept = await readRunOutput(folder, record.id, offset);
    if (kept.size <= offset) return;
    offset = kept.size;
    const parts = (pending + kept.text).split('\n');
    pending = parts.pop() ?? '';
    for (const line of parts) io.out(line);
  };
  const task = record.slurm!;
  while (!signal.aborted) {
    await drain();
    const live = (await slurm.queue([task.job], signal)).some((t) => taskId(t) === taskId(task) && isLive(t.state));
    if (!live) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  await drain();
  if (pending) io.out(pending);
  if (signal.aborted) return 130;
  await reconcileSlurm(folder, io, signal, undefined, slurm);
  const final = (await readRuns(folder)).runs.find((r) => r.id === record.id);
  if (final && final.status !== 'running') io.err(`run ${record.id} ${final.status}${final.exitCode !== null ? ` (exit ${final.exitCode})` : ''}`);
  return 0;
}
