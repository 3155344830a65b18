import * as assert from 'node:assert/strict';
import { buildKitSupport, compareApiVersions, gpuRuntimeSupport } from '../../src/core/docker/capabilities';
import type { EngineInfo, EngineVersion } from '../../src/core/docker/engine';

const version: EngineVersion = { version: '20.10.24', apiVersion: '1.41', os: 'linux', arch: 'amd64', components: ['Engine'], isPodman: false };
const info: EngineInfo = {
  name: 'host', serverVersion: '20.10.24', storageDriver: 'overlay2', operatingSystem: 'Debian GNU/Linux 12', osType: 'linux',
  architecture: 'x86_64', cpus: 2, memTotal: 2 ** 34, runtimes: ['io.containerd.runc.v2', 'runc'], cdiSpecDirs: [], discoveredDevices: [], rootless: false,
};

describe('engine capabilities', () => {
  it('offers BuildKit on a Linux Docker engine with API 1.39 or later', () => {
    assert.equal(buildKitSupport(version, info).available, true);
    assert.equal(buildKitSupport({ ...version, apiVersion: '1.38' }, info).available, false);
  });

  it('refuses BuildKit on Podman and says what that changes', () => {
    const s = buildKitSupport({ ...version, isPodman: true }, info);
    assert.equal(s.available, false);
    assert.match(s.reason, /classic builder.*RUN --mount=type=cache/);
  });

  it('refuses BuildKit for Windows containers', () => {
    assert.equal(buildKitSupport(version, { ...info, osType: 'windows' }).available, false);
  });

  it('reports the nvidia runtime and CDI GPUs from /info', () => {
    const g = gpuRuntimeSupport({ ...info, runtimes: ['nvidia', 'runc'], defaultRuntime: 'nvidia', discoveredDevices: [{ source: 'cdi', id: 'nvidia.com/gpu=0' }, { source: 'cdi', id: 'nvidia.com/gpu=all' }] }, version);
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
