import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { BuildFailedError, buildExperiment } from '../../src/core/build/buildExperiment';
import type { BuildEvent, BuildRequest, TarStream } from '../../src/core/docker/engine';
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
