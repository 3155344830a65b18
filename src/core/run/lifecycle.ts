// A run outlives the client that started it: its container is its truth while it runs, and whichever client sees
// it end first (`mlc run`, `mlc runs`, `mlc logs`, `mlc stop`, the VS Code view) writes its final record, keeps its
// whole output, and only then removes the container.
import * as path from 'node:path';
import type { ContainerSummary, Engine } from '../docker/engine';
import { UserError } from '../errors';
import { MANAGED_LABEL, ROLE_LABEL, RUN_ID_LABEL, RUN_SWEEP_LABEL, JOB_LABEL, WORKSPACE_LABEL } from '../labels';
import type { Logger } from '../log';
import { leftOutSentence, metricsToJson, readRunSeries } from '../metrics/metrics';
import type { SeenGpu } from '../container/gpu';
import type { RunRecord, RunStatus } from './records';
import { RUNS_FILE, appendFinal, isLocal, markStopRequested, readRuns, stopRequested } from './records';
import { RUN_DIR, RUN_FILE_CAP, diskIsFull, ensureRunFolder, isDiskFull, isRunId, readRunText, runFolder, writeRunFile } from './runFolder';
import { writeSeriesCache } from './series';

/** A run container of this workspace, as the engine lists it. */
export interface RunContainer {
  containerId: string;
  runId: string;
  sweepId: string | undefined;
  running: boolean;
  /** The engine's word: "created" (not started yet), "running", "exited"… */
  state: string;
}

/** The workspace's run containers (running or ended, not yet finished by any client). */
export async function findRunContainers(engine: Engine, workspace: string, signal?: AbortSignal): Promise<RunContainer[]> {
  const labels = [`${MANAGED_LABEL}=true`, `${ROLE_LABEL}=run`, `${WORKSPACE_LABEL}=${workspace}`];
  const listed = await engine.listContainers({ labels, all: true }, signal);
  // A backend's job owns its container (core/backends/): its script and the backend say how it ended.
  return listed.filter((c) => c.labels[RUN_ID_LABEL] && !c.labels[JOB_LABEL]).map(toRunContainer);
}

function toRunContainer(c: ContainerSummary): RunContainer {
  return {
    containerId: c.id,
    runId: c.labels[RUN_ID_LABEL] ?? '',
    sweepId: c.labels[RUN_SWEEP_LABEL],
    running: c.state === 'running' || c.state === 'restarting',
    state: c.state,
  };
}

/**
 * Writes the final record of an ended run from its container (exit code, end time, whole output) and removes the
 * container. Safe to call from several clients at once: the record is written once, the output file is replaced
 * atomically with the same content, and removing a container that is already gone is not an error. Returns the
 * final record, or undefined when the container still runs or no record of the run exists.
 */
export async function finishRun(o: {
  engine: Engine;
  workspace: string;
  containerId: string;
  log: Logger;
  signal?: AbortSignal;
}): Promise<RunRecord | undefined> {
  const details = await o.engine.inspectContainer(o.containerId, o.signal);
  // "created": its client is about to start it (or died first: reconcileRuns deals with that).
  if (!details || details.running || details.status === 'created') return undefined;
  const runId = details.labels[RUN_ID_LABEL];
  if (!isRunId(runId)) return undefined;
  let started = (await readRuns(o.workspace)).runs.find((r) => r.id === runId);
  if (!started) {
    o.log.warn(`run container ${details.name} has no record in .mlcontainers/runs.jsonl: left as it is.`);
    return undefined;
  }
  let finished = started;
  if (started.status === 'running') {
    // The engine keeps the whole output; a client that followed it may have died halfway through writing it.
    const output = await o.engine.containerLogs(o.containerId, 'all', o.signal).catch(() => undefined);
    let diskFull = false;
    if (output !== undefined) {
      await writeRunFile(await ensureRunFolder(o.workspace, runId), 'output.log', output).catch((e: unknown) => {
        if (!isDiskFull(e)) throw e;
        diskFull = true;
      });
    }
    const cancelled = await stopRequested(o.workspace, runId);
    const status: RunStatus = cancelled ? 'cancelled' : details.exitCode === 0 ? 'succeeded' : 'failed';
    started = engineEnded(started, status, details.exitCode);
    // Another client may have written the same final line a moment earlier: it read the same container.
    finished = await closeRun({
      workspace: o.workspace,
      started,
      log: o.log,
      diskFull,
      outcome: { status, exitCode: details.exitCode, end: details.finishedAt ?? new Date().toISOString() },
    });
  }
  await o.engine.removeContainer(o.containerId, { force: true }, o.signal).catch(() => undefined);
  // Another client's removal may still be under way ("removal in progress"): done is when the engine has none.
  for (let i = 0; i < 50 && (await o.engine.inspectContainer(o.containerId).catch(() => undefined)); i++)
    await new Promise((r) => setTimeout(r, 100));
  return finished;
}

/**
 * Writes a run's final line from its start line and how it ended, with what its run folder holds by then (the GPUs
 * seen, metric summaries and the series cache): the one way a run is closed, whatever ran it (a container here,
 * a backend's job). Written once however many clients call it; returns the record this call built.
 */
export async function closeRun(o: {
  workspace: string;
  started: RunRecord;
  outcome: Pick<RunRecord, 'status' | 'exitCode' | 'end'> & Partial<Pick<RunRecord, 'error' | 'job' | 'endedBy'>>;
  log: Logger;
  /** A write into the run folder already failed for want of space (output.log). */
  diskFull?: boolean;
}): Promise<RunRecord> {
  const runId = o.started.id;
  const dir = await ensureRunFolder(o.workspace, runId);
  let diskFull = o.diskFull === true;
  const seen = await readSeenGpus(o.workspace, runId, (sentence) => o.log.warn(`run ${runId}: ${sentence}`));
  const { metrics, series } = await readRunSeries(runFolder(o.workspace, runId));
  const leftOut = leftOutSentence(metrics);
  if (leftOut) o.log.warn(`run ${runId}: ${leftOut}`);
  await writeSeriesCache(o.workspace, runId, series).catch((e: unknown) => {
    if (!isDiskFull(e)) throw e;
    diskFull = true;
  });
  // The run's own writes may have filled the disk without a write of ours failing: the disk says so.
  diskFull ||= await diskIsFull(dir);
  const full = diskFull ? diskFullSentence(runId) : undefined;
  if (full) o.log.warn(`run ${runId}: ${full}`);
  const error = [o.outcome.error, full].filter(Boolean).join('; ');
  const record: RunRecord = {
    ...o.started,
    ...o.outcome,
    ...(error ? { error } : {}),
    ...(seen !== undefined ? { seenGpus: seen } : {}),
    ...(Object.keys(metrics.metrics).length || metrics.skipped ? { metrics: metricsToJson(metrics) } : {}),
  };
  const wrote = await appendFinal(o.workspace, record).catch((e: unknown) => {
    if (!isDiskFull(e)) throw e;
    throw new UserError(
      `The disk that holds ${RUNS_FILE} is full: run ${runId} ${record.status}, but its final record could not be written. Free space there, then \`mlc runs\` writes it (the run's container is kept until then).`,
    );
  });
  if (wrote) o.log.info(`run ${runId} ${record.status} (exit ${String(record.exitCode)})`);
  return record;
}

/** What a run's record and its client say when the run folder's disk filled up. */
function diskFullSentence(runId: string): string {
  const where = path.join(RUN_DIR, runId);
  return `the disk that holds its run folder filled up (no space left on ${where}): output.log, metrics and the run's own files may be cut short; free space there (\`df -h ${where}\`) and run it again`;
}

/**
 * Finishes every ended run container of the workspace, and closes the records of runs whose container is gone
 * without a final line (a client killed between writing the start and creating the container): what `mlc runs`
 * and the view do before they list.
 */
export async function reconcileRuns(o: {
  engine: Engine;
  workspace: string;
  log: Logger;
  signal?: AbortSignal;
  records?: readonly RunRecord[];
}): Promise<boolean> {
  const all = await findRunContainers(o.engine, o.workspace, o.signal);
  let records = o.records ?? (await readRuns(o.workspace)).runs;
  // A container created a minute ago and never started: its client died between create and start.
  const stale = all.filter(
    (c) => c.state === 'created' && Date.now() - Date.parse(records.find((r) => r.id === c.runId)?.start ?? '') >= 60_000,
  );
  for (const c of stale) await o.engine.removeContainer(c.containerId, { force: true }, o.signal).catch(() => undefined);
  const containers = all.filter((c) => !stale.includes(c));
  const ended = containers.filter((x) => !x.running && x.state !== 'created');
  for (const c of ended) await finishRun({ ...o, containerId: c.containerId });
  const live = new Set(containers.map((c) => c.runId));
  if (ended.length) records = (await readRuns(o.workspace)).runs;
  // Its container may be being created right now by the client that wrote the start: give that client a minute.
  // A backend's run has no container while it waits in the queue: its backend speaks for it (core/backends/).
  const orphans = records.filter(
    (r) => r.status === 'running' && isLocal(r) && !live.has(r.id) && Date.now() - Date.parse(r.start) >= 60_000,
  );
  for (const r of orphans) {
    await appendFinal(o.workspace, {
      ...r,
      status: 'failed',
      end: new Date().toISOString(),
      error:
        r.error ??
        (r.engineLost
          ? engineStoppedSentence(r, null)
          : 'the run has no container: the client that started it stopped before the container did, or the container was removed by hand'),
    });
  }
  return ended.length + orphans.length + stale.length > 0;
}

/**
 * A run its following client saw the engine leave (`engineLost`), ended by a signal (the engine's SIGTERM or SIGKILL
 * as it stopped, or as it came back without live-restore): the engine stopped under it, and its record says so.
 * Otherwise the run ended on its own (Podman's containers outlive its API service) and the note goes.
 *
 * Decided from what that client saw, not from the engine afterwards: Docker 20.10 keeps its events in memory (a
 * restart loses the kill/die of its own shutdown), /info has no start time, and the container's state reads like
 * any `docker stop` (exit 143, State.Error empty).
 */
function engineEnded(started: RunRecord, status: RunStatus, exitCode: number | null): RunRecord {
  if (!started.engineLost) return started;
  if (status === 'failed' && (exitCode === null || exitCode > 128)) return { ...started, error: engineStoppedSentence(started, exitCode) };
  const { engineLost, ...rest } = started;
  void engineLost;
  return rest;
}

/** What a run's record says when the engine stopped under it; a sweep's names the command for its points not yet run. */
export function engineStoppedSentence(r: Pick<RunRecord, 'sweep'>, exitCode: number | null): string {
  const resume = r.sweep ? `, or \`mlc run --resume ${r.sweep.id}\` for the sweep's points that never started` : '';
  return `the Docker engine stopped while the run ran ${exitCode === null ? '(its container is gone)' : `(exit ${exitCode})`}: run it again${resume}`;
}

/**
 * Stops the runs with this run id or sweep id (SIGTERM, SIGKILL after `timeoutSeconds`) and finishes them as
 * cancelled. Returns the run ids it stopped.
 */
export async function stopRuns(o: {
  engine: Engine;
  workspace: string;
  target: string;
  log: Logger;
  timeoutSeconds?: number;
  signal?: AbortSignal;
}): Promise<string[]> {
  const containers = (await findRunContainers(o.engine, o.workspace, o.signal)).filter(
    (c) => c.runId === o.target || c.sweepId === o.target,
  );
  for (const c of containers) await markStopRequested(o.workspace, c.runId);
  await Promise.all(
    containers.filter((c) => c.running).map((c) => o.engine.stopContainer(c.containerId, o.timeoutSeconds ?? 10, o.signal)),
  );
  for (const c of containers) await finishRun({ ...o, containerId: c.containerId });
  return containers.map((c) => c.runId);
}

/**
 * What nvidia-smi in the container listed, kept by the client that asked while the run went on. The run folder is
 * the container's to write, so the file is checked for the shape we write: anything else is no answer.
 */
async function readSeenGpus(
  workspace: string,
  runId: string,
  onRefused: (sentence: string) => void,
): Promise<RunRecord['seenGpus'] | undefined> {
  const text = await readRunText(runFolder(workspace, runId), '.gpus.json', RUN_FILE_CAP.small, onRefused);
  if (text === undefined) return undefined;
  try {
    const raw: unknown = JSON.parse(text);
    if (raw === null) return null;
    const field = (g: unknown, k: string): unknown => (typeof g === 'object' && g !== null ? (g as Record<string, unknown>)[k] : undefined);
    const ok =
      Array.isArray(raw) &&
      raw.length <= 64 &&
      raw.every((g) => ['index', 'name', 'uuid'].every((k) => typeof field(g, k) === 'string' && (field(g, k) as string).length <= 256));
    if (ok) return (raw as SeenGpu[]).map((g) => ({ index: g.index, name: g.name, uuid: g.uuid }));
    onRefused('.gpus.json in the run folder is not the list of GPUs the host wrote: left out of the record.');
    return undefined;
  } catch {
    return undefined;
  }
}

export async function writeSeenGpus(workspace: string, runId: string, seen: RunRecord['seenGpus']): Promise<void> {
  await writeRunFile(await ensureRunFolder(workspace, runId), '.gpus.json', JSON.stringify(seen ?? null));
}
