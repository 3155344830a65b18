import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { EngineError } from '../../../../src/core/docker/errors';
import type { HostGpuProbe } from '../../../../src/core/gpu/nvidiaSmi';
import { startJupyter } from '../../../../src/core/jupyter/server';
import { GpuUnavailableError } from '../../../../src/core/container/gpu';
import { NO_RUNTIME } from '../../../../src/core/container/runtime';
import { imageDetails } from '../../../helpers/images';
import { recordingLogger } from '../../../helpers/logger';
import { FakeEngine } from '../../fakes/engine';

const IMAGE = imageDetails({
  labels: {
    'org.opencontainers.image.title': 'dimuon',
    'org.mlcontainers.preset': 'pytorch',
    'org.mlcontainers.base': 'pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime',
  },
});
const L4: HostGpuProbe = {
  kind: 'gpus',
  driverVersion: '550.54.15',
  gpus: [{ index: '0', name: 'NVIDIA L4', uuid: 'GPU-1', driverVersion: '550.54.15', memoryMiB: 23034 }],
};

describe('startJupyter against a fake engine (GPU paths this machine cannot show)', () => {
  let engine: FakeEngine;
  let server: http.Server;
  const lines: string[] = [];
  const log = recordingLogger(lines, 'jupyter');
  const creates: unknown[] = [];

  beforeEach(async () => {
    engine = new FakeEngine();
    engine.info_ = { ...engine.info_, runtimes: ['nvidia', 'runc'] };
    engine.images.set('dimuon:latest', IMAGE);
    const create = engine.createContainer.bind(engine);
    creates.length = 0;
    lines.length = 0;
    engine.createContainer = (request) => (creates.push(request), create(request));
    server = http.createServer((_req, res) => res.end('{}'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    engine.nextPort = (server.address() as AddressInfo).port;
  });

  afterEach(() => new Promise((r) => server.close(r)));

  const start = (gpu: 'auto' | 'all') =>
    startJupyter({
      engine,
      image: 'dimuon:latest',
      workspace: '/w',
      gpu,
      shmSizeBytes: 2 ** 30,
      readyTimeoutMs: 10_000,
      log,
      probe: () => Promise.resolve(L4),
    });

  it('asks for every GPU with memlock and stack limits when the preflight passes', async () => {
    const result = await start('auto');
    assert.equal(result.decision.mode, 'gpu');
    const host = (creates[0] as { HostConfig: Record<string, unknown> }).HostConfig;
    assert.deepEqual(host.DeviceRequests, [{ Driver: '', Count: -1, Capabilities: [['gpu']] }]);
    assert.deepEqual(
      (host.Ulimits as { Name: string }[]).map((u) => u.Name),
      ['memlock', 'stack'],
    );
    assert.equal(result.server.gpu, 'all');
    assert.equal(result.preflight?.cuda?.version, '12.4', 'the CUDA of the catalog base was not found');
  });

  it('an engine that cannot lift memlock (rootless) gets a second try without it, and a warning', async () => {
    engine.startError = new EngineError(
      'Docker engine at unix:///fake.sock answered: OCI runtime create failed: error setting rlimit type 8: operation not permitted',
      'api',
      500,
    );
    const result = await start('all');
    assert.equal(creates.length, 2);
    const second = (creates[1] as { HostConfig: { Ulimits: { Name: string }[]; DeviceRequests: unknown[] } }).HostConfig;
    assert.deepEqual(
      second.Ulimits.map((u) => u.Name),
      ['stack'],
    );
    assert.equal(second.DeviceRequests.length, 1);
    assert.ok(lines.some((l) => /cannot raise the locked-memory limit/.test(l)));
    assert.equal(result.server.running, true);
    assert.equal(engine.containers.size, 1, 'the refused container was left behind');
  });

  it("an engine that replaces its default limits with runArgs' --ulimit and then cannot raise nofile (Podman) gets a try with its own limits", async () => {
    engine.startError = new EngineError(
      'Docker engine at unix:///fake.sock answered: crun: error setting rlimit type 7: Operation not permitted: OCI permission denied',
      'api',
      500,
    );
    const runtime = {
      ...NO_RUNTIME,
      ulimits: [
        { Name: 'memlock', Soft: -1, Hard: -1 },
        { Name: 'stack', Soft: 67108864, Hard: 67108864 },
      ],
    };
    const result = await startJupyter({
      engine,
      image: 'dimuon:latest',
      workspace: '/w',
      gpu: 'none',
      shmSizeBytes: 2 ** 30,
      readyTimeoutMs: 10_000,
      log,
      runtime,
      probe: () => Promise.resolve(L4),
    });
    assert.equal(creates.length, 2);
    assert.deepEqual(
      (creates[0] as { HostConfig: { Ulimits: { Name: string }[] } }).HostConfig.Ulimits.map((u) => u.Name),
      ['memlock', 'stack'],
    );
    assert.equal((creates[1] as { HostConfig: { Ulimits?: unknown } }).HostConfig.Ulimits, undefined);
    assert.ok(
      lines.some((l) => /refused the container limits asked for \(memlock, stack/.test(l)),
      lines.join('\n'),
    );
    assert.equal(result.server.running, true);
  });

  it('a refused GPU: auto retries on CPU with the sentence, all fails with it, and nothing is left behind', async () => {
    const refusal = () =>
      new EngineError(
        'Docker engine at unix:///fake.sock answered: could not select device driver "" with capabilities: [[gpu]]',
        'api',
        500,
      );
    engine.startError = refusal();
    const auto = await start('auto');
    assert.equal(auto.decision.mode, 'cpu');
    assert.match(
      auto.note ?? '',
      /^GPU: off \(This engine cannot give containers a GPU \(no NVIDIA runtime\): install nvidia-container-toolkit/,
    );
    assert.equal((creates[1] as { HostConfig: Record<string, unknown> }).HostConfig.DeviceRequests, undefined);

    for (const c of [...engine.containers.keys()]) engine.containers.delete(c);
    engine.startError = refusal();
    await assert.rejects(start('all'), (e: unknown) => e instanceof GpuUnavailableError && !/could not select/.test(e.message));
    assert.equal(engine.containers.size, 0);
  });
});
