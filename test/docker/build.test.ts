import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BuildFailedError, buildExperiment } from '../../src/core/build/buildExperiment';
import type { Engine } from '../../src/core/docker/engine';
import type { ProvenanceReport } from '../../src/core/images/provenance';
import { EngineError } from '../../src/core/docker/errors';
import { GitCli } from '../../src/core/provenance/git';
import { captureLock, lockArchs, lockPath } from '../../src/core/provenance/lock';
import { packFiles } from '../../src/core/docker/buildContext';
import { applyPlan } from '../../src/core/scaffold/plan';
import { prepareScaffold } from '../../src/core/scaffold/prepare';
import { git } from '../helpers/git';
import { recordingLogger, silentLogger } from '../helpers/logger';
import { assertBuiltCli, mlc } from '../helpers/mlc';
import type { EngineKind } from './harness';
import { engineKind, requireEngine, requireImage } from './harness';
import type { TestRegistry } from './registry';
import { requireTestRegistry, startRegistry } from './registry';

const TEMPLATES = path.resolve(__dirname, '../../templates');
const BASE = 'mlc-test/jupyter:bookworm';
const DOCKER = fs.existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';

/** A scaffolded TensorFlow (CPU) project on the Jupyter stand-in, committed, with a credentialed remote. */
async function fixtureRepo(name: string): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mlc-build-${name}-`));
  const { plan } = await prepareScaffold(
    dir,
    TEMPLATES,
    { preset: 'tensorflow', variant: 'cpu', baseImage: BASE, name: `mlc test ${name}` },
    false,
  );
  await applyPlan(dir, plan);
  fs.writeFileSync(path.join(dir, 'train.py'), 'print("train")\n');
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'remote', 'add', 'origin', 'https://ada:ghp_SECRET123@example.org/lab/dimuon.git');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'first');
  return dir;
}

describe('experiment image builds (real engine: BuildKit on Docker, buildah on Podman)', function () {
  let engine: Engine;
  let kind: EngineKind;
  const images: string[] = [];

  before(async function () {
    engine = await requireEngine(this);
    await requireImage(this, engine, BASE);
    kind = await engineKind(engine);
  });

  after(async () => {
    for (const ref of images) await engine.removeImage(ref, { force: true }).catch(() => undefined);
  });

  it('tags <name>:<sha7> and :latest and labels the image with its commit; an edit makes it -dirty', async () => {
    const dir = await fixtureRepo('labels');
    const sha = git(dir, 'rev-parse', 'HEAD');
    const lines: string[] = [];
    const result = await buildExperiment({
      folder: dir,
      hyperparameters: 'configs/experiment.yaml',
      engine,
      git: new GitCli(),
      log: recordingLogger(lines, 'build'),
    });
    images.push(...result.tags, result.imageId);
    assert.deepEqual(result.tags, [`mlc-test-labels:${sha.slice(0, 7)}`, 'mlc-test-labels:latest']);
    assert.equal(result.builder, kind === 'podman' ? 'classic' : 'buildkit');
    const image = await engine.inspectImage(result.tags[0]!);
    assert.ok(image);
    assert.equal(image.id, result.imageId);
    assert.equal(
      (await engine.listImages({ reference: 'mlc-test-labels' })).length,
      1,
      'the reference filter the cancel test relies on finds nothing',
    );
    const l = image.labels;
    assert.equal(l['org.opencontainers.image.revision'], sha);
    assert.equal(l['org.opencontainers.image.source'], 'https://example.org/lab/dimuon.git');
    assert.equal(l['org.opencontainers.image.created'], undefined, 'a build time in the labels makes every build a new image');
    assert.equal(l['org.opencontainers.image.title'], 'mlc test labels');
    assert.equal(l['org.opencontainers.image.version'], sha.slice(0, 7));
    assert.equal(l['org.mlcontainers.managed'], 'true');
    assert.equal(l['org.mlcontainers.dirty'], 'false');
    assert.equal(l['org.mlcontainers.branch'], 'main');
    assert.equal(l['org.mlcontainers.preset'], 'tensorflow');
    assert.equal(l['org.mlcontainers.variant'], 'cpu');
    assert.match(l['org.mlcontainers.dockerfile.sha256'] ?? '', /^[0-9a-f]{64}$/);
    assert.equal(l['org.mlcontainers.config.path'], 'configs/experiment.yaml');
    assert.match(l['org.mlcontainers.config.sha256'] ?? '', /^[0-9a-f]{64}$/);
    assert.doesNotMatch(JSON.stringify(l) + lines.join('\n'), /SECRET123/, 'a credential leaked into a label or log line');

    assert.ok(
      fs.existsSync(path.join(dir, '.mlcontainers', 'locks', `${result.imageId.replace('sha256:', '')}.txt`)),
      'no environment lock',
    );
    const again = await buildExperiment({
      folder: dir,
      hyperparameters: 'configs/experiment.yaml',
      engine,
      git: new GitCli(),
      log: silentLogger('build'),
    });
    images.push(again.imageId);
    assert.equal(again.tags[0], result.tags[0], 'our own lock file made the next build dirty');
    // The first build's layers are still there to reuse: on Podman, removing a temporary tag deleted them (issue 32).
    assert.ok(
      again.cachedSteps.some((s) => s.includes('-r /tmp/mlc/requirements.txt')),
      `nothing changed, yet not cached: ${again.cachedSteps.join(' | ')}`,
    );
    // Nothing changed, so nothing new: the same image, as `docker build` gives (the old one is not left dangling).
    // Podman 4.3's builder commits a new image on every build whatever the labels (seen here), so only BuildKit's.
    if (kind !== 'podman') assert.equal(again.imageId, result.imageId, 'a rebuild with nothing changed made a new image');

    fs.appendFileSync(path.join(dir, 'train.py'), 'print("edited")\n');
    const dirty = await buildExperiment({ folder: dir, engine, git: new GitCli(), log: silentLogger('build') });
    images.push(...dirty.tags, dirty.imageId);
    assert.equal(dirty.tags[0], `mlc-test-labels:${sha.slice(0, 7)}-dirty`);
    assert.equal((await engine.inspectImage(dirty.tags[0]!))?.labels['org.mlcontainers.dirty'], 'true');
    // A source-only change reuses the dependency layers: BuildKit reports them CACHED, buildah "Using cache".
    assert.ok(
      dirty.cachedSteps.some((s) => s.includes('-r /tmp/mlc/requirements.txt')),
      `not cached: ${dirty.cachedSteps.join(' | ')}`,
    );
  });

  it("leaves secrets, weights, logger output and caches out of the image; without the scaffold's ignore file it names .env, and --strict refuses", async () => {
    const leaks = ['.env', 'outputs/run1/model.pt', 'lightning_logs/v0/x.ckpt', 'src/__pycache__/a.pyc'];
    const withLeaks = (dir: string): void => {
      for (const f of [...leaks, 'src/model.py']) {
        fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
        fs.writeFileSync(path.join(dir, f), f === '.env' ? 'WANDB_API_KEY=not-for-the-image\n' : 'x\n');
      }
    };
    const workspace = async (image: string): Promise<string[]> => {
      const r = await engine.runCapture(image, ['sh', '-c', 'cd /workspace && find . -mindepth 1 | sed "s#^\\./##"']);
      assert.equal(r.exitCode, 0, r.stderr);
      return r.stdout.split('\n').filter(Boolean);
    };

    const dir = await fixtureRepo('leaks');
    withLeaks(dir);
    const lines: string[] = [];
    const result = await buildExperiment({ folder: dir, engine, git: new GitCli(), log: recordingLogger(lines, 'build'), lock: false });
    images.push(...result.tags, result.imageId);
    const files = await workspace(result.imageId);
    assert.ok(files.includes('src/model.py') && files.includes('train.py'), `the code is missing: ${files.join(' ')}`);
    for (const leak of leaks) assert.ok(!files.includes(leak), `${leak} is in the image: ${files.join(' ')}`);
    assert.ok(!files.some((f) => /^(outputs|lightning_logs)\b|__pycache__/.test(f)), files.join(' '));
    assert.deepEqual(result.contextFindings, []);

    const bare = await fixtureRepo('noignore');
    fs.rmSync(path.join(bare, '.dockerignore'));
    withLeaks(bare);
    const strict = await mlc(['build', '--dir', bare, '--no-lock', '--strict']);
    assert.equal(strict.code, 1, strict.stderr);
    assert.match(strict.stderr, /^mlc build: Not building: the build context holds \.env \(looks like a secret\)/m);
    assert.deepEqual(await engine.listImages({ reference: 'mlc-test-noignore' }), [], '--strict built an image');

    const warned = await mlc(['build', '--dir', bare, '--no-lock']);
    assert.equal(warned.code, 0, warned.stderr);
    images.push(...warned.stdout.trim().split('\n'));
    assert.match(
      warned.stderr,
      /^warn: \[build\] \.env looks like a secret and goes into the image .*; add this line to \.dockerignore: \.env$/m,
    );
    assert.ok(
      (await workspace(warned.stdout.trim().split('\n')[0]!)).includes('.env'),
      'the unignored .env did not reach the image: this test proves nothing',
    );
  });

  it("mlc build --json prints one object: id, commit tags, commit, builder, context, labels without the remote's credentials", async () => {
    const dir = await fixtureRepo('json');
    const sha = git(dir, 'rev-parse', 'HEAD');
    const r = await mlc(['build', '--dir', dir, '--no-lock', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const built = JSON.parse(r.stdout) as {
      imageId: string;
      tags: string[];
      commit: string;
      dirty: boolean;
      builder: string;
      contextBytes: number;
      cachedSteps: string[];
      contextFindings: unknown[];
      labels: Record<string, string>;
    };
    images.push(...built.tags, built.imageId);
    assert.deepEqual(built.tags, [`mlc-test-json:${sha.slice(0, 7)}`, 'mlc-test-json:latest']);
    assert.equal((await engine.inspectImage(built.tags[0]!))?.id, built.imageId);
    assert.equal(built.commit, sha);
    assert.equal(built.dirty, false);
    assert.match(built.builder, /^(buildkit|classic)$/);
    assert.ok(built.contextBytes > 0);
    assert.deepEqual(built.contextFindings, []);
    assert.equal(built.labels['org.opencontainers.image.revision'], sha);
    assert.doesNotMatch(r.stdout, /ghp_SECRET123|ada:/, "the remote's credentials stay out of the report");
    assert.notEqual(r.stderr, '', 'progress still goes to stderr');
  });

  it('keeps the RUN --mount=type=cache pip cache between builds: the second build finds what the first left there', async () => {
    const dir = await fixtureRepo('pipcache');
    const marker = `mlc-test-${Date.now().toString(36)}-${process.pid}`;
    // The scaffold's own cache target; the marker, unique per test run, stands in for pip's wheels.
    fs.appendFileSync(
      path.join(dir, '.devcontainer', 'Dockerfile'),
      `\nUSER root\nARG BUILD_NO\nRUN --mount=type=cache,target=/root/.cache/pip echo "build $BUILD_NO" && if [ -f /root/.cache/pip/${marker} ]; then echo "pip cache reused: left by build $(cat /root/.cache/pip/${marker})"; fi && echo "$BUILD_NO" > /root/.cache/pip/${marker}\nUSER mlc\n`,
    );
    git(dir, 'commit', '-qam', 'cache probe');
    const first: string[] = [];
    const one = await buildExperiment({
      folder: dir,
      engine,
      git: new GitCli(),
      log: recordingLogger(first, 'build'),
      buildArgs: { BUILD_NO: '1' },
      lock: false,
    });
    images.push(...one.tags, one.imageId);
    assert.deepEqual(
      first.filter((l) => /pip cache reused: left by build \d+$/.test(l)),
      [],
      'the first build found the marker already',
    );
    const second: string[] = [];
    const two = await buildExperiment({
      folder: dir,
      engine,
      git: new GitCli(),
      log: recordingLogger(second, 'build'),
      buildArgs: { BUILD_NO: '2' },
      lock: false,
    });
    images.push(two.imageId);
    assert.ok(
      second.some((l) => l.endsWith('pip cache reused: left by build 1')),
      `no reuse in the second build:\n${second.join('\n')}`,
    );
  });

  it('mlc diff shows a package added between two builds', async () => {
    const dir = await fixtureRepo('diff');
    const first = await buildExperiment({ folder: dir, engine, git: new GitCli(), log: silentLogger('build') });
    images.push(...first.tags, first.imageId);
    // No PyPI here: Debian's python3-tabulate is a package pip freeze lists all the same.
    fs.appendFileSync(
      path.join(dir, '.devcontainer', 'Dockerfile'),
      '\nUSER root\nRUN apt-get update && apt-get install -y --no-install-recommends python3-tabulate && rm -rf /var/lib/apt/lists/*\nUSER mlc\n',
    );
    git(dir, 'commit', '-qam', 'add tabulate');
    const second = await buildExperiment({ folder: dir, engine, git: new GitCli(), log: silentLogger('build') });
    images.push(...second.tags, second.imageId);
    const diff = await mlc(['diff', first.tags[0]!, second.tags[0]!, '--dir', dir]);
    assert.equal(diff.code, 0, diff.stderr);
    const out = diff.stdout;
    assert.match(out, /^\+ tabulate==[\d.]+$/m);
    assert.doesNotMatch(out, /^- /m);
    const json = await mlc(['diff', first.tags[0]!, second.tags[0]!, '--dir', dir, '--json']);
    assert.equal(json.code, 0, json.stderr);
    const packages = JSON.parse(json.stdout) as {
      a: string;
      b: string;
      added: { name: string; version: string }[];
      removed: unknown[];
      changed: unknown[];
    };
    assert.equal(packages.a, first.tags[0]);
    assert.equal(packages.b, second.tags[0]);
    assert.ok(
      packages.added.some((p) => p.name === 'tabulate' && /^[\d.]+$/.test(p.version)),
      json.stdout,
    );
    assert.deepEqual(packages.removed, []);
  });

  it('never reads 2 GB of ignored data, and memory stays flat', async () => {
    const dir = await fixtureRepo('bigdata');
    fs.mkdirSync(path.join(dir, 'data'));
    const fd = fs.openSync(path.join(dir, 'data', 'events.h5'), 'w');
    fs.ftruncateSync(fd, 2 * 1024 ** 3);
    fs.closeSync(fd);
    const before = process.memoryUsage().rss;
    let peak = before;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    try {
      const result = await buildExperiment({ folder: dir, engine, git: new GitCli(), log: silentLogger('build') });
      images.push(...result.tags, result.imageId);
      assert.ok(result.context.skippedDirs.includes('data'));
      assert.ok(result.context.totalBytes < 64 * 1024, `packed ${result.context.totalBytes} bytes of files`);
      // What went to the engine: the files plus the tar's 512-byte headers and padding, or the session's stat
      // packets (a new folder: BuildKit asks for every file); nothing of data/.
      assert.equal(result.contextTransport, kind === 'podman' ? 'tar' : 'session');
      assert.ok(
        result.contextBytesSent > result.context.totalBytes && result.contextBytesSent < 128 * 1024,
        `sent ${result.contextBytesSent} bytes`,
      );
      if (result.contextTransport === 'tar') assert.equal(result.contextBytesSent % 512, 0);
    } finally {
      clearInterval(timer);
    }
    assert.ok(peak - before < 64 * 1024 ** 2, `RSS grew by ${Math.round((peak - before) / 1024 ** 2)} MB`);
  });

  it('cancels a long RUN step within seconds and leaves no tag', async () => {
    const dir = await fixtureRepo('cancel');
    fs.appendFileSync(path.join(dir, '.devcontainer', 'Dockerfile'), '\nRUN echo long-step && sleep 120\n');
    git(dir, 'commit', '-qam', 'slow');
    const controller = new AbortController();
    const started = Date.now();
    let abortedAt = 0;
    await assert.rejects(
      buildExperiment({
        folder: dir,
        engine,
        git: new GitCli(),
        log: silentLogger('build'),
        signal: controller.signal,
        onStep: (step) => {
          if (step.includes('sleep 120') && !abortedAt) {
            abortedAt = Date.now();
            setTimeout(() => controller.abort(), 500);
          }
        },
      }),
      (e: unknown) => e instanceof EngineError && e.reason === 'cancelled',
    );
    assert.ok(abortedAt > 0, 'the sleep step never started');
    assert.ok(Date.now() - abortedAt < 10_000, `cancel took ${Date.now() - abortedAt} ms`);
    assert.ok(Date.now() - started < 100_000);
    assert.equal((await engine.listImages({ reference: 'mlc-test-cancel' })).length, 0, 'a tag appeared after cancel');
  });

  it('reports the failing step and its last log lines', async () => {
    const dir = await fixtureRepo('fails');
    fs.appendFileSync(
      path.join(dir, '.devcontainer', 'Dockerfile'),
      '\nRUN echo "loading weights" && echo "CUDA error: no kernel image" >&2 && exit 7\n',
    );
    git(dir, 'commit', '-qam', 'broken');
    await assert.rejects(
      buildExperiment({ folder: dir, engine, git: new GitCli(), log: silentLogger('build') }),
      (e: unknown) =>
        e instanceof BuildFailedError &&
        /exit 7/.test(e.step) &&
        e.logTail.some((l) => l.includes('CUDA error: no kernel image')) &&
        /exit code: 7|exit status 7/.test(e.message),
    );
    // mlc build prints the step's lines once, as they stream, and ends with the one-sentence error.
    const r = await mlc(['build', '--dir', dir, '--no-lock']);
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stderr.trimEnd().split('\n');
    // (The step's name quotes the same text: only output lines end with it.)
    assert.equal(lines.filter((l) => l.endsWith('CUDA error: no kernel image')).length, 1, r.stderr);
    assert.equal(lines.filter((l) => l.endsWith('loading weights')).length, 1, r.stderr);
    assert.match(lines.at(-1) ?? '', /^mlc build: The build failed at ".*exit 7": .*(exit code: 7|exit status 7)$/);
  });
});

describe('provenance that travels: pushed, removed here, pulled back (real dockerd, docker-registry 2.8)', function () {
  let engine: Engine;
  let tools: { registry: string; htpasswd: string };
  let registry: TestRegistry | undefined;
  const images: string[] = [];
  const dirs: string[] = [];

  before(async function () {
    engine = await requireEngine(this);
    await requireImage(this, engine, BASE);
    tools = await requireTestRegistry(this, engine);
    assertBuiltCli();
    // The repository is this test's own: what an earlier run killed half-way left there would read as our leftovers.
    for (const image of await engine.listImages({ reference: 'mlc-test-travel' }))
      await engine.removeImage(image.id, { force: true }).catch(() => undefined);
  });

  after(async () => {
    await registry?.stop().catch(() => undefined);
    for (const ref of images) await engine.removeImage(ref, { force: true }).catch(() => undefined);
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('mlc inspect shows commit, base digest and lock, and mlc diff works, from the images alone', async () => {
    const dir = await fixtureRepo('travel');
    dirs.push(dir);
    const first = await buildExperiment({ folder: dir, engine, git: new GitCli(), log: silentLogger('build') });
    images.push(first.imageId);
    // A package pip freeze lists, without a network: a dist-info folder is all it reads.
    fs.appendFileSync(
      path.join(dir, '.devcontainer', 'Dockerfile'),
      `\nUSER root\nRUN d=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') && mkdir -p "$d/mlcfake-1.0.dist-info" && printf 'Metadata-Version: 2.1\\nName: mlcfake\\nVersion: 1.0\\n' > "$d/mlcfake-1.0.dist-info/METADATA"\nUSER mlc\n`,
    );
    git(dir, 'commit', '-qam', 'add mlcfake');
    const second = await buildExperiment({ folder: dir, engine, git: new GitCli(), log: silentLogger('build') });
    images.push(second.imageId);
    const baseId = (await engine.inspectImage(BASE))!.id;
    assert.equal(second.labels['org.mlcontainers.base.digest'], baseId, 'the stand-in base has no registry digest: its id is the digest');
    assert.match(second.labels['org.mlcontainers.lock.sha256'] ?? '', /^[0-9a-f]{64}$/);
    const travel = await engine.listImages({ reference: 'mlc-test-travel' });
    assert.deepEqual(
      travel.flatMap((i) => i.repoTags).filter((t) => t.includes('mlc-stamp')),
      [],
      'the temporary tag was left behind',
    );
    assert.deepEqual(travel.map((i) => i.id).sort(), [first.imageId, second.imageId].sort(), 'an unstamped image was left behind');

    registry = await startRegistry(tools);
    const pushed: string[] = [];
    for (const built of [first, second]) {
      const r = await mlc(['push', built.tags[0]!, '--registry', `${registry.host}/lab`]);
      assert.equal(r.code, 0, r.stderr);
      pushed.push(r.stdout.trim().split('@')[0]!);
    }
    // Another machine: no image, no project, no .mlcontainers/ — only what the registry holds.
    for (const built of [first, second]) await engine.removeImage(built.imageId, { force: true });
    fs.rmSync(path.join(dir, '.mlcontainers'), { recursive: true, force: true });
    for (const ref of pushed) {
      await new Promise<void>((resolve, reject) =>
        execFile(DOCKER, ['pull', '-q', ref], (e, _out, err) => (e ? reject(new Error(err)) : resolve())),
      );
    }
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-elsewhere-'));
    dirs.push(elsewhere);

    const text = await mlc(['inspect', pushed[1]!, '--dir', elsewhere]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^commit +${git(dir, 'rev-parse', 'HEAD')}$`, 'm'));
    assert.match(text.stdout, new RegExp(`^base +${BASE} @ ${baseId}$`, 'm'));
    assert.match(
      text.stdout,
      new RegExp(
        `^lock +sha256:${second.labels['org.mlcontainers.lock.sha256']}, \\d+ packages \\(in the image at /etc/mlc/environment\\.lock\\)$`,
        'm',
      ),
    );
    const json = await mlc(['inspect', pushed[1]!, '--json', '--dir', elsewhere]);
    const report = JSON.parse(json.stdout) as ProvenanceReport;
    assert.equal(report.imageId, second.imageId, 'the pulled image is not the one built');
    assert.equal(report.lock?.matchesLabel, true);
    assert.ok((report.lock?.packages ?? 0) > 5, `${report.lock?.packages} packages`);

    const diff = await mlc(['diff', pushed[0]!, pushed[1]!, '--dir', elsewhere]);
    assert.equal(diff.code, 0, diff.stderr);
    assert.equal(diff.stdout.trim(), '+ mlcfake==1.0');
    assert.ok(!fs.existsSync(path.join(dir, '.mlcontainers')), 'the project folder was used');
  });
});

describe('the environment lock of a PyTorch image (real dockerd, the PyTorch stand-in)', function () {
  const PYTORCH = 'mlc-test/pytorch:bookworm';
  let engine: Engine;
  let kind: EngineKind;
  const images: string[] = [];
  let dir: string;

  before(async function () {
    engine = await requireEngine(this);
    await requireImage(this, engine, PYTORCH);
    kind = await engineKind(engine);
  });

  after(async () => {
    for (const ref of images) await engine.removeImage(ref, { force: true }).catch(() => undefined);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("records the GPU architectures of the image's PyTorch: none for Debian's CPU-only torch", async function () {
    // The PyTorch preset's build and pip freeze on the 2 GB stand-in: minutes on a busy 2-core machine.
    this.timeout(900_000);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-build-archs-'));
    const { plan } = await prepareScaffold(
      dir,
      TEMPLATES,
      { preset: 'pytorch', variant: 'gpu', baseImage: PYTORCH, name: 'mlc test archs' },
      false,
    );
    await applyPlan(dir, plan);
    git(dir, 'init', '-q', '-b', 'main');
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'first');
    const result = await buildExperiment({
      folder: dir,
      hyperparameters: 'configs/experiment.yaml',
      engine,
      git: new GitCli(),
      log: silentLogger('build'),
    });
    images.push(...result.tags, result.imageId);
    const lock = fs.readFileSync(lockPath(dir, result.imageId), 'utf8');
    assert.match(lock, /^torch==1\.13/m, 'the stand-in is not the torch this test expects');
    assert.match(lock, /^# torch cuda archs: none$/m);
    assert.deepEqual(lockArchs(lock), []);
  });

  it('asks a CUDA build of torch for its architectures (a CPU-only one is known from torch/version.py without loading it)', async () => {
    // No CUDA torch can be installed here: a package named torch, first on the path, that answers as one does.
    const site = '/usr/local/lib/python3.11/dist-packages/torch';
    const files = [
      { path: 'Dockerfile', content: `FROM ${PYTORCH}\nCOPY torch/ ${site}/\n` },
      { path: 'torch/version.py', content: "__version__ = '2.5.1'\ncuda = '12.4'\n" },
      {
        path: 'torch/__init__.py',
        content: 'from . import version\nclass _C:\n    @staticmethod\n    def _cuda_getArchFlags():\n        return "sm_80 sm_90"\n',
      },
    ];
    const id = await engine.build(packFiles(files), {
      tags: ['mlc-test-cuda-torch:1'],
      dockerfile: 'Dockerfile',
      buildKit: kind !== 'podman',
    });
    images.push('mlc-test-cuda-torch:1', id);
    const lock = await captureLock(engine, 'mlc-test-cuda-torch:1');
    assert.deepEqual(lockArchs(lock), ['sm_80', 'sm_90']);
    assert.match(lock, /^torch==1\.13/m, 'pip freeze still lists the packages');
  });
});
