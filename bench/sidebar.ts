// 4. The Experiment Images model's refresh with N labelled images over N commits, against
//    `docker images --filter label=…` listing the same images. Beside it, no engine needed: one image with 1,000
//    runs (sweeps and single runs) against one with 10, the tree built and the image's children first rendered.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pack } from 'tar-stream';
import { machineEngine } from '../src/core/docker/machine';
import type { ContainerSummary, ImageSummary } from '../src/core/docker/engine';
import type { ExperimentViewState } from '../src/core/images/model';
import { loadExperimentTree } from '../src/core/images/model';
import { groupImages } from '../src/core/images/tree';
import type { RunRecord } from '../src/core/run/records';
import type * as Provider from '../src/vscode/tree/provider';
import type { WorkspaceImages } from '../src/vscode/workspaceImages';
import { installFakeVscode, loadFresh } from '../test/helpers/fakeVscode';
import { MANAGED_LABEL } from '../src/core/labels';
import { GitCli } from '../src/core/provenance/git';
import type { Options, Row } from './lib';
import { dockerCli, git, measure, median, ok, removeImages, round, timeIt } from './lib';

const REPO = 'mlc-bench-sidebar';
const BENCH_LABEL = 'org.mlcontainers.bench';

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

/** A repository with `count` commits, made in one `git fast-import`; returns their shas, newest first. */
async function repoWithCommits(dir: string, count: number): Promise<string[]> {
  fs.mkdirSync(dir, { recursive: true });
  await git(dir, 'init', '-q', '-b', 'main');
  const lines: string[] = [];
  const start = Math.floor(Date.now() / 1000) - count * 60;
  for (let i = 0; i < count; i++) {
    const message = `tune: learning rate schedule ${i}`;
    const content = `lr = ${(0.001 * (1 + i / count)).toFixed(6)}\n`;
    lines.push(
      'commit refs/heads/main',
      `committer Bench <bench@example.org> ${start + i * 60} +0000`,
      `data ${Buffer.byteLength(message)}`,
      message,
      'M 100644 inline train.py',
      `data ${Buffer.byteLength(content)}`,
      content.trimEnd(),
      '',
    );
  }
  const stream = path.join(dir, '..', 'fast-import.txt');
  fs.writeFileSync(stream, `${lines.join('\n')}\n`);
  ok(
    await measure('bash', ['-c', `git fast-import --quiet < ${JSON.stringify(stream)} && git checkout -q main`], { cwd: dir }),
    'git fast-import',
  );
  return (await git(dir, 'rev-list', 'HEAD')).stdout.trim().split('\n');
}

/**
 * `count` images, one per commit, labelled as `mlc build` labels them, loaded with one `docker load`: a
 * docker-archive whose manifest lists `count` image configs over one shared 1-file layer (seconds, not builds).
 */
async function loadImages(scratch: string, shas: readonly string[]): Promise<void> {
  const layer = await new Promise<Buffer>((resolve, reject) => {
    const t = pack();
    t.entry({ name: 'bench.txt' }, 'experiment\n');
    t.finalize();
    const chunks: Buffer[] = [];
    t.on('data', (c: unknown) => chunks.push(c as Buffer));
    t.on('end', () => resolve(Buffer.concat(chunks)));
    t.on('error', reject);
  });
  const diffId = `sha256:${sha256(layer)}`;
  const archive = pack();
  const file = path.join(scratch, 'sidebar-images.tar');
  const done = new Promise<void>((resolve, reject) => archive.pipe(fs.createWriteStream(file)).on('finish', resolve).on('error', reject));
  archive.entry({ name: 'layer/layer.tar' }, layer);
  const manifest: { Config: string; RepoTags: string[]; Layers: string[] }[] = [];
  const start = Date.now() - shas.length * 60_000;
  shas.forEach((sha, i) => {
    const created = new Date(start + (shas.length - i) * 60_000).toISOString();
    const config = JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created,
      config: {
        Labels: {
          [MANAGED_LABEL]: 'true',
          [BENCH_LABEL]: 'sidebar',
          'org.opencontainers.image.revision': sha,
          'org.opencontainers.image.created': created,
          'org.opencontainers.image.title': REPO,
          'org.mlcontainers.dirty': 'false',
          'org.mlcontainers.preset': 'pytorch',
          'org.mlcontainers.variant': 'gpu',
        },
      },
      rootfs: { type: 'layers', diff_ids: [diffId] },
      history: [{ created, created_by: 'bench' }],
    });
    const name = `${sha256(config)}.json`;
    archive.entry({ name }, config);
    manifest.push({ Config: name, RepoTags: [`${REPO}:${sha.slice(0, 7)}`], Layers: ['layer/layer.tar'] });
  });
  archive.entry({ name: 'manifest.json' }, JSON.stringify(manifest));
  archive.finalize();
  await done;
  ok(await measure(dockerCli(), ['load', '-q', '-i', file]), 'docker load');
}

const removeSidebarImages = (): Promise<void> => removeImages('--filter', `label=${BENCH_LABEL}=sidebar`);

const RUNS_SHA = 'f'.repeat(40);
const RUNS_IMAGE: ImageSummary = {
  id: `sha256:${'e'.repeat(64)}`,
  repoTags: [`${REPO}:fffffff`],
  labels: { [MANAGED_LABEL]: 'true', 'org.opencontainers.image.revision': RUNS_SHA },
  created: Math.floor(Date.now() / 1000) - 3600,
  size: 2e9,
};

/** `count` runs of one image: sweeps of 100 points (10 for a small count) and a tenth as single runs, with a metric each. */
function runRecords(count: number): RunRecord[] {
  const singles = Math.max(1, Math.floor(count / 10));
  const perSweep = count >= 100 ? 100 : count - singles;
  const t0 = Date.now() - count * 60_000;
  return Array.from({ length: count }, (_, i): RunRecord => {
    const inSweep = i < count - singles;
    const start = new Date(t0 + i * 60_000).toISOString();
    const v = ((i * 37) % 1000) / 1000;
    return {
      id: `run-${i}`,
      status: i % 50 === 7 ? 'failed' : i > count - 5 ? 'running' : 'succeeded',
      exitCode: i % 50 === 7 ? 1 : i > count - 5 ? null : 0,
      image: { id: RUNS_IMAGE.id, ref: RUNS_IMAGE.repoTags[0]!, tags: RUNS_IMAGE.repoTags, revision: RUNS_SHA, dirty: false },
      commit: RUNS_SHA,
      dirty: false,
      code: 'workspace',
      config: { path: 'configs/exp.yaml', sha256: 'a'.repeat(64), content: 'lr: 0.1\n' },
      params: { lr: v, seed: i % 3 },
      sweep: inSweep ? { id: `sweep-${Math.floor(i / perSweep)}`, index: i % perSweep, size: perSweep } : null,
      command: ['python', 'train.py'],
      start,
      end: i > count - 5 ? null : start,
      gpus: 'none',
      container: `${REPO}-run-${i}`,
      log: `.mlcontainers/runs/run-${i}/output.log`,
      metrics: { metrics: { val_loss: { source: 'metrics.jsonl', last: v, lastStep: 9, min: v, max: v, steps: 10, nans: 0 } }, skipped: 0 },
    };
  });
}

/**
 * The tree built from one image's `count` run records (and its Jupyter server), then its image's children rendered
 * as the view first shows them: tree items for Jupyter, each sweep (counts, best point) and the single runs shown.
 */
async function buildAndRender(provider: typeof Provider, count: number, samples: number): Promise<number> {
  const records = runRecords(count);
  const jupyter: ContainerSummary = {
    id: 'j1',
    names: [`${REPO}-jupyter`],
    image: RUNS_IMAGE.id,
    imageId: RUNS_IMAGE.id,
    state: 'running',
    status: 'Up 1 minute',
    created: 0,
    labels: { [MANAGED_LABEL]: 'true', 'org.mlcontainers.role': 'jupyter' },
    ports: [{ privatePort: 8888, publicPort: 49153, ip: '127.0.0.1', type: 'tcp' }],
  };
  const history = { head: RUNS_SHA, branchOrder: [RUNS_SHA], commits: new Map() };
  const images = {
    onDidChange: () => ({ dispose: () => undefined }),
    folders: () => [{ path: '/w', name: 'w' }],
    getState: async (): Promise<ExperimentViewState> => ({
      kind: 'ready',
      tree: groupImages([RUNS_IMAGE], [jupyter], history, REPO, records),
    }),
  } as unknown as WorkspaceImages;
  const once = async (): Promise<number> => {
    const view = new provider.ImagesTreeProvider(images);
    const { ms, value } = await timeIt(async () => {
      const [commit] = await view.getChildren();
      const [image] = await view.getChildren(commit);
      return (await view.getChildren(image)).map((n) => view.getTreeItem(n));
    });
    view.dispose();
    if (!value.length) throw new Error('the image showed no children');
    return ms;
  };
  await once();
  const times: number[] = [];
  for (let i = 0; i < samples; i++) times.push(await once());
  return median(times);
}

/** One image with 1,000 runs against one with 10: tree built and the image's children first rendered (no engine). */
export async function sidebarRuns(o: Options): Promise<Row[]> {
  const samples = o.quick ? 7 : 21;
  const fake = installFakeVscode();
  try {
    const provider = loadFresh<typeof Provider>('src/vscode/tree/provider');
    const small = await buildAndRender(provider, 10, samples);
    const large = await buildAndRender(provider, 1000, samples);
    o.log(`sidebar: one image with 1,000 runs vs 10, ${samples} renders each`);
    return [
      {
        benchmark:
          'Experiment Images: one image with 1,000 runs (9 sweeps of 100 + 100 single runs) vs 10, tree built + its children first rendered',
        unit: 'ms',
        ours: round(large, 1),
        anchor: round(small, 1),
        anchorName: '10 runs',
        // A "within N ms" goal: the difference goes in the detail, the ratio column (printed with ×) stays empty.
        ratio: null,
        goal: '≤ 10-run case + 50 ms',
        pass: large <= small + 50,
        detail: `+${round(large - small, 1)} ms; groupImages + getChildren(image) + getTreeItem per child (Jupyter, sweep nodes with counts and best, 20 single runs); medians of ${samples}`,
      },
    ];
  } finally {
    fake.uninstall();
  }
}

export async function sidebar(o: Options): Promise<Row[]> {
  const runsRows = await sidebarRuns(o);
  const count = 1000;
  const runs = o.quick ? 7 : 15;
  const dir = path.join(o.scratch, 'sidebar-repo');
  await removeSidebarImages();
  const shas = await repoWithCommits(dir, count);
  try {
    await loadImages(o.scratch, shas);
    const engine = machineEngine(undefined);
    const gitCli = new GitCli();
    const ours = async (): Promise<number> => {
      const { ms, value } = await timeIt(() => loadExperimentTree(engine, gitCli, dir, REPO));
      const mine = value.groups.filter((g) => g.images.some((i) => i.name.startsWith(`${REPO}:`)));
      if (mine.length !== count) throw new Error(`the model grouped ${mine.length} commits, expected ${count}`);
      return ms;
    };
    const cli = async (): Promise<number> => {
      const r = ok(await measure(dockerCli(), ['images', '--filter', `label=${MANAGED_LABEL}`]), 'docker images');
      return r.ms;
    };
    await ours();
    await cli();
    const samples = { ours: [] as number[], cli: [] as number[] };
    for (let i = 0; i < runs; i++) {
      if (i % 2) {
        samples.cli.push(await cli());
        samples.ours.push(await ours());
      } else {
        samples.ours.push(await ours());
        samples.cli.push(await cli());
      }
    }
    const ms = median(samples.ours);
    const anchor = median(samples.cli);
    o.log(`sidebar: ${count} images over ${count} commits, ${runs} refreshes each`);
    return [
      {
        benchmark: `Experiment Images refresh (${count} images over ${count} commits, grouped, with git metadata) vs docker images --filter label`,
        unit: 'ms',
        ours: round(ms, 0),
        anchor: round(anchor, 0),
        anchorName: 'docker CLI',
        ratio: round(ms / anchor, 2),
        goal: '≤ CLI + 100 ms',
        pass: ms <= anchor + 100,
        detail: `one /images/json, one /containers/json, one git rev-list + one git log; medians of ${runs}`,
      },
      ...runsRows,
    ];
  } finally {
    await removeSidebarImages();
  }
}
