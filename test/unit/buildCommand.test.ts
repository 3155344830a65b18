import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as BuildImage from '../../src/vscode/commands/buildImage';
import type { Services } from '../../src/vscode/services';
import { installFakeVscode, loadExtension, loadFresh } from '../helpers/fakeVscode';
import { silentLogger } from '../helpers/logger';
import { devcontainerProject } from '../helpers/project';
import { FakeEngine } from './fakes/engine';

describe('Build Experiment Image command', () => {
  it('refuses in Restricted Mode with the reason, and asks nothing of the engine or git', async () => {
    const { module, record, uninstall } = installFakeVscode();
    const subscriptions: { dispose(): void }[] = [];
    try {
      loadExtension().activate({ subscriptions, extensionPath: path.resolve(__dirname, '../..') } as never);
      record.trusted = false;
      (module.workspace as Record<string, unknown>).workspaceFolders = [{ uri: { fsPath: '/tmp/nowhere' }, name: 'x', index: 0 }];
      record.answers.push('Manage Workspace Trust');
      await (record.commands.get('mlContainers.images.build') as () => Promise<unknown>)();
      assert.deepEqual(record.messages.map((m) => m.level), ['error']);
      assert.match(record.messages[0]?.text ?? '', /builds nothing in Restricted Mode: this folder's Dockerfile could run code on your machine/);
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
    } as unknown as Services;
  });
  afterEach(() => {
    fake.uninstall();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The button's work runs after the command returns (the build does not wait for the user); wait for its file. */
  const ignoreFileOnceWritten = async (): Promise<string> => {
    for (let i = 0; i < 1000 && !fs.readFileSync(path.join(dir, '.dockerignore'), 'utf8').includes('.env'); i++) await new Promise((r) => setImmediate(r));
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
