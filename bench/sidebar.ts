// 4. The Experiment Images model's refresh with N labelled images over N commits, against
//    `docker images --filter label=…` listing the same images.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pack } from 'tar-stream';
import { machineEngine } from '../src/core/docker/machine';
import { loadExperimentTree } from '../src/core/images/model';
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

export async function sidebar(o: Options): Promise<Row[]> {
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
    ];
  } finally {
    await removeSidebarImages();
  }
}
