// Which config, image and commit gave the best result: runs side by side, with what differs between them.
import type { Engine } from '../docker/engine';
import type { JsonNumber } from '../metrics/metrics';
import { MAX_METRIC_NAMES, nameMap } from '../metrics/metrics';
import { diffLocks, formatDiff, lockFor, parseLock } from '../provenance/lock';
import { loadYaml } from '../yaml';
import type { RunRecord } from './records';
import { runStatus, statusText } from './status';
import { UserError } from '../errors';
import { dataId } from './inputs';

/** Metrics whose name says lower is better; every other metric is better higher (accuracy, F1, AUC, reward). */
const LOWER_IS_BETTER = /loss|err|mse|mae|rmse|perplex|\bwer\b|\bcer\b|time|latency/i;

export interface ComparedRun {
  id: string;
  status: RunRecord['status'];
  /** The status cell as every table words it (core/run/status.ts): pending, exit N, timeout, engine stopped… */
  statusText: string;
  exitCode: number | null;
  image: { id: string; ref: string };
  commit: string | null;
  dirty: boolean;
  params: Record<string, unknown>;
  /** Each metric's last value (no prototype: `constructor` is a metric name like any other). */
  metrics: Record<string, JsonNumber>;
}

export interface RunComparison {
  runs: ComparedRun[];
  /** Every metric any of the runs wrote, in first-seen order, the first MAX_METRIC_NAMES of them. */
  metricNames: string[];
  /** Metric names past MAX_METRIC_NAMES, left out of the comparison (runs that each wrote their own names). */
  metricsLeftOut: number;
  /** Per metric, the run with the best last value, and whether lower counts as better (no prototype). */
  best: Record<string, { run: string; lowerIsBetter: boolean }>;
  /** Config keys (dotted) whose values differ between the runs. */
  configKeys: string[];
  /** Package changes from the first run's image to each other image (`mlc diff`'s lines). */
  packages: { from: string; to: string; lines: string[] }[];
  /** The inputs (by where the container saw them) whose data differs between the runs: each run's data id. */
  data: { target: string; runs: Record<string, string> }[];
}

/**
 * The inputs whose data was not the same in every run: by the path the container saw, each run's data id
 * (core/run/inputs.ts dataId; "none" where a run had no such input). Runs with no recorded data say nothing.
 */
export function differingData(runs: readonly RunRecord[]): RunComparison['data'] {
  const targets = [...new Set(runs.flatMap((r) => (r.data ?? []).map((d) => d.target)))];
  const out: RunComparison['data'] = [];
  for (const target of targets) {
    const ids = Object.fromEntries(
      runs.map((r) => {
        const input = r.data?.find((d) => d.target === target);
        return [r.id, input ? dataId(input) : 'none'];
      }),
    );
    // A manifest cut short by the walk's budget covers what the walk reached in its time: two of them may differ
    // over the same data, so without a content id they say nothing either way.
    const unknown = runs.some((r) => {
      const f = r.data?.find((d) => d.target === target)?.fingerprint;
      return f?.truncated === true && f.contentId === undefined;
    });
    if (!unknown && new Set(Object.values(ids)).size > 1) out.push({ target, runs: ids });
  }
  return out;
}

/** The runs to compare: the given ids, or every point of a sweep, in start order. */
export function selectRuns(all: readonly RunRecord[], o: { ids?: readonly string[]; sweep?: string }): RunRecord[] {
  if (o.sweep) {
    const points = all.filter((r) => r.sweep?.id === o.sweep);
    if (!points.length) throw new UserError(`No runs of sweep ${o.sweep}: \`mlc runs\` lists the runs and their sweeps.`);
    return points;
  }
  const ids = o.ids ?? [];
  const missing = ids.filter((id) => !all.some((r) => r.id === id));
  if (missing.length) throw new UserError(`No run ${missing.join(', ')} in this project: \`mlc runs\` lists them.`);
  return ids.map((id) => all.find((r) => r.id === id)!);
}

/** Lays the runs side by side; `locks` gives each image's environment lock when packages should be compared. */
export async function compareRuns(runs: readonly RunRecord[], locks?: (imageId: string) => Promise<string>): Promise<RunComparison> {
  const allNames = [...new Set(runs.flatMap((r) => Object.keys(r.metrics?.metrics ?? {})))];
  // Each run keeps at most MAX_METRIC_NAMES, but runs can each bring their own: the table gets as many columns.
  const metricNames = allNames.slice(0, MAX_METRIC_NAMES);
  const kept = new Set(metricNames);
  const compared = runs.map((r): ComparedRun => ({
    id: r.id,
    status: r.status,
    statusText: statusText(runStatus(r)),
    exitCode: r.exitCode,
    image: { id: r.image.id, ref: r.image.ref },
    commit: r.commit,
    dirty: r.dirty,
    params: r.params,
    metrics: nameMap(
      Object.entries(r.metrics?.metrics ?? {})
        .filter(([name]) => kept.has(name))
        .map(([name, s]) => [name, s.last] as const),
    ),
  }));
  const best: RunComparison['best'] = nameMap();
  for (const name of metricNames) {
    const lowerIsBetter = LOWER_IS_BETTER.test(name);
    const scored = compared
      .map((c) => ({ run: c.id, value: c.metrics[name] }))
      .filter((x): x is { run: string; value: number } => typeof x.value === 'number');
    const top = scored.sort((a, b) => (lowerIsBetter ? a.value - b.value : b.value - a.value))[0];
    if (top && scored.length > 1) best[name] = { run: top.run, lowerIsBetter };
  }
  const packages: RunComparison['packages'] = [];
  const images = [...new Set(runs.map((r) => r.image.id))];
  if (locks && images.length > 1) {
    const base = parseLock(await locks(images[0]!));
    for (const other of images.slice(1)) {
      packages.push({ from: images[0]!, to: other, lines: formatDiff(diffLocks(base, parseLock(await locks(other)))) });
    }
  }
  return {
    runs: compared,
    metricNames,
    metricsLeftOut: allNames.length - metricNames.length,
    best,
    configKeys: differingKeys(runs.map((r) => flatten(parseConfig(r.config.content)))),
    packages,
    data: differingData(runs),
  };
}

/** The environment locks of the runs' images, as `mlc diff` reads them (captured when missing). */
export function imageLocks(engine: Engine, workspace: string, signal?: AbortSignal): (imageId: string) => Promise<string> {
  return async (imageId) => (await lockFor(engine, workspace, imageId, signal)).text;
}

function parseConfig(text: string): unknown {
  try {
    return loadYaml().parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function flatten(value: unknown, prefix = '', out: Record<string, string> = {}): Record<string, string> {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) {
    out[prefix] = JSON.stringify(value);
  }
  return out;
}

function differingKeys(configs: readonly Record<string, string>[]): string[] {
  const keys = [...new Set(configs.flatMap((c) => Object.keys(c)))];
  return keys.filter((k) => new Set(configs.map((c) => c[k] ?? '<absent>')).size > 1);
}

/** The sweep whose latest run started last: what `mlc runs --compare` compares when given nothing. */
export function latestSweep(all: readonly RunRecord[]): string | undefined {
  let latest: RunRecord | undefined;
  for (const r of all) if (r.sweep && (!latest || r.start > latest.start)) latest = r;
  return latest?.sweep?.id;
}

/** Whether lower values of this metric are better (loss, error, time…), as `best` decides. */
export function lowerIsBetter(metric: string): boolean {
  return LOWER_IS_BETTER.test(metric);
}

/**
 * The comparison cut to the K runs best at `metric` (best first; runs without it left out). A metric none of the
 * runs wrote is one sentence naming those they did.
 */
export function topRuns(c: RunComparison, metric: string, k: number): RunComparison {
  if (!c.metricNames.includes(metric))
    throw new UserError(`No run here wrote a metric ${metric}: --by takes one of ${c.metricNames.join(', ') || '(none recorded)'}.`);
  const lower = lowerIsBetter(metric);
  const scored = c.runs.filter((r) => typeof r.metrics[metric] === 'number');
  const runs = scored.sort((a, b) => ((a.metrics[metric] as number) - (b.metrics[metric] as number)) * (lower ? 1 : -1)).slice(0, k);
  return { ...c, runs };
}

/** Runs that differ only in their seed, as one row: how many, which seeds, each metric's mean and spread. */
export interface SeedGroup {
  /** The group's runs, in the comparison's order; the first names the group. */
  runs: string[];
  /** The params they share (the seed key left out). */
  params: Record<string, unknown>;
  seeds: unknown[];
  /** Per metric over the runs that wrote it: mean, sample standard deviation (0 for one run), how many. */
  metrics: Record<string, { mean: number; std: number; n: number }>;
}

/** Groups the compared runs by their params without `seedKey` (a dotted key of the sweep's params, default `seed`). */
export function groupSeeds(c: RunComparison, seedKey = 'seed'): SeedGroup[] {
  const groups = new Map<string, SeedGroup>();
  for (const r of c.runs) {
    const shared = Object.fromEntries(Object.entries(r.params).filter(([k]) => k !== seedKey && !k.endsWith(`.${seedKey}`)));
    const key = JSON.stringify(Object.entries(shared).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    const group = groups.get(key) ?? { runs: [], params: shared, seeds: [], metrics: {} };
    group.runs.push(r.id);
    group.seeds.push(Object.entries(r.params).find(([k]) => k === seedKey || k.endsWith(`.${seedKey}`))?.[1] ?? null);
    groups.set(key, group);
  }
  const byId = new Map(c.runs.map((r) => [r.id, r]));
  for (const g of groups.values()) {
    const metrics = nameMap<{ mean: number; std: number; n: number }>();
    for (const name of c.metricNames) {
      const values = g.runs.map((id) => byId.get(id)!.metrics[name]).filter((v): v is number => typeof v === 'number');
      if (!values.length) continue;
      const mean = values.reduce((s, v) => s + v, 0) / values.length;
      const std = values.length > 1 ? Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (values.length - 1)) : 0;
      metrics[name] = { mean, std, n: values.length };
    }
    g.metrics = { ...metrics };
  }
  return [...groups.values()];
}
