import * as assert from 'node:assert/strict';
import type { EngineInfo, EngineVersion } from '../../../../src/core/docker/engine';
import { demuxLogs } from '../../../../src/core/docker/dockerode/logs';
import { interpretNvidiaSmi } from '../../../../src/core/gpu/nvidiaSmi';
import { gpuPreflight } from '../../../../src/core/gpu/preflight';
import { noToolkit } from '../../../../src/core/gpu/toolkit';
import { jupyterContainerRequest, serverLabel, toServer } from '../../../../src/core/jupyter/server';
import { createLogger } from '../../../../src/core/log';
import type { GpuDecision } from '../../../../src/core/container/gpu';
import { GpuUnavailableError, decideGpu, parseGpuSetting } from '../../../../src/core/container/gpu';
import { cdiHostConfig, deviceRequests, gpuHostConfig } from '../../../../src/core/container/request';
import { parseSize } from '../../../../src/core/format';
import { maskSecrets, newToken } from '../../../../src/core/secrets';
import { imageDetails } from '../../../helpers/images';

const version: EngineVersion = {
  version: '27.3.1',
  apiVersion: '1.47',
  os: 'linux',
  arch: 'amd64',
  components: ['Engine'],
  isPodman: false,
};
const info: EngineInfo = {
  name: 'host',
  serverVersion: '27.3.1',
  storageDriver: 'overlay2',
  operatingSystem: 'Ubuntu 24.04',
  osType: 'linux',
  architecture: 'x86_64',
  cpus: 64,
  memTotal: 2 ** 40,
  runtimes: ['nvidia', 'runc'],
  cdiSpecDirs: [],
  discoveredDevices: [],
  rootless: false,
};
const TWO_GPUS = interpretNvidiaSmi({
  code: 0,
  stdout: '0, NVIDIA L4, GPU-aaa, 550.54.15, 23034 MiB\n1, NVIDIA L4, GPU-bbb, 550.54.15, 23034 MiB\n',
  stderr: '',
});
const GIB = 1024 ** 3;

describe('GPU run options', () => {
  it('--gpus all and device=0,1 become the DeviceRequests the docker CLI sends', () => {
    assert.deepEqual(deviceRequests('all'), [{ Driver: '', Count: -1, Capabilities: [['gpu']] }]);
    assert.deepEqual(deviceRequests(['0', 'GPU-bbb']), [{ Driver: '', DeviceIDs: ['0', 'GPU-bbb'], Capabilities: [['gpu']] }]);
  });

  it('CDI names go to Docker as DeviceRequests with the cdi driver, to Podman as Devices', () => {
    assert.deepEqual(cdiHostConfig('all', false), { DeviceRequests: [{ Driver: 'cdi', DeviceIDs: ['nvidia.com/gpu=all'] }] });
    assert.deepEqual(cdiHostConfig(['0', '1'], true), {
      Devices: [
        { PathOnHost: 'nvidia.com/gpu=0', PathInContainer: '', CgroupPermissions: '' },
        { PathOnHost: 'nvidia.com/gpu=1', PathInContainer: '', CgroupPermissions: '' },
      ],
    });
  });

  it('GPU runs get memlock=-1 and a 64 MB stack; CPU runs only the shared-memory size', () => {
    const gpu: GpuDecision = { mode: 'gpu', devices: 'all', via: 'device-requests', podman: false, warnings: [] };
    assert.deepEqual(gpuHostConfig(gpu, 8 * GIB), {
      ShmSize: 8 * GIB,
      DeviceRequests: [{ Driver: '', Count: -1, Capabilities: [['gpu']] }],
      Ulimits: [
        { Name: 'memlock', Soft: -1, Hard: -1 },
        { Name: 'stack', Soft: 67108864, Hard: 67108864 },
      ],
    });
    assert.deepEqual(gpuHostConfig({ mode: 'cpu' }, 2 * GIB), { ShmSize: 2 * GIB });
    assert.deepEqual(
      gpuHostConfig(gpu, 8 * GIB, true).Ulimits,
      [{ Name: 'stack', Soft: 67108864, Hard: 67108864 }],
      "dropMemlock keeps the engine's memlock",
    );
  });

  it('parses the gpu setting and sizes, refusing what docker would refuse', () => {
    assert.equal(parseGpuSetting(undefined), 'auto');
    assert.equal(parseGpuSetting('none'), 'none');
    assert.deepEqual(parseGpuSetting('0, 1'), ['0', '1']);
    assert.deepEqual(parseGpuSetting([0, 'GPU-5b9c4e0e-4f4e']), ['0', 'GPU-5b9c4e0e-4f4e']);
    assert.throws(() => parseGpuSetting('everything'), /"everything" is not a GPU: use auto, all, none/);
    assert.equal(parseSize('8g'), 8 * GIB);
    assert.equal(parseSize('512m'), 512 * 1024 ** 2);
    assert.equal(parseSize('1024'), 1024);
    assert.throws(() => parseSize('lots'), /not a size/);
  });
});

describe('GPU decision', () => {
  const ok = gpuPreflight({ info, version, host: TWO_GPUS });
  const noDriver = gpuPreflight({ info: { ...info, runtimes: ['runc'] }, version, host: { kind: 'notInstalled' }, toolkit: noToolkit() });
  const noSmi = gpuPreflight({ info, version, host: { kind: 'notInstalled' }, toolkit: noToolkit() });
  const remote = gpuPreflight({ info: { ...info, runtimes: ['runc'] }, version, host: { kind: 'remote', host: 'ssh://gpu-node' } });
  const tooOld = gpuPreflight({ info, version, host: TWO_GPUS, cuda: { version: '13.0', source: 'CUDA_VERSION' } });

  it('auto uses every GPU when the preflight passes', () => {
    assert.deepEqual(decideGpu('auto', ok), { mode: 'gpu', devices: 'all', via: 'device-requests', podman: false, warnings: [] });
  });

  it('auto falls back to CPU with a one-line note when it does not', () => {
    const d = decideGpu('auto', tooOld);
    assert.equal(d.mode, 'cpu');
    assert.equal(
      d.mode === 'cpu' ? d.note : '',
      'GPU: off (driver 550.54.15 is too old for CUDA 13.0); running on CPU. `mlc doctor --gpu` or "ML Containers: Check GPU Setup" explains.',
    );
  });

  it('an explicit choice fails with the preflight sentence instead of falling back', () => {
    assert.throws(
      () => decideGpu('all', tooOld),
      (e: unknown) => e instanceof GpuUnavailableError && /^Driver 550.54.15 is too old for CUDA 13.0/.test(e.message),
    );
    assert.throws(() => decideGpu(['5'], gpuPreflight({ info, version, host: TWO_GPUS, devices: ['5'] })), /GPU 5 is not on this machine/);
  });

  it('"will not work" (no driver, no runtime, no hook here): auto runs on CPU, an explicit choice fails with the sentence', () => {
    assert.equal(noDriver.verdict.kind, 'blocked');
    assert.equal(decideGpu('auto', noDriver).mode, 'cpu');
    assert.throws(
      () => decideGpu('all', noDriver),
      (e: unknown) => e instanceof GpuUnavailableError && /^No NVIDIA driver on this machine/.test(e.message),
    );
    assert.deepEqual(decideGpu('none', undefined), { mode: 'cpu' });
  });

  it('"can\'t tell" (nvidia-smi missing under PATH or WSL, a remote engine) asks the engine, with the doubt as a warning', () => {
    for (const p of [noSmi, remote]) {
      assert.equal(p.verdict.kind, 'unknown');
      for (const setting of ['auto', 'all'] as const) {
        const d = decideGpu(setting, p);
        assert.equal(d.mode, 'gpu');
        assert.deepEqual(
          d.mode === 'gpu' ? d.warnings : [],
          p.problems.map((x) => x.message),
        );
      }
    }
  });
});

describe('Jupyter tokens and the container request', () => {
  const image = imageDetails({
    repoTags: ['dimuon:3f2a1bc'],
    labels: { 'org.opencontainers.image.revision': '3f2a1bc9d0e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4', 'org.opencontainers.image.title': 'dimuon' },
  });

  it('makes 48-hex tokens that never repeat', () => {
    const tokens = new Set(Array.from({ length: 100 }, () => newToken()));
    assert.equal(tokens.size, 100);
    for (const t of tokens) assert.match(t, /^[0-9a-f]{48}$/);
  });

  it('masks tokens in log lines, URLs and headers', () => {
    const token = newToken();
    const lines: string[] = [];
    const log = createLogger({ write: (_level, line) => lines.push(line) }, 'jupyter');
    log.info(`started with ${token}`);
    log.error(new Error(`http://127.0.0.1:8888/?token=${token}`));
    assert.deepEqual(lines, ['[jupyter] started with ***', '[jupyter] http://127.0.0.1:8888/?token=***']);
    assert.equal(
      maskSecrets('GET /lab?token=abcdef0123456789&x=1 Authorization: token zzz'),
      'GET /lab?token=***&x=1 Authorization: token ***',
    );
  });

  it('publishes on 127.0.0.1 only, at a port the engine picks, with the token only in the environment', () => {
    const token = newToken();
    const request = jupyterContainerRequest({
      image: { ref: 'dimuon:latest', details: image },
      workspace: '/home/ada/dimuon',
      token,
      name: 'dimuon-3f2a1bc-jupyter',
      decision: { mode: 'cpu' },
      shmSizeBytes: 8 * GIB,
    });
    assert.deepEqual(request.HostConfig?.PortBindings, { '8888/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] });
    // The project read-write, its .mlcontainers (records, run folders) read-only: notebooks are code too.
    assert.deepEqual(request.HostConfig?.Binds, [
      '/home/ada/dimuon:/workspace',
      '/home/ada/dimuon/.mlcontainers:/workspace/.mlcontainers:ro',
    ]);
    assert.ok(request.Env?.includes(`JUPYTER_TOKEN=${token}`));
    const elsewhere = JSON.stringify({ ...request, Env: [] });
    assert.ok(!elsewhere.includes(token), 'the token appears outside Env');
    assert.ok(request.Cmd?.includes('--ServerApp.allow_remote_access=False'));
    assert.equal(request.Labels?.['org.mlcontainers.role'], 'jupyter');
    assert.equal(request.Labels?.['org.mlcontainers.image.id'], image.id);
    assert.equal(request.Labels?.['org.opencontainers.image.revision'], image.labels['org.opencontainers.image.revision']);
    assert.equal(request.Labels?.['org.mlcontainers.gpu'], 'none');
    assert.equal(request.Image, image.id, 'runs the image by id, so a retag during start cannot swap it');
  });

  it('AnalysisBase images start Jupyter from a login shell so the release is set up', () => {
    const entrypoint = (labels: Record<string, string>): string[] | undefined =>
      jupyterContainerRequest({
        image: { ref: 'x', details: { ...image, labels } },
        workspace: '/w',
        token: 't',
        name: 'x',
        decision: { mode: 'cpu' },
        shmSizeBytes: GIB,
      }).Entrypoint;
    assert.deepEqual(entrypoint({ 'org.mlcontainers.preset': 'atlas' })?.slice(0, 2), ['/bin/bash', '-lc']);
    assert.deepEqual(entrypoint({})?.slice(0, 2), ['/bin/sh', '-c']);
  });

  it('reads port and token back from inspect, and labels a server "<title> @ <sha7>"', () => {
    const server = toServer({
      id: 'c1',
      name: 'dimuon-3f2a1bc-jupyter',
      imageId: image.id,
      running: true,
      status: 'running',
      exitCode: 0,
      startedAt: '',
      deviceRequests: 0,
      env: ['PATH=/usr/bin', 'JUPYTER_TOKEN=abc123abc123abc123'],
      labels: {
        'org.mlcontainers.image.id': image.id,
        'org.opencontainers.image.title': 'dimuon',
        'org.opencontainers.image.revision': '3f2a1bc9d0e8',
        'org.mlcontainers.gpu': 'all',
      },
      ports: { '8888/tcp': [{ hostIp: '127.0.0.1', hostPort: '49153' }] },
    });
    assert.equal(server.baseUrl, 'http://127.0.0.1:49153');
    assert.equal(server.token, 'abc123abc123abc123');
    assert.equal(serverLabel(server), 'dimuon @ 3f2a1bc');
    assert.equal(maskSecrets('x abc123abc123abc123 y'), 'x *** y', 'tokens read back are masked from then on');
  });

  it('a port published on all interfaces is not treated as reachable', () => {
    const server = toServer({
      id: 'c2',
      name: 'x',
      imageId: 'sha256:1',
      running: true,
      status: 'running',
      exitCode: 0,
      startedAt: '',
      deviceRequests: 0,
      env: [],
      labels: {},
      ports: { '8888/tcp': [{ hostIp: '0.0.0.0', hostPort: '49154' }] },
    });
    assert.equal(server.baseUrl, undefined);
  });
});

describe('container logs', () => {
  it('demultiplexes stdout/stderr frames and passes TTY text through', () => {
    const frame = (stream: number, text: string): Buffer => {
      const body = Buffer.from(text);
      const header = Buffer.alloc(8);
      header[0] = stream;
      header.writeUInt32BE(body.length, 4);
      return Buffer.concat([header, body]);
    };
    assert.equal(demuxLogs(Buffer.concat([frame(1, 'out\n'), frame(2, 'err\n')])), 'out\nerr\n');
    assert.equal(demuxLogs(Buffer.from('plain tty output\n')), 'plain tty output\n');
  });
});
