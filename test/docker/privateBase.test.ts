import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Engine } from '../../src/core/docker/engine';
import { git } from '../helpers/git';
import { assertBuiltCli, mlc } from '../helpers/mlc';
import { STANDIN_DEBIAN, requireEngine, requireImage } from './harness';
import type { TestRegistry } from './registry';
import { manifestDigest, requireTestRegistry, startRegistry } from './registry';

const USER = 'ada';
const PASSWORD = `pw-${randomBytes(8).toString('hex')}`;

describe('a base image in a private registry (real dockerd, docker-registry with htpasswd)', function () {
  this.timeout(300_000);
  let engine: Engine;
  let registry: TestRegistry;
  let dir: string;
  let base: string;
  const name = `mlc-test-private-${randomBytes(3).toString('hex')}`;
  const images: string[] = [];

  before(async function () {
    engine = await requireEngine(this);
    await requireImage(this, engine, STANDIN_DEBIAN);
    const tools = await requireTestRegistry(this, engine);
    assertBuiltCli();
    registry = await startRegistry(tools, { name: USER, password: PASSWORD });
    // The base lives only in the registry: pushed with the password, then its local tag removed.
    base = `${registry.host}/lab/base:1`;
    await engine.tagImage(STANDIN_DEBIAN, `${registry.host}/lab/base`, '1');
    await engine.pushImage(base, { username: USER, password: PASSWORD, serveraddress: registry.host });
    await engine.removeImage(base);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-private-base-'));
    fs.mkdirSync(path.join(dir, '.devcontainer'));
    fs.writeFileSync(
      path.join(dir, '.devcontainer', 'devcontainer.json'),
      `{ "name": "${name}", "build": { "dockerfile": "Dockerfile", "args": { "BASE_IMAGE": "${base}" } } }\n`,
    );
    fs.writeFileSync(
      path.join(dir, '.devcontainer', 'Dockerfile'),
      'ARG BASE_IMAGE=debian:bookworm\nFROM ${BASE_IMAGE}\nRUN echo built > /built.txt\n',
    );
    git(dir, 'init', '-q', '-b', 'main');
    git(dir, 'commit', '-q', '--allow-empty', '-m', 'x');
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'private base');
  });

  after(async () => {
    await registry?.stop().catch(() => undefined);
    for (const ref of images) await engine.removeImage(ref, { force: true }).catch(() => undefined);
  });

  it('without credentials: the build fails and says to docker login to that registry', async () => {
    const config = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-docker-config-'));
    const r = await mlc(['build', '--no-lock'], { cwd: dir, env: { DOCKER_CONFIG: config } });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`401 Unauthorized.*run \`docker login ${registry.host.replace(/\./g, '\\.')}\``));
  });

  it('with the credentials `docker login` stored: pulls the base and builds, and the password is nowhere', async () => {
    const config = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-docker-config-'));
    fs.writeFileSync(
      path.join(config, 'config.json'),
      JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from(`${USER}:${PASSWORD}`).toString('base64') } } }),
    );
    const r = await mlc(['build', '--no-lock'], { cwd: dir, env: { DOCKER_CONFIG: config } });
    assert.equal(r.code, 0, r.stderr);
    const [imageId, ...tags] = r.stdout.trim().split('\n');
    images.push(...tags);
    assert.match(r.stderr, new RegExp(`pulling from ${registry.host.replace(/\./g, '\\.')} with your credentials \\(.*config\\.json\\)`));
    const image = await engine.inspectImage(imageId!);
    assert.ok(image, 'no image');
    assert.equal(image.labels['org.mlcontainers.base'], base);
    // BuildKit pulled the base into its own store: the digest comes from the build, and is the registry's.
    assert.match(image.labels['org.mlcontainers.base.digest'] ?? '', /^sha256:[0-9a-f]{64}$/);
    assert.equal(image.labels['org.mlcontainers.base.digest'], await manifestDigest(registry, 'lab/base', '1'));
    assert.doesNotMatch(
      r.stdout + r.stderr + JSON.stringify(image),
      new RegExp(PASSWORD),
      'the password leaked into the output or the image',
    );
  });

  it('bases from two password-protected registries: each gets its own credentials from the session, and neither password shows', async function () {
    if ((await engine.version()).isPodman) {
      console.log(
        "      skipped: needs a BuildKit session's Auth service (POST /session), which Podman answers 404; the Docker pass runs it",
      );
      this.skip();
    }
    const other = { name: 'grace', password: `pw2-${randomBytes(8).toString('hex')}` };
    const second = await startRegistry(await requireTestRegistry(this, engine), other);
    try {
      const tools = `${second.host}/lab/tools:1`;
      await engine.tagImage(STANDIN_DEBIAN, `${second.host}/lab/tools`, '1');
      await engine.pushImage(tools, { username: other.name, password: other.password, serveraddress: second.host });
      await engine.removeImage(tools);
      const two = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-two-registries-'));
      fs.mkdirSync(path.join(two, '.devcontainer'));
      fs.writeFileSync(
        path.join(two, '.devcontainer', 'devcontainer.json'),
        `{ "name": "${name}-two", "build": { "dockerfile": "Dockerfile" } }\n`,
      );
      fs.writeFileSync(
        path.join(two, '.devcontainer', 'Dockerfile'),
        `FROM ${tools} AS tools\nRUN echo tools > /tools.txt\nFROM ${base}\nCOPY --from=tools /tools.txt /tools.txt\n`,
      );
      git(two, 'init', '-q', '-b', 'main');
      git(two, 'add', '-A');
      git(two, 'commit', '-q', '-m', 'two registries');
      const config = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-docker-config-'));
      const basic = (u: { name: string; password: string }): string => Buffer.from(`${u.name}:${u.password}`).toString('base64');
      fs.writeFileSync(
        path.join(config, 'config.json'),
        JSON.stringify({
          auths: { [registry.host]: { auth: basic({ name: USER, password: PASSWORD }) }, [second.host]: { auth: basic(other) } },
        }),
      );
      const r = await mlc(['build', '--no-lock'], { cwd: two, env: { DOCKER_CONFIG: config } });
      assert.equal(r.code, 0, r.stderr);
      const [imageId, ...tags] = r.stdout.trim().split('\n');
      images.push(...tags);
      assert.match(r.stderr, /context synced through a BuildKit session/);
      const seen = await engine.runCapture(imageId!, ['cat', '/tools.txt']);
      assert.equal(seen.stdout.trim(), 'tools');
      assert.doesNotMatch(r.stdout + r.stderr, new RegExp(`${PASSWORD}|${other.password}`), 'a password leaked into the output');
    } finally {
      await second.stop();
    }
  });
});
