import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { extract } from 'tar-stream';
import { formatProvenance } from '../../../../src/cli/inspect';
import { buildExperiment } from '../../../../src/core/build/buildExperiment';
import { localBaseDigest, resolvedDigest } from '../../../../src/core/build/stamp';
import type { BuildEvent, BuildRequest, TarStream } from '../../../../src/core/docker/engine';
import { inspectProvenance } from '../../../../src/core/images/provenance';
import { captureLock, lockFor, lockPath } from '../../../../src/core/provenance/lock';
import { imageDetails } from '../../../helpers/images';
import { silentLogger } from '../../../helpers/logger';
import { devcontainerProject } from '../../../helpers/project';
import { FakeEngine } from '../../fakes/engine';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const LOCK = 'numpy==1.26.4\ntorch==2.5.1\n';
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** Each build answers with the next id and keeps its request and its context's files (name → content, mtime). */
class StampingEngine extends FakeEngine {
  readonly builds: { request: BuildRequest; files: Map<string, { content: string; mtime: number }> }[] = [];
  readonly removed: string[] = [];
  readonly captures: string[][] = [];
  /** What `cat /etc/mlc/environment.lock` finds in an image, by id. */
  readonly imageLocks = new Map<string, string>();
  trace: string[] = [];
  override async build(context: TarStream, request: BuildRequest, onEvent?: (event: BuildEvent) => void): Promise<string> {
    const files = new Map<string, { content: string; mtime: number }>();
    await new Promise<void>((resolve, reject) => {
      const x = extract();
      x.on('entry', (header, stream, next) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: unknown) => chunks.push(c as Buffer));
        stream.on(
          'end',
          () => (files.set(header.name, { content: Buffer.concat(chunks).toString('utf8'), mtime: header.mtime?.getTime() ?? -1 }), next()),
        );
      });
      x.on('finish', resolve).on('error', reject);
      (context as NodeJS.ReadableStream).pipe(x);
    });
    this.builds.push({ request, files });
    if (this.builds.length === 1) for (const line of this.trace) onEvent?.({ stream: `${line}\n` });
    return this.builds.length === 1 ? 'sha256:built' : 'sha256:stamped';
  }
  override async removeImage(ref: string): Promise<void> {
    this.removed.push(ref);
  }
  override async runCapture(image: string, command: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    this.captures.push(command);
    const script = command.join(' ');
    if (script.includes('test -f /etc/mlc/environment.lock')) {
      const lock = this.imageLocks.get(image);
      return { exitCode: lock === undefined ? 1 : 0, stdout: lock ?? '', stderr: '' };
    }
    return { exitCode: 0, stdout: LOCK, stderr: '' };
  }
}

describe('provenance that travels with the image', () => {
  it('reads the digest BuildKit resolved for the base from its FROM step, for that base only', () => {
    assert.equal(resolvedDigest(`[stage-0 1/8] FROM docker.io/library/python:3.11-slim@${D1}`, 'python:3.11-slim'), D1);
    assert.equal(resolvedDigest(`#3 [1/2] FROM registry.example.org/lab/torch:2@${D1}`, 'registry.example.org/lab/torch:2'), D1);
    assert.equal(resolvedDigest(`[stage-0 1/8] FROM docker.io/library/python:3.12-slim@${D1}`, 'python:3.11-slim'), undefined);
    assert.equal(resolvedDigest('[stage-0 1/8] FROM docker.io/library/python:3.11-slim', 'python:3.11-slim'), undefined);
  });

  it("takes a local base's digest from its own repository's RepoDigests, else its image id", async () => {
    const engine = new FakeEngine();
    engine.images.set(
      'python:3.11',
      imageDetails({ id: 'sha256:local', repoDigests: [`mirror.example.org/python@${D1}`, `python@${D2}`] }),
    );
    engine.images.set('lab/standin:1', imageDetails({ id: 'sha256:standin', repoDigests: [] }));
    assert.equal(localBaseDigest('python:3.11', await engine.inspectImage('python:3.11')), D2);
    assert.equal(localBaseDigest('lab/standin:1', await engine.inspectImage('lab/standin:1')), 'sha256:standin');
    assert.equal(localBaseDigest('not/here:1', await engine.inspectImage('not/here:1')), undefined);
    assert.equal(localBaseDigest(`python@${D1}`, await engine.inspectImage(`python@${D1}`)), D1);
  });

  it('puts the lock into the image as a layer of its own under the real tags, labels its hash, and keeps the project copy', async () => {
    const dir = devcontainerProject('ARG BASE_IMAGE=lab/standin:1\nFROM ${BASE_IMAGE}\nCOPY . /workspace\n', {}, 'dimuon');
    const engine = new StampingEngine();
    engine.images.set('lab/standin:1', imageDetails({ id: 'sha256:standin' }));
    const result = await buildExperiment({ folder: dir, engine, git: { info: async () => undefined }, log: silentLogger('build') });
    const [main, stamp] = engine.builds;
    assert.ok(main && stamp && engine.builds.length === 2);
    const temporary = main.request.tags.at(-1) ?? '';
    assert.match(temporary, /^dimuon:mlc-stamp-[0-9a-f]{8}$/);
    assert.deepEqual(
      main.request.tags,
      [temporary],
      'the real tags go on only with the last layer: an engine stopped before it tags nothing',
    );
    assert.equal(main.request.labels?.['org.mlcontainers.base'], 'lab/standin:1');
    assert.equal(
      main.request.labels?.['org.mlcontainers.base.digest'],
      'sha256:standin',
      'a base known before the build is labelled by the build',
    );

    assert.deepEqual(stamp.request.tags, result.tags);
    assert.equal(stamp.files.get('Dockerfile')?.content, `FROM ${temporary}\nCOPY environment.lock /etc/mlc/environment.lock\n`);
    assert.equal(stamp.files.get('environment.lock')?.content, LOCK);
    assert.deepEqual(
      [...stamp.files.values()].map((f) => f.mtime),
      [0, 0],
      'the layer would differ for the same lock',
    );
    // devcontainer.metadata rides on the layer after the Dockerfile's build, read against what the base left.
    assert.deepEqual(stamp.request.labels, { 'devcontainer.metadata': '[{}]', 'org.mlcontainers.lock.sha256': sha256(LOCK) });
    assert.deepEqual(engine.removed, [temporary]);

    assert.equal(result.imageId, 'sha256:stamped');
    assert.equal(result.labels['org.mlcontainers.lock.sha256'], sha256(LOCK));
    assert.match(fs.readFileSync(lockPath(dir, 'sha256:stamped'), 'utf8'), /^# image sha256:stamped\n[^]*numpy==1\.26\.4\n/);
  });

  it('stamps a base digest BuildKit resolved while pulling, also without a lock; and nothing at all when there is nothing to add', async () => {
    const dir = devcontainerProject('FROM python:3.11-slim\n', {}, 'dimuon');
    const engine = new StampingEngine();
    engine.trace = [`[1/1] FROM docker.io/library/python:3.11-slim@${D1}`];
    const result = await buildExperiment({
      folder: dir,
      engine,
      git: { info: async () => undefined },
      log: silentLogger('build'),
      lock: false,
    });
    assert.equal(engine.builds[1]?.files.get('Dockerfile')?.content, `FROM ${engine.builds[0]?.request.tags.at(-1)}\n`);
    assert.deepEqual(engine.builds[1]?.request.labels, { 'org.mlcontainers.base.digest': D1 });
    assert.equal(result.labels['org.mlcontainers.base.digest'], D1);

    const local = new StampingEngine();
    local.images.set('python:3.11-slim', imageDetails({ id: 'sha256:py', repoDigests: [`python@${D2}`] }));
    await buildExperiment({ folder: dir, engine: local, git: { info: async () => undefined }, log: silentLogger('build'), lock: false });
    assert.equal(local.builds.length, 1, 'a stamp was built with nothing to stamp');
    assert.deepEqual(
      local.builds[0]?.request.tags.filter((t) => t.includes('mlc-stamp')),
      [],
    );
    assert.equal(local.builds[0]?.request.labels?.['org.mlcontainers.base.digest'], D2);
  });

  it('strips credentials from the URLs of a lock before it goes anywhere', async () => {
    const engine = new FakeEngine();
    engine.runCapture = async () => ({
      exitCode: 0,
      stdout: 'mypkg @ git+https://ada:ghp_SECRET@github.com/lab/mypkg.git@v1\nnumpy==1.26.4\n',
      stderr: '',
    });
    assert.equal(await captureLock(engine, 'sha256:x'), 'mypkg @ git+https://github.com/lab/mypkg.git@v1\nnumpy==1.26.4\n');
  });

  it("reads a pulled image's lock from the image when the project has none, without capturing one", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-pulled-'));
    const engine = new StampingEngine();
    engine.images.set(
      'registry.example.org/dimuon:3f2a1bc',
      imageDetails({ id: 'sha256:pulled', labels: { 'org.mlcontainers.lock.sha256': sha256(LOCK) } }),
    );
    engine.imageLocks.set('sha256:pulled', LOCK);
    const found = await lockFor(engine, dir, 'registry.example.org/dimuon:3f2a1bc');
    assert.equal(found.text, LOCK);
    assert.ok(!engine.captures.some((c) => c.join(' ').includes('pip freeze')), 'captured instead of reading the image');
    assert.ok(fs.existsSync(lockPath(dir, 'sha256:pulled')), 'no project copy for editors to diff');

    const report = await inspectProvenance(engine, 'registry.example.org/dimuon:3f2a1bc', undefined);
    assert.deepEqual(report.lock, {
      source: 'image',
      path: '/etc/mlc/environment.lock',
      packages: 2,
      sha256: sha256(LOCK),
      matchesLabel: true,
    });
    engine.imageLocks.set('sha256:pulled', `${LOCK}evil==1\n`);
    assert.equal((await inspectProvenance(engine, 'registry.example.org/dimuon:3f2a1bc', undefined)).lock?.matchesLabel, false);
  });

  it('mlc inspect prints commit, base with digest, Dockerfile, config and lock; commit and lock even when absent', () => {
    const rows = new Map(
      formatProvenance({
        imageId: 'sha256:pulled',
        created: '2026-11-22T10:20:30.456Z',
        tags: ['dimuon:3f2a1bc'],
        repoDigests: [],
        provenance: {
          managed: true,
          dirty: true,
          revision: 'a'.repeat(40),
          base: 'lab/standin:1',
          baseDigest: 'sha256:standin',
          dockerfilePath: '.devcontainer/Dockerfile',
          dockerfileSha256: 'f'.repeat(64),
          preset: 'pytorch',
          variant: 'gpu',
        },
        lock: { source: 'image', path: '/etc/mlc/environment.lock', packages: 2, sha256: 'e'.repeat(64), matchesLabel: true },
      }),
    );
    assert.equal(rows.get('created'), '2026-11-22T10:20:30.456Z');
    assert.equal(rows.get('commit'), `${'a'.repeat(40)} (dirty: uncommitted changes)`);
    assert.equal(rows.get('base'), 'lab/standin:1 @ sha256:standin');
    assert.equal(rows.get('dockerfile'), `.devcontainer/Dockerfile sha256:${'f'.repeat(64)}`);
    assert.equal(rows.get('preset'), 'pytorch (gpu)');
    assert.equal(rows.get('lock'), `sha256:${'e'.repeat(64)}, 2 packages (in the image at /etc/mlc/environment.lock)`);
    assert.ok(!rows.has('config'));
    const bare = new Map(
      formatProvenance({ imageId: 'sha256:x', created: '', tags: [], repoDigests: [], provenance: { managed: false, dirty: false } }),
    );
    assert.match(bare.get('commit') ?? '', /^none recorded/);
    assert.match(bare.get('lock') ?? '', /^none/);
  });
});
