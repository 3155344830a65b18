// Experiment runs: a command in the experiment image with a hyper-parameter file, recorded in .mlcontainers/runs.jsonl.
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { ContainerCreateRequest, Engine, ImageDetails } from '../docker/engine';
import type { GpuDecision, GpuSetting, SeenGpu } from '../container/gpu';
import { chooseGpu, seenGpus } from '../container/gpu';
import { launchContainer } from '../container/launch';
import type { ContainerSpec } from '../container/request';
import { WORKSPACE_IN_CONTAINER, containerRequest, gpuLabel, imageTitle } from '../container/request';
import { UserError } from '../errors';
import type { HostGpuProbe } from '../gpu/nvidiaSmi';
import { isRecord } from '../json';
import { DIRTY_LABEL, REVISION_LABEL, RUN_ID_LABEL } from '../labels';
import type { Logger } from '../log';
import type { GitProvider } from '../provenance/git';
import { imageName } from '../reference';
import type { Catalog } from '../scaffold/catalog';
import { writeFileAtomic } from '../atomicWrite';
import type { SweepPoint } from './sweep';
import { ConfigError, expandConfig, formatParams } from './sweep';

export const RUN_ROLE = 'run' as const;
/** The environment variable that holds the config's path inside the container. */
export const CONFIG_ENV = 'MLC_CONFIG';
/** Where the config is mounted, read-only, under its own file name. */
export const CONFIG_DIR_IN_CONTAINER = '/etc/mlc/config';
export const RUNS_FILE = path.join('.mlcontainers', 'runs.jsonl');
/** Each run's config copy and output.log, under its id. */
export const RUN_DIR = path.join('.mlcontainers', 'runs');

/** One line of .mlcontainers/runs.jsonl: everything needed to say what ran, on what, with which values. */
export interface RunRecord {
  id: string;
  status: 'succeeded' | 'failed' | 'cancelled';
  /** null when the run was cancelled before the container reported one. */
  exitCode: number | null;
  /** The image the command ran in, and the commit it was built from. */
  image: { id: string; ref: string; tags: string[]; revision: string | null; dirty: boolean };
  /**
   * The commit of the code that ran: the workspace's when it was mounted at /workspace (code "workspace"), the
   * image's when the code built into the image ran (code "image").
   */
  commit: string | null;
  dirty: boolean;
  code: RunCode;
  /** The config the container saw (for a sweep point: the generated one), its sha256 and where it came from. */
  config: { path: string; sha256: string; content: string };
  /** The sweep's values at this point; empty for a plain run. */
  params: Record<string, unknown>;
  sweep: { id: string; index: number; size: number } | null;
  command: string[];
  /** ISO 8601. */
  start: string;
  end: string;
  /** What the container was given: "none", "all" or device ids ("0,1"). */
  gpus: string;
  /**
   * The GPUs nvidia-smi inside the container listed while it ran; null when it could not say (no nvidia-smi there,
   * which is what a CPU run normally looks like, or the run ended first). Absent in records older than this field.
   */
  seenGpus?: SeenGpu[] | null;
  container: string;
  /** The run's output, relative to the workspace. */
  log: string;
}

/**
 * Which code a run uses: the project folder mounted at /workspace (edit and rerun, the default), or the copy built
 * into the image (`COPY . /workspace`), to rerun an old image exactly as it was built.
 */
export type RunCode = 'workspace' | 'image';

export class RunError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'RunError';
  }
}

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
}

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
    labels: { [RUN_ID_LABEL]: i.runId },
    binds: [...(i.code === 'image' ? [`${i.runDir}:${runDirInContainer(i.runId)}`] : []), `${i.configFile}:${CONFIG_DIR_IN_CONTAINER}/${i.configName}:ro`],
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
  const ids = decision.mode === 'cpu' ? undefined : decision.devices === 'all' ? (host?.kind === 'gpus' ? host.gpus.map((g) => g.index) : undefined) : decision.devices;
  const n = Math.max(1, Math.min(parallel ?? ids?.length ?? 1, runs));
  if (decision.mode === 'cpu' || !ids?.length || n === 1) return Array.from({ length: n }, () => decision);
  return Array.from({ length: n }, (_, i) => ({
    ...decision,
    // More runs than GPUs: they share GPUs round-robin (small models); otherwise each takes every n-th GPU.
    devices: n <= ids.length ? ids.filter((_, j) => j % n === i) : [ids[i % ids.length]!],
  }));
}

export interface RunExperimentOptions {
  engine: Engine;
  workspace: string;
  /** The hyper-parameter YAML, absolute or relative to the workspace. */
  config: string;
  image: string;
  command: string[];
  /** Default "workspace". */
  code?: RunCode;
  gpu: GpuSetting;
  /** Runs at once (default: one per GPU, one on CPU). */
  parallel?: number;
  shmSizeBytes: number;
  git: GitProvider;
  log: Logger;
  catalog?: Catalog;
  probe?: () => Promise<HostGpuProbe>;
  /** Each output line of each run, as it comes. */
  onLine?: (run: PlannedRun, line: string, stream: 'stdout' | 'stderr') => void;
  onStart?: (run: PlannedRun) => void;
  onRecord?: (record: RunRecord) => void;
  signal?: AbortSignal;
  now?: () => Date;
}

export interface PlannedRun {
  id: string;
  point: SweepPoint;
  /** Points in the whole sweep (1 for a plain run). */
  size: number;
}

export interface ExperimentResult {
  records: RunRecord[];
  /** Sweep points never started (cancelled, or a start failed). */
  notStarted: number;
  /** The GPU setting could not be honoured (auto → CPU). */
  note: string | undefined;
  warnings: string[];
}

/**
 * Runs the command once per sweep point (once without a sweep), at most `parallel` at a time, and appends a record
 * for each run to .mlcontainers/runs.jsonl as it ends. Cancelling stops the running containers (SIGTERM, then
 * SIGKILL after 10 s), records them as cancelled and starts nothing more.
 */
export async function runExperiment(o: RunExperimentOptions): Promise<ExperimentResult> {
  const { engine, log } = o;
  const now = o.now ?? ((): Date => new Date());
  if (!o.command.length) throw new RunError('No command to run: give it after `--`, e.g. `mlc run --config configs/experiment.yaml -- python train.py`.');
  const configPath = path.resolve(o.workspace, o.config);
  const configText = await fs.readFile(configPath, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new ConfigError(e.code === 'ENOENT' ? `${o.config} not found: pass the hyper-parameter YAML with --config (e.g. configs/experiment.yaml).` : `${o.config}: ${e.message}`);
  });
  const configRel = path.relative(o.workspace, configPath).split(path.sep).join('/');
  const expanded = expandConfig(configText, configRel);
  for (const w of expanded.warnings) log.warn(w);

  const details = await engine.inspectImage(o.image, o.signal);
  if (!details) throw new RunError(`Image ${o.image} not found: build it first ("Build Experiment Image" or \`mlc build\`).`);
  const image = { ref: o.image, details };
  const code = o.code ?? 'workspace';
  const imageRevision = details.labels[REVISION_LABEL];
  if (code === 'image' && !imageRevision) log.warn(`${o.image} records no commit (built outside git): its runs carry none.`);
  const [git, choice] = await Promise.all([
    code === 'workspace' ? o.git.info(o.workspace, o.signal) : Promise.resolve(imageRevision ? { sha: imageRevision, dirty: details.labels[DIRTY_LABEL] === 'true' } : undefined),
    chooseGpu({ engine, image, gpu: o.gpu, log, ...(o.catalog ? { catalog: o.catalog } : {}), ...(o.probe ? { probe: o.probe } : {}), ...(o.signal ? { signal: o.signal } : {}) }),
  ]);
  if (!git && code === 'workspace') log.warn(`${o.workspace} is not a git repository: run records carry no commit.`);
  if (choice.note) log.warn(choice.note);

  const size = expanded.points.length;
  const stamp = now().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  const baseId = `${stamp}-${randomBytes(2).toString('hex')}`;
  const sweepId = size > 1 ? baseId : undefined;
  const runs: PlannedRun[] = expanded.points.map((point) => ({ id: sweepId ? `${sweepId}-${point.index + 1}` : baseId, point, size }));
  const slots = gpuSlots(choice.decision, choice.preflight?.host, o.parallel, size);
  const title = imageTitle(o.image, details);
  if (size > 1) log.info(`sweep ${sweepId}: ${size} runs of ${configRel}, ${slots.length} at a time (GPU ${slots.map(gpuLabel).join(' | ')})`);

  const records: RunRecord[] = [];
  let next = 0;
  let failure: unknown;
  let note = choice.note;
  const worker = async (slot: GpuDecision): Promise<void> => {
    while (next < runs.length && !o.signal?.aborted && failure === undefined) {
      const run = runs[next++]!;
      try {
        const { record, note: fallback } = await runOne(run, slot);
        if (fallback && !note) log.warn((note = fallback));
        records.push(record);
      } catch (e) {
        failure ??= e;
      }
    }
  };

  const runOne = async (run: PlannedRun, slot: GpuDecision): Promise<{ record: RunRecord; note: string | undefined }> => {
    const dir = path.join(o.workspace, RUN_DIR, run.id);
    const configName = path.basename(configPath);
    const configFile = path.join(dir, configName);
    await writeFileAtomic(configFile, run.point.text);
    const logRel = path.join(RUN_DIR, run.id, 'output.log');
    const logFile = await fs.open(path.join(o.workspace, logRel), 'a');
    const input: RunContainerInput = {
      runId: run.id,
      name: `${imageName(title)}-run-${run.id}`,
      image,
      workspace: o.workspace,
      code,
      runDir: dir,
      configFile,
      configName,
      command: o.command,
      decision: slot,
      shmSizeBytes: o.shmSizeBytes,
    };
    const start = now();
    try {
      const started = await launchContainer(engine, runContainerSpec(input), {
        gpu: o.gpu,
        preflight: choice.preflight,
        log,
        ...(o.signal ? { signal: o.signal } : {}),
      });
      o.onStart?.(run);
      // Asked while the run goes on, so a record says what the container really had, not only what was asked.
      const seen = seenGpus(engine, started.id, o.signal);
      log.info(`run ${run.id} started in ${started.request.name ?? input.name} (GPU: ${gpuLabel(started.decision)})${size > 1 ? `: ${formatParams(run.point.params)}` : ''}`);
      const lines = { stdout: '', stderr: '' };
      const emit = (stream: 'stdout' | 'stderr', flush: boolean): void => {
        const parts = lines[stream].split(/\r?\n/);
        lines[stream] = flush ? '' : (parts.pop() ?? '');
        for (const line of flush ? parts.filter((l, i) => i < parts.length - 1 || l) : parts) o.onLine?.(run, line, stream);
      };
      let writes = Promise.resolve();
      await engine.followLogs(started.id, (chunk, stream) => {
        writes = writes.then(() => logFile.write(chunk).then(() => undefined));
        lines[stream] += chunk.toString('utf8');
        emit(stream, false);
      }, o.signal);
      emit('stdout', true);
      emit('stderr', true);
      await writes;
      let exitCode: number | null;
      if (o.signal?.aborted) {
        await engine.stopContainer(started.id, 10).catch(() => undefined);
        exitCode = (await engine.inspectContainer(started.id).catch(() => undefined))?.exitCode ?? null;
      } else {
        exitCode = await engine.waitContainer(started.id);
      }
      await engine.removeContainer(started.id, { force: true }).catch(() => undefined);
      const record: RunRecord = {
        id: run.id,
        status: o.signal?.aborted ? 'cancelled' : exitCode === 0 ? 'succeeded' : 'failed',
        exitCode,
        image: { id: details.id, ref: o.image, tags: details.repoTags, revision: details.labels[REVISION_LABEL] ?? null, dirty: details.labels[DIRTY_LABEL] === 'true' },
        commit: git?.sha ?? null,
        dirty: git?.dirty ?? false,
        code,
        config: { path: configRel, sha256: createHash('sha256').update(run.point.text).digest('hex'), content: run.point.text },
        params: run.point.params,
        sweep: sweepId ? { id: sweepId, index: run.point.index, size } : null,
        command: o.command,
        start: start.toISOString(),
        end: now().toISOString(),
        gpus: gpuLabel(started.decision),
        seenGpus: (await seen) ?? null,
        container: started.request.name ?? input.name,
        log: logRel.split(path.sep).join('/'),
      };
      await appendRun(o.workspace, record);
      log.info(`run ${run.id} ${record.status}${exitCode !== null ? ` (exit ${exitCode})` : ''}`);
      o.onRecord?.(record);
      return { record, note: started.note };
    } finally {
      await logFile.close();
    }
  };

  await Promise.all(slots.map(worker));
  if (failure !== undefined) throw failure;
  return { records, notStarted: runs.length - next, note, warnings: expanded.warnings };
}

/** Appends one record as one line (a single write, so parallel runs' lines never interleave). */
export async function appendRun(workspace: string, record: RunRecord): Promise<void> {
  const file = path.join(workspace, RUNS_FILE);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.appendFile(file, `${JSON.stringify(record)}\n`);
}

/** The workspace's run records, oldest first; lines that are not records (hand edits, a torn write) are counted and skipped. */
export async function readRuns(workspace: string): Promise<{ runs: RunRecord[]; skipped: number }> {
  const text = await fs.readFile(path.join(workspace, RUNS_FILE), 'utf8').catch(() => '');
  const runs: RunRecord[] = [];
  let skipped = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const raw: unknown = JSON.parse(line);
      if (isRunRecord(raw)) runs.push(raw);
      else skipped++;
    } catch {
      skipped++;
    }
  }
  return { runs, skipped };
}

function isRunRecord(raw: unknown): raw is RunRecord {
  return (
    isRecord(raw) &&
    typeof raw.id === 'string' &&
    typeof raw.status === 'string' &&
    isRecord(raw.image) &&
    typeof raw.image.id === 'string' &&
    isRecord(raw.config) &&
    typeof raw.config.sha256 === 'string' &&
    Array.isArray(raw.command) &&
    typeof raw.start === 'string' &&
    typeof raw.end === 'string'
  );
}
