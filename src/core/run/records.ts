// Run records: .mlcontainers/runs.jsonl, one line when a run starts and one when it ends, merged by run id.
// Appends are single writes of one line, so concurrent writers (two `mlc run`s, the view) never tear a line, and a
// run's final line is written once: by whichever client first claims the run's `.final` marker.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { SeenGpu } from '../container/gpu';
import { isRecord } from '../json';
import type { RunMetricsJson } from '../metrics/metrics';

export const RUNS_FILE = path.join('.mlcontainers', 'runs.jsonl');
/** Each run's config copy, outputs and output.log, under its id. */
export const RUN_DIR = path.join('.mlcontainers', 'runs');

export type RunStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';

/**
 * Which code a run uses: the project folder mounted at /workspace (edit and rerun, the default), or the copy built
 * into the image (`COPY . /workspace`), to rerun an old image exactly as it was built.
 */
export type RunCode = 'workspace' | 'image';

/** One line of .mlcontainers/runs.jsonl: everything needed to say what ran, on what, with which values. */
export interface RunRecord {
  id: string;
  /** "running" on the line written before the container starts; the final line says how it ended. */
  status: RunStatus;
  /** null while running, and when the run was cancelled or never started before the container reported one. */
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
  /** ISO 8601; null while running. */
  end: string | null;
  /** What the container was given: "none", "all" or device ids ("0,1"). */
  gpus: string;
  /**
   * The GPUs nvidia-smi inside the container listed while it ran; null when it could not say (no nvidia-smi there,
   * which is what a CPU run normally looks like, or the run ended first). Absent in records older than this field.
   */
  seenGpus?: SeenGpu[] | null;
  /** The variables the container was given beyond the run's own (devcontainer.json, --env, env files): names, never values. */
  env?: string[];
  container: string;
  /** The run's output, relative to the workspace. */
  log: string;
  /** Why a run that never ran failed (its container could not be created or started). */
  error?: string;
  /** Per metric, what the run's metric files said when it ended (core/metrics/: metrics.jsonl, Lightning, DVCLive, TensorBoard). */
  metrics?: RunMetricsJson;
  /** A run submitted to Slurm (`mlc run --on slurm`): its array task and the state Slurm last gave it. */
  slurm?: SlurmTask;
}

/** An array task: job 12, task 3 is `12_3` to squeue, sacct and scancel. */
export interface SlurmTask {
  job: string;
  task: number;
  /** PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY, … */
  state: string;
}

/** What a start line takes from the sweep's plan (core/run/plan.ts's ExperimentPlan and PlannedPoint). */
export interface StartRecordInput {
  plan: {
    id: string;
    sweep: boolean;
    image: RunRecord['image'];
    commit: string | null;
    dirty: boolean;
    code: RunCode;
    config: { path: string };
    command: string[];
    points: readonly unknown[];
  };
  point: { runId: string; index: number; params: Record<string, unknown>; text: string; sha256: string };
  start: string;
  gpus: string;
  /** The variables the container is given beyond the run's own: names only, a value may be a token. */
  env: string[];
  container: string;
  slurm?: SlurmTask;
}

/** A run's start line, the same for a local run (core/run/experiment.ts) and a Slurm task (core/slurm/submit.ts). */
export function startRecord(i: StartRecordInput): RunRecord {
  const { plan, point } = i;
  return {
    id: point.runId,
    status: 'running',
    exitCode: null,
    image: plan.image,
    commit: plan.commit,
    dirty: plan.dirty,
    code: plan.code,
    config: { path: plan.config.path, sha256: point.sha256, content: point.text },
    params: point.params,
    sweep: plan.sweep ? { id: plan.id, index: point.index, size: plan.points.length } : null,
    command: plan.command,
    start: i.start,
    end: null,
    gpus: i.gpus,
    env: i.env,
    container: i.container,
    log: path.join(RUN_DIR, point.runId, 'output.log').split(path.sep).join('/'),
    ...(i.slurm ? { slurm: i.slurm } : {}),
  };
}

/** A run on record as running that Slurm has not started yet: both shells say "pending". */
export function isPending(r: RunRecord): boolean {
  return r.status === 'running' && r.slurm?.state === 'PENDING';
}

/** Slurm's word for why it ended a failed task (timeout, out of memory, node fail…); undefined when the run itself failed. */
export function slurmEndWord(r: RunRecord): string | undefined {
  const state = r.slurm?.state;
  if (r.status !== 'failed' || !state || ['FAILED', 'COMPLETED', 'UNKNOWN'].includes(state)) return undefined;
  return state.toLowerCase().replace(/_/g, ' ');
}

/** The run's folder on the host: its config copy, its outputs ($MLC_RUN_DIR) and output.log. */
export function runFolder(workspace: string, runId: string): string {
  return path.join(workspace, RUN_DIR, runId);
}

/** Appends one record as one line (a single write, so parallel writers' lines never interleave). */
export async function appendRun(workspace: string, record: RunRecord): Promise<void> {
  const file = path.join(workspace, RUNS_FILE);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.appendFile(file, `${JSON.stringify(record)}\n`);
}

/**
 * Appends the run's final line unless another client already has: the first to create the run's `.final` marker
 * (O_EXCL) writes it. Returns whether this call wrote it.
 */
export async function appendFinal(workspace: string, record: RunRecord): Promise<boolean> {
  const marker = path.join(runFolder(workspace, record.id), '.final');
  await fs.mkdir(path.dirname(marker), { recursive: true });
  try {
    await fs.writeFile(marker, `${record.status}\n`, { flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  await appendRun(workspace, record);
  return true;
}

/** Whether a client asked this run to stop (Ctrl-C, `mlc stop`, Stop Run): it then ends as cancelled. */
export async function markStopRequested(workspace: string, runId: string): Promise<void> {
  const marker = path.join(runFolder(workspace, runId), '.stop');
  await fs.mkdir(path.dirname(marker), { recursive: true });
  await fs.writeFile(marker, '');
}

export async function stopRequested(workspace: string, runId: string): Promise<boolean> {
  return fs.access(path.join(runFolder(workspace, runId), '.stop')).then(() => true, () => false);
}

/**
 * The workspace's runs, in the order they started, each as its latest line says (a final line supersedes the
 * start line). Lines that are not records (hand edits, a torn write) are counted and skipped.
 */
export async function readRuns(workspace: string): Promise<{ runs: RunRecord[]; skipped: number }> {
  const text = await fs.readFile(path.join(workspace, RUNS_FILE), 'utf8').catch(() => '');
  const lines = text.split('\n');
  // Read from the end: a run's latest line is the one that counts, so its earlier lines need no parsing (every
  // line we write starts with its id). Only a run whose latest line is a start needs its earlier lines looked at,
  // because a late start line (a resumed client) never hides a final one.
  const latest = new Map<string, RunRecord>();
  const order = new Map<string, number>();
  let skipped = 0;
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    if (!line.trim()) continue;
    const prefix = ID_PREFIX.exec(line);
    const id = prefix?.[1];
    const known = id === undefined ? undefined : latest.get(id);
    if (id !== undefined) order.set(id, i);
    if (known && known.status !== 'running') continue;
    // The status follows the id in every line we write.
    if (known && !line.startsWith(',"status":"running"', prefix![0].length)) {
      const raw = parse(line);
      if (raw && raw.status !== 'running') latest.set(id!, raw);
      continue;
    }
    if (known) continue;
    const raw = parse(line);
    if (!raw) skipped++;
    else {
      latest.set(raw.id, raw);
      order.set(raw.id, i);
    }
  }
  const runs = [...latest.values()].sort((a, b) => order.get(a.id)! - order.get(b.id)!);
  return { runs, skipped };
}

const ID_PREFIX = /^\{"id":"((?:[^"\\]|\\.)*)"/;

function parse(line: string): RunRecord | undefined {
  try {
    const raw: unknown = JSON.parse(line);
    return isRunRecord(raw) ? raw : undefined;
  } catch {
    return undefined;
  }
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
    (typeof raw.end === 'string' || raw.end === null)
  );
}
