// `mlc run --on slurm`: an experiment plan (core/run/plan.ts) becomes one array job. Each point's run folder and
// config copy are made here, as a local run makes them; the script is kept beside the plan; every point is on
// record (running, Slurm state PENDING) as soon as sbatch answers, so `mlc runs` lists the queued tasks too.
import * as path from 'node:path';
import { writeFileAtomic } from '../../atomicWrite';
import type { ImageDetails } from '../../docker/engine';
import type { Logger } from '../../log';
import { createLogger } from '../../log';
import { containerRequest } from '../../container/request';
import type { RuntimeSettings } from '../../container/runtime';
import { envNames } from '../../container/runtime';
import { imageTitle } from '../../container/request';
import { imageName } from '../../reference';
import type { RunContainerInput } from '../../run/experiment';
import { runContainerSpec } from '../../run/experiment';
import type { ExperimentPlan } from '../../run/plan';
import type { RunNodes } from '../../run/records';
import { appendRun, runFolder, startRecord } from '../../run/records';
import { makeRunFolder, writeRunFile } from '../../run/runFolder';
import type { BatchScriptInput, MultiNode, SlurmOptions } from './script';
import { gresGpuCount, renderBatchScript, scriptPath } from './script';
import type { Slurm } from './slurm';
import { SlurmError } from './slurm';
import { apptainerImage, apptainerSifPath } from './apptainer';
import { charliecloudImage, charliecloudImageDir, toChRunArgs } from './charliecloud';
import type { SlurmRuntime } from './runtime';
import { isApptainer } from './runtime';
import { SLURM_BACKEND, jobState } from './tasks';

export interface SlurmSubmitOptions {
  plan: ExperimentPlan;
  /** The pinned image as the engine describes it (its labels name the containers). */
  image: ImageDetails;
  /** devcontainer.json's runtime settings and the user's --env/--env-file/--mount, as a local run gets them. */
  runtime?: RuntimeSettings;
  slurm: Slurm;
  options: SlurmOptions;
  /** One run across several nodes (--nodes, --launcher). */
  multiNode?: MultiNode;
  /** The pushed image, pinned by digest (--push), for nodes whose engine lacks it. */
  pull?: string;
  recorder: BatchScriptInput['recorder'];
  dockerHost?: string;
  /** How the tasks run the image (default docker); Charliecloud's directory image and Apptainer's SIF are made here, once per id. */
  containerRuntime?: SlurmRuntime;
  /**
   * Whom the run folders must belong to for the tasks' containers to write them (core/container/hostUser.ts
   * runFolderOwner, for --runtime docker; Charliecloud and Apptainer run as the submitting user): undefined = us.
   */
  folderOwner?: { uid: number; gid: number } | 'world';
  /** The preset's release setup script, which a SIF sources in every shell (core/export/rules.ts presetSetupScript). */
  setupScript?: string;
  log?: Logger;
  /** Render the script only: nothing is written or submitted. */
  dryRun?: boolean;
  signal?: AbortSignal;
  now?: () => Date;
}

export interface SlurmSubmission {
  script: string;
  /** Where the script is kept (relative to the workspace), and the array job's id; absent on a dry run. */
  scriptFile: string;
  job?: string;
  runs: string[];
}

export async function submitToSlurm(o: SlurmSubmitOptions): Promise<SlurmSubmission> {
  const { plan } = o;
  const now = o.now ?? ((): Date => new Date());
  const title = imageTitle(plan.image.ref, o.image);
  const tasks: RunContainerInput[] = plan.points.map((point) => {
    const dir = runFolder(plan.workspace, point.runId);
    return {
      runId: point.runId,
      name: `${imageName(title)}-run-${point.runId}`,
      image: { ref: plan.image.ref, details: o.image },
      workspace: plan.workspace,
      code: plan.code,
      runDir: dir,
      configFile: path.join(dir, plan.config.name),
      configName: plan.config.name,
      command: plan.command,
      decision: { mode: 'cpu' },
      shmSizeBytes: plan.shmSizeBytes,
      ...(plan.sweep ? { sweepId: plan.id } : {}),
      ...(o.runtime ? { runtime: o.runtime } : {}),
    };
  });
  const chImage = o.containerRuntime === 'charliecloud' ? charliecloudImageDir(plan.workspace, o.image.id) : undefined;
  const apptainer = isApptainer(o.containerRuntime) ? o.containerRuntime : undefined;
  const sif = apptainer ? apptainerSifPath(plan.workspace, o.image.id) : undefined;
  const script = renderBatchScript({
    planId: plan.id,
    sweep: plan.sweep,
    workspace: plan.workspace,
    tasks,
    slurm: { ...o.options, ...(plan.parallel ? { parallel: plan.parallel } : {}) },
    recorder: o.recorder,
    ...(o.multiNode ? { multiNode: o.multiNode } : {}),
    ...(o.pull ? { pull: o.pull } : {}),
    ...(o.dockerHost ? { dockerHost: o.dockerHost } : {}),
    ...(chImage ? { runtime: 'charliecloud' as const, charliecloudImage: chImage } : {}),
    ...(apptainer && sif ? { runtime: apptainer, sif } : {}),
  });
  const rel = scriptPath(plan.id);
  const runs = plan.points.map((p) => p.runId);
  if (o.dryRun) return { script, scriptFile: rel, runs };

  for (const [n, point] of plan.points.entries()) {
    // The image's user may be any uid: the folder is theirs (makeRunFolder), never made world-writable by default.
    const dir = await makeRunFolder(plan.workspace, point.runId, o.folderOwner);
    await writeRunFile(dir, path.basename(tasks[n]!.configFile), point.text);
  }
  // The name docker-daemon and ch-convert read the image by: the planned reference where it still names the id.
  const ref = o.image.repoTags.includes(plan.image.ref) ? plan.image.ref : (o.image.repoTags[0] ?? plan.image.ref);
  const log = o.log ?? createLogger({ write: () => undefined }, 'slurm');
  if (apptainer)
    await apptainerImage({
      workspace: plan.workspace,
      image: o.image,
      ref,
      tool: apptainer,
      log,
      ...(o.setupScript ? { setupScript: o.setupScript } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
  if (chImage) {
    // After the config copies exist: a bind of a file needs a file to mount on in the image.
    const mountPoints = tasks.flatMap((t) => toChRunArgs(containerRequest(runContainerSpec(t)), o.image, chImage).mountPoints);
    await charliecloudImage({
      workspace: plan.workspace,
      image: o.image,
      ref,
      mountPoints,
      log,
      ...(o.signal ? { signal: o.signal } : {}),
    });
  }
  await writeFileAtomic(path.join(plan.workspace, rel), script);
  // Held until every point is on record, so a task that starts at once finds its record to update.
  // Secret values are in no file: the script names them (`-e NAME`) and sbatch hands its environment to the job.
  const secrets = Object.fromEntries((o.runtime?.env ?? []).filter((v) => v.secret).map((v) => [v.name, v.value]));
  const job = await o.slurm.submit(path.join(plan.workspace, rel), plan.workspace, o.signal, secrets).catch((e: unknown) => {
    // Nothing is on record yet and the plan is on disk: the same plan goes to Slurm once the controller is back.
    if (e instanceof SlurmError && e.reason === 'controller') {
      throw new SlurmError(
        `The Slurm controller does not answer, so nothing was submitted and no run is on record; the plan is kept as ${plan.id}: once \`sinfo\` answers, submit it with \`mlc run --resume ${plan.id} --on slurm\` (and the same Slurm options).`,
        'controller',
      );
    }
    throw e;
  });
  const submitted = now().toISOString();
  try {
    const nodes: RunNodes | undefined = o.multiNode && {
      count: o.multiNode.nodes,
      gpusPerNode: gresGpuCount(o.options.gres),
      ...(o.multiNode.launcher ? { launcher: o.multiNode.launcher } : {}),
    };
    await recordSubmitted(plan, job, submitted, o.runtime ? envNames(o.runtime) : [], nodes);
  } catch (e) {
    await o.slurm.cancel([job]).catch(() => undefined);
    throw e;
  }
  await o.slurm.release(job, o.signal);
  return { script, scriptFile: rel, job, runs };
}

async function recordSubmitted(
  plan: ExperimentPlan,
  job: string,
  submitted: string,
  env: string[],
  nodes: RunNodes | undefined,
): Promise<void> {
  for (const point of plan.points) {
    const task = { job, task: point.index + 1 };
    await appendRun(
      plan.workspace,
      startRecord({
        plan,
        point,
        start: submitted,
        gpus: 'none',
        env,
        container: `mlc-${job}-${task.task}`,
        submitted: { backend: SLURM_BACKEND, job: jobState(task, 'PENDING') },
        ...(nodes ? { nodes } : {}),
      }),
    );
  }
}
