// 3. Rebuild after a source-only change, the PyTorch preset's Dockerfile (pip cache mount, requirements before
//    code) on the local stand-in base: `mlc build` against `DOCKER_BUILDKIT=1 docker build`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'jsonc-parser';
import { buildExperiment } from '../src/core/build/buildExperiment';
import { machineEngine } from '../src/core/docker/machine';
import { createLogger } from '../src/core/log';
import { GitCli } from '../src/core/provenance/git';
import { applyPlan } from '../src/core/scaffold/plan';
import { prepareScaffold } from '../src/core/scaffold/prepare';
import type { Options, ProcessResult, Row } from './lib';
import { dockerCli, git, measure, median, ok, removeImages, ROOT, round, timeIt } from './lib';

const BASE = 'mlc-test/pytorch:bookworm';
const NAME = 'mlc-bench-rebuild';

export async function rebuild(o: Options): Promise<Row[]> {
  const runs = o.quick ? 3 : 7;
  const dir = path.join(o.scratch, 'rebuild-repo');
  fs.mkdirSync(path.join(dir, 'src'), { recursive: true });
  const { plan } = await prepareScaffold(
    dir,
    path.join(ROOT, 'templates'),
    { preset: 'pytorch', variant: 'gpu', baseImage: BASE, name: NAME },
    false,
  );
  await applyPlan(dir, plan);
  fs.writeFileSync(path.join(dir, '.gitignore'), '.mlcontainers/\n');
  const train = path.join(dir, 'src', 'train.py');
  fs.writeFileSync(train, 'import torch\n\nprint(torch.__version__)\n');
  await git(dir, 'init', '-q', '-b', 'main');
  await git(dir, 'add', '-A');
  await git(dir, 'commit', '-qm', 'model');

  // The CLI gets exactly the build args devcontainer.json gives ours.
  const config = parse(fs.readFileSync(path.join(dir, '.devcontainer', 'devcontainer.json'), 'utf8')) as {
    build: { args: Record<string, string> };
  };
  const args = Object.entries(config.build.args).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]);
  // Two ways users build: the extension (a long-lived process, its engine connection open) and `mlc build` (a fresh
  // process each time: node, the bundle, dockerode).
  const engine = machineEngine(undefined);
  const log = createLogger({ write: () => undefined }, 'bench');
  const extension = (): Promise<number> =>
    timeIt(() => buildExperiment({ folder: dir, engine, git: new GitCli(), log, lock: false })).then((r) => r.ms);
  const mlc = (): Promise<number> =>
    measure(process.execPath, [path.join(ROOT, 'dist', 'cli.js'), 'build', '--dir', dir, '--no-lock'], { cwd: dir }).then(
      (r) => ok(r, 'mlc build').ms,
    );
  // The default build: the lock captured (pip freeze in a throw-away container) and stamped into the image as a layer.
  const locked = (): Promise<number> =>
    measure(process.execPath, [path.join(ROOT, 'dist', 'cli.js'), 'build', '--dir', dir], { cwd: dir }).then(
      (r) => ok(r, 'mlc build (with the lock)').ms,
    );
  const cli = (): Promise<number> =>
    measure(dockerCli(), ['build', '--progress=plain', '-f', '.devcontainer/Dockerfile', ...args, '-t', `${NAME}:cli`, '.'], {
      cwd: dir,
      env: { ...process.env, DOCKER_BUILDKIT: '1' },
    }).then((r: ProcessResult) => ok(r, 'DOCKER_BUILDKIT=1 docker build').ms);
  const edit = (i: number): void => fs.appendFileSync(train, `# tuned ${i}\n`);

  const builders = { extension, mlc, cli, locked };
  const samples: Record<keyof typeof builders, number[]> = { extension: [], mlc: [], cli: [], locked: [] };
  try {
    for (const b of Object.values(builders)) await b();
    o.log(`rebuild: ${runs} source-only edits, each rebuilt by all four (order rotating)`);
    const keys = Object.keys(builders) as (keyof typeof builders)[];
    let edits = 0;
    for (let i = 0; i < runs; i++) {
      for (let j = 0; j < keys.length; j++) {
        // A line of its own before every build: each builder re-runs the COPY. One edit shared by all four would let
        // all but the first find the COPY's layer in the engine's cache, which is keyed by content.
        edit(edits++);
        const key = keys[(i + j) % keys.length]!;
        samples[key].push(await builders[key]());
      }
    }
  } finally {
    await removeImages(NAME);
  }
  // What no node program can go under: starting node itself, measured here in the same run.
  const bare: number[] = [];
  for (let i = 0; i < runs; i++) bare.push((await measure(process.execPath, ['-e', '0'])).ms);
  const node = median(bare);
  const row = (key: 'extension' | 'mlc', what: string): Row => {
    const ratio = median(samples[key]) / median(samples.cli);
    const floor =
      key === 'mlc' ? `; \`node -e 0\` alone: ${round(node, 0)} ms (${round(node / median(samples.cli), 2)}× the CLI's build)` : '';
    return {
      benchmark: `rebuild after a source-only edit (PyTorch preset, pip cache mount): ${what} vs docker build (BuildKit)`,
      unit: 'ms',
      ours: round(median(samples[key]), 0),
      anchor: round(median(samples.cli), 0),
      anchorName: 'docker CLI (buildkit)',
      ratio: round(ratio, 2),
      goal: '≤ 1.1×',
      pass: ratio <= 1.1,
      detail: `medians of ${runs}${floor}`,
    };
  };
  const lockCost = median(samples.locked) - median(samples.mlc);
  return [
    row('extension', 'the extension (in process)'),
    row('mlc', '`mlc build` (fresh process)'),
    {
      benchmark:
        'rebuild after a source-only edit: `mlc build` with the environment lock captured and stamped into the image vs `mlc build --no-lock`',
      unit: 'ms',
      ours: round(median(samples.locked), 0),
      anchor: round(median(samples.mlc), 0),
      anchorName: '`mlc build --no-lock`',
      ratio: null,
      goal: '≤ +2000 ms',
      pass: lockCost <= 2000,
      detail: `medians of ${runs}: +${round(lockCost, 0)} ms for a throw-away container (pip freeze) and a one-layer build FROM the image`,
    },
  ];
}
