import * as fs from 'node:fs';
import * as path from 'node:path';
import { printable } from '../generatedText';
import type { PointSink } from './points';
import { isPlainObject, jsonValueNumber } from './points';
import { readEventFile } from './tensorboard';
import { readDvclive, readJsonl, readLightningCsv, readMlflow } from './textFormats';

// Metrics of a run, read from the files its training code already writes into the run folder ($MLC_RUN_DIR).
//
// metrics.jsonl, our own format: one JSON object per line, `{"step": 10, "loss": 0.3, "val_acc": 0.9}`. `step` is
// optional (the line's 0-based index then); every other number is a metric, nested objects give `a/b` names, and
// Python's `json.dumps` spellings NaN, Infinity and -Infinity are read as those values. Blank lines are ignored;
// lines that are not a JSON object, or whose step is not a number, are skipped and counted.
//
// Beside it, in the run folder or a few folders below: PyTorch Lightning CSVLogger `metrics.csv` files, DVCLive
// folders (`dvclive/`, or any folder with `plots/metrics/`), TensorBoard `events.out.tfevents.*` files, and MLflow
// file-store runs (`mlruns/<experiment>/<run>/metrics/<name>`, for runs that already log with MLflow). When
// several files of one kind sit in different folders (Keras' `logs/train` and `logs/validation`), each name is
// prefixed with its folder below the folders' common parent, as TensorBoard names its runs: `train/epoch_loss`.
// When two kinds write the same name, the first in SOURCES wins; values of different kinds are never mixed.

// The run folder is the container's, and its files are read by the host: what they can cost is bounded.
// - MAX_METRIC_NAMES: a run keeps the first 1,000 metric names it writes (in SOURCES order, then file order). A
//   name past them is not read; how many there were and the first few (escaped) are said in `namesLeftOut`. A
//   9 MB metrics.jsonl of 200,000 names made a 26 MB record line and a 200,000-column Compare Runs otherwise.
// - MAX_METRIC_FILE_BYTES per file, MAX_RUN_METRIC_BYTES for all of a run's metric files together: what is past them
//   is not read, and the files are named in `filesCut` (and counted once each in `skipped`).
// - MAX_SERIES_POINTS per series read for a chart (thinned: every 2nd, 4th, … point kept, and always the last).
// - A metric name longer than MAX_METRIC_NAME_LENGTH is a malformed value (counted in `skipped`).
// Names key null-prototype objects and Maps only: `constructor`, `toString` and `__proto__` are metrics like any other.

/** The most metric names one run keeps. */
export const MAX_METRIC_NAMES = 1000;
/** The most bytes read of one metric file (64 MiB). */
export const MAX_METRIC_FILE_BYTES = 64 * 1024 * 1024;
/** The most bytes read of all of a run's metric files together (256 MiB). */
export const MAX_RUN_METRIC_BYTES = 256 * 1024 * 1024;
/** The most points of one series kept for a chart. */
export const MAX_SERIES_POINTS = 2000;
export const MAX_METRIC_NAME_LENGTH = 256;
// Names left out are counted one by one up to this many; past it the count is a lower bound.
const MAX_COUNTED_LEFT_OUT = 10_000;
const LEFT_OUT_SHOWN = 5;

/** Where a metric was read from, in the order that decides a name two kinds of file both write. */
export const SOURCES = ['metrics.jsonl', 'lightning', 'dvclive', 'tensorboard', 'mlflow'] as const;
export type MetricSource = (typeof SOURCES)[number];

/**
 * One metric over a run. Values keep NaN and ±Infinity: `last` is NaN when the last value was; `min` and `max`
 * pass over NaN (NaN only when every value was), and `nans` counts them.
 */
export interface MetricSummary {
  source: MetricSource;
  last: number;
  /** The step of `last`. */
  lastStep: number;
  min: number;
  max: number;
  /** How many values were read. */
  steps: number;
  nans: number;
}

/** What the caps left unread (see MAX_METRIC_NAMES and MAX_METRIC_FILE_BYTES). */
export interface MetricsLeftOut {
  /** Metric names past MAX_METRIC_NAMES: how many (`atLeast` when more were not counted), the first few escaped. */
  namesLeftOut?: { count: number; atLeast?: boolean; first: string[] };
  /** Metric files read only in part (or not at all) for the byte caps, relative to the run folder, escaped. */
  filesCut?: { count: number; first: string[] };
}

/**
 * The metrics of one run folder: a summary per metric name, in the order the names were first read. `metrics` has no
 * prototype: look a name up directly, `constructor` included.
 */
export interface RunMetrics extends MetricsLeftOut {
  metrics: Record<string, MetricSummary>;
  /** Malformed lines, rows and records (and unreadable or cut files) that were skipped. */
  skipped: number;
}

/** One metric's values in file order, for charts. */
export interface MetricSeries {
  name: string;
  source: MetricSource;
  steps: number[];
  values: number[];
}

/** Reads every metric file in a run folder. Never throws for bad content; a missing folder has no metrics. */
export async function readRunMetrics(runDir: string): Promise<RunMetrics> {
  return summarize(await readAll(runDir));
}

/** An object without a prototype, for maps keyed by metric name. */
export function nameMap<T>(entries: Iterable<readonly [string, T]> = []): Record<string, T> {
  const out = Object.create(null) as Record<string, T>;
  for (const [k, v] of entries) out[k] = v;
  return out;
}

function summarize(read: { collectors: readonly Collector[]; shared: Shared }): RunMetrics {
  const metrics = new Map<string, MetricSummary>();
  for (const c of read.collectors) {
    for (const [name, summary] of c.summaries) if (!metrics.has(name)) metrics.set(name, summary);
  }
  const { shared } = read;
  return {
    metrics: nameMap(metrics),
    skipped: read.collectors.reduce((n, c) => n + c.skipped, 0) + shared.filesCut,
    ...(shared.leftOutCount
      ? {
          namesLeftOut: {
            count: shared.leftOutCount,
            ...(shared.leftOut.size >= MAX_COUNTED_LEFT_OUT ? { atLeast: true } : {}),
            first: [...shared.leftOut].slice(0, LEFT_OUT_SHOWN).map((n) => printable(n, 64)),
          },
        }
      : {}),
    ...(shared.filesCut ? { filesCut: { count: shared.filesCut, first: shared.cutNames } } : {}),
  };
}

/** One sentence on what the caps left unread, for a log or a message; undefined when they left nothing. */
export function leftOutSentence(m: MetricsLeftOut): string | undefined {
  const parts: string[] = [];
  const names = m.namesLeftOut;
  if (names)
    parts.push(
      `${names.atLeast ? 'at least ' : ''}${names.count} metric name(s) past the first ${MAX_METRIC_NAMES} were not read (${names.first.join(', ')}${names.count > names.first.length ? ', …' : ''})`,
    );
  const files = m.filesCut;
  if (files)
    parts.push(
      `${files.count} metric file(s) were read only up to ${MAX_METRIC_FILE_BYTES / 1024 / 1024} MiB each, ${MAX_RUN_METRIC_BYTES / 1024 / 1024} MiB in all (${files.first.join(', ')}${files.count > files.first.length ? ', …' : ''})`,
    );
  return parts.length ? `${parts.join('; ')}.` : undefined;
}

/** Reads one metric's series, from the same file `readRunMetrics` summarizes it from; undefined when no file has it. */
export async function readMetricSeries(runDir: string, name: string, maxPoints = MAX_SERIES_POINTS): Promise<MetricSeries | undefined> {
  const { collectors } = await readAll(runDir, name, maxPoints);
  const owner = collectors.find((c) => c.summaries.has(name));
  return owner && seriesOf(owner, name);
}

/** A collector's thinned series of one name, its last point always kept. */
function seriesOf(c: Collector, name: string): MetricSeries | undefined {
  const thinned = c.thinned.get(name);
  if (!thinned) return undefined;
  const steps = [...thinned.steps];
  const values = [...thinned.values];
  const summary = c.summaries.get(name)!;
  if (steps.at(-1) !== summary.lastStep) {
    steps.push(summary.lastStep);
    values.push(summary.last);
  }
  return { name, source: c.source, steps, values };
}

/**
 * Every metric's series in one pass, thinned to at most `maxPoints` each (every 2nd, 4th, … point kept, and always
 * the last), so memory stays bounded whatever the file's size: what charts need, kept with a finished run.
 */
export async function readRunSeries(
  runDir: string,
  maxPoints = MAX_SERIES_POINTS,
): Promise<{ metrics: RunMetrics; series: Record<string, MetricSeries> }> {
  const read = await readAll(runDir, undefined, maxPoints);
  const out = new Map<string, MetricSeries>();
  for (const c of read.collectors) {
    for (const name of c.thinned.keys()) if (!out.has(name)) out.set(name, seriesOf(c, name)!);
  }
  return { metrics: summarize(read), series: nameMap(out) };
}

/**
 * What the collectors of one read share: which source owns each name (the first to write it: reads go in SOURCES
 * order, and a later kind's values of that name are not kept), the names left out, and the bytes left to read.
 */
class Shared {
  readonly owners = new Map<string, MetricSource>();
  readonly leftOut = new Set<string>();
  leftOutCount = 0;
  bytesLeft = MAX_RUN_METRIC_BYTES;
  filesCut = 0;
  readonly cutNames: string[] = [];

  constructor(readonly runDir: string) {}

  /** Whether `source` keeps values of `name`: it owns it, or nobody does and there is room for one more name. */
  admit(name: string, source: MetricSource): boolean {
    const owner = this.owners.get(name);
    if (owner !== undefined) return owner === source;
    if (this.owners.size < MAX_METRIC_NAMES) {
      this.owners.set(name, source);
      return true;
    }
    if (!this.leftOut.has(name) && this.leftOut.size < MAX_COUNTED_LEFT_OUT) {
      this.leftOut.add(name);
      this.leftOutCount++;
    }
    return false;
  }

  allowance(): number {
    return Math.max(0, Math.min(MAX_METRIC_FILE_BYTES, this.bytesLeft));
  }

  consumed(file: string, bytes: number, cut: boolean): void {
    this.bytesLeft -= bytes;
    if (!cut) return;
    this.filesCut++;
    if (this.cutNames.length < LEFT_OUT_SHOWN)
      this.cutNames.push(printable(path.relative(this.runDir, file).split(path.sep).join('/'), 64));
  }
}

/** One metric's points, every `stride`-th kept; the stride doubles whenever the kept points reach the limit. */
interface Thinned {
  steps: number[];
  values: number[];
  stride: number;
  seen: number;
}

class Collector implements PointSink {
  readonly summaries = new Map<string, MetricSummary>();
  skipped = 0;
  /** Thinned series: of every name (readRunSeries), of the wanted one (readMetricSeries), or none (summaries only). */
  readonly thinned = new Map<string, Thinned>();

  constructor(
    readonly source: MetricSource,
    private readonly shared: Shared,
    private readonly wanted?: string,
    private readonly maxPoints?: number,
  ) {}

  point(name: string, step: number, value: number): void {
    if (name.length > MAX_METRIC_NAME_LENGTH) return this.skip();
    if (!this.shared.admit(name, this.source)) return;
    let s = this.summaries.get(name);
    if (!s) {
      s = { source: this.source, last: value, lastStep: step, min: NaN, max: NaN, steps: 0, nans: 0 };
      this.summaries.set(name, s);
    }
    s.last = value;
    s.lastStep = step;
    s.steps++;
    if (Number.isNaN(value)) s.nans++;
    else {
      if (Number.isNaN(s.min) || value < s.min) s.min = value;
      if (Number.isNaN(s.max) || value > s.max) s.max = value;
    }
    if (this.maxPoints !== undefined && (this.wanted === undefined || name === this.wanted)) this.thin(name, step, value, this.maxPoints);
  }

  private thin(name: string, step: number, value: number, maxPoints: number): void {
    let t = this.thinned.get(name);
    if (!t) this.thinned.set(name, (t = { steps: [], values: [], stride: 1, seen: 0 }));
    if (t.seen++ % t.stride) return;
    t.steps.push(step);
    t.values.push(value);
    if (t.steps.length >= maxPoints) {
      t.steps = t.steps.filter((_, i) => i % 2 === 0);
      t.values = t.values.filter((_, i) => i % 2 === 0);
      t.stride *= 2;
    }
  }

  skip(): void {
    this.skipped++;
  }

  has(name: string): boolean {
    return this.summaries.has(name);
  }

  get root(): string {
    return this.shared.runDir;
  }

  allowance(): number {
    return this.shared.allowance();
  }

  consumed(file: string, bytes: number, cut: boolean): void {
    this.shared.consumed(file, bytes, cut);
  }
}

// The files are read here, one kind after the other in SOURCES order, each by its own reader: forEachLine
// (points.ts) for metrics.jsonl, Lightning CSV and DVCLive TSV; readDvclive's metrics.json read (textFormats.ts);
// readEventFile's open (tensorboard.ts).
async function readAll(runDir: string, wanted?: string, maxPoints?: number): Promise<{ collectors: Collector[]; shared: Shared }> {
  const found = await findMetricFiles(runDir);
  const shared = new Shared(runDir);
  const collectors = SOURCES.map((source) => new Collector(source, shared, wanted, maxPoints));
  const [jsonl, lightning, dvclive, tensorboard, mlflow] = collectors as [Collector, Collector, Collector, Collector, Collector];
  // An unreadable file (permissions, a folder removed while reading) counts as one skipped, like a bad line.
  const guarded = async (sink: Collector, read: () => Promise<void>): Promise<void> => read().catch(() => sink.skip());
  if (found.jsonl) await guarded(jsonl, () => readJsonl(found.jsonl!, jsonl));
  const csvPrefixes = folderPrefixes(found.csv.map((f) => path.dirname(f)));
  for (const f of found.csv) await guarded(lightning, () => readLightningCsv(f, csvPrefixes.get(path.dirname(f))!, lightning));
  const dvcPrefixes = folderPrefixes(found.dvclive);
  for (const d of found.dvclive) await guarded(dvclive, () => readDvclive(d, dvcPrefixes.get(d)!, dvclive));
  const eventPrefixes = folderPrefixes(found.events.map((f) => path.dirname(f)));
  for (const f of found.events) await guarded(tensorboard, () => readEventFile(f, eventPrefixes.get(path.dirname(f))!, tensorboard));
  const mlflowPrefixes = folderPrefixes(found.mlflow);
  for (const d of found.mlflow) await guarded(mlflow, () => readMlflow(d, mlflowPrefixes.get(d)!, mlflow));
  return { collectors, shared };
}

/** Each folder's name prefix: '' when all files are in one folder, else its path below the folders' common parent. */
function folderPrefixes(dirs: string[]): Map<string, string> {
  const unique = [...new Set(dirs)];
  if (unique.length <= 1) return new Map(unique.map((d) => [d, '']));
  const split = unique.map((d) => d.split(path.sep));
  let common = 0;
  while (split.every((parts) => common < parts.length && parts[common] === split[0]![common])) common++;
  return new Map(
    unique.map((d, i) => [
      d,
      split[i]!.slice(common)
        .map((p) => `${p}/`)
        .join(''),
    ]),
  );
}

interface MetricFiles {
  jsonl?: string;
  csv: string[];
  dvclive: string[];
  events: string[];
  /** MLflow file-store runs: folders with `meta.yaml` and `metrics/` (mlruns/<experiment>/<run>/). */
  mlflow: string[];
}

// Lightning's <save_dir>/<name>/version_N/metrics.csv is three folders down; a run folder holding a dataset or
// thousands of checkpoints is not searched past MAX_ENTRIES names.
const MAX_DEPTH = 4;
const MAX_ENTRIES = 20_000;

// Only regular files, never links: the run folder is written by the container, and a link planted there must not
// make the host read files outside it. Folders are visited breadth first, names sorted, so the order is stable.
async function findMetricFiles(runDir: string): Promise<MetricFiles> {
  const found: MetricFiles = { csv: [], dvclive: [], events: [], mlflow: [] };
  const root = await fs.promises.lstat(runDir).catch(() => undefined);
  if (!root?.isDirectory()) return found;
  let queue = [runDir];
  let seen = 0;
  for (let depth = 0; depth <= MAX_DEPTH && queue.length > 0 && seen < MAX_ENTRIES; depth++) {
    const next: string[] = [];
    for (const dir of queue) {
      const entries = await fs.promises.readdir(dir, { withFileTypes: true }).catch(() => []);
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      seen += entries.length;
      // DVCLive's default folder, or wherever `Live(dir=…)` put its plots (the run folder itself, often).
      const hasPlots = entries.some((e) => e.name === 'plots' && e.isDirectory()) && (await isDir(path.join(dir, 'plots', 'metrics')));
      const isDvclive = hasPlots || (dir !== runDir && path.basename(dir) === 'dvclive');
      if (isDvclive) found.dvclive.push(dir);
      // An MLflow run's metrics/ is read by its reader, not searched for other kinds.
      const isMlflow =
        entries.some((e) => e.name === 'meta.yaml' && e.isFile()) && entries.some((e) => e.name === 'metrics' && e.isDirectory());
      if (isMlflow) found.mlflow.push(dir);
      for (const e of entries) {
        const full = path.join(dir, e.name);
        if (e.isDirectory()) {
          if (!(isDvclive && e.name === 'plots') && !(isMlflow && e.name === 'metrics')) next.push(full);
        } else if (e.isFile()) {
          if (depth === 0 && e.name === 'metrics.jsonl') found.jsonl = full;
          else if (e.name === 'metrics.csv') found.csv.push(full);
          else if (e.name.startsWith('events.out.tfevents.')) found.events.push(full);
        }
      }
      if (seen >= MAX_ENTRIES) break;
    }
    queue = next;
  }
  return found;
}

async function isDir(p: string): Promise<boolean> {
  return (await fs.promises.lstat(p).catch(() => undefined))?.isDirectory() ?? false;
}

/** A number as run records write it: JSON has no NaN or Infinity, so those are the strings "NaN", "Infinity", "-Infinity". */
export type JsonNumber = number | 'NaN' | 'Infinity' | '-Infinity';

export function toJsonNumber(n: number): JsonNumber {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return 'Infinity';
  if (n === -Infinity) return '-Infinity';
  return n;
}

/**
 * RunMetrics as run records keep it, every number through `toJsonNumber`. Read back from JSON, `metrics` is a plain
 * object: look names up with Object.hasOwn (or through `metricsFromJson`).
 */
export interface RunMetricsJson extends MetricsLeftOut {
  metrics: Record<string, Omit<MetricSummary, 'last' | 'min' | 'max'> & { last: JsonNumber; min: JsonNumber; max: JsonNumber }>;
  skipped: number;
}

export function metricsToJson(m: RunMetrics): RunMetricsJson {
  const metrics = Object.entries(m.metrics).map(
    ([name, s]) => [name, { ...s, last: toJsonNumber(s.last), min: toJsonNumber(s.min), max: toJsonNumber(s.max) }] as const,
  );
  return {
    metrics: nameMap(metrics),
    skipped: m.skipped,
    ...(m.namesLeftOut ? { namesLeftOut: m.namesLeftOut } : {}),
    ...(m.filesCut ? { filesCut: m.filesCut } : {}),
  };
}

/** Reads back what `metricsToJson` wrote (a run record's field); entries of another shape are dropped. */
export function metricsFromJson(value: unknown): RunMetrics | undefined {
  if (!isPlainObject(value) || !isPlainObject(value.metrics)) return undefined;
  const metrics = new Map<string, MetricSummary>();
  // A record written before the cap (or by hand) may hold more names: the first MAX_METRIC_NAMES are kept.
  for (const [name, s] of Object.entries(value.metrics).slice(0, MAX_METRIC_NAMES)) {
    if (!isPlainObject(s) || !SOURCES.includes(s.source as MetricSource)) continue;
    const [last, min, max] = [jsonValueNumber(s.last), jsonValueNumber(s.min), jsonValueNumber(s.max)];
    const counts = [s.lastStep, s.steps, s.nans];
    if (last === undefined || min === undefined || max === undefined || !counts.every((c) => typeof c === 'number')) continue;
    metrics.set(name, {
      source: s.source as MetricSource,
      last,
      lastStep: s.lastStep as number,
      min,
      max,
      steps: s.steps as number,
      nans: s.nans as number,
    });
  }
  const leftOut = (v: unknown): { count: number; first: string[] } | undefined =>
    isPlainObject(v) && typeof v.count === 'number' && Array.isArray(v.first) && v.first.every((f) => typeof f === 'string')
      ? { count: v.count, first: (v.first as string[]).slice(0, LEFT_OUT_SHOWN).map((f) => f.slice(0, 80)) }
      : undefined;
  const names = leftOut(value.namesLeftOut);
  const files = leftOut(value.filesCut);
  return {
    metrics: nameMap(metrics),
    skipped: typeof value.skipped === 'number' ? value.skipped : 0,
    ...(names
      ? {
          namesLeftOut: {
            ...names,
            ...(isPlainObject(value.namesLeftOut) && value.namesLeftOut.atLeast === true ? { atLeast: true } : {}),
          },
        }
      : {}),
    ...(files ? { filesCut: files } : {}),
  };
}
