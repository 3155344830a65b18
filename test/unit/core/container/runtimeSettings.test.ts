import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { containerRequest } from '../../../../src/core/container/request';
import type { RuntimeSettings } from '../../../../src/core/container/runtime';
import {
  NO_RUNTIME,
  RuntimeSettingsError,
  parseEnvFile,
  parseMount,
  parseRunArgs,
  runtimeSettings,
  substitute,
} from '../../../../src/core/container/runtime';
import { k8sManifests } from '../../../../src/core/export/kubernetes';
import type { GitProvider } from '../../../../src/core/provenance/git';
import { runExperiment } from '../../../../src/core/run/experiment';
import { readRuns } from '../../../../src/core/run/records';
import { maskSecrets } from '../../../../src/core/secrets';
import { imageDetails } from '../../../helpers/images';
import { recordingLogger } from '../../../helpers/logger';
import { FakeEngine } from '../../fakes/engine';

const ctx = { workspace: '/home/ada/dimuon', hostEnv: { HOME: '/home/ada', HF_TOKEN: 'hf_secretvalue123' } };
const refusal =
  (pattern: RegExp) =>
  (e: unknown): boolean =>
    e instanceof RuntimeSettingsError && pattern.test(e.message) && !e.message.trim().includes('\n');

describe('devcontainer.json runtime settings', () => {
  it('substitutes ${localEnv:…} (with defaults), ${localWorkspaceFolder} and its basename, and says a host value went in', () => {
    assert.deepEqual(substitute('${localEnv:HOME}/.cache:${localWorkspaceFolderBasename}', ctx), {
      value: '/home/ada/.cache:dimuon',
      fromHost: true,
    });
    assert.deepEqual(substitute('${localEnv:NOPE:fallback}', ctx), { value: 'fallback', fromHost: true });
    assert.deepEqual(substitute('${localWorkspaceFolder}/data -> ${containerWorkspaceFolder}', ctx), {
      value: '/home/ada/dimuon/data -> /workspace',
      fromHost: false,
    });
    assert.equal(substitute('${containerEnv:PATH}:/opt/bin', ctx).value, '${containerEnv:PATH}:/opt/bin', 'left for the image to fill');
  });

  it('takes the runArgs the Engine API maps, in both spellings', () => {
    const r = parseRunArgs(
      [
        '--shm-size=2g',
        '--ulimit',
        'memlock=-1',
        '--ulimit=nofile=1024:2048',
        '--cap-add',
        'SYS_PTRACE',
        '--device=/dev/fuse',
        '--ipc',
        'host',
        '-e',
        'MODE=fast',
        '--env',
        'HF_TOKEN',
        '--mount',
        'type=tmpfs,target=/scratch',
        '-v',
        '/data:/data:ro',
      ],
      ctx,
    );
    assert.equal(r.shmSizeBytes, 2 * 1024 ** 3);
    assert.deepEqual(r.ulimits, [
      { Name: 'memlock', Soft: -1, Hard: -1 },
      { Name: 'nofile', Soft: 1024, Hard: 2048 },
    ]);
    assert.deepEqual(r.capAdd, ['SYS_PTRACE']);
    assert.deepEqual(r.devices, [{ PathOnHost: '/dev/fuse', PathInContainer: '/dev/fuse', CgroupPermissions: 'rwm' }]);
    assert.equal(r.ipc, 'host');
    assert.deepEqual(r.env, [
      { name: 'MODE', value: 'fast', secret: false },
      { name: 'HF_TOKEN', value: 'hf_secretvalue123', secret: true },
    ]);
    assert.deepEqual(r.mounts, [{ Type: 'tmpfs', Source: '', Target: '/scratch' }]);
    assert.deepEqual(r.binds, ['/data:/data:ro']);
    const more = parseRunArgs(['--privileged', '--init', '--security-opt', 'seccomp=unconfined', '--security-opt=label=disable'], ctx);
    assert.equal(more.privileged, true);
    assert.deepEqual(more.securityOpt, ['seccomp=unconfined', 'label=disable']);
  });

  it('reads devcontainer.json capAdd, securityOpt and privileged, beside runArgs, and refuses a wrong shape in one sentence', async () => {
    const r = await runtimeSettings(
      {
        capAdd: ['SYS_PTRACE'],
        securityOpt: ['seccomp=unconfined'],
        privileged: true,
        runArgs: ['--cap-add=SYS_PTRACE', '--cap-add', 'NET_ADMIN'],
      },
      ctx,
    );
    assert.deepEqual(r.capAdd, ['SYS_PTRACE', 'NET_ADMIN']);
    assert.deepEqual(r.securityOpt, ['seccomp=unconfined']);
    assert.equal(r.privileged, true);
    await assert.rejects(
      runtimeSettings({ capAdd: 'SYS_PTRACE' }, ctx),
      refusal(/^devcontainer\.json capAdd is a list of strings, e\.g\. \["SYS_PTRACE"\]\.$/),
    );
  });

  it('refuses any other runArgs flag by name, in one sentence', () => {
    assert.throws(
      () => parseRunArgs(['--network=host'], ctx),
      refusal(/^devcontainer\.json runArgs "--network=host" is not a flag ML Containers can pass .*: remove it from runArgs\.$/),
    );
    assert.throws(() => parseRunArgs(['--gpus', 'all'], ctx), refusal(/"--gpus"/));
    assert.throws(() => parseRunArgs(['--pid=host'], ctx), refusal(/"--pid=host"/));
    assert.throws(() => parseRunArgs(['--ulimit'], ctx), refusal(/--ulimit needs a value/));
    assert.throws(() => parseRunArgs(['-e', 'NOT_SET_HERE'], ctx), refusal(/NOT_SET_HERE is not set in this environment/));
  });

  it('reads mounts in docker --mount syntax and refuses what docker would not bind', () => {
    assert.deepEqual(parseMount('type=bind,source=/data/imagenet,target=/data,readonly', '--mount'), {
      Type: 'bind',
      Source: '/data/imagenet',
      Target: '/data',
      ReadOnly: true,
    });
    assert.deepEqual(parseMount('source=hf-cache,target=/cache', '--mount'), { Type: 'volume', Source: 'hf-cache', Target: '/cache' });
    assert.deepEqual(parseMount('type=bind,src=/a,dst=/b,ro=false', '--mount'), { Type: 'bind', Source: '/a', Target: '/b' });
    assert.throws(() => parseMount('type=bind,source=data,target=/data', '--mount'), refusal(/a bind mount needs an absolute source/));
    assert.throws(() => parseMount('type=bind,source=/a', '--mount'), refusal(/needs an absolute target/));
    assert.throws(
      () => parseMount('type=bind,source=/a,target=/b,bind-propagation=shared', '--mount'),
      refusal(/"bind-propagation" is not one ML Containers passes on/),
    );
    assert.throws(() => parseMount('type=npipe,source=/a,target=/b', '--mount'), refusal(/type must be bind, volume or tmpfs/));
  });

  it('reads env files as docker does: values verbatim, comments skipped, NAME alone from the host, a bad line named', () => {
    const vars = parseEnvFile(
      '# keys\nWANDB_API_KEY=abc"def"\n\n  MLFLOW_TRACKING_URI=http://mlflow:5000\nHF_TOKEN\nUNSET_NAME\n',
      '.env',
      ctx.hostEnv,
    );
    assert.deepEqual(vars, [
      { name: 'WANDB_API_KEY', value: 'abc"def"', secret: true },
      { name: 'MLFLOW_TRACKING_URI', value: 'http://mlflow:5000', secret: true },
      { name: 'HF_TOKEN', value: 'hf_secretvalue123', secret: true },
    ]);
    assert.throws(() => parseEnvFile('OK=1\nexport BAD=2\n', '.env', {}), refusal(/^\.env:2 is not NAME=VALUE/));
  });

  it("reads containerEnv, remoteEnv, both mount forms, runArgs, remoteUser and updateRemoteUserUID from the parsed config, then the user's own", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-rt-'));
    fs.writeFileSync(path.join(dir, 'vars.env'), 'WANDB_API_KEY=wandb-secret-456\nMODE=from-file\n');
    const settings = await runtimeSettings(
      {
        containerEnv: { PYTHONUNBUFFERED: '1', MODE: 'config', CACHE: '${localEnv:HOME}/.cache' },
        remoteEnv: { PATH: '${containerEnv:PATH}:/opt/tools', DROPPED: null },
        mounts: [
          'type=bind,source=${localWorkspaceFolder}/../datasets,target=/datasets',
          { type: 'volume', source: 'hf-cache', target: '/cache' },
        ],
        runArgs: ['--shm-size=1g'],
        containerUser: 'root',
        remoteUser: 'mlc',
        updateRemoteUserUID: false,
      },
      {
        workspace: dir,
        hostEnv: { HOME: '/home/ada' },
        user: { env: ['TOKEN=tok-78901'], envFiles: ['vars.env'], mounts: ['type=bind,source=/scratch,target=/scratch'] },
      },
    );
    assert.deepEqual(
      settings.env.map((v) => [v.name, v.value, v.secret]),
      [
        ['PYTHONUNBUFFERED', '1', false],
        ['MODE', 'from-file', true],
        ['CACHE', '/home/ada/.cache', true],
        ['PATH', '${containerEnv:PATH}:/opt/tools', false],
        ['WANDB_API_KEY', 'wandb-secret-456', true],
        ['TOKEN', 'tok-78901', true],
      ],
    );
    assert.deepEqual(settings.mounts, [
      { Type: 'bind', Source: `${dir}/../datasets`, Target: '/datasets' },
      { Type: 'volume', Source: 'hf-cache', Target: '/cache' },
      { Type: 'bind', Source: '/scratch', Target: '/scratch' },
    ]);
    assert.equal(settings.shmSizeBytes, 1024 ** 3);
    assert.equal(settings.user, 'mlc', 'remoteUser runs our one process, as it runs what the tools start');
    assert.equal(settings.updateRemoteUserUID, false);
    // Secret values are masked in every log line from here on.
    assert.equal(maskSecrets('got wandb-secret-456 and tok-78901'), 'got *** and ***');
    await assert.rejects(
      runtimeSettings({ runArgs: '--shm-size=1g' }, { workspace: dir, hostEnv: {} }),
      refusal(/runArgs is a list of strings/),
    );
    await assert.rejects(
      runtimeSettings({}, { workspace: dir, hostEnv: {}, user: { envFiles: ['missing.env'] } }),
      refusal(/env file missing\.env cannot be read/),
    );
  });
});

describe('runtime settings in the create request', () => {
  const IMAGE = imageDetails({ env: ['PATH=/usr/local/bin:/usr/bin', 'LANG=C.UTF-8'] });
  const runtime: RuntimeSettings = {
    ...NO_RUNTIME,
    env: [
      { name: 'PATH', value: '${containerEnv:PATH}:/opt/tools', secret: false },
      { name: 'PYTHONUNBUFFERED', value: '0', secret: false },
      { name: 'MLC_CONFIG', value: 'mine', secret: false },
    ],
    mounts: [{ Type: 'bind', Source: '/data', Target: '/data', ReadOnly: true }],
    binds: ['/scratch:/scratch'],
    shmSizeBytes: 2 ** 31,
    ulimits: [
      { Name: 'memlock', Soft: -1, Hard: -1 },
      { Name: 'nofile', Soft: 4096, Hard: 4096 },
    ],
    capAdd: ['SYS_PTRACE'],
    devices: [{ PathOnHost: '/dev/fuse', PathInContainer: '/dev/fuse', CgroupPermissions: 'rwm' }],
    ipc: 'host',
    user: 'mlc',
  };
  const spec = {
    role: 'run' as const,
    image: { ref: 'x', details: IMAGE },
    workspace: '/w',
    decision: { mode: 'cpu' as const },
    shmSizeBytes: 1,
    args: [],
    env: ['MLC_CONFIG=/etc/mlc/config/c.yaml'],
    runtime,
  };

  it("gives every field to the engine: env (the role's own winning), mounts, binds, limits, caps, devices, IPC, user", () => {
    const r = containerRequest(spec);
    assert.deepEqual(r.Env, [
      'PATH=/usr/local/bin:/usr/bin:/opt/tools',
      'PYTHONUNBUFFERED=0',
      'MLC_CONFIG=/etc/mlc/config/c.yaml',
      'NVIDIA_VISIBLE_DEVICES=void',
    ]);
    assert.deepEqual(r.HostConfig?.Mounts, runtime.mounts);
    assert.deepEqual(r.HostConfig?.Binds, ['/w:/workspace', '/w/.mlcontainers:/workspace/.mlcontainers:ro', '/scratch:/scratch']);
    assert.equal(r.HostConfig?.ShmSize, 2 ** 31);
    assert.deepEqual(r.HostConfig?.Ulimits, runtime.ulimits);
    assert.deepEqual(r.HostConfig?.CapAdd, ['SYS_PTRACE']);
    assert.deepEqual(r.HostConfig?.Devices, runtime.devices);
    assert.equal(r.HostConfig?.IpcMode, 'host');
    assert.equal(r.User, 'mlc');
  });

  it('runs as the workspace owner with a writable HOME when asked to, and drops runArgs memlock where the engine refused it', () => {
    const r = containerRequest({ ...spec, hostUser: { user: '1234:1234', home: '/tmp/mlc-home-1234' }, dropMemlock: true });
    assert.equal(r.User, '1234:1234');
    assert.ok(r.Env?.includes('HOME=/tmp/mlc-home-1234'));
    assert.deepEqual(r.HostConfig?.Ulimits, [{ Name: 'nofile', Soft: 4096, Hard: 4096 }]);
  });
});

describe('secrets keep to the create request', () => {
  it('a run gets every value, while its record, plan, log and labels hold names only', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-rt-run-'));
    fs.mkdirSync(path.join(dir, '.devcontainer'));
    fs.writeFileSync(
      path.join(dir, '.devcontainer', 'devcontainer.json'),
      '{ "containerEnv": { "FROM_CONFIG": "visible", "LOCAL": "${localEnv:LOCAL_SECRET}" } }',
    );
    fs.writeFileSync(path.join(dir, 'exp.yaml'), 'lr: 0.1\n');
    fs.writeFileSync(path.join(dir, 'keys.env'), 'WANDB_API_KEY=wandb-value-0001\n');
    const engine = new FakeEngine();
    engine.images.set('dimuon:latest', imageDetails());
    engine.runScript = () => ({ output: 'ok\n', exitCode: 0 });
    const lines: string[] = [];
    const git: GitProvider = { info: () => Promise.resolve(undefined) };
    await runExperiment({
      engine,
      workspace: dir,
      config: 'exp.yaml',
      image: 'dimuon:latest',
      command: ['python', 'train.py'],
      gpu: 'none',
      shmSizeBytes: 1,
      git,
      log: recordingLogger(lines, 'run'),
      runtime: { env: ['HF_TOKEN=hf-value-0002', 'FROM_HOST'], envFiles: ['keys.env'] },
      hostEnv: { LOCAL_SECRET: 'local-value-0003', FROM_HOST: 'host-value-0004', HF_TOKEN: 'hf-value-0002' },
    });
    const [request] = [...engine.requests.values()];
    for (const v of [
      'FROM_CONFIG=visible',
      'LOCAL=local-value-0003',
      'WANDB_API_KEY=wandb-value-0001',
      'HF_TOKEN=hf-value-0002',
      'FROM_HOST=host-value-0004',
    ])
      assert.ok(request?.Env?.includes(v), v);
    const [record] = (await readRuns(dir)).runs;
    assert.deepEqual(record?.env, ['FROM_CONFIG', 'LOCAL', 'WANDB_API_KEY', 'HF_TOKEN', 'FROM_HOST']);
    const onDisk = fs
      .readdirSync(path.join(dir, '.mlcontainers'), { recursive: true, withFileTypes: true })
      .filter((f) => f.isFile())
      .map((f) => fs.readFileSync(path.join(f.parentPath, f.name), 'utf8'))
      .join('\n');
    for (const text of [onDisk, lines.join('\n'), JSON.stringify(request?.Labels)]) {
      for (const secret of ['wandb-value-0001', 'hf-value-0002', 'local-value-0003', 'host-value-0004'])
        assert.ok(!text.includes(secret), secret);
    }
    assert.ok(onDisk.includes('"HF_TOKEN"'), 'the plan keeps the name, to take the value from the environment on resume');
  });

  it('the Kubernetes manifest references a Secret by name for secret variables, and holds no value', () => {
    const e = k8sManifests({
      imageRef: 'dimuon:latest',
      pinnedRef: `localhost:5000/dimuon@sha256:${'a'.repeat(64)}`,
      labels: {},
      env: [{ name: 'MODE', value: 'fast' }, { name: 'HF_TOKEN' }, { name: 'WANDB_API_KEY' }],
      shmSizeBytes: 2 * 1024 ** 3,
      capAdd: ['SYS_PTRACE'],
    });
    const job = e.objects.find((o) => o.kind === 'Job') as unknown as {
      spec: {
        template: { spec: { containers: { env: unknown[]; securityContext: unknown }[]; volumes: { emptyDir?: { sizeLimit: string } }[] } };
      };
    };
    const container = job.spec.template.spec.containers[0]!;
    assert.deepEqual(container.env, [
      { name: 'MODE', value: 'fast' },
      { name: 'HF_TOKEN', valueFrom: { secretKeyRef: { name: `${e.name}-env`, key: 'HF_TOKEN' } } },
      { name: 'WANDB_API_KEY', valueFrom: { secretKeyRef: { name: `${e.name}-env`, key: 'WANDB_API_KEY' } } },
    ]);
    assert.deepEqual(e.secret, { name: `${e.name}-env`, keys: ['HF_TOKEN', 'WANDB_API_KEY'] });
    assert.ok(!e.objects.some((o) => o.kind === 'Secret'), "the Secret is the user's to create");
    assert.deepEqual(container.securityContext, { capabilities: { add: ['SYS_PTRACE'] } });
    assert.equal(job.spec.template.spec.volumes[0]?.emptyDir?.sizeLimit, '2048Mi');
  });
});

describe('runs in a folder with several dev container configurations', () => {
  it('get the runtime settings of the devcontainer.json chosen for them, kept in the plan for --resume', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-rt-choice-'));
    for (const name of ['cpu', 'gpu']) {
      fs.mkdirSync(path.join(dir, '.devcontainer', name), { recursive: true });
      fs.writeFileSync(
        path.join(dir, '.devcontainer', name, 'devcontainer.json'),
        JSON.stringify({ image: 'python:3.11-slim', containerEnv: { FLAVOUR: name } }),
      );
    }
    fs.writeFileSync(path.join(dir, 'exp.yaml'), 'lr: 0.1\n');
    const engine = new FakeEngine();
    engine.images.set('dimuon:latest', imageDetails());
    engine.runScript = () => ({ output: 'ok\n', exitCode: 0 });
    const git: GitProvider = { info: () => Promise.resolve(undefined) };
    const result = await runExperiment({
      engine,
      workspace: dir,
      config: 'exp.yaml',
      image: 'dimuon:latest',
      command: ['python', 'train.py'],
      gpu: 'none',
      shmSizeBytes: 1,
      git,
      log: recordingLogger([], 'run'),
      devcontainer: '.devcontainer/gpu/devcontainer.json',
    });
    const [request] = [...engine.requests.values()];
    assert.ok(request?.Env?.includes('FLAVOUR=gpu'), String(request?.Env));
    assert.equal(result.plan.runtime?.devcontainer, '.devcontainer/gpu/devcontainer.json');
  });
});
