import * as fs from 'node:fs';
import * as path from 'node:path';
import type { PointSink } from './points';
import { isPlainObject, jsonValueNumber } from './points';
import { readEventFile } from './tensorboard';
import { readDvclive, readJsonl, readLightningCsv } from './textFormats';

// Metrics of a run, read from the files its training code already writes into the run folder ($MLC_RUN_DIR).
//
// metrics.jsonl, our own format: one JSON object per line, `{"step": 10, "loss": 0.3, "val_acc": 0.9}`. `step` is
// optional (the line's 0-based index then); every other number is a metric, nested objects give `a/b` names, and
// Python's `json.dumps` spellings NaN, Infinity and -Infinity are read as those values. Blank lines are ignored;
// lines that are not a JSON object, or whose step is not a number, are skipped and counted.
//
// Beside it, in the run folder or a few folders below: PyTorch Lightning CSVLogger `metrics.csv` files, DVCLive
// folders (`dvclive/`, or any folder with `plots/metrics/`), and TensorBoard `events.out.tfevents.*` files. When
// several files of one kind sit in different folders (Keras' `logs/train` and `logs/validation`), each name is
// prefixed with its folder below the folders' common parent, as TensorBoard names its runs: `train/epoch_loss`.
// When two kinds write the same name, the first in SOURCES wins; values of different kinds are never mixed.

/** Where a metric was read from, in the order that decides a name two kinds of file both write. */
export const SOURCES = ['metrics.jsonl', 'lightning', 'dvclive', 'tensorboard'] as const;
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

/** The metrics of one run folder: a summary per metric name, in the order the names were first read. */
export interface RunMetrics {
  metrics: Record<string, MetricSummary>;
  /** Malformed lines, rows and records (and unreadable files) that were skipped. */
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

function summarize(collectors: readonly Collector[]): RunMetrics {
  const metrics = new Map<string, MetricSummary>();
  for (const c of collectors) {
    for (const [name, summary] of c.summaries) if (!metrics.has(name)) metrics.set(name, summary);
  }
  return { metrics: Object.fromEntries(metrics), skipped: collectors.reduce((n, c) => n + c.skipped, 0) };
}

/** Reads one metric's series, from the same file `readRunMetrics` summarizes it from; undefined when no file has it. */
export async function readMetricSeries(runDir: string, name: string): Promise<MetricSeries | undefined> {
  const owner = (await readAll(runDir, name)).find((c) => c.summaries.has(name));
  return owner?.series && { name, source: owner.source, steps: owner.series.steps, values: owner.series.values };
}

/**
 * Every metric's series in one pass, thinned to at most `maxPoints` each (every 2nd, 4th, … point kept, and always
 * the last), so memory stays bounded whatever the file's size: what charts need, kept with a finished run.
 */
export async function readRunSeries(runDir: string, maxPoints = 2000): Promise<{ metrics: RunMetrics; series: Record<string, MetricSeries> }> {
  const collectors = await readAll(runDir, undefined, maxPoints);
  const out: Record<string, MetricSeries> = {};
  for (const c of collectors) {
    for (const [name, thinned] of c.thinned ?? []) {
      if (out[name]) continue;
      const steps = [...thinned.steps];
      const values = [...thinned.values];
      const summary = c.summaries.get(name)!;
      if (steps.at(-1) !== summary.lastStep) {
        steps.push(summary.lastStep);
        values.push(summary.last);
      }
      out[name] = { name, source: c.source, steps, values };
    }
  }
  return { metrics: summarize(collectors), series: out };
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
  readonly series: { steps: number[]; values: number[] } | undefined;
  readonly thinned: Map<string, Thinned> | undefined;

  constructor(
    readonly source: MetricSource,
    private readonly wanted?: string,
    private readonly maxPoints?: number,
  ) {
    if (wanted !== undefined) this.series = { steps: [], values: [] };
    if (maxPoints !== undefined) this.thinned = new Map();
  }

  point(name: string, step: number, value: number): void {
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
    if (name === this.wanted) {
      this.series!.steps.push(step);
      this.series!.values.push(value);
    }
    if (this.thinned) this.thin(name, step, value);
  }

  private thin(name: string, step: number, value: number): void {
    let t = this.thinned!.get(name);
    if (!t) this.thinned!.set(name, (t = { steps: [], values: [], stride: 1, seen: 0 }));
    if (t.seen++ % t.stride) return;
    t.steps.push(step);
    t.values.push(value);
    if (t.steps.length >= this.maxPoints!) {
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
}

async function readAll(runDir: string, wanted?: string, maxPoints?: number): Promise<Collector[]> {
  const found = await findMetricFiles(runDir);
  const collectors = SOURCES.map((source) => new Collector(source, wanted, maxPoints));
  const [jsonl, lightning, dvclive, tensorboard] = collectors as [Collector, Collector, Collector, Collector];
  // An unreadable file (permissions, a folder removed while reading) counts as one skipped, like a bad line.
  const guarded = async (sink: Collector, read: () => Promise<void>): Promise<void> => read().catch(() => sink.skip());
  if (found.jsonl) await guarded(jsonl, () => readJsonl(found.jsonl!, jsonl));
  const csvPrefixes = folderPrefixes(found.csv.map((f) => path.dirname(f)));
  for (const f of found.csv) await guarded(lightning, () => readLightningCsv(f, csvPrefixes.get(path.dirname(f))!, lightning));
  const dvcPrefixes = folderPrefixes(found.dvclive);
  for (const d of found.dvclive) await guarded(dvclive, () => readDvclive(d, dvcPrefixes.get(d)!, dvclive));
  const eventPrefixes = folderPrefixes(found.events.map((f) => path.dirname(f)));
  for (const f of found.events) await guarded(tensorboard, () => readEventFile(f, eventPrefixes.get(path.dirname(f))!, tensorboard));
  return collectors;
}

/** Each folder's name prefix: '' when all files are in one folder, else its path below the folders' common parent. */
function folderPrefixes(dirs: string[]): Map<string, string> {
  const unique = [...new Set(dirs)];
  if (unique.length <= 1) return new Map(unique.map((d) => [d, '']));
  const split = unique.map((d) => d.split(path.sep));
  let common = 0;
  while (split.every((parts) => common < parts.length && parts[common] === split[0]![common])) common++;
  return new Map(unique.map((d, i) => [d, split[i]!.slice(common).map((p) => `${p}/`).join('')]));
}

interface MetricFiles {
  jsonl?: string;
  csv: string[];
  dvclive: string[];
  events: string[];
}

// Lightning's <save_dir>/<name>/version_N/metrics.csv is three folders down; a run folder holding a dataset or
// thousands of checkpoints is not searched past MAX_ENTRIES names.
const MAX_DEPTH = 4;
const MAX_ENTRIES = 20_000;

// Only regular files, never links: the run folder is written by the container, and a link planted there must not
// make the host read files outside it. Folders are visited breadth first, names sorted, so the order is stable.
async function findMetricFiles(runDir: string): Promise<MetricFiles> {
  const found: MetricFiles = { csv: [], dvclive: [], events: [] };
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
      for (const e of entries) {
        const full = path.join(dir, e.name);
        if (e.isDirectory()) {
          if (!(isDvclive && e.name === 'plots')) next.push(full);
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

/** RunMetrics as run records keep it, every number through `toJsonNumber`. */
export interface RunMetricsJson {
  metrics: Record<string, Omit<MetricSummary, 'last' | 'min' | 'max'> & { last: JsonNumber; min: JsonNumber; max: JsonNumber }>;
  skipped: number;
}

export function metricsToJson(m: RunMetrics): RunMetricsJson {
  const metrics = Object.entries(m.metrics).map(([name, s]) => [name, { ...s, last: toJsonNumber(s.last), min: toJsonNumber(s.min), max: toJsonNumber(s.max) }] as const);
  return { metrics: Object.fromEntries(metrics), skipped: m.skipped };
}

/** Reads back what `metricsToJson` wrote (a run record's field); entries of another shape are dropped. */
export function metricsFromJson(value: unknown): RunMetrics | undefined {
  if (!isPlainObject(value) || !isPlainObject(value.metrics)) return undefined;
  const metrics = new Map<string, MetricSummary>();
  for (const [name, s] of Object.entries(value.metrics)) {
    if (!isPlainObject(s) || !SOURCES.includes(s.source as MetricSource)) continue;
    const [last, min, max] = [jsonValueNumber(s.last), jsonValueNumber(s.min), jsonValueNumber(s.max)];
    const counts = [s.lastStep, s.steps, s.nans];
    if (last === undefined || min === undefined || max === undefined || !counts.every((c) => typeof c === 'number')) continue;
    metrics.set(name, { source: s.source as MetricSource, last, lastStep: s.lastStep as number, min, max, steps: s.steps as number, nans: s.nans as number });
  }
  return { metrics: Object.fromEntries(metrics), skipped: typeof value.skipped === 'number' ? value.skipped : 0 };
}
