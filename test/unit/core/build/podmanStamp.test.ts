import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { extract } from 'tar-stream';
import { buildExperiment } from '../../../../src/core/build/buildExperiment';
import type { BuildRequest, EngineVersion, TarStream } from '../../../../src/core/docker/engine';
import { imageDetails } from '../../../helpers/images';
import { silentLogger } from '../../../helpers/logger';
import { devcontainerProject } from '../../../helpers/project';
import { FakeEngine } from '../../fakes/engine';

/** Podman 4.3's compat API: each build answers with the next id and keeps its request and Dockerfile. */
class PodmanStampEngine extends FakeEngine {
  readonly builds: { request: BuildRequest; dockerfile: string }[] = [];
  readonly removed: string[] = [];
  readonly inspected: string[] = [];
  override async version(): Promise<EngineVersion> {
    return { version: '4.3.1', apiVersion: '1.41', os: 'linux', arch: 'amd64', components: ['Podman Engine', 'Conmon'], isPodman: true };
  }
  override async build(context: TarStream, request: BuildRequest): Promise<string> {
    let dockerfile = '';
    await new Promise<void>((resolve, reject) => {
      const x = extract();
      x.on('entry', (header, stream, next) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: unknown) => chunks.push(c as Buffer));
        stream.on('end', () => {
          if (header.name === request.dockerfile) dockerfile = Buffer.concat(chunks).toString('utf8');
          next();
        });
      });
      x.on('finish', resolve).on('error', reject);
      (context as NodeJS.ReadableStream).pipe(x);
    });
    this.builds.push({ request, dockerfile });
    return `sha256:${String(this.builds.length).repeat(64)}`;
  }
  override async inspectImage(ref: string): ReturnType<FakeEngine['inspectImage']> {
    this.inspected.push(ref);
    return super.inspectImage(ref);
  }
  override async removeImage(ref: string): Promise<void> {
    this.removed.push(ref);
  }
  override async runCapture(): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    return { exitCode: 0, stdout: 'numpy==1.26.4\n', stderr: '' };
  }
}

// Podman 4.3: DELETE /images/<tag> of an image whose only name is that tag and which has a child (the lock layer)
// untags it and then deletes every untagged intermediate image under it — the build's layer cache. A temporary tag
// there made every build, a source-only edit included, run all its steps again (issue 32).
describe('the layer after the build, on Podman', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  it('builds the lock layer FROM the image id and removes no tag, so the layer cache stays', async () => {
    const dir = devcontainerProject('ARG BASE_IMAGE=lab/standin:1\nFROM ${BASE_IMAGE}\nCOPY . /workspace\n', {}, 'dimuon');
    dirs.push(dir);
    const engine = new PodmanStampEngine();
    engine.images.set('lab/standin:1', imageDetails({ id: 'sha256:standin' }));
    const result = await buildExperiment({ folder: dir, engine, git: { info: async () => undefined }, log: silentLogger('build') });
    const [main, stamp] = engine.builds;
    assert.ok(main && stamp && engine.builds.length === 2);
    assert.deepEqual(
      main.request.tags.filter((t) => !result.tags.includes(t)),
      [],
      'a temporary tag on the build',
    );
    assert.equal(stamp.dockerfile, `FROM sha256:${'1'.repeat(64)}\nCOPY environment.lock /etc/mlc/environment.lock\n`);
    assert.deepEqual(stamp.request.tags, result.tags);
    assert.ok(engine.inspected.includes(`sha256:${'1'.repeat(64)}`), 'the built image was not read by id');
    assert.deepEqual(engine.removed, [], 'an image or tag was removed: on Podman that deletes the build cache');
    assert.equal(result.imageId, `sha256:${'2'.repeat(64)}`);
  });

  it('installs Features FROM the image id, tagging nothing until they are in', async () => {
    const dir = devcontainerProject('FROM python:3.11-slim\n');
    dirs.push(dir);
    fs.writeFileSync(
      path.join(dir, '.devcontainer', 'devcontainer.json'),
      JSON.stringify({ build: { dockerfile: 'Dockerfile', context: '..' }, features: { './features/a': {} } }),
    );
    fs.mkdirSync(path.join(dir, '.devcontainer', 'features', 'a'), { recursive: true });
    fs.writeFileSync(path.join(dir, '.devcontainer', 'features', 'a', 'devcontainer-feature.json'), JSON.stringify({ id: 'a' }));
    fs.writeFileSync(path.join(dir, '.devcontainer', 'features', 'a', 'install.sh'), '#!/bin/sh\n');
    const engine = new PodmanStampEngine();
    const result = await buildExperiment({
      folder: dir,
      engine,
      git: { info: async () => undefined },
      log: silentLogger('build'),
      lock: false,
    });
    const [main, features] = engine.builds;
    assert.ok(main && features && engine.builds.length === 2, `${engine.builds.length} builds`);
    assert.deepEqual(main.request.tags, [], 'the real tags moved before the Features were in');
    assert.match(features.dockerfile, new RegExp(`^FROM sha256:${'1'.repeat(64)}\n`));
    assert.deepEqual(
      features.request.tags.filter((t) => !result.tags.includes(t)),
      [],
      'a temporary tag on the Features',
    );
    assert.equal(result.imageId, `sha256:${'2'.repeat(64)}`);
    assert.deepEqual(engine.removed, [], 'an image or tag was removed: on Podman that deletes the build cache');
  });
});
