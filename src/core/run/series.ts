// A finished run's metric series, kept beside its record (thinned to what a chart shows), so Compare Runs reads
// one small file per run instead of its training logs; a running run's series are read from its files.
import type { JsonNumber, MetricSeries } from '../metrics/metrics';
import { readMetricSeries, toJsonNumber } from '../metrics/metrics';
import { RUN_FILE_CAP, readRunText, runFolder, writeRunFile } from './runFolder';

const SERIES_FILE = '.series.json';

export async function writeSeriesCache(workspace: string, runId: string, series: Record<string, MetricSeries>): Promise<void> {
  const json = Object.fromEntries(
    Object.entries(series).map(([name, s]) => [name, { source: s.source, steps: s.steps, values: s.values.map(toJsonNumber) }]),
  );
  await writeRunFile(runFolder(workspace, runId), SERIES_FILE, JSON.stringify(json));
}

/** One metric of one run, from the cache a finished run keeps, else from the run's own files. */
export async function loadRunSeries(workspace: string, runId: string, name: string): Promise<MetricSeries | undefined> {
  // The run's container can write this file too: read without following it, under a cap, and checked below.
  const cached = await readRunText(runFolder(workspace, runId), SERIES_FILE, RUN_FILE_CAP.series);
  if (cached !== undefined) {
    try {
      const all = JSON.parse(cached) as Record<
        string,
        { source: MetricSeries['source']; steps: number[]; values: JsonNumber[] } | undefined
      >;
      const s = Object.hasOwn(all, name) ? all[name] : undefined;
      const valid = s && Array.isArray(s.steps) && Array.isArray(s.values) && s.steps.length === s.values.length;
      return valid ? { name, source: s.source, steps: s.steps.map(Number), values: s.values.map(Number) } : undefined;
    } catch {
      // A torn or hand-edited cache: the run's files still say it.
    }
  }
  return readMetricSeries(runFolder(workspace, runId), name);
}
