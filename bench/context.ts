// 2. Context packing on an ML-shaped repository: `mlc build` (our streamed tar, BuildKit through the Engine API)
//    against `docker build` through the CLI, classic and BuildKit, on the same Dockerfile and .dockerignore.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Options, ProcessResult, Row } from './lib';
import { contextBytesFromLog, dockerCli, git, measure, median, ok, removeImages, ROOT, round, sparseFile } from './lib';

const BASE = 'mlc-test/debian:bookworm';
const TAG = 'mlc-bench-context';

/**
 * src/ with `files` small Python modules, notebooks and configs; data/ and checkpoints/ with `ignoredBytes` of
 * sparse HDF5 files and checkpoints (ignored, as the scaffold's .dockerignore has it); committed to git.
 */
export async function mlRepo(dir: string, files: number, ignoredBytes: number): Promise<void> {
  fs.mkdirSync(path.join(dir, '.devcontainer'), { recursive: true });
  const perPackage = 100;
  for (let i = 0; i < files; i++) {
    const pkg = path.join(dir, 'src', `analysis${String(Math.floor(i / perPackage)).padStart(3, '0')}`);
    if (i % perPackage === 0) fs.mkdirSync(pkg, { recursive: true });
    const body = `"""Module ${i}."""\nimport numpy as np\n\n\ndef feature_${i}(x):\n    return np.tanh(x * ${i % 97} + ${i % 13})\n`.repeat(
      1 + (i % 8),
    );
    fs.writeFileSync(path.join(pkg, i % 50 === 0 ? `notebook_${i}.ipynb` : `mod_${i}.py`), body);
  }
  fs.mkdirSync(path.join(dir, 'configs'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'configs', 'experiment.yaml'), 'lr: 0.001\nbatch_size: 256\n');
  // Ignored weight: runs of events and checkpoints, 100 MB each (sparse: no disk, no time).
  const chunk = 100 * 1024 ** 2;
  const count = Math.max(1, Math.round(ignoredBytes / chunk));
  for (let i = 0; i < count; i++) {
    sparseFile(path.join(dir, i % 2 ? 'checkpoints' : 'data', `run${String(i).padStart(4, '0')}`, i % 2 ? 'model.pt' : 'events.h5'), chunk);
  }
  fs.writeFileSync(path.join(dir, '.dockerignore'), 'data/\ncheckpoints/\n.git\n**/__pycache__\n');
  fs.writeFileSync(path.join(dir, '.gitignore'), 'data/\ncheckpoints/\n.mlcontainers/\n');
  fs.writeFileSync(
    path.join(dir, '.devcontainer', 'Dockerfile'),
    `ARG BASE_IMAGE=${BASE}\nFROM \${BASE_IMAGE}\nWORKDIR /workspace\nCOPY . /workspace\n`,
  );
  fs.writeFileSync(
    path.join(dir, '.devcontainer', 'devcontainer.json'),
    JSON.stringify({ name: TAG, build: { dockerfile: 'Dockerfile', context: '..' } }, null, 2),
  );
  await git(dir, 'init', '-q', '-b', 'main');
  await git(dir, 'add', '-A');
  await git(dir, 'commit', '-qm', 'analysis');
}

/** The three ways to build the same thing; each leaves its image tagged so that the next run hits the cache. */
export function builders(dir: string): Record<'ours' | 'classic' | 'buildkit', () => Promise<ProcessResult>> {
  const docker = dockerCli();
  const cli = (buildkit: '0' | '1', tag: string) => () =>
    measure(
      docker,
      ['build', ...(buildkit === '1' ? ['--progress=plain'] : []), '-f', '.devcontainer/Dockerfile', '-t', `${TAG}:${tag}`, '.'],
      {
        cwd: dir,
        env: { ...process.env, DOCKER_BUILDKIT: buildkit },
      },
    ).then((r) => ok(r, `DOCKER_BUILDKIT=${buildkit} docker build`));
  return {
    ours: () =>
      measure(process.execPath, [path.join(ROOT, 'dist', 'cli.js'), 'build', '--dir', dir, '--no-lock'], { cwd: dir }).then((r) =>
        ok(r, 'mlc build'),
      ),
    classic: cli('0', 'classic'),
    buildkit: cli('1', 'buildkit'),
  };
}

export async function contextPacking(o: Options): Promise<Row[]> {
  const files = o.quick ? 5_000 : 20_000;
  const runs = o.quick ? 3 : 5;
  const coldRuns = o.quick ? 2 : 3;
  const ignored = 2 * 1024 ** 3;
  const dir = path.join(o.scratch, 'context-repo');
  await mlRepo(dir, files, ignored);
  o.log(`context: ${files} source files, ${ignored / 1024 ** 3} GB ignored (sparse), ${runs} runs each`);
  const build = builders(dir);
  // A different line before every build: each builder syncs one changed file and re-runs the COPY. One edit shared by
  // several builders would let all but the first find the COPY's layer in the engine's cache (it is keyed by content).
  const module1 = path.join(dir, 'src', 'analysis000', 'mod_1.py');
  let edits = 0;
  const edited = (b: () => Promise<ProcessResult>) => (): Promise<ProcessResult> => {
    fs.appendFileSync(module1, `# edit ${edits++}\n`);
    return b();
  };
  // The first build of the project: the engine's build cache emptied (every layer, every earlier sync), so the whole
  // context is sent and every step runs. The base image stays, as it would on a user's machine.
  const cold = (b: () => Promise<ProcessResult>) => async (): Promise<ProcessResult> => {
    ok(await measure(dockerCli(), ['builder', 'prune', '-af']), 'docker builder prune');
    return b();
  };
  type Kind = 'ours' | 'classic' | 'buildkit';
  const unchanged: Record<Kind, ProcessResult[]> = { ours: [], classic: [], buildkit: [] };
  const afterEdit: Record<'ours' | 'buildkit', ProcessResult[]> = { ours: [], buildkit: [] };
  const first: Record<'ours' | 'buildkit', ProcessResult[]> = { ours: [], buildkit: [] };
  try {
    // A first build of each fills its cache (the COPY layer); then runs alternate so drift hits all three alike.
    for (const b of Object.values(build)) await b();
    for (let i = 0; i < runs; i++) {
      for (const key of (i % 2 ? ['buildkit', 'classic', 'ours'] : ['ours', 'classic', 'buildkit']) as Kind[]) {
        unchanged[key].push(await build[key]());
      }
      for (const key of (i % 2 ? ['buildkit', 'ours'] : ['ours', 'buildkit']) as ('ours' | 'buildkit')[]) {
        afterEdit[key].push(await edited(build[key])());
      }
    }
    o.log(`context: ${coldRuns} cold builds each (docker builder prune -af before every one)`);
    for (let i = 0; i < coldRuns; i++) {
      for (const key of (i % 2 ? ['buildkit', 'ours'] : ['ours', 'buildkit']) as ('ours' | 'buildkit')[]) {
        first[key].push(await cold(build[key])());
      }
    }
    // The same repository with ten times the ignored data: our memory must not notice it.
    const bigger = path.join(o.scratch, 'context-repo-10x');
    await mlRepo(bigger, files, ignored * 10);
    const big = builders(bigger).ours;
    await big();
    const bigRss = median(await Promise.all([big(), big()].map((p) => p.then((r) => r.maxRssKb))));

    const wall = (samples: ProcessResult[]): number => median(samples.map((s) => s.ms));
    const rss = (samples: ProcessResult[]): number => median(samples.map((s) => s.maxRssKb)) / 1024;
    const sent = (samples: ProcessResult[]): number => median(samples.map((s) => contextBytesFromLog(s.stderr + s.stdout))) / 1e6;
    const mb = (n: number): string => (n < 0.1 ? `${round(n * 1000, 1)} KB` : `${round(n, 1)} MB`);
    const row = (
      what: string,
      ours: ProcessResult[],
      anchor: ProcessResult[],
      anchorName: string,
      goal: number,
      bytesGoal: boolean,
    ): Row => {
      const ratio = wall(ours) / wall(anchor);
      const bytesOk = !bytesGoal || sent(ours) <= 2 * sent(anchor);
      return {
        benchmark: `context packing (${files} files + ${ignored / 1024 ** 3} GB ignored), ${what}: mlc build vs docker build, ${anchorName}`,
        unit: 'ms',
        ours: round(wall(ours), 0),
        anchor: round(wall(anchor), 0),
        anchorName: `docker CLI (${anchorName})`,
        ratio: round(ratio, 2),
        goal: `≤ ${goal}×${bytesGoal ? '; sent ≤ 2× the CLI' : ''}`,
        pass: ratio <= goal && bytesOk,
        detail: `peak RSS ${round(rss(ours), 0)} MB vs ${round(rss(anchor), 0)} MB; sent ${mb(sent(ours))} vs ${mb(sent(anchor))}; medians of ${ours.length}`,
      };
    };
    const flat = bigRss / 1024 / rss(unchanged.ours);
    return [
      row('warm rebuild after a one-file edit', afterEdit.ours, afterEdit.buildkit, 'BuildKit', 1.2, true),
      row('first (cold) build', first.ours, first.buildkit, 'BuildKit', 1.1, false),
      row('rebuild with nothing changed', unchanged.ours, unchanged.buildkit, 'BuildKit', 1.2, false),
      row('rebuild with nothing changed', unchanged.ours, unchanged.classic, 'classic', 1.2, false),
      {
        benchmark: 'context packing: peak RSS of mlc build with 10× the ignored data (20 GB vs 2 GB)',
        unit: 'MB',
        ours: round(bigRss / 1024, 0),
        anchor: round(rss(unchanged.ours), 0),
        anchorName: 'mlc build at 1×',
        ratio: round(flat, 2),
        goal: '≤ 1.1× (flat)',
        pass: flat <= 1.1,
      },
    ];
  } finally {
    await removeImages(TAG);
  }
}
