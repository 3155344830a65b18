import * as fs from 'node:fs';
import { openRunFileForRead } from '../untrustedFile';
import * as path from 'node:path';
import type { PointSink } from './points';
import { flattenNumbers, forEachLine, isPlainObject, parseJsonLoose, parseNumberText } from './points';

/** `metrics.jsonl`: one object per line; `step` if given, else the line's index; every other number is a metric. */
export async function readJsonl(file: string, sink: PointSink): Promise<void> {
  let index = -1;
  await forEachLine(
    file,
    sink,
    (line) => {
      index++;
      if (line.trim() === '') return;
      const record = parseJsonLoose(line);
      if (!isPlainObject(record)) return sink.skip();
      let step = index;
      if ('step' in record) {
        if (typeof record.step !== 'number' || !Number.isFinite(record.step)) return sink.skip();
        step = record.step;
      }
      flattenNumbers(record, (name, value) => sink.point(name, step, value), 'step');
    },
    () => {
      index++;
      sink.skip();
    },
  );
}

/**
 * A PyTorch Lightning CSVLogger `metrics.csv`: a header (`epoch`, `step`, one column per metric) and sparse rows,
 * a cell empty where that metric was not logged at that step. Without a `step` column, the row's index is the step.
 */
export async function readLightningCsv(file: string, prefix: string, sink: PointSink): Promise<void> {
  let header: string[] | undefined;
  let stepColumn = -1;
  let row = -1;
  await forEachLine(
    file,
    sink,
    (line) => {
      if (line === '') return;
      const cells = splitCsvLine(line);
      if (!header) {
        if (!cells) return sink.skip();
        header = cells;
        stepColumn = header.indexOf('step');
        return;
      }
      row++;
      if (!cells || cells.length !== header.length) return sink.skip();
      let step = row;
      if (stepColumn >= 0 && cells[stepColumn] !== '') {
        const s = parseNumberText(cells[stepColumn]!);
        if (s === undefined || !Number.isFinite(s)) return sink.skip();
        step = s;
      }
      let bad = false;
      cells.forEach((cell, i) => {
        if (i === stepColumn || cell === '') return;
        const value = parseNumberText(cell);
        if (value === undefined) bad = true;
        else sink.point(prefix + header![i]!, step, value);
      });
      if (bad) sink.skip();
    },
    () => sink.skip(),
  );
}

// Python's csv module quotes a cell only when it holds a comma, a quote or a line break; quotes inside are doubled.
// A quoted line break is not supported: that row is counted as malformed.
function splitCsvLine(line: string): string[] | undefined {
  const cells: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let cell = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) return undefined;
        cell += line.slice(i, q);
        if (line[q + 1] === '"') {
          cell += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      cells.push(cell);
      if (i === line.length) return cells;
      if (line[i] !== ',') return undefined;
      i++;
    } else {
      const comma = line.indexOf(',', i);
      if (comma < 0) {
        cells.push(line.slice(i));
        return cells;
      }
      cells.push(line.slice(i, comma));
      i = comma + 1;
    }
  }
}

const MAX_SUMMARY_BYTES = 16 << 20;

/**
 * A DVCLive folder: the series in `plots/metrics/**\/*.tsv` (columns `timestamp`, `step` and the metric; folders
 * give `train/loss`), then `metrics.json` (the latest values, nested objects flattened with `/`) for any metric
 * logged without a series.
 */
export async function readDvclive(dir: string, prefix: string, sink: PointSink): Promise<void> {
  const plots = path.join(dir, 'plots', 'metrics');
  for (const file of await tsvFiles(plots)) {
    const name = path.relative(plots, file).slice(0, -'.tsv'.length).split(path.sep).join('/');
    await readDvcliveTsv(file, prefix + name, sink);
  }
  const summaryFile = path.join(dir, 'metrics.json');
  const stat = await fs.promises.lstat(summaryFile).catch(() => undefined);
  if (!stat?.isFile()) return;
  if (stat.size > MAX_SUMMARY_BYTES) return sink.skip();
  // Half a JSON document says nothing: past the budget the file is not read at all. The one place metrics.json is read.
  if (stat.size > sink.allowance()) return sink.consumed(summaryFile, 0, true);
  const text = await openRunFileForRead(summaryFile, sink.root).then(
    (h) => h.readFile('utf8').finally(() => h.close()),
    () => '',
  );
  sink.consumed(summaryFile, Buffer.byteLength(text), false);
  const summary = parseJsonLoose(text);
  if (!isPlainObject(summary)) return sink.skip();
  const step = typeof summary.step === 'number' && Number.isFinite(summary.step) ? summary.step : 0;
  flattenNumbers(
    summary,
    (name, value) => {
      if (!sink.has(prefix + name)) sink.point(prefix + name, step, value);
    },
    'step',
  );
}

async function readDvcliveTsv(file: string, name: string, sink: PointSink): Promise<void> {
  const column = path.basename(file, '.tsv');
  let stepColumn = -1;
  let valueColumn = -1;
  let width = 0;
  let row = -1;
  await forEachLine(
    file,
    sink,
    (line) => {
      if (line === '') return;
      const cells = line.split('\t');
      if (width === 0) {
        width = cells.length;
        stepColumn = cells.indexOf('step');
        valueColumn = cells.indexOf(column);
        // Written by something other than DVCLive: the last column that is not the step or the time.
        for (let i = cells.length - 1; valueColumn < 0 && i >= 0; i--) {
          if (i !== stepColumn && cells[i] !== 'timestamp') valueColumn = i;
        }
        return;
      }
      row++;
      if (cells.length !== width || valueColumn < 0) return sink.skip();
      const step = stepColumn >= 0 ? parseNumberText(cells[stepColumn]!) : row;
      const value = parseNumberText(cells[valueColumn]!);
      if (step === undefined || !Number.isFinite(step) || value === undefined) return sink.skip();
      sink.point(name, step, value);
    },
    () => sink.skip(),
  );
}

// A DVCLive folder the container filled with a million empty .tsv files is not listed past this many names.
const MAX_TSV_ENTRIES = 20_000;

async function tsvFiles(dir: string): Promise<string[]> {
  return filesBelow(dir, (name) => name.endsWith('.tsv'));
}

/** Regular files below `dir` (never through a link: readdir's types are lstat's), names sorted, four folders deep. */
async function filesBelow(dir: string, wanted: (name: string) => boolean, depth = 0, seen = { entries: 0 }): Promise<string[]> {
  const entries = await fs.promises.readdir(dir, { withFileTypes: true }).catch(() => []);
  const files: string[] = [];
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (++seen.entries > MAX_TSV_ENTRIES) break;
    const full = path.join(dir, e.name);
    if (e.isFile() && wanted(e.name)) files.push(full);
    else if (e.isDirectory() && depth < 4) files.push(...(await filesBelow(full, wanted, depth + 1, seen)));
  }
  return files;
}

/**
 * An MLflow file-store run (`mlruns/<experiment>/<run>/`, as `mlflow.log_metric` writes it without a server): one file
 * per metric under `metrics/` (folders give `train/loss`), one line per point: `<timestamp ms> <value> <step>`.
 */
export async function readMlflow(runDir: string, prefix: string, sink: PointSink): Promise<void> {
  const metrics = path.join(runDir, 'metrics');
  for (const file of await filesBelow(metrics, () => true)) {
    const name = prefix + path.relative(metrics, file).split(path.sep).join('/');
    await forEachLine(
      file,
      sink,
      (line) => {
        if (line.trim() === '') return;
        const [, valueText, stepText] = line.trim().split(/\s+/);
        const value = valueText === undefined ? undefined : parseNumberText(valueText);
        const step = stepText === undefined ? 0 : parseNumberText(stepText);
        if (value === undefined || step === undefined || !Number.isFinite(step)) return sink.skip();
        sink.point(name, step, value);
      },
      () => sink.skip(),
    );
  }
}
