import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BuildRequest, ContainerCreateRequest, Engine } from '../../../src/core/docker/engine';
import { ROLE_LABEL } from '../../../src/core/labels';
import { MODEL_LABELS, MODEL_ROLE } from '../../../src/core/model/card';
import { SERVER_PATH } from '../../../src/core/model/layout';
import type { RunRecord } from '../../../src/core/run/records';
import { RUNS_FILE } from '../../../src/core/run/records';
import type * as Models from '../../../src/vscode/commands/models';
import type { Services } from '../../../src/vscode/services';
import type { TreeNode } from '../../../src/vscode/tree/provider';
import type { FakeVscodeRecord } from '../../helpers/fakeVscode';
import { installFakeVscode, loadFresh } from '../../helpers/fakeVscode';
import { imageDetails } from '../../helpers/images';
import { recordingLogger } from '../../helpers/logger';
import { startedRecord } from '../../helpers/runRecords';
import { FakeEngine } from '../fakes/engine';

const RUN = '20261205-095900-ab12-2';
const MODEL_LABELS_OF = (run: string): Record<string, string> => ({ [ROLE_LABEL]: MODEL_ROLE, [MODEL_LABELS.run]: run });

/**
 * A FakeEngine whose builds keep their request and leave a model image under its tag (as the engine would), and
 * whose containers publish the model server's port, where a fake server stands in for serve.py.
 */
class ModelEngine extends FakeEngine {
  readonly builds: BuildRequest[] = [];
  readonly creates: ContainerCreateRequest[] = [];
  servePort = 0;
  override async build(...[context, request]: Parameters<Engine['build']>): Promise<string> {
    const id = await super.build(context, request);
    this.builds.push(request);
    for (const tag of request.tags ?? []) {
      this.images.set(tag, imageDetails({ id, repoTags: [tag], labels: MODEL_LABELS_OF(RUN), cmd: ['python3', SERVER_PATH] }));
    }
    return id;
  }
  override async createContainer(request: ContainerCreateRequest): Promise<string> {
    this.creates.push(request);
    return super.createContainer(request);
  }
  override async startContainer(id: string): Promise<void> {
    await super.startContainer(id);
    this.containers.get(id)!.ports = { '8080/tcp': [{ hostIp: '127.0.0.1', hostPort: String(this.servePort) }] };
  }
}

describe('Save Model and Serve Model in VS Code (fake vscode, fake engine, a real run folder)', () => {
  let uninstall: () => void;
  let record: FakeVscodeRecord;
  let module: Record<string, unknown>;
  let engine: ModelEngine;
  let commands: typeof Models;
  let services: Services;
  let dir: string;
  let fakeServer: http.Server;
  const lines: string[] = [];
  const copied: string[] = [];
  const refreshed: (string | undefined)[] = [];

  const runNode = (over: Partial<RunRecord> = {}): TreeNode =>
    ({ folder: dir, kind: 'run', run: finished(over), image: {} }) as unknown as TreeNode;
  const finished = (over: Partial<RunRecord> = {}): RunRecord =>
    startedRecord(RUN, {
      status: 'succeeded',
      exitCode: 0,
      end: '2026-12-05T10:00:00.000Z',
      config: { path: 'configs/experiment.yaml', sha256: 'b'.repeat(64), content: 'lr: 0.01\noutputs: [model.pt]\n' },
      ...over,
    });
  const tokenOf = (r: ContainerCreateRequest | undefined): string =>
    r?.Env?.find((e) => e.startsWith('MLC_SERVE_TOKEN='))?.slice('MLC_SERVE_TOKEN='.length) ?? '';
  const serverItems = () => record.statusBarItems.filter((i) => i.id.startsWith('mlContainers.modelServer.'));
  const itemArgument = (): unknown => (serverItems()[0] as unknown as { command: { arguments: unknown[] } }).command.arguments[0];

  beforeEach(async () => {
    ({ module, record, uninstall } = installFakeVscode());
    (module.env as Record<string, unknown>).clipboard = { writeText: async (text: string) => void copied.push(text) };
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-model-vscode-'));
    (module.workspace as Record<string, unknown>).workspaceFolders = [{ uri: { fsPath: dir }, name: 'dimuon', index: 0 }];
    commands = loadFresh('src/vscode/commands/models');
    engine = new ModelEngine();
    engine.images.set(imageDetails().id, imageDetails());
    fs.mkdirSync(path.join(dir, '.mlcontainers', 'runs', RUN), { recursive: true });
    fs.writeFileSync(path.join(dir, RUNS_FILE), `${JSON.stringify(finished())}\n`);
    fs.writeFileSync(path.join(dir, '.mlcontainers', 'runs', RUN, 'model.pt'), 'weights-1');
    // Stands in for serve.py: ready, and the metadata only with the token of the last container created.
    fakeServer = http.createServer((req, res) => {
      if (req.url !== '/v2/health/ready' && req.headers.authorization !== `Bearer ${tokenOf(engine.creates.at(-1))}`) res.statusCode = 401;
      res.end(JSON.stringify({ name: 'dimuon-model', inputs: [{ name: 'pixels', datatype: 'FP32', shape: [-1, 4] }] }));
    });
    await new Promise<void>((r) => fakeServer.listen(0, '127.0.0.1', r));
    engine.servePort = (fakeServer.address() as AddressInfo).port;
    lines.length = 0;
    copied.length = 0;
    refreshed.length = 0;
    services = {
      log: recordingLogger(lines, 'test'),
      logChannel: { show: () => undefined } as unknown as Services['logChannel'],
      engines: { get: () => engine } as unknown as Services['engines'],
      images: { scheduleRefresh: (folder?: string) => void refreshed.push(folder) } as unknown as Services['images'],
      git: {} as Services['git'],
      jupyter: {} as Services['jupyter'],
      templatesDir: path.resolve(__dirname, '../../../templates'),
      mediaDir: '/nonexistent',
      scheduler: () => assert.fail('model commands start no runs'),
      devcontainers: {} as Services['devcontainers'],
    };
  });

  afterEach(async () => {
    commands.modelServingDisposable(services).dispose();
    await new Promise((r) => fakeServer.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
    uninstall();
  });

  it('Save Model on a succeeded run asks the name (the CLI default first) and builds <name>:<run> from that run', async () => {
    record.quickInputScript.push({ type: 'digits-model' });
    await commands.saveModelCommand(services, runNode());
    assert.equal(record.quickInputsShown[0]?.value, 'dimuon-model', "the CLI's default name, from the run's image");
    assert.deepEqual(
      engine.builds.map((b) => b.tags),
      [[`digits-model:${RUN}`]],
    );
    assert.ok(engine.calls.includes(`inspectImage ${imageDetails().id}`), "the run's own image was not the base");
    const message = record.messages.at(-1);
    assert.match(message?.text ?? '', new RegExp(`Saved run ${RUN} as model digits-model:${RUN}`));
    assert.deepEqual(message?.buttons, ['Serve']);
    assert.deepEqual(refreshed, [dir]);
    assert.equal(serverItems().length, 0, 'served without the Serve button');
  });

  it('a cancelled name box saves nothing, and a run that did not succeed is not saved', async () => {
    await commands.saveModelCommand(services, runNode());
    assert.equal(record.quickInputsShown.length, 1);
    await commands.saveModelCommand(services, runNode({ status: 'failed' }));
    assert.match(record.messages.at(-1)?.text ?? '', /only a run that succeeded has a model to save/);
    assert.equal(record.quickInputsShown.length, 1, 'asked a name for a failed run');
    assert.deepEqual(engine.builds, []);
    assert.ok(!engine.calls.includes('build'));
  });

  it('Serve on the saved message serves that model: "$(server) <model> :<port>" in the status bar, the URL without the token', async () => {
    record.quickInputScript.push({ type: 'digits-model' });
    record.answers.push('Serve');
    await commands.saveModelCommand(services, runNode());
    const [item] = serverItems();
    assert.equal(item?.text, `$(server) digits-model :${engine.servePort}`);
    assert.equal(item?.visible, true);
    assert.match(String(item?.tooltip), new RegExp(`http://127\\.0\\.0\\.1:${engine.servePort}`));
    assert.equal(engine.creates[0]?.Image, imageDetails({ id: 'sha256:fakebuild' }).id);
    assert.match(record.messages.at(-1)?.text ?? '', new RegExp(`served at http://127\\.0\\.0\\.1:${engine.servePort}`));
  });

  it("Serve Model picks among the engine's models; Copy curl copies a command with the token, which no log line, tooltip or message holds", async () => {
    engine.images.set(
      `digits-model:${RUN}`,
      imageDetails({ id: 'sha256:5e5e', repoTags: [`digits-model:${RUN}`], labels: MODEL_LABELS_OF(RUN), cmd: [SERVER_PATH] }),
    );
    engine.imageList = [{ id: 'sha256:5e5e', repoTags: [`digits-model:${RUN}`], labels: MODEL_LABELS_OF(RUN), created: 1, size: 1 }];
    record.answers.push(`digits-model:${RUN}`);
    await commands.serveModelCommand(services);
    assert.equal(serverItems()[0]?.text, `$(server) digits-model :${engine.servePort}`);
    const token = tokenOf(engine.creates[0]);
    assert.match(token, /^[0-9a-f]{48}$/);

    record.answers.push('Copy curl Command');
    await commands.modelServerActionsCommand(services, itemArgument());
    assert.equal(copied.length, 1);
    assert.ok(copied[0]!.startsWith(`curl -s -H 'Authorization: Bearer ${token}'`), copied[0]);
    assert.ok(copied[0]!.endsWith(`http://127.0.0.1:${engine.servePort}/v2/models/digits-model/infer`), copied[0]);
    record.answers.push('Copy URL');
    await commands.modelServerActionsCommand(services, itemArgument());
    assert.equal(copied[1], `http://127.0.0.1:${engine.servePort}`);

    assert.ok(lines.length > 0, 'nothing was logged: the check below would prove nothing');
    assert.ok(!lines.some((l) => l.includes(token)), 'the token is in a log line');
    assert.ok(!record.logLines.some((l) => l.includes(token)), 'the token is in the log channel');
    assert.ok(
      !record.statusBarItems.some((i) => String(i.tooltip).includes(token) || i.text.includes(token)),
      'the token is in the status bar',
    );
    assert.ok(!record.messages.some((m) => m.text.includes(token)), 'the token is in a notification');
  });

  it('Stop Model stops and removes the container and hides the item; disposing the window removes what still runs', async () => {
    engine.images.set(
      `digits-model:${RUN}`,
      imageDetails({ id: 'sha256:5e5e', repoTags: [`digits-model:${RUN}`], labels: MODEL_LABELS_OF(RUN), cmd: [SERVER_PATH] }),
    );
    await commands.serveModelCommand(services, `digits-model:${RUN}`);
    assert.equal(engine.containers.size, 1);
    record.answers.push('Stop Model');
    await commands.modelServerActionsCommand(services, itemArgument());
    assert.ok(engine.calls.includes('stopContainer') && engine.calls.includes('removeContainer'), engine.calls.join('\n'));
    assert.equal(engine.containers.size, 0);
    assert.equal(serverItems()[0]?.visible, false);
    await commands.stopModelCommand(services);
    assert.match(record.messages.at(-1)?.text ?? '', /No model is served from this window/);

    await commands.serveModelCommand(services, `digits-model:${RUN}`);
    assert.equal(engine.containers.size, 1);
    commands.modelServingDisposable(services).dispose();
    await new Promise((r) => setImmediate(r));
    assert.equal(engine.containers.size, 0, 'the server outlived the window');
    assert.equal(serverItems()[1]?.visible, false);
  });

  it('refuses in Restricted Mode: nothing is saved or served', async () => {
    record.trusted = false;
    record.quickInputScript.push({ type: 'digits-model' });
    await assert.rejects(commands.saveModelCommand(services, runNode()), /runs nothing in Restricted Mode/);
    await assert.rejects(commands.serveModelCommand(services, `digits-model:${RUN}`), /runs nothing in Restricted Mode/);
    assert.deepEqual(engine.calls, []);
    assert.equal(record.quickInputsShown.length, 0);
  });
});
