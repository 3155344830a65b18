import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type * as Collection from '../../../src/vscode/jupyter/collection';
import type * as CheckGpu from '../../../src/vscode/commands/checkGpu';
import type * as JupyterCommands from '../../../src/vscode/commands/jupyter';
import type * as Reopen from '../../../src/vscode/commands/reopen';
import type { Services } from '../../../src/vscode/services';
import type { FakeVscodeRecord } from '../../helpers/fakeVscode';
import { installFakeVscode, loadFresh } from '../../helpers/fakeVscode';
import { imageDetails } from '../../helpers/images';
import { recordingLogger } from '../../helpers/logger';
import { FakeEngine } from '../fakes/engine';

const IMAGE = imageDetails({
  repoTags: ['dimuon:3f2a1bc', 'dimuon:latest'],
  labels: { 'org.opencontainers.image.revision': '3f2a1bc9d0e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4', 'org.opencontainers.image.title': 'dimuon' },
});

/** What the Jupyter extension's API records: one createJupyterServerCollection call per registration. */
function fakeJupyterExtension() {
  const collections: { id: string; label: string; provider: Collection.ExperimentServerProvider; disposed: boolean }[] = [];
  let activations = 0;
  const api = {
    kernels: {},
    createJupyterServerCollection: (id: string, label: string, provider: Collection.ExperimentServerProvider) => {
      const c = { id, label, provider, disposed: false };
      collections.push(c);
      return { id, label, dispose: () => (c.disposed = true) };
    },
  };
  const extension = {
    isActive: false,
    exports: undefined as unknown,
    activate: async () => (activations++, (extension.isActive = true), (extension.exports = api), api),
  };
  return { extension, collections, activations: () => activations };
}

describe('Jupyter in VS Code (fake vscode, fake Jupyter extension, fake engine)', () => {
  let uninstall: () => void;
  let record: FakeVscodeRecord;
  let module: Record<string, unknown>;
  let engine: FakeEngine;
  let jupyterStatus: http.Server;
  let commands: typeof JupyterCommands;
  let collection: typeof Collection;
  let services: Services;
  const lines: string[] = [];

  beforeEach(async () => {
    ({ module, record, uninstall } = installFakeVscode());
    (module.workspace as Record<string, unknown>).workspaceFolders = [{ uri: { fsPath: '/home/ada/dimuon' }, name: 'dimuon', index: 0 }];
    commands = loadFresh('src/vscode/commands/jupyter');
    collection = loadFresh('src/vscode/jupyter/collection');
    engine = new FakeEngine();
    engine.images.set('dimuon:latest', IMAGE);
    engine.images.set('dimuon:3f2a1bc', IMAGE);
    // Stands in for Jupyter's /api/status inside the container: 200 with the container's token only.
    jupyterStatus = http.createServer((req, res) => {
      const container = [...engine.containers.values()].find((c) => c.running);
      const token = container?.env.find((e) => e.startsWith('JUPYTER_TOKEN='))?.slice(14);
      res.statusCode = req.headers.authorization === `token ${token}` ? 200 : 403;
      res.end('{}');
    });
    await new Promise<void>((r) => jupyterStatus.listen(0, '127.0.0.1', r));
    engine.nextPort = (jupyterStatus.address() as AddressInfo).port;
    lines.length = 0;
    const log = recordingLogger(lines, 'test');
    const engines = { get: () => engine } as unknown as Services['engines'];
    const provider = new collection.ExperimentServerProvider(engines, log, () => ['/home/ada/dimuon']);
    services = {
      log,
      logChannel: { show: () => undefined } as unknown as Services['logChannel'],
      engines,
      images: { refresh: () => undefined, scheduleRefresh: () => undefined } as unknown as Services['images'],
      git: {} as Services['git'],
      jupyter: new collection.JupyterBridge(provider, log),
      templatesDir: `${__dirname}/../../../templates`,
      mediaDir: '/nonexistent',
      scheduler: () => assert.fail('Jupyter commands start no runs'),
      devcontainers: { choose: async () => ({}), remembered: async () => undefined } as unknown as Services['devcontainers'],
      // This machine's nvidia-smi must not decide the outcome: a fake of our probe says there is none.
      gpuProbe: () => Promise.resolve({ kind: 'notInstalled' }),
    };
  });

  afterEach(async () => {
    services.jupyter.dispose();
    await new Promise((r) => jupyterStatus.close(r));
    uninstall();
  });

  it('refuses to start anything in Restricted Mode', async () => {
    record.trusted = false;
    await assert.rejects(commands.startJupyterCommand(services), /runs nothing in Restricted Mode/);
    assert.deepEqual(engine.calls, []);
  });

  it('without the Jupyter extension: offers to install it or open the browser with the token URL', async () => {
    record.config['mlContainers.gpu'] = 'none';
    record.answers.push('Open in Browser');
    await commands.startJupyterCommand(services);
    const [container] = engine.containers.values();
    assert.ok(container?.running);
    const token = container.env.find((e) => e.startsWith('JUPYTER_TOKEN='))?.slice(14) ?? '';
    assert.match(record.messages.at(-1)?.text ?? '', /Install the Jupyter extension/);
    assert.deepEqual(record.openedExternal, [`http://127.0.0.1:${engine.nextPort}/?token=${token}`]);
    assert.ok(record.extensionLookups.includes('ms-toolsai.jupyter'));
    assert.ok(!lines.some((l) => l.includes(token)), 'the token is in a log line');
    assert.ok(!record.messages.some((m) => m.text.includes(token)), 'the token is in a notification');
  });

  it('with the Jupyter extension: registers one server collection, lists "<title> @ <sha7>", resolves port and token', async () => {
    const jupyter = fakeJupyterExtension();
    record.extensions['ms-toolsai.jupyter'] = jupyter.extension;
    record.config['mlContainers.gpu'] = 'none';
    await Promise.all([services.jupyter.ensureRegistered(), services.jupyter.ensureRegistered()]);
    await commands.startJupyterCommand(services);
    assert.equal(jupyter.collections.length, 1, 'registered more than once');
    assert.equal(jupyter.activations(), 1);
    assert.equal(jupyter.collections[0]?.id, 'mlContainers.experimentServers');
    assert.match(record.messages.at(-1)?.text ?? '', /pick "dimuon @ 3f2a1bc" under ML Containers/);

    const provider = jupyter.collections[0]!.provider;
    const listed = await provider.provideJupyterServers();
    assert.deepEqual(
      listed.map((s) => s.label),
      ['dimuon @ 3f2a1bc'],
    );
    const resolved = await provider.resolveJupyterServer(listed[0]!);
    const [container] = engine.containers.values();
    assert.equal(resolved?.connectionInformation?.baseUrl.toString(), `http://127.0.0.1:${engine.nextPort}`);
    assert.equal(resolved?.connectionInformation?.token, container?.env.find((e) => e.startsWith('JUPYTER_TOKEN='))?.slice(14));
  });

  it('an entry goes away when its container stops and comes back, same id, when it is recreated', async () => {
    const jupyter = fakeJupyterExtension();
    record.extensions['ms-toolsai.jupyter'] = jupyter.extension;
    record.config['mlContainers.gpu'] = 'none';
    await commands.startJupyterCommand(services);
    const provider = jupyter.collections[0]!.provider;
    let changes = 0;
    provider.onDidChangeServers(() => changes++);
    const [first] = await provider.provideJupyterServers();

    await commands.stopJupyterCommand(services);
    assert.deepEqual(await provider.provideJupyterServers(), []);
    assert.equal(await provider.resolveJupyterServer(first!), undefined);

    await commands.startJupyterCommand(services);
    const [again] = await provider.provideJupyterServers();
    assert.equal(again?.id, first?.id);
    assert.ok(changes >= 2, 'the kernel picker was not told about the changes');
    const [container] = engine.containers.values();
    const resolved = await provider.resolveJupyterServer(again!);
    assert.equal(
      resolved?.connectionInformation?.token,
      container?.env.find((e) => e.startsWith('JUPYTER_TOKEN='))?.slice(14),
      'resolved to the old token',
    );
  });

  it("lists only the open workspace's containers", async () => {
    engine.containers.set('other', {
      id: 'other',
      name: 'other-jupyter',
      imageId: IMAGE.id,
      env: ['JUPYTER_TOKEN=0123456789abcdef'],
      running: true,
      status: 'running',
      exitCode: 0,
      startedAt: '',
      deviceRequests: 0,
      created: 0,
      labels: {
        'org.mlcontainers.managed': 'true',
        'org.mlcontainers.role': 'jupyter',
        'org.mlcontainers.workspace': '/home/ada/other',
        'org.mlcontainers.image.id': IMAGE.id,
      },
      ports: { '8888/tcp': [{ hostIp: '127.0.0.1', hostPort: '1' }] },
    });
    assert.deepEqual(await services.jupyter.provider.provideJupyterServers(), []);
  });

  it("the GPU setting is validated with the setting's name", async () => {
    record.config['mlContainers.gpu'] = 'everything';
    await assert.rejects(commands.startJupyterCommand(services), /Setting mlContainers.gpu: "everything" is not a GPU/);
  });

  it('auto on a host without NVIDIA driver runs on CPU and says so in one line', async () => {
    await commands.startJupyterCommand(services);
    assert.equal(
      record.messages.find((m) => m.level === 'warn')?.text,
      'GPU: off (no NVIDIA driver found); running on CPU. `mlc doctor --gpu` or "ML Containers: Check GPU Setup" explains.',
    );
    assert.equal([...engine.containers.values()][0]?.deviceRequests, 0);
  });

  it("Check GPU Setup shows the verdict: will work, will not work with the fix, or can't tell with what was not checked", async () => {
    const { checkGpuCommand } = loadFresh<typeof CheckGpu>('src/vscode/commands/checkGpu');
    engine.info_ = { ...engine.info_, runtimes: ['nvidia', 'runc'] };
    const h100 = { index: '0', name: 'NVIDIA H100 80GB HBM3', uuid: 'GPU-1', driverVersion: '550.90.07', memoryMiB: 81559 };
    await checkGpuCommand({ ...services, gpuProbe: () => Promise.resolve({ kind: 'gpus', driverVersion: '550.90.07', gpus: [h100] }) });
    assert.deepEqual(record.messages.at(-1), {
      level: 'info',
      text: 'GPU containers will work: the nvidia runtime hands out 1 GPU, driver 550.90.07; dimuon:latest names no CUDA version, so none is asked of the driver.',
      buttons: ['Show Logs'],
    });
    assert.ok(lines.some((l) => l.includes('GPU 0: NVIDIA H100 80GB HBM3, 80 GiB, GPU-1')));
    await checkGpuCommand({ ...services, gpuProbe: () => Promise.resolve({ kind: 'noDevices' }) });
    assert.equal(record.messages.at(-1)?.level, 'warn');
    assert.match(record.messages.at(-1)?.text ?? '', /^GPU containers will not work: nvidia-smi finds no GPU: check the card is visible/);
    await checkGpuCommand({ ...services, gpuProbe: () => Promise.resolve({ kind: 'notInstalled' }) });
    assert.equal(record.messages.at(-1)?.level, 'warn');
    assert.match(record.messages.at(-1)?.text ?? '', /^Can't tell whether GPU containers will work: nvidia-smi is not on PATH here/);
    assert.ok(lines.some((l) => l.includes("Verdict: Can't tell whether GPU containers will work")));
  });

  describe('Reopen in ML Container', () => {
    let reopen: typeof Reopen;
    let dir: string;
    const useFolder = (withConfig: boolean): void => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-reopen-'));
      if (withConfig) {
        fs.mkdirSync(path.join(dir, '.devcontainer'));
        fs.writeFileSync(
          path.join(dir, '.devcontainer', 'devcontainer.json'),
          '// pytorch\n{ "name": "dimuon", "build": { "dockerfile": "Dockerfile" } }\n',
        );
      }
      (module.workspace as Record<string, unknown>).workspaceFolders = [{ uri: { fsPath: dir }, name: 'dimuon', index: 0 }];
    };
    beforeEach(() => {
      reopen = loadFresh('src/vscode/commands/reopen');
      record.config['mlContainers.gpu'] = 'none';
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('with no devcontainer.json offers to scaffold first, and runs New ML Environment when asked', async () => {
      useFolder(false);
      record.answers.push('New ML Environment');
      await reopen.reopenCommand(services);
      assert.match(record.messages[0]?.text ?? '', /has no \.devcontainer\/devcontainer\.json yet: scaffold/);
      assert.deepEqual(record.executed, ['mlContainers.scaffold.new']);
    });

    it('with Dev Containers, attaches it to a container of the image the last build made (by id): no second build', async () => {
      useFolder(true);
      record.extensions[reopen.DEV_CONTAINERS_ID] = { id: reopen.DEV_CONTAINERS_ID };
      await reopen.reopenCommand(services);
      const container = [...engine.containers.values()].find((c) => c.running);
      assert.ok(container, 'no container was started');
      assert.equal(container.imageId, IMAGE.id, 'the container is not of the image dimuon:latest names');
      assert.ok(!record.executed.includes('remote-containers.reopenInContainer'), 'Dev Containers was asked to build a second image');
      assert.ok(!engine.calls.some((c) => c.startsWith('build')), 'something was built');
      const open = record.executedWith.find((c) => c.id === 'vscode.openFolder');
      assert.match(String(open?.args[0]), /^vscode-remote:\/\/attached-container\+[0-9a-f]+\/workspace$/);
    });

    it('with no image built yet, builds first when asked, then opens the image that build made', async () => {
      useFolder(true);
      engine.images.delete('dimuon:latest');
      record.answers.push('Build and Reopen', 'Start Jupyter and a Terminal');
      // Stands in for Build Experiment Image: the tag appears once the command ran.
      record.commands.set('mlContainers.images.build', () => void engine.images.set('dimuon:latest', IMAGE));
      await reopen.reopenCommand(services);
      assert.match(record.messages[0]?.text ?? '', /has no experiment image yet: build it/);
      assert.deepEqual(record.executed[0], 'mlContainers.images.build');
      assert.match(record.messages[1]?.text ?? '', new RegExp(`Jupyter in dimuon:3f2a1bc \\(${IMAGE.id.slice(7, 19)}\\)`));
      const container = [...engine.containers.values()].find((c) => c.running);
      assert.equal(container?.imageId, IMAGE.id);
    });

    it('with no image built yet and the build declined, starts nothing', async () => {
      useFolder(true);
      engine.images.delete('dimuon:latest');
      await reopen.reopenCommand(services);
      assert.equal(engine.containers.size, 0);
      assert.deepEqual(record.executed, []);
    });

    it('without Dev Containers offers to install it', async () => {
      useFolder(true);
      record.answers.push('Install Dev Containers');
      await reopen.reopenCommand(services);
      assert.deepEqual(record.messages[0]?.buttons, ['Install Dev Containers', 'Start Jupyter and a Terminal']);
      assert.deepEqual(record.executedWith, [
        { id: 'workbench.extensions.installExtension', args: ['ms-vscode-remote.remote-containers'] },
      ]);
    });

    it('without Dev Containers, the standalone path: Jupyter in the image and a docker exec terminal in that container', async () => {
      useFolder(true);
      record.answers.push('Start Jupyter and a Terminal');
      await reopen.reopenCommand(services);
      const container = [...engine.containers.values()].find((c) => c.running);
      assert.ok(container, 'no Jupyter container was started');
      assert.equal(record.terminals.length, 1);
      assert.deepEqual(record.terminals[0]?.shellArgs?.slice(0, 5), ['exec', '-it', '-w', '/workspace', container.id]);
    });

    it("Reopen Workspace in this Image attaches Dev Containers to that image's Jupyter container at /workspace", async () => {
      useFolder(true);
      record.extensions[reopen.DEV_CONTAINERS_ID] = { id: reopen.DEV_CONTAINERS_ID };
      await reopen.reopenInImageCommand(services, 'dimuon:3f2a1bc');
      const container = [...engine.containers.values()].find((c) => c.running);
      assert.ok(container);
      const open = record.executedWith.find((c) => c.id === 'vscode.openFolder');
      const uri = String(open?.args[0]);
      const match = /^vscode-remote:\/\/attached-container\+([0-9a-f]+)\/workspace$/.exec(uri);
      assert.ok(match, uri);
      assert.deepEqual(JSON.parse(Buffer.from(match[1] ?? '', 'hex').toString('utf8')), { containerName: `/${container.name}` });
    });

    it('inside a dev container says so and starts nothing', async () => {
      useFolder(true);
      record.remoteName = 'dev-container';
      await reopen.reopenCommand(services);
      assert.match(record.messages[0]?.text ?? '', /already inside a container/);
      assert.deepEqual(record.executed, []);
      assert.deepEqual(engine.calls, []);
    });
  });
});
