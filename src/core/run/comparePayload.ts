// What the Compare Runs webview draws, prepared here so that the webview only renders: the CLI's table as cells
// (text to show, a number to sort by) and, per metric, the runs' series aligned on one step axis as uPlot wants.
// The webview never reads files: `readChartSeries` reads them here and the shell posts the result.
import type { JsonNumber, MetricSeries, RunMetricsJson } from '../metrics/metrics';
import { metricsToJson, readRunMetrics } from '../metrics/metrics';
import type { RunComparison, SeedGroup } from './compare';
import { groupSeeds } from './compare';
import type { RunRecord } from './records';
import { runFolder } from './records';
import { loadRunSeries } from './series';
import { commitCell } from './status';

/** One cell of the table: what it shows, and what it sorts by (null sorts last). */
export interface CompareCell {
  text: string;
  sort: number | string | null;
}

export interface CompareColumn {
  key: string;
  title: string;
  kind: 'run' | 'status' | 'param' | 'metric' | 'image' | 'commit';
  /** Metric columns: which way is better, as the best mark was chosen. */
  lowerIsBetter?: boolean;
}

/** One metric's chart: `steps` is the union of every run's steps; `values[i]` is run i's value there, null when it has none (or NaN/±Infinity: a gap). */
export interface CompareChart {
  metric: string;
  steps: number[];
  values: (number | null)[][];
}

/**
 * A chart as it is posted: the runs' values in one Float64Array (run after run, `steps.length` each; NaN a gap).
 * VS Code carries typed arrays to a webview as buffers; 1,000 runs × 1,000 steps as arrays of numbers and nulls
 * cost the page most of a second to receive.
 */
export interface PackedChart {
  metric: string;
  steps: Float64Array;
  values: Float64Array;
}

export function packChart(chart: CompareChart): PackedChart {
  const n = chart.steps.length;
  const values = new Float64Array(chart.values.length * n);
  chart.values.forEach((row, r) => {
    for (let i = 0; i < n; i++) values[r * n + i] = row[i] ?? NaN;
  });
  return { metric: chart.metric, steps: Float64Array.from(chart.steps), values };
}

/** The message the webview renders: the table, and the charts of the metrics chosen so far. */
export interface ComparePayload {
  /** The runs in table order; a run's chart line has the colour of its index. */
  runs: { id: string; label: string }[];
  columns: CompareColumn[];
  /** rows[i][j]: run i, column j. */
  rows: CompareCell[][];
  /** Per metric column key, the id of the best run (absent when fewer than two runs have a value). */
  best: Record<string, string>;
  metricNames: string[];
  /** Metric names past the column cap (MAX_METRIC_NAMES), not shown. */
  metricsLeftOut: number;
  configKeys: string[];
  charts: CompareChart[];
  /** The swept params (those with a column), each as an axis of the parallel-coordinates chart and the scatter. */
  params: SweptParam[];
  /**
   * Runs that differ only in their seed, folded: absent when no two runs do (nothing to group). `best`: per metric
   * column key, the index of the group with the best mean (absent when fewer than two groups have one).
   */
  seeds?: { key: string; groups: CompareSeedGroup[]; best: Record<string, number> };
}

/**
 * A swept param as an axis. Numbers are `linear`, or `log` when all are > 0 and span two decades or more; anything
 * else (strings, booleans, lists, numbers mixed with text) is `categorical`, its values listed in sorted order.
 */
export interface SweptParam {
  key: string;
  scale: 'linear' | 'log' | 'categorical';
  /** Categorical: the values as the table shows them. */
  categories?: string[];
  /** Per run (in `runs` order): the number (linear, log) or the index in `categories`; null when the run lacks it. */
  at: (number | null)[];
  /** Whether this is the seed key (`seeds.key`): grouped views leave its axis out. */
  seed: boolean;
}

/**
 * One seed group: its runs as indices into `runs`, its label (the shared swept params), `groupSeeds`' numbers, and
 * its table row (`cells[j]`: column j, as the CLI's `--group-seeds` prints it: metrics as mean ± std).
 */
export interface CompareSeedGroup {
  runs: number[];
  label: string;
  seeds: string[];
  metrics: SeedGroup['metrics'];
  cells: CompareCell[];
}

/** Sweep values that differ between the runs: the only ones worth a column. */
export function varyingParamKeys(c: RunComparison): string[] {
  return [...new Set(c.runs.flatMap((r) => Object.keys(r.params)))].filter(
    (k) => new Set(c.runs.map((r) => JSON.stringify(r.params[k]))).size > 1,
  );
}

/**
 * The webview's data: the comparison as table cells, and a chart for each metric `series` has values of
 * (`series.get(runId)` lists that run's series, read with `readMetricSeries`).
 */
export function comparePayload(
  c: RunComparison,
  series: ReadonlyMap<string, readonly MetricSeries[]>,
  o: { seedKey?: string } = {},
): ComparePayload {
  const paramKeys = varyingParamKeys(c);
  const columns: CompareColumn[] = [
    { key: 'run', title: 'Run', kind: 'run' },
    { key: 'status', title: 'Status', kind: 'status' },
    ...paramKeys.map((k): CompareColumn => ({ key: `param:${k}`, title: k, kind: 'param' })),
    ...c.metricNames.map((m): CompareColumn => ({
      key: `metric:${m}`,
      title: m,
      kind: 'metric',
      ...(c.best[m] ? { lowerIsBetter: c.best[m].lowerIsBetter } : {}),
    })),
    { key: 'image', title: 'Image', kind: 'image' },
    { key: 'commit', title: 'Commit', kind: 'commit' },
  ];
  const rows = c.runs.map((r): CompareCell[] => [
    { text: r.id, sort: r.id },
    { text: r.statusText, sort: r.status },
    ...paramKeys.map((k): CompareCell => paramCell(r.params[k])),
    ...c.metricNames.map((m): CompareCell => metricCell(r.metrics[m])),
    { text: r.image.ref, sort: r.image.ref },
    { text: commitCell(r.commit, r.dirty), sort: r.commit },
  ]);
  // Keys are prefixed (`metric:constructor`), so a plain object is safe here, and it is what the webview is posted.
  const best = Object.fromEntries(Object.entries(c.best).map(([m, b]) => [`metric:${m}`, b.run]));
  const chartMetrics = c.metricNames.filter((m) => [...series.values()].some((list) => list.some((s) => s.name === m)));
  const charts = chartMetrics.map((m) =>
    compareChart(
      m,
      c.runs.map((r) => series.get(r.id)?.find((s) => s.name === m)),
    ),
  );
  const runs = c.runs.map((r) => ({
    id: r.id,
    label: paramKeys.length ? paramKeys.map((k) => `${k}=${paramCell(r.params[k]).text}`).join(' ') : r.id,
  }));
  const seedKey = o.seedKey?.trim() || 'seed';
  const isSeed = (k: string): boolean => k === seedKey || k.endsWith(`.${seedKey}`);
  const params = paramKeys.map((k) =>
    sweptParam(
      k,
      c.runs.map((r) => r.params[k]),
      isSeed(k),
    ),
  );
  const seeds = seedGroups(
    c,
    seedKey,
    paramKeys.filter((k) => !isSeed(k)),
    { columns, rows },
  );
  return {
    runs,
    columns,
    rows,
    best,
    metricNames: c.metricNames,
    metricsLeftOut: c.metricsLeftOut,
    configKeys: c.configKeys,
    charts,
    params,
    ...(seeds ? { seeds } : {}),
  };
}

/** A param's axis: its scale and each run's position on it (see `SweptParam`). */
export function sweptParam(key: string, values: readonly unknown[], seed = false): SweptParam {
  const present = values.filter((v) => v !== undefined);
  if (present.length && present.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    const numbers = present as number[];
    const min = Math.min(...numbers);
    const max = Math.max(...numbers);
    const scale = min > 0 && max / min >= 100 ? 'log' : 'linear';
    return { key, scale, at: values.map((v) => (typeof v === 'number' ? v : null)), seed };
  }
  const text = (v: unknown): string => paramCell(v).text;
  const categories = [...new Set(present.map(text))].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const index = new Map(categories.map((v, i) => [v, i]));
  return { key, scale: 'categorical', categories, at: values.map((v) => (v === undefined ? null : index.get(text(v))!)), seed };
}

/** `groupSeeds` as the page wants it (with a table row per group), or undefined when every group would hold one run. */
function seedGroups(
  c: RunComparison,
  seedKey: string,
  shownKeys: readonly string[],
  table: { columns: readonly CompareColumn[]; rows: readonly CompareCell[][] },
): ComparePayload['seeds'] {
  const groups = groupSeeds(c, seedKey);
  if (groups.length === c.runs.length) return undefined;
  const index = new Map(c.runs.map((r, i) => [r.id, i]));
  const out = groups.map((g): CompareSeedGroup => {
    const runs = g.runs.map((id) => index.get(id)!);
    const seeds = g.seeds.map((s) => paramCell(s ?? undefined).text);
    return {
      runs,
      label: shownKeys.length ? shownKeys.map((k) => `${k}=${paramCell(g.params[k]).text}`).join(' ') : g.runs[0]!,
      seeds,
      metrics: g.metrics,
      cells: table.columns.map((col, j): CompareCell => {
        if (col.kind === 'run') return { text: `${g.runs[0]!} (${runs.length} runs)`, sort: g.runs[0]! };
        if (col.kind === 'metric') return seedMetricCell(g.metrics[col.key.slice('metric:'.length)], runs.length);
        if (col.kind === 'param' && (col.key === `param:${seedKey}` || col.key.endsWith(`.${seedKey}`)))
          return { text: seeds.join(', '), sort: runs.length };
        return sharedCell(runs.map((i) => table.rows[i]![j]!));
      }),
    };
  });
  const best: Record<string, number> = {};
  for (const col of table.columns) {
    const m = col.key.slice('metric:'.length);
    if (col.kind !== 'metric' || !c.best[m]) continue;
    const scored = out
      .map((g, k) => ({ k, mean: g.metrics[m]?.mean }))
      .filter((x): x is { k: number; mean: number } => Number.isFinite(x.mean));
    if (scored.length < 2) continue;
    const sign = c.best[m].lowerIsBetter ? 1 : -1;
    best[col.key] = scored.reduce((a, b) => ((b.mean - a.mean) * sign < 0 ? b : a)).k;
  }
  return { key: seedKey, groups: out, best };
}

/** A metric over a group's seeds as `--group-seeds` prints it; `(n of N)` when some runs lack it. */
function seedMetricCell(s: SeedGroup['metrics'][string] | undefined, size: number): CompareCell {
  if (!s) return { text: '-', sort: null };
  const text = `${formatMetricValue(s.mean)} ± ${formatMetricValue(Number(s.std.toPrecision(2)))}`;
  return { text: s.n < size ? `${text} (${s.n} of ${size})` : text, sort: s.mean };
}

/** A column the group's runs share (status, image, commit, a swept param): its value, or how many differ. */
function sharedCell(cells: readonly CompareCell[]): CompareCell {
  const texts = new Set(cells.map((c) => c.text));
  return texts.size === 1 ? cells[0]! : { text: `${texts.size} different`, sort: null };
}

/**
 * One metric of several runs on a shared step axis (uPlot's aligned data). A step a run wrote twice (a resumed
 * run) keeps its last value; a run without the metric is all gaps.
 */
export function compareChart(metric: string, perRun: readonly (MetricSeries | undefined)[]): CompareChart {
  const all = new Set<number>();
  for (const s of perRun) for (const step of s?.steps ?? []) if (Number.isFinite(step)) all.add(step);
  const steps = [...all].sort((a, b) => a - b);
  const index = new Map(steps.map((step, i) => [step, i]));
  const values = perRun.map((s) => {
    const row: (number | null)[] = new Array<number | null>(steps.length).fill(null);
    if (!s) return row;
    for (let i = 0; i < s.steps.length; i++) {
      const at = index.get(s.steps[i]!);
      const v = s.values[i]!;
      if (at !== undefined) row[at] = Number.isFinite(v) ? v : null;
    }
    return row;
  });
  return { metric, steps, values };
}

function paramCell(value: unknown): CompareCell {
  if (value === undefined) return { text: '-', sort: null };
  if (typeof value === 'number') return { text: String(value), sort: value };
  return {
    text: typeof value === 'string' ? value : JSON.stringify(value),
    sort: typeof value === 'string' ? value : JSON.stringify(value),
  };
}

function metricCell(value: JsonNumber | undefined): CompareCell {
  if (value === undefined) return { text: '-', sort: null };
  return { text: formatMetricValue(value), sort: typeof value === 'number' ? value : null };
}

/** A metric value in a few significant digits: 0.3124, 1235, 1.235e-5, NaN. */
export function formatMetricValue(value: JsonNumber | number): string {
  if (typeof value === 'string' || !Number.isFinite(value)) return String(value);
  if (Number.isInteger(value) && Math.abs(value) < 1e6) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs >= 1e5 || abs < 1e-3)) return value.toExponential(3).replace(/\.?0+e/, 'e');
  return String(Number(value.toPrecision(4)));
}

/**
 * The metric a run row shows: the one named by the setting, or (setting empty) the first the run wrote; undefined
 * when the run has no such metric.
 */
export function headlineMetric(metrics: RunMetricsJson | undefined, setting: string): { name: string; text: string } | undefined {
  const entries = Object.entries(metrics?.metrics ?? {});
  const found = setting.trim() ? entries.find(([name]) => name === setting.trim()) : entries[0];
  return found && { name: found[0], text: formatMetricValue(found[1].last) };
}

/**
 * Each run's series of each metric (runs without one are left out): a finished run's from the thinned series it
 * keeps, a running one's from its files.
 */
export async function readChartSeries(
  workspace: string,
  runIds: readonly string[],
  metrics: readonly string[],
): Promise<Map<string, MetricSeries[]>> {
  const out = new Map<string, MetricSeries[]>();
  await Promise.all(
    runIds.map(async (id) => {
      const found = await Promise.all(metrics.map((m) => loadRunSeries(workspace, id, m)));
      out.set(
        id,
        found.filter((s): s is MetricSeries => s !== undefined),
      );
    }),
  );
  return new Map(runIds.map((id) => [id, out.get(id) ?? []]));
}

/** A running run's record has no metrics yet (they are summarized when it ends): read what its files say so far. */
export async function withLiveMetrics(workspace: string, runs: readonly RunRecord[]): Promise<RunRecord[]> {
  return Promise.all(
    runs.map(async (r) =>
      r.status === 'running' && !r.metrics ? { ...r, metrics: metricsToJson(await readRunMetrics(runFolder(workspace, r.id))) } : r,
    ),
  );
}
