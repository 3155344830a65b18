// npm run bench [-- --quick] [-- --only activation,context,rebuild,sidebar,jupyter,runs,compareRender,compareCli,models,slurmNodes]
// Our speed as ratios against what users would otherwise run (the docker CLI), measured side by side in one run,
// because these machines are noisy. Prints a Markdown table and writes bench/results.json. Not part of npm test.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { machineEngine } from '../src/core/docker/machine';
import { activation } from './activation';
import { contextPacking } from './context';
import { jupyterReadiness } from './jupyter';
import type { Options, Row } from './lib';
import { dockerCli, ROOT } from './lib';
import { rebuild } from './rebuild';
import { runs } from './runs';
import { compareCli } from './compareCli';
import { compareRender } from './compareRender';
import { models } from './models';
import { sidebar } from './sidebar';
import { slurmNodes } from './slurmNodes';

const BENCHMARKS: Record<string, (o: Options) => Promise<Row[]>> = {
  activation,
  context: contextPacking,
  rebuild,
  sidebar,
  jupyter: jupyterReadiness,
  runs,
  compareRender,
  compareCli,
  models,
  slurmNodes,
};
const STAND_INS = ['mlc-test/debian:bookworm', 'mlc-test/jupyter:bookworm', 'mlc-test/pytorch:bookworm'];

function table(rows: readonly Row[]): string[] {
  const fmt = (v: number | null, unit: string): string => (v === null ? '—' : `${v} ${unit}`);
  return [
    '| benchmark | ours | anchor | ratio | goal | result |',
    '| --- | ---: | ---: | ---: | --- | --- |',
    ...rows.map(
      (r) =>
        `| ${r.benchmark}${r.detail ? `<br><sub>${r.detail}</sub>` : ''} | ${fmt(r.ours, r.unit)} | ${fmt(r.anchor, r.unit)} (${r.anchorName}) | ${r.ratio === null ? '—' : `${r.ratio}×`} | ${r.goal} | ${r.pass ? 'pass' : '**FAIL**'} |`,
    ),
  ];
}

async function machine(): Promise<Record<string, string | number>> {
  const cpus = os.cpus();
  const engine = machineEngine(undefined);
  const version = await engine.version();
  return {
    cpu: `${cpus.length} × ${cpus[0]?.model ?? 'unknown'}`,
    memoryGiB: Math.round(os.totalmem() / 1024 ** 3),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    engine: `Docker Engine ${version.version} (API ${version.apiVersion})`,
    dockerCli: dockerCli(),
  };
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string' } }, strict: true });
  const selected = values.only ? values.only.split(',').map((s) => s.trim()) : Object.keys(BENCHMARKS);
  const unknown = selected.filter((s) => !(s in BENCHMARKS));
  if (unknown.length) {
    console.error(`unknown benchmark(s): ${unknown.join(', ')}; choose from ${Object.keys(BENCHMARKS).join(', ')}`);
    return 2;
  }
  const engine = machineEngine(undefined);
  try {
    await engine.ping();
  } catch (e) {
    console.error(`The benchmarks need a Docker engine: ${e instanceof Error ? e.message : String(e)} (npm run engine starts one).`);
    return 1;
  }
  const missing = [];
  for (const image of STAND_INS) if (!(await engine.inspectImage(image))) missing.push(image);
  if (missing.length) {
    console.error(`Missing stand-in base images ${missing.join(', ')}: run npm run engine first.`);
    return 1;
  }

  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-bench-'));
  const options: Options = { quick: values.quick, scratch, log: (line) => console.error(`[bench] ${line}`) };
  const started = Date.now();
  const rows: Row[] = [];
  try {
    for (const name of selected) {
      console.error(`[bench] ${name}…`);
      rows.push(...(await BENCHMARKS[name]!(options)));
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  const result = {
    date: new Date().toISOString(),
    quick: values.quick,
    seconds: Math.round((Date.now() - started) / 1000),
    machine: await machine(),
    rows,
  };
  fs.writeFileSync(path.join(ROOT, 'bench', 'results.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log(table(rows).join('\n'));
  console.log(
    `\n${rows.filter((r) => r.pass).length} of ${rows.length} goals met in ${result.seconds} s${values.quick ? ' (--quick)' : ''}; bench/results.json written.`,
  );
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
    process.exit(1);
  },
);
