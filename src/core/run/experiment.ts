// Experiment runs: a command in the experiment image with a hyper-parameter file, once per sweep point, each
// recorded in .mlcontainers/runs.jsonl (core/run/records.ts) and finished by core/run/lifecycle.ts.
import * as path from 'node:path';
import type { ContainerCreateRequest, Engine, ImageDetails } from '../docker/engine';
import { assertTakesConnections } from '../docker/engineGone';
import { engineStoppedError, isEngineGone } from '../docker/errors';
import type { GpuDecision } from '../container/gpu';
import { chooseGpu, seenGpus } from '../container/gpu';
import { checkImagePrivileges } from '../container/imagePrivileges';
import { launchContainer } from '../container/launch';
import { assertEngineSeesWorkspace } from '../container/remote';
import type { HostUser } from '../container/hostUser';
import { hostUser, runFolderOwner } from '../container/hostUser';
import type { ContainerSpec } from '../container/request';
import type { RuntimeSettings } from '../container/runtime';
import { envNames } from '../container/runtime';
import { containerRequest, gpuLabel, imageTitle } from '../container/request';
import { WORKSPACE_IN_CONTAINER } from '../container/workspace';
import type { HostGpuProbe } from '../gpu/nvidiaSmi';
import { RUN_ID_LABEL, RUN_SWEEP_LABEL } from '../labels';
import type { Logger } from '../log';
import { imageName, shortImageId } from '../reference';
import type { Catalog } from '../scaffold/catalog';
import { maskSecrets } from '../secrets';
import { finishRun, writeSeenGpus } from './lifecycle';
import type { ExperimentPlan, PlanOptions, PlannedPoint } from './plan';
import { RunError, planExperiment, planRuntime, sweepStopped } from './plan';
import type { RunCode, RunRecord } from './records';
import { RUN_DIR, appendFinal, appendRun, markStopRequested, noteEngineLost, startRecord, stopRequested } from './records';
import { isDiskFull, makeRunFolder, openRunFileForAppend, writeRunFile } from './runFolder';
import { formatParams } from './sweep';

export const RUN_ROLE = 'run' as const;
/** The environment variable that holds the config's path inside the container. */
export const CONFIG_ENV = 'MLC_CONFIG';
/** Where the config is mounted, read-only, under its own file name. */
export const CONFIG_DIR_IN_CONTAINER = '/etc/mlc/config';

export interface RunContainerInput {
  runId: string;
  name: string;
  image: { ref: string; details: ImageDetails };
  workspace: string;
  code: RunCode;
  /** Host path of the run's folder (config copy, outputs), mounted at $MLC_RUN_DIR. */
  runDir: string;
  /** Host path of the run's copy of the config, and the file name it is mounted under. */
  configFile: string;
  configName: string;
  command: string[];
  decision: GpuDecision;
  shmSizeBytes: number;
  /** The sweep the run belongs to, so the whole sweep can be found and stopped. */
  sweepId?: string;
  /** devcontainer.json's and the user's env, mounts, runArgs and user (core/container/runtime.ts). */
  runtime?: RuntimeSettings;
  /** Run as the workspace's owner (updateRemoteUserUID). */
  hostUser?: HostUser;
}

/** How long after its container ended a run still waits for its log stream and for nvidia-smi inside it. */
const AFTER_EXIT_GRACE_MS = 10_000;

/** What a run adds to the container for its image and workspace: its command, config, run folder and id. */
export function runContainerSpec(i: RunContainerInput): ContainerSpec {
  return {
    role: RUN_ROLE,
    name: i.name,
    image: i.image,
    workspace: i.workspace,
    // With the image's code, only the run's folder is mounted, so its outputs still reach the project.
    mountWorkspace: i.code === 'workspace',
    decision: i.decision,
    shmSizeBytes: i.shmSizeBytes,
    args: i.command,
    env: [`${CONFIG_ENV}=${CONFIG_DIR_IN_CONTAINER}/${i.configName}`, `MLC_RUN_ID=${i.runId}`, `MLC_RUN_DIR=${runDirInContainer(i.runId)}`],
    labels: { [RUN_ID_LABEL]: i.runId, ...(i.sweepId ? { [RUN_SWEEP_LABEL]: i.sweepId } : {}) },
    // Its own folder is the one place under .mlcontainers (read-only, workspaceBinds) that a run may write.
    binds: [`${i.runDir}:${runDirInContainer(i.runId)}`, `${i.configFile}:${CONFIG_DIR_IN_CONTAINER}/${i.configName}:ro`],
    ...(i.runtime ? { runtime: i.runtime } : {}),
    ...(i.hostUser ? { hostUser: i.hostUser } : {}),
  };
}

/** The create request, built without side effects so tests can read every field. */
export function runContainerRequest(i: RunContainerInput): ContainerCreateRequest {
  return containerRequest(runContainerSpec(i));
}

function runDirInContainer(runId: string): string {
  return `${WORKSPACE_IN_CONTAINER}/${RUN_DIR.split(path.sep).join('/')}/${runId}`;
}

/**
 * How the sweep's runs share the GPUs: one slot per concurrent run, each with its own devices. The default is one
 * run per GPU (one on CPU); never more slots than runs, so a single run gets every GPU chosen.
 */
export function gpuSlots(decision: GpuDecision, host: HostGpuProbe | undefined, parallel: number | undefined, runs: number): GpuDecision[] {
  const ids =
    decision.mode === 'cpu'
      ? undefined
      : decision.devices === 'all'
        ? host?.kind === 'gpus'
          ? host.gpus.map((g) => g.index)
          : undefined
        : decision.devices;
  const n = Math.max(1, Math.min(parallel ?? ids?.length ?? 1, runs));
  if (decision.mode === 'cpu' || !ids?.length || n === 1) return Array.from({ length: n }, () => decision);
  return Array.from({ length: n }, (_, i) => ({
    ...decision,
    // More runs than GPUs: they share GPUs round-robin (small models); otherwise each takes every n-th GPU.
    devices: n <= ids.length ? ids.filter((_, j) => j % n === i) : [ids[i % ids.length]!],
  }));
}

export interface ExecuteOptions {
  engine: Engine;
  plan: ExperimentPlan;
  /** The points to run (default: all of them). */
  points?: readonly PlannedPoint[];
  log: Logger;
  catalog?: Catalog;
  probe?: () => Promise<HostGpuProbe>;
  /** Each output line of each run, as it comes. */
  onLine?: (run: PlannedRun, line: string, stream: 'stdout' | 'stderr') => void;
  onStart?: (run: PlannedRun) => void;
  onRecord?: (record: RunRecord) => void;
  signal?: AbortSignal;
  now?: () => Date;
  /** Where the plan's variables take their values (default: this process's environment). */
  hostEnv?: Readonly<Record<string, string | undefined>>;
}

export type RunExperimentOptions = PlanOptions & Omit<ExecuteOptions, 'plan' | 'points'>;

export interface PlannedRun {
  id: string;
  point: PlannedPoint;
  /** Points in the whole sweep (1 for a plain run). */
  size: number;
}

export interface ExperimentResult {
  plan: ExperimentPlan;
  records: RunRecord[];
  /** Sweep points never started (cancelled, stopped, or a start failed). */
  notStarted: number;
  /** The GPU setting could not be honoured (auto → CPU). */
  note: string | undefined;
  warnings: string[];
}

/** Plans the experiment and runs every point, following their output: `mlc run` and Run Experiment. */
export async function runExperiment(o: RunExperimentOptions): Promise<ExperimentResult> {
  // Before the plan is written: a run on an engine that cannot see this folder never starts.
  assertEngineSeesWorkspace(o.engine.endpoint, o.workspace, 'A run');
  const plan = await planExperiment(o);
  return executePlan({ ...o, plan });
}

/**
 * Runs the plan's points, at most `parallel` at a time, one GPU slot each. Each run's record is started before its
 * container, and finished (exit code, whole output, then the container removed) when it ends. Cancelling stops the
 * running containers (SIGTERM, then SIGKILL after 10 s), finishes them as cancelled and starts nothing more; so does
 * `mlc stop SWEEP` from anywhere. A client killed outright leaves its containers running: `mlc runs` finishes them.
 */
export async function executePlan(o: ExecuteOptions): Promise<ExperimentResult> {
  const { engine, log, plan } = o;
  assertEngineSeesWorkspace(engine.endpoint, plan.workspace, 'A run');
  const now = o.now ?? ((): Date => new Date());
  const details = await engine.inspectImage(plan.image.id, o.signal);
  if (!details)
    throw new RunError(
      `Image ${plan.image.ref} (${shortImageId(plan.image.id)}) is no longer on this engine: rebuild it, or run the sweep again with another --image.`,
    );
  const image = { ref: plan.image.ref, details };
  const runtime = await planRuntime(plan.workspace, plan.runtime, o.hostEnv ?? process.env);
  // Before any run is on record: an image asking for privileges not agreed to starts nothing.
  await checkImagePrivileges(image, plan.workspace, runtime);
  const owner = await hostUser(engine, details, runtime, plan.workspace, o.signal);
  const folderOwner = await runFolderOwner(engine, details, runtime, owner, o.signal);
  const choice = await chooseGpu({
    engine,
    image,
    gpu: plan.gpu,
    log,
    folder: plan.workspace,
    ...(o.catalog ? { catalog: o.catalog } : {}),
    ...(o.probe ? { probe: o.probe } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  });
  if (choice.note) log.warn(choice.note);

  const size = plan.points.length;
  const runs: PlannedRun[] = (o.points ?? plan.points).map((point) => ({ id: point.runId, point, size }));
  const slots = gpuSlots(choice.decision, choice.preflight?.host, plan.parallel, runs.length);
  const title = imageTitle(plan.image.ref, details);
  if (plan.sweep)
    log.info(
      `sweep ${plan.id}: ${runs.length} of ${size} runs of ${plan.config.path}, ${slots.length} at a time (GPU ${slots.map(gpuLabel).join(' | ')})`,
    );

  const records: RunRecord[] = [];
  let next = 0;
  let failure: unknown;
  let note = choice.note;
  const worker = async (slot: GpuDecision): Promise<void> => {
    while (
      next < runs.length &&
      !o.signal?.aborted &&
      failure === undefined &&
      !(plan.sweep && (await sweepStopped(plan.workspace, plan.id)))
    ) {
      const run = runs[next++]!;
      try {
        const { record, note: fallback } = await runOne(run, slot);
        if (fallback && !note) log.warn((note = fallback));
        if (record) records.push(record);
      } catch (e) {
        failure ??= await engineLost(run, e);
      }
    }
  };

  // The engine went away while this client followed the run (stopped, killed, restarting): the run's record notes it
  // for whoever finishes it once the engine is back, and the sweep starts nothing more.
  const engineLost = async (run: PlannedRun, e: unknown): Promise<unknown> => {
    if (!isEngineGone(e) || o.signal?.aborted) return e;
    await noteEngineLost(plan.workspace, run.id, now().toISOString());
    const resume = plan.sweep ? `, or \`mlc run --resume ${plan.id}\` for the sweep's points that never started` : '';
    return engineStoppedError(
      engine.endpoint,
      `while run ${run.id} ran`,
      `once it is back, \`mlc runs\` records how the run ended; run it again${resume}.`,
    );
  };

  // A Docker engine shutting down stops its containers (SIGTERM) while it still answers on the connections already
  // open, and takes no new one: a run ended by a signal no client asked for is checked on a fresh connection, so that
  // a run the engine stopped is finished once it is back, saying so (engineLost above), not as a plain exit 143.
  const assertEngineStayed = async (runId: string, containerId: string): Promise<void> => {
    if (o.signal?.aborted || (await stopRequested(plan.workspace, runId))) return;
    const exit = await engine.inspectContainer(containerId).then(
      (d) => d?.exitCode,
      () => undefined,
    );
    if (exit === undefined || exit === null || exit <= 128) return;
    await assertTakesConnections(engine.endpoint);
  };

  const runOne = async (run: PlannedRun, slot: GpuDecision): Promise<{ record: RunRecord | undefined; note: string | undefined }> => {
    // The image's user may be any uid (1001 on some CUDA bases, while the host user is root): the folder is theirs.
    const dir = await makeRunFolder(plan.workspace, run.id, folderOwner);
    const configFile = path.join(dir, plan.config.name);
    await writeRunFile(dir, plan.config.name, run.point.text);
    const input: RunContainerInput = {
      runId: run.id,
      name: `${imageName(title)}-run-${run.id}`,
      image,
      workspace: plan.workspace,
      code: plan.code,
      runDir: dir,
      configFile,
      configName: plan.config.name,
      command: plan.command,
      decision: slot,
      shmSizeBytes: plan.shmSizeBytes,
      ...(plan.sweep ? { sweepId: plan.id } : {}),
      runtime,
      ...(owner ? { hostUser: owner } : {}),
    };
    const started = startRecord({
      plan,
      point: run.point,
      start: now().toISOString(),
      gpus: gpuLabel(slot),
      env: envNames(runtime),
      container: input.name,
    });
    // The start is on record before the container exists: a client killed from here on leaves a trace.
    await appendRun(plan.workspace, started);
    let launched;
    try {
      launched = await launchContainer(engine, runContainerSpec(input), {
        gpu: plan.gpu,
        preflight: choice.preflight,
        log,
        ...(o.signal ? { signal: o.signal } : {}),
      });
    } catch (e) {
      await appendFinal(plan.workspace, {
        ...started,
        status: 'failed',
        end: now().toISOString(),
        error: maskSecrets(e instanceof Error ? e.message : String(e)),
      });
      throw e;
    }
    if (launched.request.name !== input.name || gpuLabel(launched.decision) !== started.gpus) {
      await appendRun(plan.workspace, { ...started, container: launched.request.name ?? input.name, gpus: gpuLabel(launched.decision) });
    }
    // A stop asked while this point was being launched (`mlc stop`, closing the terminal) found no running container.
    if ((plan.sweep && (await sweepStopped(plan.workspace, plan.id))) || (await stopRequested(plan.workspace, run.id))) {
      await markStopRequested(plan.workspace, run.id);
      await engine.stopContainer(launched.id, 10).catch(() => undefined);
    }
    o.onStart?.(run);
    // Asked while the run goes on, so a record says what the container really had, not only what was asked.
    const seenStop = new AbortController();
    const seen = seenGpus(engine, launched.id, o.signal ? AbortSignal.any([o.signal, seenStop.signal]) : seenStop.signal)
      .then((gpus) => writeSeenGpus(plan.workspace, run.id, gpus ?? null))
      .catch(() => undefined);
    log.info(
      `run ${run.id} started in ${launched.request.name ?? input.name} (GPU: ${gpuLabel(launched.decision)})${plan.sweep ? `: ${formatParams(run.point.params)}` : ''}`,
    );
    const logFile = await openRunFileForAppend(dir, 'output.log');
    try {
      const lines = { stdout: '', stderr: '' };
      const emit = (stream: 'stdout' | 'stderr', flush: boolean): void => {
        const parts = lines[stream].split(/\r?\n/);
        lines[stream] = flush ? '' : (parts.pop() ?? '');
        for (const line of flush ? parts.filter((l, i) => i < parts.length - 1 || l) : parts) o.onLine?.(run, line, stream);
      };
      let writes = Promise.resolve();
      // A full disk stops the copy here, not the run: finishRun writes what it can and the record says the disk filled.
      let logFull = false;
      // Podman 4.3 can leave a log stream that began as the container exited open for good: once the container has
      // exited, the stream gets a little longer, then stops (finishRun writes the whole output from the engine).
      const followStop = new AbortController();
      let cutOff: NodeJS.Timeout | undefined;
      void engine.waitContainer(launched.id, followStop.signal).then(
        () => {
          cutOff = setTimeout(() => followStop.abort(), AFTER_EXIT_GRACE_MS);
        },
        () => undefined,
      );
      try {
        await engine
          .followLogs(
            launched.id,
            (chunk, stream) => {
              writes = writes.then(() =>
                logFull
                  ? undefined
                  : logFile.write(chunk).then(
                      () => undefined,
                      (e: unknown) => {
                        if (!isDiskFull(e)) throw e;
                        logFull = true;
                      },
                    ),
              );
              lines[stream] += chunk.toString('utf8');
              emit(stream, false);
            },
            o.signal ? AbortSignal.any([o.signal, followStop.signal]) : followStop.signal,
          )
          .catch((e: unknown) => {
            if (!followStop.signal.aborted || o.signal?.aborted) throw e;
          });
      } finally {
        clearTimeout(cutOff);
        followStop.abort();
      }
      emit('stdout', true);
      emit('stderr', true);
      await writes;
    } finally {
      await logFile.close();
    }
    if (o.signal?.aborted) {
      await markStopRequested(plan.workspace, run.id);
      await engine.stopContainer(launched.id, 10).catch(() => undefined);
    } else {
      await engine.waitContainer(launched.id).catch(() => undefined);
    }
    // Podman 4.3 can leave an exec into a container that has just exited unanswered: once the run is over, the
    // question gets a little longer, then the record says it could not tell (null) rather than waiting forever.
    const giveUp = setTimeout(() => seenStop.abort(), AFTER_EXIT_GRACE_MS);
    await seen;
    clearTimeout(giveUp);
    await assertEngineStayed(run.id, launched.id);
    const record = await finishRun({ engine, workspace: plan.workspace, containerId: launched.id, log });
    if (record) o.onRecord?.(record);
    return { record, note: launched.note };
  };

  await Promise.all(slots.map(worker));
  if (failure !== undefined) throw failure;
  return { plan, records, notStarted: runs.length - next, note, warnings: plan.warnings };
}
