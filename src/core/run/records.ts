// Run records: .mlcontainers/runs.jsonl, one line when a run starts and one when it ends, merged by run id.
// Appends are single writes of one line, so concurrent writers (two `mlc run`s, the view) never tear a line, and a
// run's final line is written once: by whichever client first claims the run's `.final` marker.
// Read back as untrusted input: a line is read as a stream under a length cap, checked against the record's shape,
// and a run's files are found from its id, never from a path a line names.
import { constants } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { SeenGpu } from '../container/gpu';
import { isRecord } from '../json';
import type { RunMetricsJson } from '../metrics/metrics';
import type { DataInput } from './inputs';
import { isDataInputList } from './inputs';
import { configOutputs } from './outputs';
import { RUN_DIR, createRunFile, ensureRunFolder, hasRunFile, isDiskFull, isRunId, runFolder, runLogPath, writeRunFile } from './runFolder';

export { RUN_DIR, runFolder };

export const RUNS_FILE = path.join('.mlcontainers', 'runs.jsonl');

/**
 * The longest line of runs.jsonl that is read (bytes): a record is a few KB (the config's text, metric summaries
 * for at most MAX_METRICS names); a longer line was not written by us and is skipped, never held in memory.
 */
export const MAX_RECORD_LINE = 4 * 1024 * 1024;

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
  /**
   * The config's `outputs:` (core/run/outputs.ts) as the run started, so `mlc model save` reads no YAML; null when it
   * lists none. Absent in records older than this field (the save reads the config then). Checked again when read.
   */
  outputs?: string[] | null;
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
  /** Why a run that never ran failed (its container could not be created or started), or what ended it (the engine stopping). */
  error?: string;
  /**
   * When the client following the run lost the engine (ISO 8601): it stopped, was killed or restarted under the run.
   * Written by that client on a running line; the final line keeps it only when the run's end was the engine's doing.
   */
  engineLost?: string;
  /** Per metric, what the run's metric files said when it ended (core/metrics/: metrics.jsonl, Lightning, DVCLive, TensorBoard). */
  metrics?: RunMetricsJson;
  /** What ran it: "local" (this engine, also when absent) or the run backend it was submitted to (core/backends/). */
  backend?: string;
  /** A submitted run's job, as its backend last described it. */
  job?: RunJob;
  /** The data it read (mounted folders, the YAML's `inputs:`), fingerprinted when its plan was made. */
  data?: DataInput[];
  /** A failed run's ending in its backend's word when the run itself did not end it (timeout, out of memory…). */
  endedBy?: string;
  /** A run across several nodes (`mlc run --on slurm --nodes N`): how many, GPUs on each, their names once it started. */
  nodes?: RunNodes;
}

/** The nodes of a multi-node run, each running one container; rank r ran on names[r]. */
export interface RunNodes {
  count: number;
  gpusPerNode: number;
  /** What launched the command on each node: torchrun (`--launcher torchrun`), or the command itself when absent. */
  launcher?: 'torchrun';
  names?: string[];
}

/** A run's job in its backend: what that backend calls it, and the state it last gave it. */
export interface RunJob {
  /** The backend's name for the job (an array task is `12_3`). */
  id: string;
  /** The backend's word for its state, as it said it (PENDING, RUNNING, COMPLETED, TIMEOUT…). */
  state: string;
  /** Still waiting in the backend's queue: no container yet. */
  queued?: boolean;
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
    data?: DataInput[];
    points: readonly unknown[];
  };
  point: { runId: string; index: number; params: Record<string, unknown>; text: string; sha256: string };
  start: string;
  gpus: string;
  /** The variables the container is given beyond the run's own: names only, a value may be a token. */
  env: string[];
  container: string;
  /** A run submitted to a backend (core/backends/): which, and its job, queued. */
  submitted?: { backend: string; job: RunJob };
  nodes?: RunNodes;
}

/** A run's start line, the same for a run here (core/run/experiment.ts) and one a backend took (core/backends/). */
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
    ...startOutputs(point.text, plan.config.path),
    params: point.params,
    sweep: plan.sweep ? { id: plan.id, index: point.index, size: plan.points.length } : null,
    command: plan.command,
    start: i.start,
    end: null,
    gpus: i.gpus,
    env: i.env,
    container: i.container,
    log: runLogPath(point.runId),
    ...(plan.data?.length ? { data: plan.data } : {}),
    backend: i.submitted?.backend ?? 'local',
    ...(i.submitted ? { job: i.submitted.job } : {}),
    ...(i.nodes ? { nodes: i.nodes } : {}),
  };
}

/** The record's `outputs`; none when the config's cannot be read (the plan checked them, so the save says why). */
function startOutputs(text: string, file: string): { outputs?: string[] | null } {
  try {
    return { outputs: configOutputs(text, file) ?? null };
  } catch {
    return {};
  }
}

/** A run on record as running whose job still waits in its backend's queue: every table says "pending". */
export function isPending(r: RunRecord): boolean {
  return r.status === 'running' && r.job?.queued === true;
}

/** The word for what ended a failed run when it was not the run itself: its backend's (timeout…), or the engine stopping. */
export function endWord(r: RunRecord): string | undefined {
  if (r.status !== 'failed') return undefined;
  return r.endedBy ?? (r.engineLost ? 'engine stopped' : undefined);
}

/** Whether a run ran on this engine (`backend` "local", or absent), rather than in a backend that took it. */
export function isLocal(r: RunRecord): boolean {
  return r.backend === undefined || r.backend === 'local';
}

/** Appends one record as one line (a single write, so parallel writers' lines never interleave). */
export async function appendRun(workspace: string, record: RunRecord): Promise<void> {
  const file = path.join(workspace, RUNS_FILE);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.appendFile(file, `${recordLine(record)}\n`, {
    flag: constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW,
  });
}

/** The record as one line under MAX_RECORD_LINE: what would not fit (a huge config, metric summaries) is left out, and the line says so. */
export function recordLine(record: RunRecord): string {
  let line = JSON.stringify(record);
  if (line.length <= MAX_RECORD_LINE / 4) return line;
  if (Buffer.byteLength(line) <= MAX_RECORD_LINE) return line;
  const trimmed: RunRecord = { ...record, config: { ...record.config, content: '' } };
  line = JSON.stringify(trimmed);
  if (Buffer.byteLength(line) <= MAX_RECORD_LINE) return line;
  const rest: Partial<RunRecord> = { ...trimmed };
  delete rest.metrics;
  return JSON.stringify({ ...rest, error: [record.error, 'its metric summaries were too large to record'].filter(Boolean).join('; ') });
}

/**
 * Appends the run's final line unless another client already has: the first to create the run's `.final` marker
 * (O_EXCL) writes it. Returns whether this call wrote it.
 */
export async function appendFinal(workspace: string, record: RunRecord): Promise<boolean> {
  const dir = await ensureRunFolder(workspace, record.id);
  // A disk too full for even the marker's name: the line goes on without it (at worst twice, both saying how it ended).
  const claimed = await createRunFile(dir, '.final', `${record.status}\n`).catch((e: unknown) => {
    if (isDiskFull(e)) return true;
    throw e;
  });
  if (!claimed) return false;
  try {
    await appendRun(workspace, record);
  } catch (e) {
    // runs.jsonl could not take the line (its disk is full too): the next client to finish the run writes it.
    await fs.rm(path.join(dir, '.final'), { force: true });
    throw e;
  }
  return true;
}

/**
 * Notes that the client following a run lost the engine under it (a running line with `engineLost`): whoever
 * finishes the run once the engine is back says in its record that the engine stopped (core/run/lifecycle.ts).
 * Nothing is written for a run already ended on record.
 */
export async function noteEngineLost(workspace: string, runId: string, at: string): Promise<void> {
  const latest = (await readRuns(workspace)).runs.find((r) => r.id === runId);
  if (latest?.status === 'running' && !latest.engineLost) await appendRun(workspace, { ...latest, engineLost: at });
}

/** Whether a client asked this run to stop (Ctrl-C, `mlc stop`, Stop Run): it then ends as cancelled. */
export async function markStopRequested(workspace: string, runId: string): Promise<void> {
  const dir = await ensureRunFolder(workspace, runId);
  // Whatever the run put there by that name is replaced, never written through.
  if (!(await hasRunFile(dir, '.stop'))) await writeRunFile(dir, '.stop', '');
}

export async function stopRequested(workspace: string, runId: string): Promise<boolean> {
  return hasRunFile(runFolder(workspace, runId), '.stop');
}

/** What reading runs.jsonl found besides records: lines skipped, and why, for the user. */
export interface RunsRead {
  runs: RunRecord[];
  /** Lines that are not records (hand edits, a torn write, a forged or oversized line): counted, never acted on. */
  skipped: number;
  /** One sentence per kind of skipped line, naming where (the first few). */
  notes: string[];
}

/**
 * The workspace's runs, in the order they started, each as its latest line says (a final line supersedes the start
 * line; a late start line, from a resumed client, never hides a final one). The file is read as a stream: memory
 * stays flat at any size, and a line longer than MAX_RECORD_LINE is skipped without being held.
 */
export async function readRuns(workspace: string): Promise<RunsRead> {
  const file = path.join(workspace, RUNS_FILE);
  const handle = await fs.open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  });
  const latest = new Map<string, RunRecord>();
  const finals = new Map<string, RunRecord>();
  const order = new Map<string, number>();
  const invalid: number[] = [];
  const oversized: { line: number; bytes: number }[] = [];
  if (handle) {
    try {
      if (!(await handle.stat()).isFile()) throw new Error(`${RUNS_FILE} is not a file`);
      let n = 0;
      const take = (bytes: Buffer): void => {
        n++;
        // Every line we write starts with '{': anything else is blank (skipped quietly) or not a record, and is
        // never decoded (a line of a few MB of NULs costs no string).
        const first = bytes.findIndex((b) => b !== 0x20 && b !== 0x09 && b !== 0x0d);
        if (first === -1) return;
        const raw = bytes[first] === 0x7b ? parse(bytes.toString('utf8')) : undefined;
        if (!raw) {
          invalid.push(n);
          return;
        }
        if (!order.has(raw.id)) order.set(raw.id, order.size);
        latest.set(raw.id, raw);
        if (raw.status !== 'running') finals.set(raw.id, raw);
      };
      await readLines(handle, MAX_RECORD_LINE, take, (bytes) => oversized.push({ line: ++n, bytes }));
    } finally {
      await handle.close();
    }
  }
  const runs = [...order.keys()].map((id) => finals.get(id) ?? latest.get(id)!);
  const notes: string[] = [];
  if (oversized.length)
    notes.push(
      `${RUNS_FILE}: ${oversized.length === 1 ? 'line' : 'lines'} ${listed(oversized.map((o) => `${o.line} (${Math.round(o.bytes / 1024 / 1024)} MB)`))} ${oversized.length === 1 ? 'is' : 'are'} longer than a run record can be (${MAX_RECORD_LINE / 1024 / 1024} MiB) and ${oversized.length === 1 ? 'was' : 'were'} skipped.`,
    );
  if (invalid.length)
    notes.push(
      `${RUNS_FILE}: ${invalid.length === 1 ? 'line' : 'lines'} ${listed(invalid.map(String))} ${invalid.length === 1 ? 'is' : 'are'} not a run record (edited, torn or forged) and ${invalid.length === 1 ? 'was' : 'were'} skipped.`,
    );
  return { runs, skipped: invalid.length + oversized.length, notes };
}

function listed(items: string[]): string {
  return items.length <= 5 ? items.join(', ') : `${items.slice(0, 5).join(', ')} and ${items.length - 5} more`;
}

/**
 * Calls `take` with each line (without its newline), reading 1 MiB at a time; a line past `max` bytes is dropped as
 * it streams by and reported to `tooLong` with its length.
 */
async function readLines(
  handle: fs.FileHandle,
  max: number,
  take: (line: Buffer) => void,
  tooLong: (bytes: number) => void,
): Promise<void> {
  const chunk = Buffer.alloc(1024 * 1024);
  let parts: Buffer[] = [];
  let held = 0;
  let dropping = 0;
  for (;;) {
    const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
    if (!bytesRead) break;
    let from = 0;
    while (from < bytesRead) {
      const nl = chunk.indexOf(0x0a, from);
      const end = nl === -1 || nl >= bytesRead ? bytesRead : nl;
      const piece = chunk.subarray(from, end);
      if (dropping) dropping += piece.length;
      else if (held + piece.length > max) {
        dropping = held + piece.length;
        parts = [];
        held = 0;
      } else {
        parts.push(Buffer.from(piece));
        held += piece.length;
      }
      if (end === bytesRead) break;
      if (dropping) tooLong(dropping);
      else take(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
      parts = [];
      held = 0;
      dropping = 0;
      from = end + 1;
    }
  }
  if (dropping) tooLong(dropping);
  else if (held) take(Buffer.concat(parts));
}

function parse(line: string): RunRecord | undefined {
  try {
    const raw: unknown = JSON.parse(line);
    if (!isRunRecord(raw)) return undefined;
    // Where the run's output is follows from its id: a path a line names is never opened.
    return { ...raw, log: runLogPath(raw.id) };
  } catch {
    return undefined;
  }
}

const STATUSES: readonly string[] = ['running', 'succeeded', 'failed', 'cancelled'];
/** A backend's name as `--on` takes it; a job's id and state words as a backend's commands take and print them. */
const BACKEND_ID = /^[a-z][a-z0-9-]{0,31}$/;
const JOB_WORD = /^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,63}$/;
const ENDED_BY = /^[a-z][a-z ]{0,39}$/;

function isRunRecord(raw: unknown): raw is RunRecord {
  return (
    isRecord(raw) &&
    isRunId(raw.id) &&
    typeof raw.status === 'string' &&
    STATUSES.includes(raw.status) &&
    (typeof raw.exitCode === 'number' || raw.exitCode === null || raw.exitCode === undefined) &&
    isRecord(raw.image) &&
    typeof raw.image.id === 'string' &&
    typeof raw.image.ref === 'string' &&
    Array.isArray(raw.image.tags) &&
    isRecord(raw.config) &&
    typeof raw.config.sha256 === 'string' &&
    typeof raw.config.path === 'string' &&
    Array.isArray(raw.command) &&
    raw.command.every((c) => typeof c === 'string') &&
    typeof raw.start === 'string' &&
    (typeof raw.end === 'string' || raw.end === null) &&
    (raw.params === undefined || isRecord(raw.params)) &&
    (raw.sweep === null ||
      raw.sweep === undefined ||
      (isRecord(raw.sweep) && isRunId(raw.sweep.id) && typeof raw.sweep.index === 'number')) &&
    (raw.metrics === undefined || isRecord(raw.metrics)) &&
    (raw.engineLost === undefined || typeof raw.engineLost === 'string') &&
    (raw.backend === undefined || (typeof raw.backend === 'string' && BACKEND_ID.test(raw.backend))) &&
    (raw.job === undefined ||
      (isRecord(raw.job) &&
        typeof raw.job.id === 'string' &&
        JOB_WORD.test(raw.job.id) &&
        typeof raw.job.state === 'string' &&
        JOB_WORD.test(raw.job.state) &&
        (raw.job.queued === undefined || typeof raw.job.queued === 'boolean'))) &&
    (raw.data === undefined || isDataInputList(raw.data)) &&
    (raw.outputs === undefined ||
      raw.outputs === null ||
      (Array.isArray(raw.outputs) && raw.outputs.every((o) => typeof o === 'string'))) &&
    (raw.endedBy === undefined || (typeof raw.endedBy === 'string' && ENDED_BY.test(raw.endedBy))) &&
    (raw.nodes === undefined || isRunNodes(raw.nodes))
  );
}

/** A node's name as Slurm prints it (a host name). */
export const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function isRunNodes(raw: unknown): raw is RunNodes {
  return (
    isRecord(raw) &&
    Number.isInteger(raw.count) &&
    (raw.count as number) >= 1 &&
    Number.isInteger(raw.gpusPerNode) &&
    (raw.gpusPerNode as number) >= 0 &&
    (raw.launcher === undefined || raw.launcher === 'torchrun') &&
    (raw.names === undefined || (Array.isArray(raw.names) && raw.names.every((n) => typeof n === 'string' && NODE_NAME.test(n))))
  );
}
