import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tarStream from 'tar-stream';
import { BuildFailedError, buildExperiment } from '../../../../src/core/build/buildExperiment';
import type { BuildEvent, BuildRequest, EngineVersion, TarStream } from '../../../../src/core/docker/engine';
import { BuildError } from '../../../../src/core/docker/engine';
import { recordingLogger } from '../../../helpers/logger';
import { devcontainerProject } from '../../../helpers/project';
import { FakeEngine } from '../../fakes/engine';

/** An engine whose builds stream the classic builder's lines for a failing RUN step, then fail as the engine does. */
class FailingBuildEngine extends FakeEngine {
  override async build(context: TarStream, _request: BuildRequest, onEvent?: (event: BuildEvent) => void): Promise<string> {
    // Read the whole context first, as the engine does, so no file is still open when the test removes it.
    await new Promise<void>((resolve, reject) => {
      const stream = context as NodeJS.ReadableStream;
      stream.on('end', resolve).on('error', reject).resume();
    });
    const events: BuildEvent[] = [
      { stream: 'Step 1/2 : FROM python:3.11-slim\n' },
      { stream: ' ---> 0123456789ab\n' },
      { stream: 'Step 2/2 : RUN python train.py\n' },
      { stream: 'loading weights\n' },
      { stream: 'CUDA error: no kernel image is available for execution on the device\n' },
    ];
    for (const e of events) onEvent?.(e);
    throw new BuildError("The command '/bin/sh -c python train.py' returned a non-zero code: 7", events);
  }
}

describe('a failing build', () => {
  let dir: string;
  beforeEach(() => {
    dir = devcontainerProject('FROM python:3.11-slim\nRUN python train.py\n');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('logs its last lines once, as they stream, and names the step in one sentence', async () => {
    const lines: string[] = [];
    const error = await buildExperiment({
      folder: dir,
      engine: new FailingBuildEngine(),
      git: { info: async () => undefined },
      log: recordingLogger(lines, 'build'),
    }).then(
      () => assert.fail('the build succeeded'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof BuildFailedError);
    assert.equal(
      error.message,
      `The build failed at "RUN python train.py": The command '/bin/sh -c python train.py' returned a non-zero code: 7`,
    );
    assert.deepEqual(error.logTail, ['loading weights', 'CUDA error: no kernel image is available for execution on the device']);
    for (const tail of error.logTail) {
      assert.equal(lines.filter((l) => l.includes(tail)).length, 1, `"${tail}" logged other than once:\n${lines.join('\n')}`);
    }
    assert.deepEqual(
      lines.filter((l) => l.startsWith('error ')),
      [],
    );
  });
});

/** Podman's Docker-compatible API at a given version; builds record the request and succeed. */
class PodmanEngine extends FakeEngine {
  builds: BuildRequest[] = [];
  constructor(private readonly podmanVersion: string) {
    super();
  }
  override async version(): Promise<EngineVersion> {
    return {
      version: this.podmanVersion,
      apiVersion: '1.41',
      os: 'linux',
      arch: 'amd64',
      components: ['Podman Engine', 'Conmon'],
      isPodman: true,
    };
  }
  override async build(context: TarStream, request: BuildRequest): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      const stream = context as NodeJS.ReadableStream;
      stream.on('end', resolve).on('error', reject).resume();
    });
    this.builds.push(request);
    return 'sha256:' + 'a'.repeat(64);
  }
}

describe('building on Podman', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-buildpodman-'));
    fs.mkdirSync(path.join(dir, '.devcontainer'));
    fs.writeFileSync(
      path.join(dir, '.devcontainer', 'devcontainer.json'),
      '{ "build": { "dockerfile": "Dockerfile", "context": ".." } }\n',
    );
    fs.writeFileSync(
      path.join(dir, '.devcontainer', 'Dockerfile'),
      'FROM python:3.11-slim\nRUN --mount=type=cache,target=/root/.cache/pip pip install numpy\n',
    );
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('builds a Dockerfile with cache mounts through the classic /build with Podman 4', async () => {
    const engine = new PodmanEngine('4.3.1');
    const lines: string[] = [];
    const result = await buildExperiment({
      folder: dir,
      engine,
      git: { info: async () => undefined },
      log: recordingLogger(lines, 'build'),
      lock: false,
    });
    assert.equal(result.builder, 'classic');
    assert.equal(engine.builds.length, 1);
    assert.equal(engine.builds[0]!.buildKit, false);
    assert.deepEqual(
      lines.filter((l) => l.startsWith('warn') && /builder/.test(l)),
      [],
      "Podman's own builder is no degraded fall-back to warn about",
    );
  });

  it('refuses cache mounts on a Podman older than 4, naming the update', async () => {
    const engine = new PodmanEngine('3.4.4');
    await assert.rejects(
      buildExperiment({ folder: dir, engine, git: { info: async () => undefined }, log: recordingLogger([], 'build'), lock: false }),
      (e: unknown) =>
        e instanceof BuildFailedError &&
        /^Cannot build here: Podman 3\.4\.4's builder predates RUN --mount \(Podman 4\.0\); update Podman\./.test(e.message),
    );
    assert.equal(engine.builds.length, 0);
  });
});

/** Builds keep their request and the names and contents of the context's files. */
class ContextEngine extends FakeEngine {
  builds: { request: BuildRequest; files: Record<string, string> }[] = [];
  override async build(context: TarStream, request: BuildRequest): Promise<string> {
    const extract = tarStream.extract();
    const files: Record<string, string> = {};
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream
        .on('data', (c: unknown) => chunks.push(c as Buffer))
        .on('end', () => ((files[header.name] = Buffer.concat(chunks).toString()), next()));
    });
    await new Promise<void>((resolve, reject) =>
      (context as NodeJS.ReadableStream).pipe(extract).on('finish', resolve).on('error', reject),
    );
    this.builds.push({ request, files });
    return 'sha256:' + 'b'.repeat(64);
  }
}

describe('building what devcontainer.json names', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-buildsource-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (rel: string, text: string): void => {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  };
  const options = (engine: FakeEngine) => ({
    folder: dir,
    engine,
    git: { info: async () => undefined },
    log: recordingLogger([], 'build'),
    lock: false,
  });

  it('an image config: FROM that image alone in an empty context, labelled like any build, the config as its source', async () => {
    write('.devcontainer/cpu/devcontainer.json', '{ "name": "cpu env", "image": "python:${localEnv:MLC_TEST_UNSET:3.12}-slim" }');
    write('.env', 'HF_TOKEN=x\n');
    const engine = new ContextEngine();
    const result = await buildExperiment(options(engine));
    assert.deepEqual(engine.builds[0]?.files, { Dockerfile: 'FROM python:3.12-slim\n' });
    assert.equal(engine.builds[0]?.request.dockerfile, 'Dockerfile');
    assert.equal(result.labels['org.opencontainers.image.title'], 'cpu env');
    assert.equal(result.labels['org.mlcontainers.base'], 'python:3.12-slim');
    assert.equal(result.labels['org.mlcontainers.dockerfile.path'], '.devcontainer/cpu/devcontainer.json');
    assert.deepEqual(result.contextFindings, [], 'the folder was not sent, so its .env is no finding');
  });

  it('refuses a dockerComposeFile config in one sentence, building nothing', async () => {
    write('.devcontainer.json', '{ "dockerComposeFile": "compose.yaml", "service": "app" }');
    const engine = new ContextEngine();
    await assert.rejects(
      buildExperiment(options(engine)),
      (e: unknown) =>
        e instanceof BuildFailedError &&
        /^\.devcontainer\.json uses dockerComposeFile, and mlc builds one image, not a Compose project: .*\.$/.test(e.message),
    );
    assert.deepEqual(engine.builds, []);
  });

  it('refuses an image that is not a reference, so it never becomes a Dockerfile line', async () => {
    write('.devcontainer.json', '{ "image": "python\\nRUN curl evil" }');
    await assert.rejects(
      buildExperiment(options(new ContextEngine())),
      (e: unknown) => e instanceof BuildFailedError && /is not an image reference/.test(e.message),
    );
  });
});

describe('devcontainer.metadata on an experiment image', () => {
  it('holds devcontainer.json substituted, less a containerEnv from ${localEnv:…} (a secret) and anything still holding ${ (Podman expands it)', async () => {
    const dir = devcontainerProject('FROM python:3.11-slim\n');
    const configFile = path.join(dir, '.devcontainer', 'devcontainer.json');
    fs.writeFileSync(
      configFile,
      JSON.stringify({
        build: { dockerfile: 'Dockerfile', context: '..' },
        containerEnv: { HF_TOKEN: '${localEnv:MLC_TEST_HF_TOKEN}', MODE: 'offline' },
        remoteEnv: { PATH: '${containerEnv:PATH}:/opt/x', WS: '${localWorkspaceFolderBasename}' },
      }),
    );
    process.env.MLC_TEST_HF_TOKEN = 'hf_label_secret_0005';
    try {
      const engine = new ContextEngine();
      await buildExperiment({ folder: dir, engine, git: { info: async () => undefined }, log: recordingLogger([], 'build'), lock: false });
      const label = engine.builds[0]!.request.labels?.['devcontainer.metadata'] ?? '';
      assert.ok(!label.includes('HF_TOKEN'), label);
      assert.ok(!label.includes('${'), label);
      assert.match(label, /"MODE":"offline"/);
      assert.match(label, new RegExp(`"WS":"${path.basename(dir)}"`));
      assert.ok(!JSON.stringify(engine.builds.map((b) => b.request)).includes('hf_label_secret_0005'));
    } finally {
      delete process.env.MLC_TEST_HF_TOKEN;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
