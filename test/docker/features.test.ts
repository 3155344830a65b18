import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildExperiment } from '../../src/core/build/buildExperiment';
import type { Engine } from '../../src/core/docker/engine';
import { DEVCONTAINER_METADATA_LABEL } from '../../src/core/labels';
import { silentLogger } from '../helpers/logger';
import { assertBuiltCli, mlc } from '../helpers/mlc';
import { requireEngine, requireImage, requireKind, STANDIN_DEBIAN } from './harness';

const DEVCONTAINER = path.resolve(__dirname, '../../node_modules/.bin/devcontainer');
const DOCKER_PATH = fs.existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
/** What each Feature left in the image, and the environment its containerEnv made. */
const PROBE = 'cat /opt/order /opt/a/level /opt/a/users /opt/a/uid /opt/b/greeting /opt/b/a_home; echo "$A_HOME"; echo "$PATH"; id -un';

const DOCKERFILE = `FROM ${STANDIN_DEBIAN}\nRUN useradd -m -u 1000 mlc\nUSER mlc\n`;

/** A project whose devcontainer.json asks for Feature b only; b dependsOn a, so both install, a first. */
function featureProject(features: Record<string, unknown> | undefined): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-features-'));
  const files: Record<string, string> = {
    '.devcontainer/devcontainer.json': JSON.stringify({
      name: `mlc-test-features-${path.basename(dir).slice(-6).toLowerCase()}`,
      build: { dockerfile: 'Dockerfile', context: '..' },
      remoteUser: 'mlc',
      ...(features ? { features } : {}),
    }),
    '.devcontainer/Dockerfile': DOCKERFILE,
    '.devcontainer/features/a/devcontainer-feature.json': JSON.stringify({
      id: 'a',
      version: '1.0.0',
      options: { level: { type: 'string', default: '3' } },
      containerEnv: { A_HOME: '/opt/a', PATH: '/opt/a/bin:${PATH}' },
      capAdd: ['SYS_PTRACE'],
    }),
    '.devcontainer/features/a/install.sh': [
      '#!/bin/sh',
      'set -e',
      'mkdir -p /opt/a/bin',
      'echo "$LEVEL" > /opt/a/level',
      'echo a >> /opt/order',
      'echo "$_REMOTE_USER $_REMOTE_USER_HOME $_CONTAINER_USER" > /opt/a/users',
      'id -u > /opt/a/uid',
      '',
    ].join('\n'),
    '.devcontainer/features/b/devcontainer-feature.json': JSON.stringify({
      id: 'b',
      version: '1.0.0',
      options: { greeting: { type: 'string', default: 'hello' }, 'say-twice': { type: 'boolean', default: false } },
      dependsOn: { './features/a': {} },
      mounts: [{ source: 'b-cache', target: '/cache', type: 'volume' }],
      init: true,
    }),
    '.devcontainer/features/b/install.sh': [
      '#!/bin/sh',
      'set -e',
      'test -f /opt/a/level',
      'mkdir -p /opt/b',
      'echo "$GREETING $SAY_TWICE" > /opt/b/greeting',
      'echo "$A_HOME" > /opt/b/a_home',
      'echo b >> /opt/order',
      '',
    ].join('\n'),
  };
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), content);
  }
  return dir;
}

describe('Features in the experiment image (real engine)', function () {
  let engine: Engine;
  const images: string[] = [];
  const dirs: string[] = [];

  before(async function () {
    engine = await requireEngine(this);
    await requireImage(this, engine, STANDIN_DEBIAN);
  });

  after(async () => {
    for (const ref of images) await engine.removeImage(ref, { force: true }).catch(() => undefined);
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('installs local Features in dependsOn order, with their options, users and containerEnv, and lists them in devcontainer.metadata', async () => {
    const dir = featureProject({ './features/b': { greeting: 'hi', 'say-twice': true } });
    dirs.push(dir);
    const result = await buildExperiment({
      folder: dir,
      engine,
      git: { info: async () => undefined },
      log: silentLogger('build'),
      lock: false,
    });
    images.push(...result.tags, result.imageId);

    const out = await engine.runCapture(result.imageId, ['sh', '-c', PROBE]);
    assert.equal(out.exitCode, 0, out.stderr);
    const [orderA, orderB, level, users, uid, greeting, aHome, envAHome, envPath, user] = out.stdout.trim().split('\n');
    assert.deepEqual([orderA, orderB], ['a', 'b'], 'a (which b dependsOn) installs first');
    assert.equal(level, '3', "a's option default");
    assert.equal(users, 'mlc /home/mlc mlc');
    assert.equal(uid, '0', 'install.sh runs as root');
    assert.equal(greeting, 'hi true', "b's options from devcontainer.json, the hyphenated one as SAY_TWICE");
    assert.equal(aHome, '/opt/a', "a's containerEnv is set when b installs");
    assert.equal(envAHome, '/opt/a');
    assert.match(envPath!, /^\/opt\/a\/bin:.*\/usr\/bin/);
    assert.equal(user, 'mlc', "the image's own user again after the Features");

    const details = await engine.inspectImage(result.imageId);
    const metadata = JSON.parse(details!.labels[DEVCONTAINER_METADATA_LABEL]!) as Record<string, unknown>[];
    assert.deepEqual(metadata, [
      { id: './features/a', capAdd: ['SYS_PTRACE'] },
      { id: './features/b', init: true, mounts: [{ source: 'b-cache', target: '/cache', type: 'volume' }] },
      { remoteUser: 'mlc' },
    ]);
    assert.equal(result.labels[DEVCONTAINER_METADATA_LABEL], details!.labels[DEVCONTAINER_METADATA_LABEL]);
  });

  it("a run of the image gets what its Features declare: a's capability and b's cache volume", async function () {
    this.timeout(600_000);
    assertBuiltCli();
    const dir = featureProject({ './features/b': {} });
    dirs.push(dir);
    fs.writeFileSync(path.join(dir, 'exp.yaml'), 'lr: 0.1\n');
    const result = await buildExperiment({
      folder: dir,
      engine,
      git: { info: async () => undefined },
      log: silentLogger('build'),
      lock: false,
    });
    images.push(...result.tags, result.imageId);
    // CAP_SYS_PTRACE is bit 19 of the bounding set (the run is not root, so not in its effective set); the default lacks it.
    const probe =
      'printf "ptrace=%s\\n" $(( (0x$(sed -n "s/^CapBnd:[[:space:]]*//p" /proc/self/status) >> 19) & 1 )); grep -c " /cache " /proc/mounts || true';
    // a is installed because b dependsOn it, but devcontainer.json lists b only: a's capability is the image's to ask
    // for, refused until agreed to (once per image, remembered in this test's own config folder).
    const config = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-features-config-'));
    dirs.push(config);
    const args = ['run', '--dir', dir, '--config', path.join(dir, 'exp.yaml'), '--gpu', 'none', '--', 'bash', '-c', probe];
    try {
      const refused = await mlc(args, { env: { XDG_CONFIG_HOME: config } });
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(
        refused.stderr,
        /asks for capability SYS_PTRACE through its devcontainer\.metadata label: run again with --allow-image-privileges/,
      );
      const r = await mlc([...args.slice(0, -4), '--allow-image-privileges', ...args.slice(-4)], { env: { XDG_CONFIG_HOME: config } });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^ptrace=1$/m, "a's capAdd did not reach the run");
      assert.match(r.stdout, /^1$/m, "b's volume is not mounted at /cache");
    } finally {
      await new Promise((resolve) => execFile(DOCKER_PATH, ['volume', 'rm', '-f', 'b-cache'], { env: process.env }, resolve));
    }
  });

  it("labels an image without Features with devcontainer.json's entry alone", async () => {
    const dir = featureProject(undefined);
    dirs.push(dir);
    const result = await buildExperiment({ folder: dir, engine, git: { info: async () => undefined }, log: silentLogger('build') });
    images.push(...result.tags, result.imageId);
    const details = await engine.inspectImage(result.imageId);
    assert.deepEqual(JSON.parse(details!.labels[DEVCONTAINER_METADATA_LABEL]!), [{ remoteUser: 'mlc' }]);
  });

  it('gives the same Features as the official devcontainer build of the same folder', async function () {
    await requireKind(
      this,
      engine,
      'docker',
      "BuildKit-only: the devcontainer CLI builds through BuildKit's /grpc session, which Podman answers 404",
    );
    const dir = featureProject({ './features/b': { greeting: 'hi', 'say-twice': true } });
    dirs.push(dir);
    const ours = await buildExperiment({
      folder: dir,
      engine,
      git: { info: async () => undefined },
      log: silentLogger('build'),
      lock: false,
    });
    images.push(...ours.tags, ours.imageId);
    const theirs = `${ours.tags[0]!.split(':')[0]}-cli:test`;
    images.push(theirs);
    const built = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(
        DEVCONTAINER,
        ['build', '--workspace-folder', dir, '--image-name', theirs, '--docker-path', DOCKER_PATH],
        { env: { ...process.env, DOCKER_BUILDKIT: '1' }, maxBuffer: 64 * 1024 * 1024 },
        (error, _stdout, stderr) => {
          resolve({ code: error ? Number(error.code ?? 1) : 0, stderr });
        },
      );
    });
    assert.equal(built.code, 0, `devcontainer build failed:\n${built.stderr.slice(-3000)}`);
    const [a, b] = await Promise.all([
      engine.runCapture(ours.imageId, ['sh', '-c', PROBE]),
      engine.runCapture(theirs, ['sh', '-c', PROBE]),
    ]);
    assert.equal(b.exitCode, 0, b.stderr);
    assert.equal(a.stdout, b.stdout);
    const entries = async (ref: string): Promise<unknown[]> =>
      JSON.parse((await engine.inspectImage(ref))!.labels[DEVCONTAINER_METADATA_LABEL]!) as Record<string, unknown>[];
    assert.deepEqual(await entries(ours.imageId), await entries(theirs), 'the same entries (ids included), in the same order');
  });
});
