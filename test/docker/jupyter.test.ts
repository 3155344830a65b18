import * as assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { WebSocket } from 'ws';
import type { Engine } from '../../src/core/docker/engine';
import { JupyterStartError, findJupyterServers, startJupyter, stopJupyter } from '../../src/core/jupyter/server';
import { applyPlan } from '../../src/core/scaffold/plan';
import { prepareScaffold } from '../../src/core/scaffold/prepare';
import { git } from '../helpers/git';
import { recordingLogger, silentLogger } from '../helpers/logger';
import { assertBuiltCli, mlc } from '../helpers/mlc';
import { STANDIN_DEBIAN, engineKind, requireEngine, requireImage } from './harness';

const TEMPLATES = path.resolve(__dirname, '../../templates');
const BASE = 'mlc-test/pytorch:bookworm';
const GIB = 1024 ** 3;

async function status(url: string, token?: string): Promise<number> {
  const r = await fetch(url, token ? { headers: { Authorization: `token ${token}` } } : {});
  await r.arrayBuffer();
  return r.status;
}

/** Starts a kernel through Jupyter's REST API and runs code over its websocket channel; resolves with the stream text. */
async function runInKernel(baseUrl: string, token: string, code: string): Promise<string> {
  const headers = { Authorization: `token ${token}`, 'Content-Type': 'application/json' };
  const created = await fetch(`${baseUrl}/api/kernels`, { method: 'POST', headers, body: '{}' });
  assert.equal(created.status, 201);
  const kernel = (await created.json()) as { id: string };
  try {
    const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/api/kernels/${kernel.id}/channels`, {
      headers: { Authorization: `token ${token}` },
    });
    const msgId = randomUUID();
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer from the kernel in 60 s')), 60_000);
      let out = '';
      ws.on('error', reject);
      ws.on('open', () => {
        ws.send(
          JSON.stringify({
            header: {
              msg_id: msgId,
              username: 'test',
              session: randomUUID(),
              msg_type: 'execute_request',
              version: '5.3',
              date: new Date().toISOString(),
            },
            parent_header: {},
            metadata: {},
            content: { code, silent: false, store_history: false, user_expressions: {}, allow_stdin: false, stop_on_error: true },
            channel: 'shell',
            buffers: [],
          }),
        );
      });
      ws.on('message', (data) => {
        const msg = JSON.parse(String(data)) as {
          msg_type: string;
          parent_header: { msg_id?: string };
          content: { text?: string; execution_state?: string; ename?: string; evalue?: string };
        };
        if (msg.parent_header.msg_id !== msgId) return;
        if (msg.msg_type === 'stream') out += msg.content.text ?? '';
        if (msg.msg_type === 'error') reject(new Error(`${msg.content.ename}: ${msg.content.evalue}`));
        if (msg.msg_type === 'status' && msg.content.execution_state === 'idle') {
          clearTimeout(timer);
          ws.close();
          resolve(out);
        }
      });
    });
  } finally {
    await fetch(`${baseUrl}/api/kernels/${kernel.id}`, { method: 'DELETE', headers });
  }
}

describe('Jupyter in experiment containers (real engine, PyTorch stand-in)', function () {
  this.timeout(300_000);
  let engine: Engine;
  let dir: string;
  let imageId = '';
  const extraWorkspaces: string[] = [];

  before(async function () {
    engine = await requireEngine(this);
    await requireImage(this, engine, BASE);
    assertBuiltCli();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-jupyter-'));
    const { plan } = await prepareScaffold(
      dir,
      TEMPLATES,
      { preset: 'pytorch', variant: 'gpu', baseImage: BASE, name: 'mlc test jupyter' },
      false,
    );
    await applyPlan(dir, plan);
    fs.writeFileSync(path.join(dir, 'train.py'), 'import torch\n');
    git(dir, 'init', '-q', '-b', 'main');
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', 'first');
    // Through the bundled CLI, as users run it: this is what found the missing dist/proto/auth.proto.
    const built = await mlc(['build', '--no-lock'], { cwd: dir, timeoutMs: 240_000 });
    assert.equal(built.code, 0, built.stderr);
    assert.match(built.stderr, /build context sent: [\d.]+ KB/);
    assert.ok(!fs.existsSync(path.join(dir, '.mlcontainers', 'locks')), '--no-lock still captured an environment lock');
    imageId = built.stdout.split('\n')[0] ?? '';
  });

  after(async () => {
    if (!engine) return;
    for (const workspace of [dir, ...extraWorkspaces]) {
      if (workspace) await stopJupyter(engine, await findJupyterServers(engine, { workspace, all: true })).catch(() => undefined);
    }
    if (imageId) await engine.removeImage(imageId, { force: true }).catch(() => undefined);
  });

  it("`mlc export apptainer` writes a definition from this engine's image with its commit; never overwrites an edited one", async () => {
    const tag = 'mlc-test-jupyter:latest';
    const out = path.join(dir, 'hpc');
    const first = await mlc(['export', 'apptainer', tag, '--out', out], { cwd: dir, timeoutMs: 240_000 });
    assert.equal(first.code, 0, first.stderr);
    const file = first.stdout.trim();
    assert.equal(file, path.join(out, 'mlc-test-jupyter_latest.def'));
    const def = fs.readFileSync(file, 'utf8');
    assert.match(def, /^Bootstrap: docker-daemon\nFrom: mlc-test-jupyter:latest\n/);
    assert.ok(def.includes(`    org.opencontainers.image.revision ${git(dir, 'rev-parse', 'HEAD')}`), def);
    assert.ok(def.includes('    org.mlcontainers.preset pytorch'));
    // The same content again is fine; a file the user edited is left alone.
    assert.equal((await mlc(['export', 'apptainer', tag, '--out', out], { cwd: dir, timeoutMs: 240_000 })).code, 0);
    fs.appendFileSync(file, '%post\n    echo mine\n');
    const again = await mlc(['export', 'apptainer', tag, '--out', out], { cwd: dir, timeoutMs: 240_000 });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /exists and differs: nothing written \(pass --force/);
    assert.match(fs.readFileSync(file, 'utf8'), /echo mine/);
    // Apptainer cannot be installed on these machines: --build says what to run where it is.
    const build = await mlc(['export', 'apptainer', tag, '--out', out, '--force', '--build'], { cwd: dir, timeoutMs: 240_000 });
    assert.equal(build.code, 1);
    assert.match(
      build.stderr,
      /apptainer is not installed here: on a machine with Apptainer, run `apptainer build mlc-test-jupyter_latest\.sif mlc-test-jupyter_latest\.def`/,
    );
    assert.equal((await mlc(['export', 'apptainer', 'no-such-image:1'], { cwd: dir, timeoutMs: 240_000 })).code, 1);
  });

  it("`mlc up --gpu all` on this GPU-less engine fails with the preflight's sentence and leaves no container", async () => {
    const r = await mlc(['up', '--gpu', 'all'], { cwd: dir, timeoutMs: 240_000 });
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      (await engineKind(engine)) === 'podman'
        ? /no NVIDIA CDI spec in \/etc\/cdi, \/var\/run\/cdi \(Podman hands out GPUs by CDI name only\).*nvidia-ctk cdi generate/
        : /no NVIDIA runtime on the engine.*nvidia-container-toolkit.*nvidia-ctk runtime configure/,
    );
    assert.doesNotMatch(r.stderr, /could not select device driver/);
    assert.equal(r.stdout, '');
    assert.deepEqual(await findJupyterServers(engine, { workspace: dir, all: true }), []);
  });

  it('`mlc up` (gpu auto) runs on CPU with a note and prints a URL; the token opens /api/status, nothing else does', async () => {
    const r = await mlc(['up'], { cwd: dir, timeoutMs: 240_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^GPU: off \(no NVIDIA driver found\); running on CPU\./m);
    const url = new URL(r.stdout.trim());
    const token = url.searchParams.get('token') ?? '';
    assert.match(token, /^[0-9a-f]{48}$/);
    assert.equal(url.hostname, '127.0.0.1');
    assert.ok(!r.stderr.includes(token), 'the token is in the progress output');
    const base = `${url.protocol}//${url.host}`;
    assert.equal(await status(`${base}/api/status`, token), 200);
    assert.equal(await status(`${base}/api/status`), 403);
    assert.equal(await status(`${base}/api/status`, 'f'.repeat(48)), 403);

    const [server] = await findJupyterServers(engine, { workspace: dir });
    assert.ok(server, 'no labelled Jupyter container');
    const details = await engine.inspectContainer(server.containerId);
    assert.deepEqual(
      details?.ports['8888/tcp']?.map((b) => b.hostIp),
      ['127.0.0.1'],
    );
    assert.equal(details?.deviceRequests, 0);
    assert.equal(details?.labels['org.opencontainers.image.revision'], git(dir, 'rev-parse', 'HEAD'));
    assert.equal(details?.labels['org.mlcontainers.image.id'], imageId);
    assert.ok(!JSON.stringify(details?.labels).includes(token), 'the token is in a label');
    assert.ok(!(await engine.containerLogs(server.containerId, 200)).includes(token), "the token is in the container's log");
  });

  it('a kernel started through the REST and websocket API imports torch', async () => {
    const [server] = await findJupyterServers(engine, { workspace: dir });
    assert.ok(server?.baseUrl && server.token);
    const out = await runInKernel(server.baseUrl, server.token, 'import torch; print(torch.__version__)');
    assert.match(out.trim(), /^1\.13\./);
  });

  it('`mlc up` again reuses the running server: same container, same URL', async () => {
    const [before] = await findJupyterServers(engine, { workspace: dir });
    const r = await mlc(['up'], { cwd: dir, timeoutMs: 240_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Jupyter already running/);
    const [after] = await findJupyterServers(engine, { workspace: dir });
    assert.equal(after?.containerId, before?.containerId);
    assert.equal(new URL(r.stdout.trim()).searchParams.get('token'), before?.token);
  });

  it('auto on a host whose nvidia-smi reports a GPU: the engine refuses, and Jupyter starts on CPU with the reason', async () => {
    const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-jupyter-gpu-'));
    extraWorkspaces.push(workspace);
    const lines: string[] = [];
    // On Podman, a CDI spec here that names nvidia.com/gpu=all (a fake of our probe): Podman itself has none and refuses.
    const podman = (await engineKind(engine)) === 'podman';
    const result = await startJupyter({
      engine,
      image: imageId,
      workspace,
      gpu: 'auto',
      shmSizeBytes: GIB,
      readyTimeoutMs: 120_000,
      log: recordingLogger(lines, 'jupyter'),
      // Fakes of our own probes: this machine has no GPU and no toolkit; the engine is real and refuses.
      probe: () =>
        Promise.resolve({
          kind: 'gpus',
          driverVersion: '550.54.15',
          gpus: [{ index: '0', name: 'NVIDIA L4', uuid: 'GPU-1', driverVersion: '550.54.15', memoryMiB: 23034 }],
        }),
      toolkit: (specDirs) =>
        Promise.resolve(
          podman
            ? { hook: undefined, cdiDevices: ['nvidia.com/gpu=all'], specDirs }
            : { hook: '/usr/bin/nvidia-container-runtime-hook', cdiDevices: [], specDirs },
        ),
    });
    assert.equal(result.decision.mode, 'cpu');
    assert.match(
      result.note ?? '',
      podman
        ? /^GPU: off \(The engine has no CDI spec for nvidia\.com\/gpu=all: generate CDI specs/
        : /^GPU: off \(This engine cannot give containers a GPU \(no NVIDIA runtime\)/,
    );
    assert.equal(result.server.gpu, 'none');
    assert.equal((await engine.inspectContainer(result.server.containerId))?.deviceRequests, 0);
    assert.equal(await status(`${result.server.baseUrl ?? ''}/api/status`, result.server.token), 200);
    assert.ok(!lines.join('\n').includes(result.server.token ?? '<none>'), 'the token is in a log line');
  });

  it('a container that exits while starting is removed and its last log lines are reported', async () => {
    const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-jupyter-exit-'));
    extraWorkspaces.push(workspace);
    await assert.rejects(
      startJupyter({
        engine,
        image: STANDIN_DEBIAN,
        workspace,
        gpu: 'none',
        shmSizeBytes: GIB,
        readyTimeoutMs: 60_000,
        log: silentLogger('jupyter'),
      }),
      (e: unknown) => {
        assert.ok(e instanceof JupyterStartError, String(e));
        assert.match(e.message, /exited \(code 127\) before Jupyter answered; its last lines:\n.*jupyter: not found/);
        return true;
      },
    );
    assert.deepEqual(await findJupyterServers(engine, { workspace, all: true }), []);
  });

  it("`mlc down` stops and removes the project's Jupyter containers", async () => {
    const r = await mlc(['down'], { cwd: dir, timeoutMs: 240_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^removed mlc-test-jupyter-[0-9a-f]{7}-jupyter \(mlc test jupyter @ [0-9a-f]{7}\)$/m);
    assert.deepEqual(await findJupyterServers(engine, { workspace: dir, all: true }), []);
  });
});
