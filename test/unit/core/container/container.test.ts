import { devcontainerId } from '../../../../src/core/devcontainerVariables';
import * as assert from 'node:assert/strict';
import { parse } from 'shell-quote';
import type { ContainerCreateRequest } from '../../../../src/core/docker/engine';
import { interactiveRunCommand, shellLine, toDockerRunArgs } from '../../../../src/core/container/dockerRun';
import type { GpuDecision } from '../../../../src/core/container/gpu';
import type { ContainerSpec } from '../../../../src/core/container/request';
import { containerRequest } from '../../../../src/core/container/request';
import type { RuntimeSettings } from '../../../../src/core/container/runtime';
import { NO_RUNTIME } from '../../../../src/core/container/runtime';
import { GpuUnavailableError } from '../../../../src/core/container/gpu';
import { launchContainer } from '../../../../src/core/container/launch';
import { parseDockerHost } from '../../../../src/core/docker/endpoint';
import { toEngineError } from '../../../../src/core/docker/errors';
import { gpuPreflight } from '../../../../src/core/gpu/preflight';
import type { HostGpuProbe } from '../../../../src/core/gpu/nvidiaSmi';
import { jupyterContainerRequest } from '../../../../src/core/jupyter/server';
import { runContainerRequest } from '../../../../src/core/run/experiment';
import type { Catalog } from '../../../../src/core/scaffold/catalog';
import { presetCatalog } from '../../../helpers/catalog';
import { imageDetails } from '../../../helpers/images';
import { silentLogger } from '../../../helpers/logger';
import { FakeEngine } from '../../fakes/engine';

const IMAGE = imageDetails({
  labels: {
    'org.opencontainers.image.title': 'dimuon',
    'org.opencontainers.image.revision': '3f2a1bc9d0e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4',
    'org.mlcontainers.preset': 'pytorch',
    'org.mlcontainers.base': 'pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime',
  },
});
const ATLAS = { ...IMAGE, labels: { ...IMAGE.labels, 'org.mlcontainers.preset': 'atlas' } };
const GPU_ALL: GpuDecision = { mode: 'gpu', devices: 'all', via: 'device-requests', podman: false, warnings: [] };
const L4: HostGpuProbe = {
  kind: 'gpus',
  driverVersion: '550.54.15',
  gpus: [{ index: '0', name: 'NVIDIA L4', uuid: 'GPU-1', driverVersion: '550.54.15', memoryMiB: 23034 }],
};
const log = silentLogger('test');

/**
 * Reads `docker run` words back into a create request the way the docker CLI maps each flag (docker/cli's
 * opts/parse.go): written here from the CLI's documentation, independently of toDockerRunArgs.
 */
function parseDockerRun(words: string[], shellEnv: Record<string, string> = {}): ContainerCreateRequest {
  assert.deepEqual(words.slice(0, 2), ['docker', 'run']);
  const r: ContainerCreateRequest & { HostConfig: NonNullable<ContainerCreateRequest['HostConfig']> } = { Image: '', HostConfig: {} };
  const h = r.HostConfig;
  let i = 2;
  const value = (): string => words[++i] ?? assert.fail(`${words[i - 1]} needs a value`);
  for (; i < words.length; i++) {
    const w = words[i]!;
    if (!w.startsWith('-')) break;
    if (w === '--rm' || w === '-it') continue;
    if (w === '--name') r.name = value();
    else if (w === '--init') h.Init = true;
    else if (w === '--gpus') {
      const v = value();
      const ids = /^"?device=([^"]+)"?$/.exec(v)?.[1];
      (h.DeviceRequests ??= []).push(
        v === 'all'
          ? { Driver: '', Count: -1, Capabilities: [['gpu']] }
          : { Driver: '', DeviceIDs: ids!.split(','), Capabilities: [['gpu']] },
      );
    } else if (w === '--device' && words[i + 1]?.startsWith('/')) {
      // A host device: /dev/HOST[:/dev/CONTAINER[:PERMS]], defaults the host path and rwm.
      const [onHost, inContainer, perms] = value().split(':');
      (h.Devices ??= []).push({ PathOnHost: onHost!, PathInContainer: inContainer || onHost!, CgroupPermissions: perms || 'rwm' });
    } else if (w === '--device') {
      const v = value();
      // Docker (>= 25) turns CDI names (vendor/class=name) into one DeviceRequest with the cdi driver.
      const cdi = (h.DeviceRequests ??= []).find((d) => d.Driver === 'cdi');
      if (cdi) cdi.DeviceIDs?.push(v);
      else h.DeviceRequests.push({ Driver: 'cdi', DeviceIDs: [v] });
    } else if (w === '--ulimit') {
      const [name, limits] = value().split('=');
      const [soft, hard] = limits!.split(':').map(Number);
      (h.Ulimits ??= []).push({ Name: name!, Soft: soft!, Hard: hard ?? soft! });
    } else if (w.startsWith('--shm-size=')) h.ShmSize = Number(w.slice('--shm-size='.length));
    else if (w === '-v') (h.Binds ??= []).push(value());
    else if (w === '--mount') {
      const f = new Map(
        value()
          .split(',')
          .map((kv) => [kv.split('=')[0]!, kv.split('=')[1]] as const),
      );
      (h.Mounts ??= []).push({
        Type: f.get('type') as 'bind',
        Source: f.get('source') ?? '',
        Target: f.get('target')!,
        ...(f.has('readonly') ? { ReadOnly: true } : {}),
      });
    } else if (w === '--cap-add') (h.CapAdd ??= []).push(value());
    else if (w === '--security-opt') (h.SecurityOpt ??= []).push(value());
    else if (w === '--privileged') h.Privileged = true;
    else if (w.startsWith('--ipc=')) h.IpcMode = w.slice('--ipc='.length);
    else if (w === '-p') {
      const m = /^(?:([\d.]+):)?(\d*):(\d+\/\w+)$/.exec(value())!;
      (h.PortBindings ??= {})[m[3]!] = [{ HostIp: m[1] ?? '', HostPort: m[2]! }];
      (r.ExposedPorts ??= {})[m[3]!] = {};
    } else if (w === '-e') {
      // -e NAME takes the value from the environment the docker CLI runs in.
      const v = value();
      (r.Env ??= []).push(v.includes('=') ? v : `${v}=${shellEnv[v] ?? assert.fail(`-e ${v} but the shell has no ${v}`)}`);
    } else if (w === '-w') r.WorkingDir = value();
    else if (w === '-u') r.User = value();
    else if (w === '--entrypoint') r.Entrypoint = [value()];
    else assert.fail(`toDockerRunArgs wrote a flag this reader does not know: ${w}`);
  }
  r.Image = words[i]!;
  const rest = words.slice(i + 1);
  // `--entrypoint a IMAGE b c` runs a b c: the CLI's Cmd holds b c, the API request may hold [a, b] + [c].
  if (r.Entrypoint) r.Entrypoint = [...r.Entrypoint, ...rest];
  else r.Cmd = rest;
  return r;
}

/** The request as the process sees it: argv joined, labels (bookkeeping, not passed on the command line) dropped. */
function effective(r: ContainerCreateRequest): unknown {
  const { Cmd, Entrypoint, ...rest } = r;
  delete rest.Labels;
  return {
    ...rest,
    argv: [...(Entrypoint ?? []), ...(Cmd ?? [])],
    entrypointReplaced: Entrypoint !== undefined,
    HostConfig: { ...rest.HostConfig },
  };
}

describe('one container request, rendered as docker run flags', () => {
  const cases: [string, ContainerCreateRequest][] = [
    [
      'Jupyter on every GPU, published on loopback',
      jupyterContainerRequest({
        image: { ref: 'dimuon:latest', details: IMAGE },
        workspace: '/home/ada/dimuon',
        token: 'f'.repeat(48),
        name: 'dimuon-3f2a1bc-jupyter',
        decision: GPU_ALL,
        shmSizeBytes: 2 ** 33,
      }),
    ],
    [
      'an AnalysisBase run on two GPUs, config mounted read-only',
      runContainerRequest({
        runId: 'r1',
        name: 'dimuon-run-r1',
        image: { ref: 'dimuon:latest', details: ATLAS },
        workspace: '/home/u/my project',
        code: 'workspace',
        runDir: '/home/u/my project/.mlcontainers/runs/r1',
        configFile: '/home/u/my project/.mlcontainers/runs/r1/exp.yaml',
        configName: 'exp.yaml',
        command: ['python', 'train.py', '--lr', '1e-3'],
        decision: { ...GPU_ALL, devices: ['0', '1'] },
        shmSizeBytes: 2 ** 30,
      }),
    ],
    [
      "a run with the image's code on CPU",
      runContainerRequest({
        runId: 'r2',
        name: 'dimuon-run-r2',
        image: { ref: 'dimuon:latest', details: IMAGE },
        workspace: '/w',
        code: 'image',
        runDir: '/w/.mlcontainers/runs/r2',
        configFile: '/w/.mlcontainers/runs/r2/exp.yaml',
        configName: 'exp.yaml',
        command: ['python', '-c', 'print("it\'s $HOME")'],
        decision: { mode: 'cpu' },
        shmSizeBytes: 2 ** 30,
      }),
    ],
    [
      'a CDI shell without memlock',
      containerRequest({
        role: 'shell',
        image: { ref: 'dimuon:latest', details: IMAGE },
        workspace: '/w',
        decision: { ...GPU_ALL, via: 'cdi' },
        shmSizeBytes: 2 ** 30,
        args: [],
        dropMemlock: true,
      }),
    ],
  ];

  const runtime: RuntimeSettings = {
    ...NO_RUNTIME,
    env: [
      { name: 'MODE', value: 'fast run', secret: false },
      { name: 'HF_TOKEN', value: 'hf_value_abcdef', secret: true },
    ],
    mounts: [
      { Type: 'bind', Source: '/data/imagenet', Target: '/data', ReadOnly: true },
      { Type: 'volume', Source: 'hf-cache', Target: '/cache' },
      { Type: 'tmpfs', Source: '', Target: '/scratch' },
    ],
    binds: ['/opt/tools:/opt/tools:ro'],
    shmSizeBytes: 2 ** 32,
    ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 2048 }],
    capAdd: ['SYS_PTRACE'],
    devices: [{ PathOnHost: '/dev/fuse', PathInContainer: '/dev/fuse', CgroupPermissions: 'rwm' }],
    ipc: 'host',
    user: 'mlc',
  };
  cases.push([
    "a GPU run with devcontainer.json's env, mounts, runArgs and user, as the workspace owner",
    runContainerRequest({
      runId: 'r3',
      name: 'dimuon-run-r3',
      image: { ref: 'dimuon:latest', details: IMAGE },
      workspace: '/w',
      code: 'workspace',
      runDir: '/w/.mlcontainers/runs/r3',
      configFile: '/w/.mlcontainers/runs/r3/exp.yaml',
      configName: 'exp.yaml',
      command: ['python', 'train.py'],
      decision: GPU_ALL,
      shmSizeBytes: 2 ** 30,
      runtime,
      hostUser: { user: '1234:1234', home: '/tmp/mlc-home-1234' },
    }),
  ]);

  // An image with a Feature that asks for a volume, a capability, a security option and privileges (as
  // docker-in-docker does), and devcontainer.json's own entry, which the project's settings already carry. The
  // project lists that Feature, so what it asks applies without asking (imagePrivileges.test.ts: when it does not).
  const withFeatures = imageDetails({
    ...IMAGE,
    labels: {
      ...IMAGE.labels,
      'devcontainer.metadata': JSON.stringify([
        {
          id: './features/dind',
          mounts: [{ source: 'dind-${devcontainerId}', target: '/var/lib/docker', type: 'volume' }],
          capAdd: ['NET_ADMIN'],
          securityOpt: ['seccomp=unconfined'],
          privileged: true,
          init: true,
        },
        { remoteUser: 'mlc', capAdd: ['SYS_ADMIN'], mounts: ['type=bind,source=/nope,target=/nope'] },
      ]),
    },
  });
  cases.push([
    'a run of an image whose Feature asks for a volume, capabilities and privileges',
    runContainerRequest({
      runId: 'r4',
      name: 'dimuon-run-r4',
      image: { ref: 'dimuon:latest', details: withFeatures },
      workspace: '/w',
      code: 'workspace',
      runDir: '/w/.mlcontainers/runs/r4',
      configFile: '/w/.mlcontainers/runs/r4/exp.yaml',
      configName: 'exp.yaml',
      command: ['python', 'train.py'],
      decision: { mode: 'cpu' },
      shmSizeBytes: 2 ** 30,
      runtime: {
        ...runtime,
        securityOpt: ['seccomp=unconfined', 'label=disable'],
        imageConsent: { features: ['./features/dind'], allowed: [] },
      },
    }),
  ]);

  it("applies what the image's Features declare (devcontainer.metadata entries with an id), before the project's own", () => {
    const host = cases.at(-1)![1].HostConfig!;
    const volume = host.Mounts?.[0];
    assert.equal(volume?.Type, 'volume');
    assert.equal(volume?.Target, '/var/lib/docker');
    // The spec's ${devcontainerId} (devcontainerVariables.ts, as the official CLI derives it): 52 base-32 digits.
    assert.equal(volume?.Source, `dind-${devcontainerId('/w', '/w/.devcontainer/devcontainer.json')}`);
    assert.deepEqual(
      host.Mounts?.slice(1).map((m) => m.Target),
      ['/data', '/cache', '/scratch'],
    );
    assert.deepEqual(
      host.CapAdd,
      ['NET_ADMIN', 'SYS_PTRACE'],
      "devcontainer.json's entry in the label is not applied: the project's settings carry it",
    );
    assert.deepEqual(host.SecurityOpt, ['seccomp=unconfined', 'label=disable']);
    assert.equal(host.Privileged, true);
    const plain = runContainerRequest({
      runId: 'r5',
      name: 'r5',
      image: { ref: 'x', details: IMAGE },
      workspace: '/w',
      code: 'workspace',
      runDir: '/w/r',
      configFile: '/w/r/c.yaml',
      configName: 'c.yaml',
      command: ['true'],
      decision: { mode: 'cpu' },
      shmSizeBytes: 1,
    });
    assert.equal(plain.HostConfig?.Privileged, undefined);
    assert.equal(plain.HostConfig?.SecurityOpt, undefined);
  });

  for (const [name, request] of cases) {
    it(`agrees field by field with the created request: ${name}`, () => {
      const words = toDockerRunArgs(request);
      assert.deepEqual(effective(parseDockerRun(words)), effective(request));
      // Secrets go by name, their values from the environment the line runs in.
      const secretWords = toDockerRunArgs(request, { secretEnv: new Set(['HF_TOKEN']) });
      assert.ok(!secretWords.join(' ').includes('hf_value_abcdef'));
      assert.deepEqual(effective(parseDockerRun(secretWords, { HF_TOKEN: 'hf_value_abcdef' })), effective(request));
      // And through a shell: the copied line reads back into the same words.
      assert.deepEqual(parse(shellLine(words)), words);
    });
  }

  it('Podman takes CDI devices as --device too', () => {
    const request = containerRequest({
      role: 'shell',
      image: { ref: 'x', details: IMAGE },
      workspace: '/w',
      decision: { ...GPU_ALL, via: 'cdi', podman: true },
      shmSizeBytes: 1,
      args: [],
    } satisfies ContainerSpec);
    const words = toDockerRunArgs(request);
    assert.deepEqual(
      words.filter((_, i) => words[i - 1] === '--device'),
      ['nvidia.com/gpu=all'],
    );
  });

  it("CPU means CPU in every container: NVIDIA_VISIBLE_DEVICES=void, which an image's own value cannot undo", () => {
    const cpu = { mode: 'cpu' } as const;
    const env = (decision: GpuDecision): string[][] =>
      [
        jupyterContainerRequest({ image: { ref: 'x', details: IMAGE }, workspace: '/w', token: 't', name: 'j', decision, shmSizeBytes: 1 }),
        runContainerRequest({
          runId: 'r',
          name: 'r',
          image: { ref: 'x', details: IMAGE },
          workspace: '/w',
          code: 'workspace',
          runDir: '/w/r',
          configFile: '/w/r/c.yaml',
          configName: 'c.yaml',
          command: ['true'],
          decision,
          shmSizeBytes: 1,
        }),
        containerRequest({ role: 'shell', image: { ref: 'x', details: IMAGE }, workspace: '/w', decision, shmSizeBytes: 1, args: [] }),
      ].map((r) => (r.Env ?? []).filter((e) => e.startsWith('NVIDIA_')));
    assert.deepEqual(env(cpu), [['NVIDIA_VISIBLE_DEVICES=void'], ['NVIDIA_VISIBLE_DEVICES=void'], ['NVIDIA_VISIBLE_DEVICES=void']]);
    assert.deepEqual(env(GPU_ALL), [[], [], []], 'GPU containers get their devices from the DeviceRequest');
    const words = toDockerRunArgs(
      containerRequest({ role: 'shell', image: { ref: 'x', details: IMAGE }, workspace: '/w', decision: cpu, shmSizeBytes: 1, args: [] }),
    );
    assert.ok(words.join(' ').includes('-e NVIDIA_VISIBLE_DEVICES=void'), 'the copied command too');
  });

  it('keeps labels off the command line, so a container started by hand is not taken for ours', () => {
    const words = toDockerRunArgs(cases[0]![1]);
    assert.ok(!words.some((w) => w.includes('org.mlcontainers')));
    assert.ok(!words.includes('--label'));
  });
});

describe('the copied docker run command', () => {
  const make = (rootless = false): FakeEngine => {
    const engine = new FakeEngine();
    engine.info_ = { ...engine.info_, runtimes: ['nvidia', 'runc'], rootless };
    return engine;
  };
  const copy = (engine: FakeEngine, gpu: 'auto' | 'all' | 'none') =>
    interactiveRunCommand({
      engine,
      image: { ref: 'dimuon:latest', details: IMAGE },
      workspace: '/home/ada/dimuon',
      gpu,
      shmSizeBytes: 2 ** 33,
      log,
      probe: () => Promise.resolve(L4),
    });

  it('is the container Start Jupyter makes, less Jupyter: init, GPUs, limits, the workspace', async () => {
    const { args, note } = await copy(make(), 'auto');
    assert.equal(note, undefined);
    const jupyter = jupyterContainerRequest({
      image: { ref: 'dimuon:latest', details: IMAGE },
      workspace: '/home/ada/dimuon',
      token: 't',
      name: 'n',
      decision: GPU_ALL,
      shmSizeBytes: 2 ** 33,
    });
    const parsed = parseDockerRun(args);
    assert.deepEqual(parsed.HostConfig?.DeviceRequests, jupyter.HostConfig?.DeviceRequests);
    assert.deepEqual(parsed.HostConfig?.Ulimits, jupyter.HostConfig?.Ulimits);
    assert.equal(parsed.HostConfig?.Init, true);
    assert.deepEqual(parsed.HostConfig?.Binds, jupyter.HostConfig?.Binds);
    assert.equal(parsed.WorkingDir, jupyter.WorkingDir);
    assert.equal(parsed.Image, IMAGE.id, 'pinned to the id the view shows');
    assert.deepEqual(args.slice(0, 4), ['docker', 'run', '--rm', '-it']);
  });

  it('leaves memlock to a rootless engine, as Start Jupyter does after its refusal', async () => {
    const parsed = parseDockerRun((await copy(make(true), 'all')).args);
    assert.deepEqual(
      parsed.HostConfig?.Ulimits?.map((u) => u.Name),
      ['stack'],
    );
  });

  it('runs on CPU with the reason as a note when the GPU setting cannot be honoured', async () => {
    const engine = make();
    engine.info_ = { ...engine.info_, runtimes: ['runc'] };
    const { args, note } = await interactiveRunCommand({
      engine,
      image: { ref: 'dimuon:latest', details: IMAGE },
      workspace: '/w',
      gpu: 'auto',
      shmSizeBytes: 1,
      log,
      probe: () => Promise.resolve({ kind: 'notInstalled' }),
    });
    assert.ok(!args.includes('--gpus'));
    assert.match(note ?? '', /^GPU: off \(.+\); running on CPU/);
  });

  it('asks for no GPU and runs no preflight with gpu none', async () => {
    const engine = make();
    const { args } = await copy(engine, 'none');
    assert.ok(!args.includes('--gpus') && !args.includes('--ulimit'));
    assert.ok(!engine.calls.includes('info'));
  });
});

describe('launching a GPU container on Podman', () => {
  const podman = { version: '4.3.1', apiVersion: '1.41', os: 'linux', arch: 'amd64', components: ['Podman Engine'], isPodman: true };
  const info = {
    name: 'h',
    serverVersion: '4.3.1',
    storageDriver: 'overlay',
    operatingSystem: 'debian',
    osType: 'linux',
    architecture: 'amd64',
    cpus: 2,
    memTotal: 2 ** 34,
    runtimes: ['runc'],
    cdiSpecDirs: [],
    discoveredDevices: [],
    rootless: false,
  };
  const spec = (decision: GpuDecision): ContainerSpec => ({
    role: 'run',
    image: { ref: 'dimuon:latest', details: IMAGE },
    workspace: '/w',
    decision,
    shmSizeBytes: 2 ** 30,
    args: [],
  });
  const PODMAN_GPU: GpuDecision = { mode: 'gpu', devices: 'all', via: 'cdi', podman: true, warnings: [] };

  /** Refuses what the test says, the way Podman does: an unknown CDI device at create, limits at start. */
  class PodmanRefusing extends FakeEngine {
    sent: ContainerCreateRequest[] = [];
    constructor(private readonly refuse: (r: ContainerCreateRequest) => { at: 'create' | 'start'; message: string } | undefined) {
      super();
    }
    pending: string | undefined;
    override async createContainer(request: ContainerCreateRequest): Promise<string> {
      this.sent.push(request);
      const r = this.refuse(request);
      if (r?.at === 'create')
        throw toEngineError(
          Object.assign(new Error(r.message), { statusCode: 500, json: { message: r.message } }),
          parseDockerHost('unix:///run/podman/podman.sock', 'DOCKER_HOST', undefined),
        );
      this.pending = r?.message;
      return super.createContainer(request);
    }
    override async startContainer(id: string): Promise<void> {
      if (this.pending)
        throw toEngineError(
          Object.assign(new Error(this.pending), { statusCode: 500, json: { message: this.pending } }),
          parseDockerHost('unix:///run/podman/podman.sock', 'DOCKER_HOST', undefined),
        );
      return super.startContainer(id);
    }
  }

  it('never starts a container that mounts host paths on an engine on another machine', async () => {
    const engine = new (class extends FakeEngine {
      override readonly endpoint = parseDockerHost('ssh://ada@gpu-box', 'DOCKER_HOST', undefined);
    })();
    await assert.rejects(
      launchContainer(engine, { ...spec({ mode: 'cpu' }), role: 'shell' }, { gpu: 'none', preflight: undefined, log }),
      /^RemoteEngineError: A shell container bind-mounts \/w, which the engine at ssh:\/\/ada@gpu-box cannot see .*: run mlc on that host, or use a local engine/,
    );
    assert.deepEqual(
      engine.calls.filter((c) => c === 'createContainer'),
      [],
    );
  });

  it('sends no Ulimits to Podman once memlock is dropped, and keeps sending stack to Docker', () => {
    assert.equal(containerRequest({ ...spec(PODMAN_GPU), dropMemlock: true }).HostConfig?.Ulimits, undefined);
    assert.deepEqual(
      containerRequest({ ...spec(GPU_ALL), dropMemlock: true }).HostConfig?.Ulimits?.map((u) => u.Name),
      ['stack'],
    );
    assert.equal(containerRequest(spec({ mode: 'cpu' })).HostConfig?.Ulimits, undefined, "a CPU container gets the engine's own limits");
  });

  it('auto: a CDI device Podman does not know, refused at create, runs on CPU with the note', async () => {
    const preflight = gpuPreflight({ info, version: podman, host: { kind: 'remote', host: 'ssh://gpu-node' } });
    const engine = new PodmanRefusing((r) =>
      r.HostConfig?.Devices?.length
        ? { at: 'create', message: 'container create: stat nvidia.com/gpu=all: no such file or directory' }
        : undefined,
    );
    const launched = await launchContainer(engine, spec(PODMAN_GPU), { gpu: 'auto', preflight, log });
    assert.equal(launched.decision.mode, 'cpu');
    assert.match(launched.note ?? '', /^GPU: off \(The engine has no CDI spec for nvidia\.com\/gpu=all: generate CDI specs/);
    assert.equal(engine.sent.length, 2);
    assert.equal(engine.sent[1]!.HostConfig?.Devices, undefined);
    await assert.rejects(
      launchContainer(engine, spec(PODMAN_GPU), { gpu: 'all', preflight, log }),
      (e: unknown) => e instanceof GpuUnavailableError && /no CDI spec for nvidia\.com\/gpu=all/.test(e.message),
    );
  });

  it('limits Podman cannot apply (any rlimit, since sent Ulimits replace its defaults): a second try sends none', async () => {
    const preflight = gpuPreflight({ info, version: podman, host: { kind: 'remote', host: 'ssh://gpu-node' } });
    const engine = new PodmanRefusing((r) =>
      r.HostConfig?.Ulimits
        ? { at: 'start', message: 'runc create failed: error setting rlimit type 7: operation not permitted: OCI permission denied' }
        : undefined,
    );
    const launched = await launchContainer(engine, spec(PODMAN_GPU), { gpu: 'all', preflight, log });
    assert.equal(launched.decision.mode, 'gpu');
    assert.deepEqual(
      engine.sent.map((r) => r.HostConfig?.Ulimits?.map((u) => u.Name)),
      [['memlock', 'stack'], undefined],
    );
    assert.equal(engine.sent[1]!.HostConfig?.Devices?.length, 1);
  });
});

describe("the image's preset, asked of the catalog", () => {
  const spec = (details: typeof IMAGE, catalog?: Catalog): ContainerSpec => ({
    role: 'run',
    image: { ref: 'dimuon:latest', details },
    workspace: '/w',
    decision: { mode: 'cpu' },
    shmSizeBytes: 2 ** 30,
    args: ['python', 'train.py'],
    ...(catalog ? { catalog } : {}),
  });
  const entrypoint = (preset: string, catalog?: Catalog): string[] | undefined =>
    containerRequest(spec({ ...IMAGE, labels: { ...IMAGE.labels, 'org.mlcontainers.preset': preset } }, catalog)).Entrypoint;

  it("runs commands in a login shell where the preset's catalog entry says so, whatever the preset is called", () => {
    const catalog = presetCatalog({ analysis: ['setupScript: /opt/setup.sh', 'loginShell: true'], atlas: [] });
    assert.deepEqual(entrypoint('analysis', catalog), ['/bin/bash', '-lc', 'exec "$@"', 'mlc-run']);
    assert.equal(entrypoint('atlas', catalog), undefined, "the image's own ENTRYPOINT runs the command");
  });

  it('without a catalog from the caller, the shipped one: AnalysisBase images get their login shell', () => {
    assert.deepEqual(entrypoint('atlas'), ['/bin/bash', '-lc', 'exec "$@"', 'mlc-run']);
    assert.equal(entrypoint('pytorch'), undefined);
  });
});
