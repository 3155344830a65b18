import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as BuildImage from '../../../src/vscode/commands/buildImage';
import type * as Choice from '../../../src/vscode/devcontainerChoice';
import type { BuildRequest, TarStream } from '../../../src/core/docker/engine';
import type { Services } from '../../../src/vscode/services';
import { fakeMemento, installFakeVscode, loadExtension, loadFresh } from '../../helpers/fakeVscode';
import { silentLogger } from '../../helpers/logger';
import { devcontainerProject } from '../../helpers/project';
import { FakeEngine } from '../fakes/engine';

describe('Build Experiment Image command', () => {
  it('refuses in Restricted Mode with the reason, and asks nothing of the engine or git', async () => {
    const { module, record, uninstall } = installFakeVscode();
    const subscriptions: { dispose(): void }[] = [];
    try {
      loadExtension().activate({
        subscriptions,
        extensionPath: path.resolve(__dirname, '../../..'),
        workspaceState: fakeMemento(),
      } as never);
      record.trusted = false;
      (module.workspace as Record<string, unknown>).workspaceFolders = [{ uri: { fsPath: '/tmp/nowhere' }, name: 'x', index: 0 }];
      record.answers.push('Manage Workspace Trust');
      await (record.commands.get('mlContainers.images.build') as () => Promise<unknown>)();
      assert.deepEqual(
        record.messages.map((m) => m.level),
        ['error'],
      );
      assert.match(
        record.messages[0]?.text ?? '',
        /builds nothing in Restricted Mode: this folder's Dockerfile could run code on your machine/,
      );
      assert.deepEqual(record.messages[0]?.buttons, ['Manage Workspace Trust', 'Show Logs']);
      await new Promise((resolve) => setImmediate(resolve));
      assert.ok(record.executed.includes('workbench.trust.manage'), 'the trust editor did not open');
      assert.equal(record.gitApiRequests, 0);
      assert.ok(!record.logLines.some((l) => l.includes('[extension/engine] using')), 'an engine was created');
    } finally {
      subscriptions.forEach((d) => d.dispose());
      uninstall();
    }
  });
});

describe('Build Experiment Image with a secret in the build context (fake vscode, fake engine)', () => {
  let dir: string;
  let engine: FakeEngine;
  let services: Services;
  let fake: ReturnType<typeof installFakeVscode>;
  let command: typeof BuildImage;

  beforeEach(() => {
    fake = installFakeVscode();
    command = loadFresh('src/vscode/commands/buildImage');
    dir = devcontainerProject('FROM python:3.11-slim\nCOPY . /workspace\n', { '.dockerignore': '# mine\ndata/', '.env': 'HF_TOKEN=x\n' });
    (fake.module.workspace as Record<string, unknown>).workspaceFolders = [{ uri: { fsPath: dir }, name: 'p', index: 0 }];
    engine = new FakeEngine();
    services = {
      log: silentLogger('test'),
      logChannel: { show: () => undefined },
      engines: { get: () => engine },
      images: { refresh: () => undefined },
      git: { info: async () => undefined },
      devcontainers: new (loadFresh<typeof Choice>('src/vscode/devcontainerChoice').DevcontainerChoice)(fakeMemento()),
    } as unknown as Services;
  });
  afterEach(() => {
    fake.uninstall();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The button's work runs after the command returns (the build does not wait for the user); wait for its file. */
  const ignoreFileOnceWritten = async (): Promise<string> => {
    for (let i = 0; i < 1000 && !fs.readFileSync(path.join(dir, '.dockerignore'), 'utf8').includes('.env'); i++)
      await new Promise((r) => setImmediate(r));
    return fs.readFileSync(path.join(dir, '.dockerignore'), 'utf8');
  };

  it('builds, warns naming .env, and "Add to .dockerignore" appends the line to the user\'s file', async () => {
    fake.record.answers.push('Add to .dockerignore');
    await command.buildImageCommand(services);
    assert.ok(engine.calls.includes('build'));
    const warning = fake.record.messages.find((m) => m.level === 'warn');
    assert.match(warning?.text ?? '', /^The build context holds \.env \(looks like a secret\)/);
    assert.deepEqual(warning?.buttons, ['Add to .dockerignore']);
    assert.equal(await ignoreFileOnceWritten(), '# mine\ndata/\n.env\n');
  });

  it('with mlContainers.build.strict builds nothing and offers the same line', async () => {
    fake.record.config['mlContainers.build.strict'] = true;
    fake.record.answers.push('Add to .dockerignore');
    await command.buildImageCommand(services);
    assert.ok(!engine.calls.includes('build'), 'strict mode built');
    const error = fake.record.messages.find((m) => m.level === 'error');
    assert.match(error?.text ?? '', /^Not built \(mlContainers\.build\.strict\): the build context holds \.env/);
    assert.equal(await ignoreFileOnceWritten(), '# mine\ndata/\n.env\n');
  });
});

/** Builds record the labels they were asked for. */
class LabelEngine extends FakeEngine {
  builds: BuildRequest[] = [];
  override async build(context: TarStream, request: BuildRequest): Promise<string> {
    this.builds.push(request);
    return super.build(context, request);
  }
}

describe('Build Experiment Image in a folder with several dev container configurations', () => {
  let dir: string;
  let fake: ReturnType<typeof installFakeVscode>;
  beforeEach(() => {
    fake = installFakeVscode();
    dir = devcontainerProject('FROM python:3.11-slim\n', {
      '.devcontainer/gpu/devcontainer.json': '{ "name": "gpu", "build": { "dockerfile": "../Dockerfile", "context": "../.." } }\n',
      '.devcontainer/cpu/devcontainer.json': '{ "name": "cpu", "image": "python:3.11-slim" }\n',
    });
    (fake.module.workspace as Record<string, unknown>).workspaceFolders = [{ uri: { fsPath: dir }, name: 'p', index: 0 }];
  });
  afterEach(() => {
    fake.uninstall();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('asks with a QuickPick once, builds the one picked, and remembers it for the folder', async () => {
    const command = loadFresh<typeof BuildImage>('src/vscode/commands/buildImage');
    const engine = new LabelEngine();
    const state = fakeMemento();
    const choice = new (loadFresh<typeof Choice>('src/vscode/devcontainerChoice').DevcontainerChoice)(state);
    const services = {
      log: silentLogger('test'),
      logChannel: { show: () => undefined },
      engines: { get: () => engine },
      images: { refresh: () => undefined },
      git: { info: async () => undefined },
      devcontainers: choice,
    } as unknown as Services;
    let offered: string[] = [];
    // The user picks the cpu configuration.
    (fake.module.window as Record<string, unknown>).showQuickPick = async (items: { label: string }[]) => (
      (offered = items.map((i) => i.label)),
      items.find((i) => i.label.includes('/cpu/'))
    );
    await command.buildImageCommand(services);
    assert.deepEqual(offered, [
      '.devcontainer/devcontainer.json',
      '.devcontainer/cpu/devcontainer.json',
      '.devcontainer/gpu/devcontainer.json',
    ]);
    // (Each build is the image and then the lock layer on it: the titled requests are the images.)
    const titles = (): unknown[] => engine.builds.map((b) => b.labels?.['org.opencontainers.image.title']).filter((t) => t !== undefined);
    assert.deepEqual(titles(), ['cpu']);
    assert.equal(await choice.remembered(dir), '.devcontainer/cpu/devcontainer.json');

    offered = [];
    await command.buildImageCommand(services);
    assert.deepEqual(offered, [], 'asked again');
    assert.deepEqual(titles(), ['cpu', 'cpu']);
  });

  it('builds nothing when the picker is dismissed', async () => {
    const command = loadFresh<typeof BuildImage>('src/vscode/commands/buildImage');
    const engine = new LabelEngine();
    const choice = new (loadFresh<typeof Choice>('src/vscode/devcontainerChoice').DevcontainerChoice)(fakeMemento());
    await command.buildImageCommand({
      log: silentLogger('test'),
      engines: { get: () => engine },
      images: { refresh: () => undefined },
      git: { info: async () => undefined },
      devcontainers: choice,
    } as unknown as Services);
    assert.deepEqual(engine.builds, []);
    assert.equal(await choice.remembered(dir), undefined);
  });
});
