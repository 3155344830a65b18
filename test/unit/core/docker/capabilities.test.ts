import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { machineEngine } from '../../../../src/core/docker/machine';
import { buildKitSupport, cacheMountSupport, compareApiVersions, gpuRuntimeSupport } from '../../../../src/core/docker/capabilities';
import type { EngineInfo, EnginePing, EngineVersion } from '../../../../src/core/docker/engine';
import { pingFacts } from '../../../../src/core/docker/dockerode/system';

const version: EngineVersion = {
  version: '20.10.24',
  apiVersion: '1.41',
  os: 'linux',
  arch: 'amd64',
  components: ['Engine'],
  isPodman: false,
};
const info: EngineInfo = {
  name: 'host',
  serverVersion: '20.10.24',
  storageDriver: 'overlay2',
  operatingSystem: 'Debian GNU/Linux 12',
  osType: 'linux',
  architecture: 'x86_64',
  cpus: 2,
  memTotal: 2 ** 34,
  runtimes: ['io.containerd.runc.v2', 'runc'],
  cdiSpecDirs: [],
  discoveredDevices: [],
  rootless: false,
};

const docker: EnginePing = { apiVersion: '1.41', osType: 'linux', isPodman: false, version: '20.10.24+dfsg1' };

describe('engine capabilities', () => {
  it("reads /_ping's headers as Docker 20.10 and Podman 4.3 send them (captured from both)", () => {
    assert.deepEqual(
      pingFacts({ 'api-version': '1.41', 'docker-experimental': 'false', ostype: 'linux', server: 'Docker/20.10.24+dfsg1 (linux)' }),
      docker,
    );
    // Podman sends no Ostype, and empty Builder-Version/Buildkit-Version.
    assert.deepEqual(
      pingFacts({
        'api-version': '1.41',
        'builder-version': '',
        'buildkit-version': '',
        'libpod-api-version': '4.3.1',
        'libpod-buildah-version': '1.28.2',
        server: 'Libpod/4.3.1 (linux)',
      }),
      { apiVersion: '1.41', osType: 'linux', isPodman: true, version: '4.3.1' },
    );
    // A proxy that strips them leaves nothing to go on: no BuildKit is promised.
    assert.equal(buildKitSupport(pingFacts({})).available, false);
  });

  it("asks /version where /_ping's headers were lost on the way (a proxy), and says the same", async () => {
    // Our own stand-in of the two endpoints on loopback: a /_ping with no headers, as a stripping proxy leaves it.
    const asked: string[] = [];
    const server = http.createServer((req, res) => {
      const url = (req.url ?? '').replace(/^\/v[\d.]+/, '').split('?')[0] ?? '';
      asked.push(url);
      if (url === '/_ping') return void res.end('OK');
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ Version: '20.10.24', ApiVersion: '1.41', Os: 'linux', Arch: 'amd64', Components: [{ Name: 'Engine' }] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const engine = machineEngine(`tcp://127.0.0.1:${(server.address() as AddressInfo).port}`);
      assert.deepEqual(await engine.ping(), { apiVersion: '1.41', osType: 'linux', isPodman: false, version: '20.10.24' });
      assert.deepEqual(asked, ['/_ping', '/version']);
    } finally {
      server.close();
    }
  });

  it('offers BuildKit on a Linux Docker engine with API 1.39 or later', () => {
    assert.equal(buildKitSupport(docker).available, true);
    assert.equal(buildKitSupport({ ...docker, apiVersion: '1.38' }).available, false);
  });

  it('refuses BuildKit on Podman and names the builder it uses instead', () => {
    const s = buildKitSupport({ ...docker, isPodman: true });
    assert.equal(s.available, false);
    assert.match(s.reason, /no BuildKit; builds use Podman's own builder \(buildah\)/);
  });

  it('takes RUN --mount=type=cache with BuildKit and with Podman 4 (buildah), not with the classic builder or older Podman', () => {
    const podman = { ...docker, version: '4.3.1', apiVersion: '1.41', isPodman: true };
    assert.deepEqual(cacheMountSupport(docker), { available: true, reason: 'BuildKit keeps the cache between builds' });
    assert.deepEqual(cacheMountSupport(podman), { available: true, reason: "Podman's builder (buildah) keeps the cache between builds" });
    const old = cacheMountSupport({ ...podman, version: '3.4.4' });
    assert.equal(old.available, false);
    assert.match(old.reason, /^Podman 3\.4\.4's builder predates RUN --mount \(Podman 4\.0\); update Podman$/);
    const classic = cacheMountSupport({ ...docker, apiVersion: '1.38' });
    assert.equal(classic.available, false);
    assert.match(classic.reason, /predates BuildKit .*classic builder refuses RUN --mount/);
  });

  it('on Podman, lists the GPUs its CDI spec files name, and says when there are none', () => {
    const podman = { ...version, version: '4.3.1', isPodman: true };
    const none = gpuRuntimeSupport(info, podman, { devices: [], dirs: ['/etc/cdi', '/var/run/cdi'] });
    assert.deepEqual(none.cdiDevices, []);
    assert.match(none.summary, /no NVIDIA CDI spec in \/etc\/cdi, \/var\/run\/cdi, so containers get no GPU/);
    const some = gpuRuntimeSupport(info, podman, { devices: ['nvidia.com/gpu=0', 'nvidia.com/gpu=all'], dirs: ['/etc/cdi'] });
    assert.deepEqual(some.cdiDevices, ['nvidia.com/gpu=0', 'nvidia.com/gpu=all']);
    assert.doesNotMatch(some.summary, /no NVIDIA CDI spec/);
    assert.match(gpuRuntimeSupport(info, podman).summary, /CDI specs cannot be checked from here/);
  });

  it('refuses BuildKit for Windows containers', () => {
    assert.equal(buildKitSupport({ ...docker, osType: 'windows' }).available, false);
  });

  it('reports the nvidia runtime and CDI GPUs from /info', () => {
    const g = gpuRuntimeSupport(
      {
        ...info,
        runtimes: ['nvidia', 'runc'],
        defaultRuntime: 'nvidia',
        discoveredDevices: [
          { source: 'cdi', id: 'nvidia.com/gpu=0' },
          { source: 'cdi', id: 'nvidia.com/gpu=all' },
        ],
      },
      version,
    );
    assert.equal(g.nvidiaRuntime, true);
    assert.deepEqual(g.cdiDevices, ['nvidia.com/gpu=0', 'nvidia.com/gpu=all']);
    assert.match(g.summary, /nvidia runtime \(default\); CDI: nvidia\.com\/gpu=0/);
  });

  it('says "none" and lists the runtimes when there is no GPU runtime', () => {
    assert.equal(gpuRuntimeSupport(info, version).summary, 'none (runtimes: io.containerd.runc.v2, runc)');
  });

  it('compares API versions numerically', () => {
    assert.ok(compareApiVersions('1.41', '1.39') > 0);
    assert.ok(compareApiVersions('1.9', '1.39') < 0);
    assert.equal(compareApiVersions('1.40', '1.40.0'), 0);
  });
});
