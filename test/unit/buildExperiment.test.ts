import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BuildFailedError, buildExperiment } from '../../src/core/build/buildExperiment';
import type { BuildEvent, BuildRequest, EngineVersion, TarStream } from '../../src/core/docker/engine';
import { BuildError } from '../../src/core/docker/engine';
import { recordingLogger } from '../helpers/logger';
import { devcontainerProject } from '../helpers/project';
import { FakeEngine } from './fakes/engine';

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
    const error = await buildExperiment({ folder: dir, engine: new FailingBuildEngine(), git: { info: async () => undefined }, log: recordingLogger(lines, 'build') }).then(
      () => assert.fail('the build succeeded'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof BuildFailedError);
    assert.equal(error.message, `The build failed at "RUN python train.py": The command '/bin/sh -c python train.py' returned a non-zero code: 7`);
    assert.deepEqual(error.logTail, ['loading weights', 'CUDA error: no kernel image is available for execution on the device']);
    for (const tail of error.logTail) {
      assert.equal(lines.filter((l) => l.includes(tail)).length, 1, `"${tail}" logged other than once:\n${lines.join('\n')}`);
    }
    assert.deepEqual(lines.filter((l) => l.startsWith('error ')), []);
  });
});

/** Podman's Docker-compatible API at a given version; builds record the request and succeed. */
class PodmanEngine extends FakeEngine {
  builds: BuildRequest[] = [];
  constructor(private readonly podmanVersion: string) {
    super();
  }
  override async version(): Promise<EngineVersion> {
    return { version: this.podmanVersion, apiVersion: '1.41', os: 'linux', arch: 'amd64', components: ['Podman Engine', 'Conmon'], isPodman: true };
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
    fs.writeFileSync(path.join(dir, '.devcontainer', 'devcontainer.json'), '{ "build": { "dockerfile": "Dockerfile", "context": ".." } }\n');
    fs.writeFileSync(path.join(dir, '.devcontainer', 'Dockerfile'), 'FROM python:3.11-slim\nRUN --mount=type=cache,target=/root/.cache/pip pip install numpy\n');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('builds a Dockerfile with cache mounts through the classic /build with Podman 4', async () => {
    const engine = new PodmanEngine('4.3.1');
    const lines: string[] = [];
    const result = await buildExperiment({ folder: dir, engine, git: { info: async () => undefined }, log: recordingLogger(lines, 'build'), lock: false });
    assert.equal(result.builder, 'classic');
    assert.equal(engine.builds.length, 1);
    assert.equal(engine.builds[0]!.buildKit, false);
    assert.deepEqual(lines.filter((l) => l.startsWith('warn') && /builder/.test(l)), [], 'Podman\'s own builder is no degraded fall-back to warn about');
  });

  it('refuses cache mounts on a Podman older than 4, naming the update', async () => {
    const engine = new PodmanEngine('3.4.4');
    await assert.rejects(
      buildExperiment({ folder: dir, engine, git: { info: async () => undefined }, log: recordingLogger([], 'build'), lock: false }),
      (e: unknown) => e instanceof BuildFailedError && /^Cannot build here: Podman 3\.4\.4's builder predates RUN --mount \(Podman 4\.0\); update Podman\./.test(e.message),
    );
    assert.equal(engine.builds.length, 0);
  });
});
