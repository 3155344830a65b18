// 1. Activation: cold load of dist/extension.js plus activate(), median of fresh processes; bundle and .vsix sizes.
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Options, Row } from './lib';
import { median, measure, ok, ROOT, round } from './lib';

export async function activation(o: Options): Promise<Row[]> {
  const extension = path.join(ROOT, 'dist', 'extension.js');
  const vsix = path.join(ROOT, 'dist', 'ml-containers.vsix');
  for (const file of [extension, vsix]) {
    if (!fs.existsSync(file)) throw new Error(`${path.relative(ROOT, file)} is missing: npm run bench packages it first`);
  }
  // The unit tests' fake `vscode`, bundled to plain CommonJS so that the child measures node alone (no tsx hooks).
  const fake = path.join(o.scratch, 'fakeVscode.cjs');
  await esbuild.build({
    entryPoints: [path.join(ROOT, 'test/helpers/fakeVscode.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile: fake,
    logLevel: 'warning',
  });

  const runs = o.quick ? 10 : 20;
  const totals: number[] = [];
  const loads: number[] = [];
  for (let i = 0; i < runs; i++) {
    const r = ok(
      await measure(process.execPath, [path.join(ROOT, 'bench/activationChild.cjs'), fake, extension, ROOT], { cwd: o.scratch }),
      'activation child',
    );
    const { loadMs, activateMs } = JSON.parse(r.stdout) as { loadMs: number; activateMs: number };
    loads.push(loadMs);
    totals.push(loadMs + activateMs);
  }
  const ms = median(totals);
  o.log(`activation: median ${round(ms)} ms over ${runs} processes (load ${round(median(loads))} ms)`);
  const bundleKb = fs.statSync(extension).size / 1024;
  const vsixKb = fs.statSync(vsix).size / 1024;
  return [
    {
      benchmark: `activation: load dist/extension.js + activate(), median of ${runs} fresh processes`,
      unit: 'ms',
      ours: round(ms),
      anchor: 50,
      anchorName: 'budget',
      ratio: round(ms / 50, 2),
      goal: '≤ 50 ms',
      pass: ms <= 50,
      detail: `require ${round(median(loads))} ms; bundle ${round(bundleKb / 1024, 2)} MB`,
    },
    {
      benchmark: '.vsix size',
      unit: 'KB',
      ours: round(vsixKb, 0),
      anchor: 1024,
      anchorName: 'budget',
      ratio: round(vsixKb / 1024, 2),
      goal: '≤ 1 MB',
      pass: vsixKb <= 1024,
    },
  ];
}
