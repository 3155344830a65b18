import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import type * as TarStreamModule from 'tar-stream';
import { BuildFailedError, buildExperiment } from '../../../../src/core/build/buildExperiment';
import type { BuildEvent, BuildRequest, TarStream } from '../../../../src/core/docker/engine';
import { BuildError } from '../../../../src/core/docker/engine';
import { httpFeatureDownloader } from '../../../../src/core/features/download';
import { projectFeatures } from '../../../../src/core/features/features';
import { featureLayer, featureUsers, optionEnv, optionEnvName } from '../../../../src/core/features/layer';
import { metadataEntries, parseMetadataLabel } from '../../../../src/core/features/metadata';
import { installOrder } from '../../../../src/core/features/order';
import type { FeatureDownloader, FeatureManifest, ResolvedFeature } from '../../../../src/core/features/resolve';
import { FeatureError } from '../../../../src/core/features/resolve';
import type { FeatureRegistry } from '../../../helpers/featureRegistry';
import { featureRegistry } from '../../../helpers/featureRegistry';
import { silentLogger } from '../../../helpers/logger';
import { devcontainerProject } from '../../../helpers/project';
import { FakeEngine } from '../../fakes/engine';

const CONFIG_DIR = '/p/.devcontainer';

function feature(userId: string, manifest: Partial<FeatureManifest> = {}, options: ResolvedFeature['options'] = {}): ResolvedFeature {
  const id = manifest.id ?? userId.split('/').pop()!.split(':')[0]!;
  const resource = userId.startsWith('./') ? path.resolve(CONFIG_DIR, userId) : userId.split(':')[0]!;
  return {
    userId,
    resource,
    source: userId.startsWith('./') ? 'local' : 'oci',
    options,
    files: [],
    manifest: { id, options: {}, containerEnv: {}, installsAfter: [], dependsOn: {}, legacyIds: [], raw: { id }, ...manifest },
  };
}

const ids = (fs: readonly ResolvedFeature[]): string[] => fs.map((f) => f.userId);

describe('Feature installation order', () => {
  it('installs a Feature after what it dependsOn, whatever the order written', () => {
    const b = feature('./features/b', { dependsOn: { './features/z': {} } });
    const z = feature('./features/z');
    assert.deepEqual(ids(installOrder([b, z], CONFIG_DIR)), ['./features/z', './features/b']);
  });

  it('honours installsAfter only for Features that are installed anyway, by id without version', () => {
    const a = feature('ghcr.io/x/features/a:1', { installsAfter: ['ghcr.io/x/features/c', 'ghcr.io/x/features/absent'] });
    const c = feature('ghcr.io/x/features/c:2');
    assert.deepEqual(ids(installOrder([a, c], CONFIG_DIR)), ['ghcr.io/x/features/c:2', 'ghcr.io/x/features/a:1']);
  });

  it('sorts a round by resource, and overrideFeatureInstallOrder moves Features ahead', () => {
    const fs3 = [feature('ghcr.io/x/features/c:1'), feature('ghcr.io/x/features/a:1'), feature('ghcr.io/x/features/b:1')];
    assert.deepEqual(ids(installOrder(fs3, CONFIG_DIR)), ['ghcr.io/x/features/a:1', 'ghcr.io/x/features/b:1', 'ghcr.io/x/features/c:1']);
    assert.deepEqual(ids(installOrder(fs3, CONFIG_DIR, ['ghcr.io/x/features/c', 'ghcr.io/x/features/b'])), [
      'ghcr.io/x/features/c:1',
      'ghcr.io/x/features/b:1',
      'ghcr.io/x/features/a:1',
    ]);
  });

  it('does not let an override jump a dependency', () => {
    const a = feature('./features/a', { dependsOn: { './features/b': {} } });
    const b = feature('./features/b');
    assert.deepEqual(ids(installOrder([a, b], CONFIG_DIR, ['./features/a'])), ['./features/b', './features/a']);
  });

  it('refuses a circle, naming its Features', () => {
    const a = feature('./features/a', { installsAfter: ['b'] });
    const b = feature('./features/b', { dependsOn: { './features/a': {} } });
    assert.throws(
      () => installOrder([a, b], CONFIG_DIR),
      (e: unknown) => e instanceof FeatureError && /"\.\/features\/a", "\.\/features\/b" depend on each other/.test(e.message),
    );
  });
});

describe('Feature options and users', () => {
  it('names option variables as the devcontainer CLI does', () => {
    assert.equal(optionEnvName('version'), 'VERSION');
    assert.equal(optionEnvName('say-twice'), 'SAY_TWICE');
    assert.equal(optionEnvName('install.tools'), 'INSTALL_TOOLS');
    assert.equal(optionEnvName('2fast'), '_FAST');
  });

  it('gives every option its value from devcontainer.json, else its default', () => {
    const f = feature(
      './features/py',
      { options: { version: { type: 'string', default: '3.12' }, pip: { type: 'boolean', default: true }, extra: { type: 'string' } } },
      { pip: false, 'add-path': 'x' },
    );
    assert.deepEqual(optionEnv(f), { VERSION: '3.12', PIP: 'false', ADD_PATH: 'x' });
  });

  it('takes remoteUser, then containerUser, then the base entries, then the image user, then root', () => {
    assert.deepEqual(featureUsers({ remoteUser: 'ada' }, 'mlc'), { remoteUser: 'ada', containerUser: 'mlc' });
    assert.deepEqual(featureUsers({ containerUser: 'bob' }, 'mlc'), { remoteUser: 'bob', containerUser: 'bob' });
    assert.deepEqual(featureUsers({}, undefined, [{ remoteUser: 'vscode' }]), { remoteUser: 'vscode', containerUser: 'root' });
    assert.deepEqual(featureUsers({}, '1000:1000'), { remoteUser: '1000', containerUser: '1000' });
  });

  it('writes one COPY and RUN per Feature, its containerEnv as ENV after it, and the image user back', () => {
    const a = feature('./features/a', { containerEnv: { PATH: '/opt/a/bin:${PATH}', Q: 'say "hi"' } }, { level: "it's" });
    a.files.push({ path: 'install.sh', content: Buffer.from('#!/bin/sh\n'), mode: 0o644 });
    const layer = featureLayer([a, feature('./features/b')], {
      from: 'x:tmp',
      users: { remoteUser: 'ada', containerUser: 'root' },
      imageUser: 'mlc',
    });
    const dockerfile = layer.files.find((f) => f.path === 'Dockerfile')!.content.toString();
    assert.equal(
      dockerfile,
      [
        'FROM x:tmp',
        'USER root',
        'COPY 1-a/ /tmp/mlc-features/1-a/',
        'RUN sh /tmp/mlc-features/1-a/devcontainer-features-install.sh',
        'ENV PATH="/opt/a/bin:${PATH}" Q="say \\"hi\\""',
        'COPY 2-b/ /tmp/mlc-features/2-b/',
        'RUN sh /tmp/mlc-features/2-b/devcontainer-features-install.sh',
        'USER mlc',
        '',
      ].join('\n'),
    );
    assert.equal(
      layer.files.find((f) => f.path === '1-a/devcontainer-features.env')!.content,
      `LEVEL='it'\\''s'\n_REMOTE_USER='ada'\n_CONTAINER_USER='root'\n`,
    );
    assert.ok(layer.files.some((f) => f.path === '1-a/install.sh'));
  });
});

describe('devcontainer.metadata', () => {
  it("keeps the base entries, adds one per Feature with what it declares, then devcontainer.json's properties", () => {
    const a = feature('./features/a');
    a.manifest.raw = { id: 'a', version: '1', capAdd: ['SYS_PTRACE'], privileged: true, containerEnv: { X: '1' }, options: {} };
    const entries = metadataEntries(parseMetadataLabel('[{"remoteUser":"vscode"}]'), [a], {
      name: 'p',
      build: { dockerfile: 'D' },
      remoteUser: 'ada',
      customizations: { vscode: { extensions: ['ms-python.python'] } },
      features: {},
    });
    assert.deepEqual(entries, [
      { remoteUser: 'vscode' },
      { id: './features/a', capAdd: ['SYS_PTRACE'], privileged: true },
      { remoteUser: 'ada', customizations: { vscode: { extensions: ['ms-python.python'] } } },
    ]);
  });

  it('reads a malformed or single-object label as the CLI does', () => {
    assert.deepEqual(parseMetadataLabel('not json'), []);
    assert.deepEqual(parseMetadataLabel('{"remoteUser":"x"}'), [{ remoteUser: 'x' }]);
  });
});

async function tgz(files: Record<string, string>): Promise<Buffer> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const pack = (require('tar-stream') as typeof TarStreamModule).pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve) => pack.on('end', () => resolve()));
  for (const [name, content] of Object.entries(files)) pack.entry({ name, mode: 0o755 }, content);
  pack.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}

describe('resolving Features', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-features-unit-'));
    fs.mkdirSync(path.join(dir, 'features', 'local'), { recursive: true });
    fs.writeFileSync(
      path.join(dir, 'features', 'local', 'devcontainer-feature.json'),
      '{ "id": "local", "dependsOn": { "ghcr.io/x/features/dep:1": "2.0" } }',
    );
    fs.writeFileSync(path.join(dir, 'features', 'local', 'install.sh'), '#!/bin/sh\n');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads local, OCI and tarball Features through one path, adding dependsOn with its options', async () => {
    const asked: string[] = [];
    const download: FeatureDownloader = {
      oci: async (ref) => {
        asked.push(`oci ${ref}`);
        return tgz({
          './devcontainer-feature.json': '{"id":"dep","options":{"version":{"type":"string","default":"1"}}}',
          './install.sh': 'echo dep\n',
        });
      },
      tarball: async (url) => {
        asked.push(`tarball ${url}`);
        return tgz({ 'devcontainer-feature.json': '{"id":"tar","installsAfter":["local"]}', 'install.sh': 'echo tar\n' });
      },
    };
    const features = await projectFeatures(
      { features: { 'https://example.org/devcontainer-feature-tar.tgz': {}, './features/local': true } },
      dir,
      { download },
    );
    assert.deepEqual(ids(features), ['ghcr.io/x/features/dep:1', './features/local', 'https://example.org/devcontainer-feature-tar.tgz']);
    assert.deepEqual(asked.sort(), ['oci ghcr.io/x/features/dep:1', 'tarball https://example.org/devcontainer-feature-tar.tgz']);
    const dep = features[0]!;
    assert.deepEqual(dep.options, { version: '2.0' }, 'a string in dependsOn is the version option');
    assert.deepEqual(dep.files.map((f) => [f.path, f.mode]).sort(), [
      ['devcontainer-feature.json', 0o755],
      ['install.sh', 0o755],
    ]);
  });

  it('refuses a local Feature outside the folder, or one without install.sh, with what to do', async () => {
    const none: FeatureDownloader = { oci: async () => assert.fail('no download'), tarball: async () => assert.fail('no download') };
    await assert.rejects(
      projectFeatures({ features: { '../elsewhere': {} } }, dir, { download: none }),
      /outside .*local Features live in a folder beside devcontainer\.json/,
    );
    fs.rmSync(path.join(dir, 'features', 'local', 'install.sh'));
    await assert.rejects(projectFeatures({ features: { './features/local': {} } }, dir, { download: none }), /has no install\.sh/);
    await assert.rejects(
      projectFeatures({ features: { python: {} } }, dir, { download: none }),
      /neither a local folder .* nor an https URL/,
    );
  });
});

/** An engine whose first build (the Dockerfile) succeeds and whose second (the Features) fails in Feature b's RUN step. */
class FailingFeatureEngine extends FakeEngine {
  readonly builds: BuildRequest[] = [];
  override async build(context: TarStream, request: BuildRequest, onEvent?: (event: BuildEvent) => void): Promise<string> {
    await new Promise<void>((resolve, reject) => (context as NodeJS.ReadableStream).on('end', resolve).on('error', reject).resume());
    this.builds.push(request);
    if (this.builds.length === 1) return 'sha256:dockerfile';
    const events: BuildEvent[] = [
      { stream: 'Step 6/7 : RUN sh /tmp/mlc-features/2-b/devcontainer-features-install.sh\n' },
      { stream: 'b: no network\n' },
    ];
    for (const e of events) onEvent?.(e);
    throw new BuildError(
      "The command '/bin/sh -c sh /tmp/mlc-features/2-b/devcontainer-features-install.sh' returned a non-zero code: 1",
      events,
    );
  }
}

describe('a Feature that fails to install', () => {
  let dir: string;
  beforeEach(() => {
    dir = devcontainerProject('FROM python:3.11-slim\n');
    const config = { build: { dockerfile: 'Dockerfile', context: '..' }, features: { './features/b': {}, './features/a': {} } };
    fs.writeFileSync(path.join(dir, '.devcontainer', 'devcontainer.json'), JSON.stringify(config));
    for (const id of ['a', 'b']) {
      fs.mkdirSync(path.join(dir, '.devcontainer', 'features', id), { recursive: true });
      fs.writeFileSync(path.join(dir, '.devcontainer', 'features', id, 'devcontainer-feature.json'), JSON.stringify({ id }));
      fs.writeFileSync(path.join(dir, '.devcontainer', 'features', id, 'install.sh'), '#!/bin/sh\n');
    }
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('fails the build naming the Feature, and moves no real tag', async () => {
    const engine = new FailingFeatureEngine();
    await assert.rejects(
      buildExperiment({ folder: dir, engine, git: { info: async () => undefined }, log: silentLogger('build'), lock: false }),
      (e: unknown) =>
        e instanceof BuildFailedError &&
        e.message.startsWith(
          'The Feature "./features/b" failed to install at "RUN sh /tmp/mlc-features/2-b/devcontainer-features-install.sh"',
        ),
    );
    assert.equal(engine.builds.length, 2);
    assert.deepEqual(
      engine.builds[0]!.tags.map((t) => t.replace(/[0-9a-f]{8}$/, '…')),
      [`${path.basename(dir).toLowerCase()}:mlc-stamp-…`],
    );
  });
});

describe('OCI Features from a registry', () => {
  const registries: FeatureRegistry[] = [];
  afterEach(async () => {
    for (const r of registries.splice(0)) await r.close();
  });
  const layer = (): Promise<Buffer> =>
    tgz({ './devcontainer-feature.json': '{"id":"hello","version":"1.2.0"}', './install.sh': 'echo hello\n' }).then((b) => gunzipSync(b));

  it('fetches the manifest, then the Feature layer, with an anonymous token', async () => {
    const registry = await featureRegistry('hello', '1', await layer());
    registries.push(registry);
    const ref = `${registry.host}/devcontainers/features/hello:1`;
    const [hello] = await projectFeatures({ features: { [ref]: {} } }, CONFIG_DIR, { download: httpFeatureDownloader() });
    assert.equal(hello?.manifest.version, '1.2.0');
    assert.equal(hello?.resource, `${registry.host}/devcontainers/features/hello`);
    assert.deepEqual(hello?.files.map((f) => f.path).sort(), ['devcontainer-feature.json', 'install.sh']);
    assert.deepEqual(
      registry.requests.filter((r) => !r.startsWith('GET /token')).map((r) => r.replace(/sha256:[0-9a-f]+/, 'sha256:…')),
      [
        'GET /v2/devcontainers/features/hello/manifests/1',
        'GET /v2/devcontainers/features/hello/manifests/1',
        'GET /v2/devcontainers/features/hello/blobs/sha256:…',
      ],
    );
  });

  it('refuses a damaged layer and a missing version, each with what to do; reads a one-layer artifact of another media type', async () => {
    const damaged = await featureRegistry('hello', '1', await layer(), { damage: true });
    const image = await featureRegistry('hello', '1', await layer(), { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' });
    registries.push(damaged, image);
    const download = httpFeatureDownloader();
    await assert.rejects(download.oci(`${damaged.host}/devcontainers/features/hello:1`), /arrived damaged .*: build again\./);
    await assert.rejects(
      download.oci(`${damaged.host}/devcontainers/features/hello:2`),
      /is not on 127\.0\.0\.1:\d+: check its name and version\./,
    );
    const twoLayers = await download.oci(`${image.host}/devcontainers/features/hello:1`).then(
      () => 'accepted',
      (e: Error) => e.message,
    );
    assert.equal(twoLayers, 'accepted', 'a manifest with one layer of another media type is still read, as the CLI does');
  });
});
