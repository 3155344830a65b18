// 9. `mlc runs --compare` of a sweep of 1,000 runs, in a fresh process, against a budget (the docker CLI has no
//    such command): with no run named it reads the record, finds the latest sweep and prints its comparison; once
//    as the table, once with seeds grouped (`--group-seeds`, mean ± std a row), once as --json. The runs are the
//    sweep the Compare Runs render bench draws (bench/compareRender.ts), on record as finished.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RUNS_FILE } from '../src/core/run/records';
import { sweepRuns } from './compareRender';
import type { Options, Row } from './lib';
import { ROOT, measure, median, ok, round } from './lib';

const BUDGET_MS = 500;

export async function compareCli(o: Options): Promise<Row[]> {
  const repeats = o.quick ? 5 : 11;
  const dir = path.join(o.scratch, 'compare-cli-project');
  fs.mkdirSync(path.join(dir, '.mlcontainers'), { recursive: true });
  // An older sweep of 20 before it, so that "the latest sweep" is a choice the command makes.
  const older = sweepRuns(20, 1).runs.map((r) => ({
    ...r,
    id: r.id.replace('20261101-000000', '20261031-000000'),
    start: '2026-10-31T00:00:00Z',
    sweep: { ...r.sweep!, id: '20261031-000000-ab12' },
  }));
  const sweep = sweepRuns(1000, 1).runs.map((r, i) => ({ ...r, start: new Date(Date.UTC(2026, 10, 1) + i * 1000).toISOString() }));
  fs.writeFileSync(path.join(dir, RUNS_FILE), `${[...older, ...sweep].map((r) => JSON.stringify(r)).join('\n')}\n`);

  const cli = path.join(ROOT, 'dist', 'cli.js');
  const lines = (n: number) => (stdout: string) => {
    if (stdout.split('\n').length < n) throw new Error(`mlc runs --compare printed ${stdout.split('\n').length} lines, not one a row`);
  };
  const variants: { extra: string[]; check: (stdout: string) => void }[] = [
    { extra: [], check: lines(1000) },
    { extra: ['--group-seeds'], check: lines(70) },
    {
      extra: ['--json'],
      check: (stdout) => {
        const runs = (JSON.parse(stdout) as { runs: unknown[] }).runs.length;
        if (runs !== 1000) throw new Error(`mlc runs --compare --json carried ${runs} runs, not 1,000`);
      },
    },
  ];
  const once = async (v: (typeof variants)[number]): Promise<number> => {
    const r = ok(
      await measure(process.execPath, [cli, 'runs', '--compare', '--dir', dir, ...v.extra]),
      `mlc runs --compare ${v.extra.join(' ')}`,
    );
    v.check(r.stdout);
    return r.ms;
  };
  // Each warmed once, then the three rotated round by round, so that the machine's drift hits them alike.
  for (const v of variants) await once(v);
  const times: number[][] = variants.map(() => []);
  for (let i = 0; i < repeats; i++)
    for (let k = 0; k < variants.length; k++) {
      const at = (i + k) % variants.length;
      times[at]!.push(await once(variants[at]!));
    }
  const [table, grouped, json] = times.map((t) => median(t)) as [number, number, number];
  o.log(`compare cli: mlc runs --compare over a sweep of 1,000 runs (table, --group-seeds, --json), ${repeats} times each`);
  const row = (what: string, ms: number): Row => ({
    benchmark: `\`mlc runs --compare${what}\` of the latest sweep, 1,000 runs (fresh process)`,
    unit: 'ms',
    ours: round(ms, 0),
    anchor: BUDGET_MS,
    anchorName: 'budget',
    ratio: round(ms / BUDGET_MS, 2),
    goal: `≤ ${BUDGET_MS} ms`,
    pass: ms <= BUDGET_MS,
    detail: `median of ${repeats}, the three rotated round by round; includes node's start; 1,020 records on file, an older sweep of 20 among them`,
  });
  return [row('', table), row(' --group-seeds', grouped), row(' --json', json)];
}
