// `mlc predict MODEL --input PATH --output DIR`: the project's predict() over a whole data set. The rows are counted
// here, split into N contiguous shards, and each shard runs in its own container of the model image, with no
// network, the input mounted read-only and a folder of its own (DIR/shards/K) to write predictions.K.jsonl into
// (templates/model/predict_batch.py, mounted from this install so its output is the shape read back here). The
// shards' files are the container's, so they are read as hostile: no link, a plain file of bounded size, every line
// checked against the row and key it must hold, and written anew into DIR/predictions.jsonl, in input order,
// atomically. DIR/predict.json records the job; `--resume` reruns only the shards that have no good output.
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ContainerCreateRequest, Engine, ImageDetails } from '../docker/engine';
import type { ContainerSpec } from '../container/request';
import { containerRequest } from '../container/request';
import type { HostUser } from '../container/hostUser';
import { hostUser, runFolderOwner } from '../container/hostUser';
import { NO_RUNTIME } from '../container/runtime';
import { UserError } from '../errors';
import { isLocalEndpoint } from '../docker/endpoint';
import { lastLogLines } from '../jupyter/server';
import { LABEL_PREFIX, ROLE_LABEL } from '../labels';
import type { Logger } from '../log';
import type { DataFingerprint } from '../provenance/data';
import { fingerprintData } from '../provenance/data';
import { shortImageId } from '../reference';
import { RunFileRefused, openRunFileForRead } from '../untrustedFile';
import { MODEL_DIR, readModelLabels, shownValue } from './card';
import { PREDICT_PATH, imageServes, readPredict } from './layout';

/** Where the batch runner and the data sit in a shard's container. */
export const BATCH_PATH = '/opt/mlc/predict_batch.py';
const INPUT_IN_CONTAINER = '/mlc/input';
const OUT_IN_CONTAINER = '/mlc/out';
/** The role label of a shard's container; the shard label says which one (tests and `docker ps` read it). */
export const PREDICT_ROLE = 'predict';
export const SHARD_LABEL = `${LABEL_PREFIX}.predict.shard`;
export const RECORD_FILE = 'predict.json';
export const OUTPUT_FILE = 'predictions.jsonl';
/** A shard's output line past this is not a prediction of one row; the whole file past MAX_SHARD_BYTES, not a shard's. */
const MAX_LINE_BYTES = 16 * 1024 ** 2;
const MAX_SHARD_BYTES = 16 * 1024 ** 3;
export const MAX_SHARDS = 256;

const BATCH_SCRIPT = [
  `if command -v python3 >/dev/null 2>&1; then exec python3 ${BATCH_PATH} "$@"; fi`,
  `exec python ${BATCH_PATH} "$@"`,
].join('\n');

export class PredictError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'PredictError';
  }
}

export type InputKind = 'jsonl' | 'csv' | 'files';

export interface InputRows {
  kind: InputKind;
  count: number;
  /** For a folder: the files' names, one per row, in row order (the keys the shards must give back). */
  names?: string[];
}

export interface Shard {
  index: number;
  /** Rows [start, end) of the input. */
  start: number;
  end: number;
}

export type ShardStatus = 'pending' | 'succeeded' | 'failed';

export interface ShardRecord extends Shard {
  status: ShardStatus;
  exitCode?: number;
  /** Why it failed, one sentence (with the container's last lines). */
  error?: string;
  sha256?: string;
  startedAt?: string;
  endedAt?: string;
}

/** DIR/predict.json: the job, recorded as a run is. */
export interface PredictRecord {
  kind: 'predict';
  status: 'running' | 'succeeded' | 'failed';
  model: { ref: string; imageId: string; tags: string[]; run: string | null };
  input: { path: string; kind: InputKind; rows: number; fingerprint: DataFingerprint };
  /** Rows per predict() call: a rerun keeps the job's, so that its shards' batches stay the same. */
  batch?: number;
  shards: ShardRecord[];
  output: { file: string; rows: number; sha256: string } | null;
  /** Where the last shards ran: this engine, or Slurm, with the array job's id (absent: this engine). */
  backend?: 'local' | 'slurm';
  job?: string;
  startedAt: string;
  endedAt: string | null;
}

/** What a path holds, by what it is: a folder of files, else a .jsonl/.ndjson or .csv file. */
export function inputKind(stat: { isDirectory(): boolean }, file: string): InputKind | undefined {
  if (stat.isDirectory()) return 'files';
  if (/\.(jsonl|ndjson)$/i.test(file)) return 'jsonl';
  if (/\.csv$/i.test(file)) return 'csv';
  return undefined;
}

/** The rows of the input, counted as predict_batch.py numbers them (it is checked against this, row by row). */
export async function countRows(input: string): Promise<InputRows> {
  const st = await fs.stat(input).catch(() => undefined);
  if (!st) throw new PredictError(`There is no ${shownValue(input)}: --input names a .jsonl or .csv file, or a folder of files.`);
  const kind = inputKind(st, input);
  if (!kind)
    throw new PredictError(
      `${shownValue(input)} is neither a folder nor a .jsonl or .csv file: name the file so (rows.jsonl, rows.csv), or pass a folder of files.`,
    );
  if (kind === 'files') {
    const names = await folderRows(input);
    return { kind, count: names.length, names };
  }
  const counter = kind === 'jsonl' ? jsonlCounter() : csvCounter();
  const handle = await fs.open(input, 'r');
  try {
    for await (const chunk of handle.createReadStream({ autoClose: false })) counter.push(chunk as Buffer);
  } finally {
    await handle.close();
  }
  return { kind, count: counter.end() };
}

/** Non-blank lines (blank: only spaces, tabs and CRs), as predict_batch.py skips them. */
export function jsonlCounter(): { push(chunk: Buffer): void; end(): number } {
  let count = 0;
  let filled = false;
  return {
    // Line ends found by indexOf, and a line read only until its first byte that is not blank: a million-row input
    // is counted in a tenth of the time a loop over every byte took.
    push(chunk) {
      for (let i = 0; i <= chunk.length;) {
        const nl = chunk.indexOf(0x0a, i);
        const end = nl < 0 ? chunk.length : nl;
        for (let j = i; !filled && j < end; j++) {
          const b = chunk[j];
          if (b !== 0x20 && b !== 0x09 && b !== 0x0d) filled = true;
        }
        if (nl < 0) break;
        if (filled) count++;
        filled = false;
        i = nl + 1;
      }
    },
    end: () => count + (filled ? 1 : 0),
  };
}

/**
 * Records after the header, as Python's csv.reader reads them: a quoted cell may hold line ends, CR, LF and CRLF end
 * a record, and an empty record (a blank line) is no row.
 */
export function csvCounter(): { push(chunk: Buffer): void; end(): number } {
  let records = 0;
  let quoted = false;
  let filled = false;
  return {
    push(chunk) {
      for (let i = 0; i < chunk.length; i++) {
        const b = chunk[i];
        if (b === 0x22) {
          quoted = !quoted;
          filled = true;
        } else if (!quoted && (b === 0x0a || b === 0x0d)) {
          if (filled) records++;
          filled = false;
        } else filled = true;
      }
    },
    end: () => Math.max(0, records + (filled ? 1 : 0) - 1),
  };
}

/** A folder's rows: its regular files at the top (no dot file, link or folder), in byte order of the names. */
export async function folderRows(folder: string): Promise<string[]> {
  const names: string[] = [];
  for (const entry of await fs.readdir(folder, { withFileTypes: true })) {
    if (!entry.name.startsWith('.') && entry.isFile()) names.push(entry.name);
  }
  return names.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/** The rows a predict() call gets by default (`--batch`). */
export const DEFAULT_BATCH = 256;

/**
 * N contiguous shards of `count` rows, cut only between batches of `batch` rows, the first ones a batch longer where
 * they do not divide; none empty, so fewer than N where there are fewer batches. A model need not give a row the
 * same bytes in a batch of other rows (BLAS kernels change with the batch's size), so the batches are the same
 * whatever the shards: predictions in N shards are those of one, byte for byte.
 */
export function splitShards(count: number, n: number, batch = DEFAULT_BATCH): Shard[] {
  const batches = Math.ceil(count / batch);
  const shards = Math.max(1, Math.min(n, batches));
  const base = Math.floor(batches / shards);
  const extra = batches % shards;
  const out: Shard[] = [];
  let start = 0;
  for (let index = 0; index < shards; index++) {
    const end = Math.min(count, start + (base + (index < extra ? 1 : 0)) * batch);
    out.push({ index, start, end });
    start = end;
  }
  return out;
}

export function shardDir(outDir: string, index: number): string {
  return path.join(outDir, 'shards', String(index));
}

export function shardFile(outDir: string, index: number): string {
  return path.join(shardDir(outDir, index), `predictions.${index}.jsonl`);
}

/**
 * Reads a shard's predictions as hostile input and gives each line back checked and written anew: the row it must be
 * (start, start+1, … end-1), its key (the row's number, or the file's name), and an outputs object. Throws
 * PredictError with the reason, naming the shard.
 */
export async function* shardLines(outDir: string, shard: Shard, names?: readonly string[]): AsyncGenerator<string> {
  const file = shardFile(outDir, shard.index);
  const where = `Shard ${shard.index} (rows ${shard.start}-${shard.end - 1})`;
  let handle: fs.FileHandle;
  try {
    handle = await openRunFileForRead(file, shardDir(outDir, shard.index));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new PredictError(`${where} wrote no predictions.${shard.index}.jsonl.`);
    if (e instanceof RunFileRefused) throw new PredictError(`${where}'s output was refused: ${e.message}`);
    throw e;
  }
  try {
    if ((await handle.stat()).size > MAX_SHARD_BYTES)
      throw new PredictError(`${where} wrote more than ${MAX_SHARD_BYTES / 1024 ** 3} GiB, which no shard's predictions need.`);
    let row = shard.start;
    let pending: Buffer = Buffer.alloc(0);
    let read = 0;
    const check = (line: Buffer): string => {
      let value: unknown;
      try {
        value = JSON.parse(line.toString('utf8'));
      } catch {
        throw new PredictError(`${where} wrote a line that is not JSON where row ${row} belongs.`);
      }
      const o = value as { row?: unknown; key?: unknown; outputs?: unknown };
      const key = names ? names[row] : row;
      if (typeof value !== 'object' || value === null || Array.isArray(value) || o.row !== row || o.key !== key)
        throw new PredictError(
          `${where} wrote a line that is not row ${row} (key ${JSON.stringify(key)}): its output is not ours to merge.`,
        );
      if (typeof o.outputs !== 'object' || o.outputs === null || Array.isArray(o.outputs))
        throw new PredictError(`${where} wrote row ${row} without an outputs object.`);
      row++;
      return JSON.stringify({ row: o.row, key: o.key, outputs: o.outputs });
    };
    for await (const chunk of handle.createReadStream({ autoClose: false })) {
      read += (chunk as Buffer).length;
      if (read > MAX_SHARD_BYTES) throw new PredictError(`${where}'s output grew while it was read: run the shard again.`);
      pending = pending.length ? Buffer.concat([pending, chunk as Buffer]) : (chunk as Buffer);
      let nl: number;
      while ((nl = pending.indexOf(0x0a)) >= 0) {
        const line = pending.subarray(0, nl);
        pending = pending.subarray(nl + 1);
        if (row >= shard.end) throw new PredictError(`${where} wrote more lines than its ${shard.end - shard.start} rows.`);
        yield check(line);
      }
      if (pending.length > MAX_LINE_BYTES) throw new PredictError(`${where} wrote a line of more than 16 MiB where row ${row} belongs.`);
    }
    if (pending.length) throw new PredictError(`${where}'s output ends in the middle of a line: run the shard again.`);
    if (row !== shard.end)
      throw new PredictError(`${where} wrote ${row - shard.start} of its ${shard.end - shard.start} rows: run the shard again.`);
  } finally {
    await handle.close();
  }
}

/**
 * Where a shard's checked lines are kept until the merge: beside the shards' folders, not in one, so no container
 * reaches it. The merge copies them rather than checking every line a second time.
 */
export function checkedFile(outDir: string, index: number): string {
  return path.join(outDir, 'checked', `${index}.jsonl`);
}

/**
 * The sha256 of a shard's checked lines, or the reason it cannot be merged. The lines are kept in checkedFile
 * (written under a temporary name, renamed once whole) for mergeShards.
 */
export async function checkShard(outDir: string, shard: Shard, names?: readonly string[]): Promise<{ sha256: string } | { error: string }> {
  const hash = createHash('sha256');
  const final = checkedFile(outDir, shard.index);
  await fs.mkdir(path.dirname(final), { recursive: true });
  const temp = `${final}.${randomBytes(4).toString('hex')}.partial`;
  const out = await fs.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  try {
    await writeLines(out, hash, shardLines(outDir, shard, names));
    await out.close();
  } catch (e) {
    await out.close().catch(() => undefined);
    await fs.rm(temp, { force: true });
    if (e instanceof PredictError) return { error: e.message };
    throw e;
  }
  await fs.rename(temp, final);
  return { sha256: hash.digest('hex') };
}

/** Lines to a file, a thousand at a time, hashed as written; resolves with how many. */
async function writeLines(out: fs.FileHandle, hash: ReturnType<typeof createHash>, lines: AsyncIterable<string>): Promise<number> {
  let rows = 0;
  let buffer: string[] = [];
  const flush = async (): Promise<void> => {
    const text = buffer.join('');
    buffer = [];
    hash.update(text);
    await out.write(text);
  };
  for await (const line of lines) {
    buffer.push(`${line}\n`);
    rows++;
    if (buffer.length >= 1024) await flush();
  }
  await flush();
  return rows;
}

/** The bytes of a shard's checked lines when they still hash as its record says; undefined otherwise. */
async function* checkedBytes(outDir: string, shard: Shard & { sha256?: string }): AsyncGenerator<Buffer> {
  const file = checkedFile(outDir, shard.index);
  const hash = createHash('sha256');
  const handle = await fs.open(file, constants.O_RDONLY | constants.O_NOFOLLOW).catch(() => undefined);
  if (!handle) return;
  try {
    for await (const chunk of handle.createReadStream({ autoClose: false, start: 0 })) hash.update(chunk as Buffer);
    if (!shard.sha256 || hash.digest('hex') !== shard.sha256) return;
    yield* handle.createReadStream({ autoClose: false, start: 0 }) as AsyncIterable<Buffer>;
  } finally {
    await handle.close();
  }
}

/**
 * Writes the shards' lines, in order, to DIR/predictions.jsonl (a temporary name, renamed once complete): each
 * shard's checked copy where it still hashes as checked, else its own file checked again. The copies go after.
 */
export async function mergeShards(
  outDir: string,
  shards: readonly (Shard & { sha256?: string })[],
  names?: readonly string[],
): Promise<{ file: string; rows: number; sha256: string }> {
  const final = path.join(outDir, OUTPUT_FILE);
  const temp = path.join(outDir, `.${OUTPUT_FILE}.${randomBytes(4).toString('hex')}.partial`);
  const hash = createHash('sha256');
  let rows = 0;
  const out = await fs.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
  try {
    for (const shard of [...shards].sort((a, b) => a.start - b.start)) {
      let copied = false;
      for await (const chunk of checkedBytes(outDir, shard)) {
        hash.update(chunk);
        await out.write(chunk);
        copied = true;
      }
      if (copied || shard.end === shard.start) rows += shard.end - shard.start;
      else rows += await writeLines(out, hash, shardLines(outDir, shard, names));
    }
    await out.sync();
    await out.close();
  } catch (e) {
    await out.close().catch(() => undefined);
    await fs.rm(temp, { force: true });
    throw e;
  }
  await fs.rename(temp, final);
  await fs.rm(path.join(outDir, 'checked'), { recursive: true, force: true });
  return { file: OUTPUT_FILE, rows, sha256: hash.digest('hex') };
}

/** Which shards a rerun runs: the one asked for, else those without a good output on record. */
export function shardsToRun(record: Pick<PredictRecord, 'shards'>, only?: number): ShardRecord[] {
  if (only !== undefined) {
    const shard = record.shards.find((s) => s.index === only);
    if (!shard) throw new PredictError(`The job has shards 0-${record.shards.length - 1}, not ${only}: pass one of those to --shard.`);
    return [shard];
  }
  return record.shards.filter((s) => s.status !== 'succeeded');
}

/** DIR/predict.json as this module wrote it, or undefined where there is none; a sentence if it is not one. */
export async function readRecord(outDir: string): Promise<PredictRecord | undefined> {
  const file = path.join(outDir, RECORD_FILE);
  const text = await fs.readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  });
  if (text === undefined) return undefined;
  let r: PredictRecord;
  try {
    r = JSON.parse(text) as PredictRecord;
  } catch {
    throw new PredictError(`${shownValue(file)} is not a prediction job's record: choose another --output folder.`);
  }
  const shardOk = (s: ShardRecord, i: number): boolean =>
    s.index === i && Number.isInteger(s.start) && Number.isInteger(s.end) && s.start <= s.end && typeof s.status === 'string';
  if (
    r?.kind !== 'predict' ||
    !Array.isArray(r.shards) ||
    !r.shards.length ||
    !r.shards.every(shardOk) ||
    typeof r.model?.imageId !== 'string' ||
    typeof r.input?.fingerprint?.manifest !== 'string' ||
    (r.batch !== undefined && !(Number.isInteger(r.batch) && r.batch > 0))
  )
    throw new PredictError(`${shownValue(file)} is not a prediction job's record: choose another --output folder.`);
  return r;
}

async function writeRecord(outDir: string, record: PredictRecord): Promise<void> {
  const temp = path.join(outDir, `.${RECORD_FILE}.${randomBytes(4).toString('hex')}`);
  await fs.writeFile(temp, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o644 });
  await fs.rename(temp, path.join(outDir, RECORD_FILE));
}

export interface ShardSpecInput {
  image: { ref: string; details: ImageDetails };
  name: string;
  shard: Shard;
  kind: InputKind;
  input: string;
  shardDir: string;
  runner: string;
  /** A private copy of predict.py, where the image carries none. */
  predict?: string;
  batch: number;
  /** Threads each shard's math libraries may start: the engine's CPUs shared among the shards that run at once. */
  threads: number;
  hostUser?: HostUser;
}

/** A shard's container: pure, so tests read every field. No network: the model has all it needs in the image. */
export function shardContainerRequest(i: ShardSpecInput): ContainerCreateRequest {
  const inputIn = i.kind === 'files' ? INPUT_IN_CONTAINER : `${INPUT_IN_CONTAINER}/${i.kind === 'csv' ? 'input.csv' : 'input.jsonl'}`;
  const spec: ContainerSpec = {
    role: 'shell',
    name: i.name,
    image: i.image,
    workspace: path.dirname(i.shardDir),
    mountWorkspace: false,
    decision: { mode: 'cpu' },
    shmSizeBytes: 256 * 1024 ** 2,
    script: BATCH_SCRIPT,
    args: [
      ...['--input', inputIn, '--format', i.kind, '--start', String(i.shard.start), '--end', String(i.shard.end)],
      ...['--shard', String(i.shard.index), '--out', OUT_IN_CONTAINER, '--batch', String(i.batch)],
      ...['--model-dir', MODEL_DIR, '--predict', PREDICT_PATH],
    ],
    labels: { [ROLE_LABEL]: PREDICT_ROLE, [SHARD_LABEL]: String(i.shard.index) },
    // torch, numpy's BLAS and TensorFlow each start a thread per CPU: N shards at once would run N × CPUs threads on
    // the CPUs and spend the time switching between them (2 shards on 2 cores were 1.1× one shard's speed).
    env: [
      `OMP_NUM_THREADS=${i.threads}`,
      `MKL_NUM_THREADS=${i.threads}`,
      `OPENBLAS_NUM_THREADS=${i.threads}`,
      `TF_NUM_INTRAOP_THREADS=${i.threads}`,
    ],
    binds: [
      `${i.runner}:${BATCH_PATH}:ro`,
      `${i.input}:${inputIn}:ro`,
      `${i.shardDir}:${OUT_IN_CONTAINER}`,
      ...(i.predict ? [`${i.predict}:${PREDICT_PATH}:ro`] : []),
    ],
    ...(i.hostUser ? { hostUser: i.hostUser } : {}),
  };
  const request = containerRequest(spec);
  return { ...request, HostConfig: { ...request.HostConfig, NetworkMode: 'none' } };
}

/**
 * Where shards run when not on this engine: one array job of the containers a local shard would get, its id on
 * record (`submitted`) before a task starts. It resolves once every task ended, with how each ended (an error when
 * it gave no predictions); the outputs are then checked and merged here, as a local shard's are.
 */
export interface ShardArray {
  /** What the record carries as `backend`. */
  readonly id: 'slurm';
  run(o: {
    outDir: string;
    tasks: readonly { shard: Shard; request: ContainerCreateRequest }[];
    submitted(job: string): Promise<void>;
    log: Logger;
    signal?: AbortSignal;
  }): Promise<{ job: string; ended: Map<number, { error?: string; exitCode: number | null; end: string | null }> }>;
}

export interface PredictOptions {
  engine: Engine;
  model: string;
  input: string;
  outDir: string;
  /** Shards for a new job; a rerun keeps the job's own. */
  shards?: number;
  /** Rerun the shards without a good output (`--resume`), or this one (`--shard K`). */
  resume?: boolean;
  shard?: number;
  batch?: number;
  /** The project folder, whose predict.py is used where the image carries none. */
  workspace: string;
  predict?: string;
  templatesDir: string;
  /** Run the shards as one array job elsewhere (`--on slurm`: backends/slurm/predict.ts, which the CLI passes). */
  array?: ShardArray;
  log: Logger;
  signal?: AbortSignal;
}

/** Runs (or reruns) the job and merges; throws PredictError naming the shards that failed, after recording them. */
export async function predictBatch(o: PredictOptions): Promise<PredictRecord> {
  const { engine, log } = o;
  // The input and the shards' folders are bind-mounted: from this machine's disk, which a remote engine cannot see.
  if (!isLocalEndpoint(engine.endpoint))
    throw new PredictError(
      `The data set and the predictions are mounted from this machine, and ${engine.endpoint.host} is another: run \`mlc predict\` on that host, or use a local engine.`,
    );
  const details = await engine.inspectImage(o.model, o.signal);
  if (!details)
    throw new PredictError(
      `No image ${shownValue(o.model)} on this engine: \`mlc models\` lists the model images (save one with \`mlc model save RUN\`).`,
    );
  const facts = readModelLabels(details.labels);
  if (!facts)
    throw new PredictError(
      `${shownValue(o.model)} is not a model image (it has no org.mlcontainers.role=model label): save a run as a model with \`mlc model save RUN\`, then apply that.`,
    );
  const input = path.resolve(o.input);
  const outDir = path.resolve(o.outDir);
  const runner = path.join(o.templatesDir, 'model', 'predict_batch.py');
  for (const p of [input, outDir, runner])
    if (p.includes(':'))
      throw new PredictError(`${shownValue(p)} has a ':' in its path, which a bind mount cannot carry: move it to a path without one.`);
  if (
    !(await fs.stat(runner).then(
      (s) => s.isFile(),
      () => false,
    ))
  )
    throw new PredictError(`The batch runner ${runner} is missing: reinstall ML Containers.`);
  const rows = await countRows(input);
  if (!rows.count) throw new PredictError(`${shownValue(input)} holds no rows to predict.`);
  const fingerprint = await fingerprintData(input);
  if (!fingerprint) throw new PredictError(`There is no ${shownValue(input)}.`);
  await fs.mkdir(outDir, { recursive: true });

  const previous = await readRecord(outDir);
  let record: PredictRecord;
  let todo: ShardRecord[];
  if (previous) {
    if (!o.resume && o.shard === undefined)
      throw new PredictError(
        `${shownValue(outDir)} already holds a prediction job: pass --resume to finish it (or --shard K to rerun one shard), or choose another --output.`,
      );
    if (previous.model.imageId !== details.id)
      throw new PredictError(
        `The job in ${shownValue(outDir)} applied another model (${shortImageId(previous.model.imageId)}): choose another --output for this one.`,
      );
    if (previous.input.fingerprint.manifest !== fingerprint.manifest || previous.input.rows !== rows.count)
      throw new PredictError(
        `${shownValue(input)} changed since the job in ${shownValue(outDir)} counted it: run the job again into another --output.`,
      );
    if (o.shards !== undefined && o.shards !== previous.shards.length)
      throw new PredictError(
        `The job in ${shownValue(outDir)} has ${previous.shards.length} shards: rerun it without --shards, or choose another --output.`,
      );
    record = { ...previous, status: 'running', endedAt: null };
    // A shard on record as done whose file is gone or spoiled is done again.
    for (const s of record.shards) {
      if (s.status !== 'succeeded') continue;
      const checked = await checkShard(outDir, s, rows.names);
      if ('error' in checked || checked.sha256 !== s.sha256)
        Object.assign(s, { status: 'failed', error: 'error' in checked ? checked.error : 'its output changed since it was written.' });
    }
    todo = shardsToRun(record, o.shard);
    if (!todo.length) log.info('every shard has its predictions: merging again');
  } else {
    if (o.resume || o.shard !== undefined)
      throw new PredictError(
        `${shownValue(outDir)} holds no prediction job to resume: run \`mlc predict\` without --resume or --shard first.`,
      );
    record = {
      kind: 'predict',
      status: 'running',
      model: { ref: o.model, imageId: details.id, tags: [...details.repoTags], run: facts.run ?? null },
      input: { path: input, kind: rows.kind, rows: rows.count, fingerprint },
      batch: o.batch ?? DEFAULT_BATCH,
      shards: splitShards(rows.count, o.shards ?? 1, o.batch ?? DEFAULT_BATCH).map((s) => ({ ...s, status: 'pending' as const })),
      output: null,
      startedAt: new Date().toISOString(),
      endedAt: null,
    };
    todo = record.shards;
    if (record.shards.length < (o.shards ?? 1))
      log.info(
        `${record.shards.length} shard${record.shards.length === 1 ? '' : 's'}, not ${o.shards}: ${rows.count} rows are ${Math.ceil(rows.count / record.batch!)} batches of ${record.batch}, and shards are cut between batches`,
      );
  }
  record.backend = o.array ? o.array.id : 'local';
  delete record.job;
  await writeRecord(outDir, record);

  const predictCopy = o.predict !== undefined || !imageServes(details) ? await privatePredict(o, outDir) : undefined;
  try {
    const mapped = await hostUser(engine, details, NO_RUNTIME, outDir, o.signal).catch(() => undefined);
    const owner = await runFolderOwner(engine, details, NO_RUNTIME, mapped, o.signal).catch(() => 'world' as const);
    const cpus = await engine.info(o.signal).then(
      (info) => info.cpus,
      () => os.availableParallelism(),
    );
    const threads = Math.max(1, Math.floor(cpus / todo.length));
    log.info(
      `${o.model} (${shortImageId(details.id)}${facts.run ? `, run ${facts.run}` : ''}) over ${rows.count} rows of ${shownValue(input)}: ` +
        `shard${todo.length === 1 ? '' : 's'} ${todo.map((s) => s.index).join(', ')} of ${record.shards.length}`,
    );
    if (o.array)
      await runArray({
        ...o,
        array: o.array,
        todo,
        record,
        threads,
        details,
        input,
        outDir,
        runner,
        kind: rows.kind,
        predictCopy: predictCopy?.file,
        mapped,
        owner,
        names: rows.names,
      });
    else
      await Promise.all(
        todo.map((shard) =>
          runShard({
            ...o,
            batch: record.batch ?? o.batch,
            threads,
            details,
            shard,
            kind: rows.kind,
            input,
            outDir,
            runner,
            predictCopy: predictCopy?.file,
            mapped,
            owner,
            names: rows.names,
          }),
        ),
      );
  } finally {
    if (predictCopy) await fs.rm(predictCopy.dir, { recursive: true, force: true }).catch(() => undefined);
  }

  const failed = record.shards.filter((s) => s.status !== 'succeeded');
  if (!failed.length) {
    record.output = await mergeShards(outDir, record.shards, rows.names);
    record.status = 'succeeded';
  } else {
    record.status = 'failed';
  }
  record.endedAt = new Date().toISOString();
  await writeRecord(outDir, record);
  if (failed.length) {
    const first = failed[0]!;
    throw new PredictError(
      `${failed.length === 1 ? `Shard ${first.index}` : `Shards ${failed.map((s) => s.index).join(', ')}`} of ${record.shards.length} failed; ` +
        `${first.error ?? 'it did not run.'}\nThe other shards' predictions are kept: rerun only the failed with \`mlc predict ${o.model} --input ${o.input} --output ${o.outDir} --resume\`.`,
    );
  }
  log.info(`${record.output!.rows} predictions in ${path.join(outDir, OUTPUT_FILE)}`);
  return record;
}

interface ShardRun extends Omit<PredictOptions, 'shard'> {
  threads: number;
  details: ImageDetails;
  shard: ShardRecord;
  kind: InputKind;
  input: string;
  outDir: string;
  runner: string;
  predictCopy: string | undefined;
  mapped: HostUser | undefined;
  owner: { uid: number; gid: number } | 'world' | undefined;
  names: string[] | undefined;
}

/** A shard about to run (here or on Slurm): its folder made anew for the container's user, its outcome cleared. */
export async function freshShard(outDir: string, shard: ShardRecord, owner: ShardRun['owner']): Promise<string> {
  const dir = shardDir(outDir, shard.index);
  // Whatever a failed container left there (a partial file, a link) goes: the shard writes its folder anew.
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(dir, { recursive: true });
  // The container may run as another user than this process (as a run does): it must be able to write its own
  // folder, and nothing else here.
  if (owner === 'world') await fs.chmod(dir, 0o777);
  else if (owner) await fs.chown(dir, owner.uid, owner.gid);
  Object.assign(shard, { status: 'pending', startedAt: new Date().toISOString() });
  delete shard.error;
  delete shard.exitCode;
  delete shard.sha256;
  delete shard.endedAt;
  return dir;
}

/** A shard's container request, the same whether this engine runs it or a Slurm task does. */
function shardRequest(r: Omit<ShardRun, 'shard'>, shard: Shard, dir: string, name: string): ContainerCreateRequest {
  return shardContainerRequest({
    image: { ref: r.model, details: r.details },
    name,
    shard,
    kind: r.kind,
    input: r.input,
    shardDir: dir,
    runner: r.runner,
    ...(r.predictCopy ? { predict: r.predictCopy } : {}),
    batch: r.batch ?? DEFAULT_BATCH,
    threads: r.threads,
    ...(r.mapped ? { hostUser: r.mapped } : {}),
  });
}

/** One shard's container, from a fresh folder to its checked output; the outcome goes into `shard`, never a throw. */
async function runShard(r: ShardRun): Promise<void> {
  const { engine, shard } = r;
  const dir = await freshShard(r.outDir, shard, r.owner);
  const name = `mlc-predict-${randomBytes(3).toString('hex')}-${shard.index}`;
  let id: string | undefined;
  try {
    id = await engine.createContainer(shardRequest(r, shard, dir, name), r.signal);
    await engine.startContainer(id, r.signal);
    const exitCode = await engine.waitContainer(id, r.signal);
    shard.exitCode = exitCode;
    if (exitCode !== 0) {
      const tail = await lastLogLines(engine, id, 8);
      shard.status = 'failed';
      shard.error = `shard ${shard.index} (rows ${shard.start}-${shard.end - 1}) exited with code ${exitCode}${tail.length ? `; its last lines:\n${tail.join('\n')}` : '.'}`;
    } else {
      const checked = await checkShard(r.outDir, shard, r.names);
      if ('error' in checked) Object.assign(shard, { status: 'failed', error: checked.error });
      else Object.assign(shard, { status: 'succeeded', sha256: checked.sha256 });
    }
    r.log.info(`shard ${shard.index} (rows ${shard.start}-${shard.end - 1}): ${shard.status}`);
  } catch (e) {
    shard.status = 'failed';
    shard.error = r.signal?.aborted
      ? `shard ${shard.index} was interrupted.`
      : `shard ${shard.index} did not run: ${e instanceof Error ? e.message : String(e)}`;
  } finally {
    shard.endedAt = new Date().toISOString();
    if (id !== undefined) await engine.removeContainer(id, { force: true }).catch(() => undefined);
  }
}

/**
 * The shards to run as one array job (`--on slurm`): each one's folder made and its container request rendered as
 * a local shard's, the job's id on record before a task starts, and each ended task's output checked as a local one's.
 */
async function runArray(
  r: Omit<ShardRun, 'shard' | 'array'> & { array: ShardArray; todo: ShardRecord[]; record: PredictRecord },
): Promise<void> {
  const tasks = [];
  for (const shard of r.todo) {
    const dir = await freshShard(r.outDir, shard, r.owner);
    const request = shardRequest(r, shard, dir, `mlc-predict-${shard.index}`);
    tasks.push({ shard, request });
  }
  const { job, ended } = await r.array.run({
    outDir: r.outDir,
    tasks,
    submitted: async (id) => {
      Object.assign(r.record, { backend: r.array.id, job: id });
      await writeRecord(r.outDir, r.record);
    },
    log: r.log,
    ...(r.signal ? { signal: r.signal } : {}),
  });
  for (const shard of r.todo) {
    const t = ended.get(shard.index);
    shard.endedAt = t?.end ?? new Date().toISOString();
    if (t?.exitCode !== undefined && t.exitCode !== null) shard.exitCode = t.exitCode;
    const checked = t?.error ? { error: t.error } : await checkShard(r.outDir, shard, r.names);
    if ('error' in checked) Object.assign(shard, { status: 'failed', error: checked.error });
    else Object.assign(shard, { status: 'succeeded', sha256: checked.sha256 });
    r.log.info(`shard ${shard.index} (rows ${shard.start}-${shard.end - 1}), ${r.array.id} task ${job}_${shard.index}: ${shard.status}`);
  }
}

/**
 * A private copy of predict.py (read without following links: a run could have made it a link to a host file), in
 * the job's folder: the shards' containers mount it, and on a cluster the job's folder is where every node looks.
 */
async function privatePredict(o: PredictOptions, outDir: string): Promise<{ file: string; dir: string }> {
  const source = path.resolve(o.workspace, o.predict ?? 'predict.py');
  const content = await readPredict(source);
  if (content === undefined)
    throw new PredictError(
      o.predict !== undefined
        ? `${shownValue(source)} is not there: --predict names the predict.py that gives load(model_dir) and predict(model, inputs).`
        : `The model image carries no predict.py and ${shownValue(o.workspace)} has none: run \`mlc predict\` in the project folder (--dir), or pass --predict FILE.`,
    );
  const dir = await fs.mkdtemp(path.join(outDir, '.predict-'));
  // The container's user, whoever it is, reads it.
  await fs.chmod(dir, 0o755);
  const file = path.join(dir, 'predict.py');
  await fs.writeFile(file, content, { mode: 0o644 });
  return { file, dir };
}
