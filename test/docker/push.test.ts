import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pack } from 'tar-fs';
import type { Engine } from '../../src/core/docker/engine';
import { EngineError } from '../../src/core/docker/errors';
import { DIRTY_LABEL, REVISION_LABEL } from '../../src/core/labels';
import { assertBuiltCli, mlc } from '../helpers/mlc';
import { STANDIN_DEBIAN, requireEngine, requireImage } from './harness';
import type { TestRegistry } from './registry';
import { manifestDigest, requireTestRegistry, startRegistry, tagsList } from './registry';

const PASSWORD = `pw-${randomBytes(8).toString('hex')}`;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

describe('mlc push to a real registry (real dockerd, docker-registry 2.8)', function () {
  this.timeout(300_000);
  let engine: Engine;
  let tools: { registry: string; htpasswd: string };
  const name = `mlc-test-push-${randomBytes(3).toString('hex')}`;
  const sha = randomBytes(20).toString('hex');
  const sha7 = sha.slice(0, 7);
  const imageIds: string[] = [];
  const dirs: string[] = [];
  const registries: TestRegistry[] = [];

  const tempDir = (prefix: string): string => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    dirs.push(dir);
    return dir;
  };

  /** A DOCKER_CONFIG folder holding `config` as config.json (none when undefined). */
  const dockerConfig = (config?: unknown): string => {
    const dir = tempDir('mlc-docker-config-');
    if (config !== undefined) fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
    return dir;
  };

  const build = async (dirty: boolean, tags: string[]): Promise<void> => {
    const dir = tempDir('mlc-push-ctx-');
    fs.writeFileSync(path.join(dir, 'Dockerfile'), `FROM ${STANDIN_DEBIAN}\nLABEL org.mlcontainers.test=push\n`);
    const id = await engine.build(pack(dir), { tags, labels: { [REVISION_LABEL]: sha, [DIRTY_LABEL]: String(dirty) }, buildKit: true });
    imageIds.push(id);
  };

  before(async function () {
    engine = await requireEngine(this);
    await requireImage(this, engine, STANDIN_DEBIAN);
    tools = await requireTestRegistry(this, engine);
    assertBuiltCli();
    // What `mlc build` makes: <name>:<sha7> and :latest from a clean tree; <name>:<sha7>-dirty from an edited one.
    await build(false, [`${name}:${sha7}`, `${name}:latest`]);
    await build(true, [`${name}:${sha7}-dirty`]);
  });

  after(async () => {
    for (const r of registries) await r.stop().catch(() => undefined);
    // By id and forced: also drops the <registry>/… tags mlc push added.
    for (const id of imageIds) await engine?.removeImage(id, { force: true }).catch(() => undefined);
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('a registry without auth', () => {
    let registry: TestRegistry;
    before(async () => {
      registry = await startRegistry(tools);
      registries.push(registry);
    });

    it('pushes only the commit tag and prints host/name:<sha7>@<the digest the registry holds>', async () => {
      const r = await mlc(['push', `${name}:latest`, '--registry', `${registry.host}/lab`], { env: { DOCKER_CONFIG: dockerConfig() } });
      assert.equal(r.code, 0, r.stderr);
      const [line, ...more] = r.stdout.trim().split('\n');
      assert.deepEqual(more, []);
      const [reference, digest] = line!.split('@');
      assert.equal(reference, `${registry.host}/lab/${name}:${sha7}`);
      assert.match(digest!, DIGEST);
      assert.deepEqual(await tagsList(registry, `lab/${name}`), [sha7]);
      assert.equal(await manifestDigest(registry, `lab/${name}`, sha7), digest);
      assert.match(r.stderr, new RegExp(`credentials for ${registry.host}: none \\(no docker config\\.json\\)`));
    });

    it('then `mlc export k8s` pins the Job to the digest the push reported', async () => {
      const pushed = await mlc(['push', `${name}:${sha7}`, '--registry', `${registry.host}/lab`], {
        env: { DOCKER_CONFIG: dockerConfig() },
      });
      assert.equal(pushed.code, 0, pushed.stderr);
      const out = tempDir('mlc-push-k8s-');
      const exported = await mlc(['export', 'k8s', `${name}:${sha7}`, '--registry', `${registry.host}/lab`, '--out', out]);
      assert.equal(exported.code, 0, exported.stderr);
      const manifest = fs.readFileSync(exported.stdout.trim(), 'utf8');
      assert.ok(
        manifest.includes(`image: ${pushed.stdout.trim().replace(`:${sha7}@`, '@')}\n`),
        `the Job does not pin ${pushed.stdout.trim()}:\n${manifest}`,
      );
      assert.match(manifest, new RegExp(`revision: ${sha}`));
    });

    it('--latest also pushes latest, the same manifest', async () => {
      const r = await mlc(['push', `${name}:${sha7}`, '--registry', `${registry.host}/lab`, '--latest'], {
        env: { DOCKER_CONFIG: dockerConfig() },
      });
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split('\n');
      assert.deepEqual(
        lines.map((l) => l.split('@')[0]),
        [`${registry.host}/lab/${name}:${sha7}`, `${registry.host}/lab/${name}:latest`],
      );
      assert.deepEqual(await tagsList(registry, `lab/${name}`), [sha7, 'latest'].sort());
      assert.equal(await manifestDigest(registry, `lab/${name}`, 'latest'), lines[1]!.split('@')[1]);
      assert.equal(lines[0]!.split('@')[1], lines[1]!.split('@')[1]);
    });

    it('refuses an image built from uncommitted changes, and pushes it as <sha7>-dirty with --allow-dirty', async () => {
      const refused = await mlc(['push', `${name}:${sha7}-dirty`, '--registry', registry.host], { env: { DOCKER_CONFIG: dockerConfig() } });
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /built from uncommitted changes .*--allow-dirty/);
      assert.deepEqual(await tagsList(registry, name), []);

      const r = await mlc(['push', `${name}:${sha7}-dirty`, '--registry', registry.host, '--allow-dirty'], {
        env: { DOCKER_CONFIG: dockerConfig() },
      });
      assert.equal(r.code, 0, r.stderr);
      const digest = r.stdout.trim().split('@')[1];
      assert.deepEqual(await tagsList(registry, name), [`${sha7}-dirty`]);
      assert.equal(await manifestDigest(registry, name, `${sha7}-dirty`), digest);
    });

    it('Engine.pushImage refuses an untagged reference, which would push every tag of the repository', async () => {
      await assert.rejects(engine.pushImage(`${registry.host}/lab/${name}`, undefined), /name one tag/);
    });
  });

  describe('a registry with htpasswd auth (plain HTTP on 127.0.0.1)', () => {
    let registry: TestRegistry;
    before(async () => {
      registry = await startRegistry(tools, { name: 'ada', password: PASSWORD });
      registries.push(registry);
    });

    it('without credentials: exit 1, "run `docker login <host>`", nothing pushed', async () => {
      const r = await mlc(['push', `${name}:latest`, '--registry', registry.host], { env: { DOCKER_CONFIG: dockerConfig({ auths: {} }) } });
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      assert.match(
        r.stderr,
        new RegExp(
          `wants credentials to push ${registry.host}/${name} \\("no basic auth credentials"\\): run \`docker login ${registry.host}\`, then push again`,
        ),
      );
      assert.deepEqual(await tagsList(registry, name), []);
    });

    it('Engine.pushImage rejects with reason unauthorized although the engine answered 200', async () => {
      await engine.tagImage(`${name}:latest`, `${registry.host}/${name}`, sha7);
      await assert.rejects(
        engine.pushImage(`${registry.host}/${name}:${sha7}`, undefined),
        (e: unknown) => e instanceof EngineError && e.reason === 'unauthorized',
      );
    });

    it('with a wrong password in config.json: names the file, never the password', async () => {
      const wrong = `wrong-${PASSWORD}`;
      const config = dockerConfig({ auths: { [registry.host]: { auth: Buffer.from(`ada:${wrong}`).toString('base64') } } });
      const r = await mlc(['push', `${name}:latest`, '--registry', registry.host], { env: { DOCKER_CONFIG: config } });
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`refused the credentials from ${config}/config\\.json .*run \`docker login ${registry.host}\``));
      assert.ok(!(r.stdout + r.stderr).includes(wrong), 'the password was printed');
    });

    it('with auths from `docker login` in DOCKER_CONFIG: pushes, and prints no secret', async () => {
      const r = await mlc(['push', `${name}:latest`, '--registry', registry.host], {
        env: { DOCKER_CONFIG: dockerConfig({ auths: { [registry.host]: { auth: Buffer.from(`ada:${PASSWORD}`).toString('base64') } } }) },
      });
      assert.equal(r.code, 0, r.stderr);
      const digest = r.stdout.trim().split('@')[1];
      assert.equal(await manifestDigest(registry, name, sha7), digest);
      assert.ok(!(r.stdout + r.stderr).includes(PASSWORD), 'the password was printed');
    });

    it('with a credsStore helper on PATH: pushes with what docker-credential-<name> get answers', async () => {
      const bin = tempDir('mlc-credhelper-');
      fs.writeFileSync(
        path.join(bin, 'docker-credential-mlctest'),
        `#!/bin/sh\nread -r url\n[ "$url" = "${registry.host}" ] || { echo 'credentials not found in native keychain'; exit 1; }\nprintf '{"ServerURL":"%s","Username":"ada","Secret":"${PASSWORD}"}\\n' "$url"\n`,
        { mode: 0o755 },
      );
      const r = await mlc(['push', `${name}:latest`, '--registry', `${registry.host}/team`], {
        env: {
          DOCKER_CONFIG: dockerConfig({ credsStore: 'mlctest', auths: { [registry.host]: {} } }),
          PATH: `${bin}:${process.env.PATH ?? ''}`,
        },
      });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /credentials for .*: credsStore docker-credential-mlctest/);
      assert.equal(await manifestDigest(registry, `team/${name}`, sha7), r.stdout.trim().split('@')[1]);
      assert.ok(!(r.stdout + r.stderr).includes(PASSWORD), 'the password was printed');
    });
  });
});
