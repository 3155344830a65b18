// A finished run's metric series, kept beside its record (thinned to what a chart shows), so Compare Runs reads
// one small file per run instead of its training logs; a running run's series are read from its files.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { writeFileAtomic } from '../atomicWrite';
import type { JsonNumber, MetricSeries } from '../metrics/metrics';
import { readMetricSeries, toJsonNumber } from '../metrics/metrics';
import { runFolder } from './records';

const SERIES_FILE = '.series.json';

export async function writeSeriesCache(workspace: string, runId: string, series: Record<string, MetricSeries>): Promise<void> {
  const json = Object.fromEntries(Object.entries(series).map(([name, s]) => [name, { source: s.source, steps: s.steps, values: s.values.map(toJsonNumber) }]));
  await writeFileAtomic(path.join(runFolder(workspace, runId), SERIES_FILE), JSON.stringify(json));
}

/** One metric of one run, from the cache a finished run keeps, else from the run's own files. */
export async function loadRunSeries(workspace: string, runId: string, name: string): Promise<MetricSeries | undefined> {
  const cached = await fs.readFile(path.join(runFolder(workspace, runId), SERIES_FILE), 'utf8').catch(() => undefined);
  if (cached !== undefined) {
    try {
      const all = JSON.parse(cached) as Record<string, { source: MetricSeries['source']; steps: number[]; values: JsonNumber[] } | undefined>;
      const s = all[name];
      return s && { name, source: s.source, steps: s.steps, values: s.values.map(Number) };
    } catch {
      // A torn or hand-edited cache: the run's files still say it.
    }
  }
  return readMetricSeries(runFolder(workspace, runId), name);
}
