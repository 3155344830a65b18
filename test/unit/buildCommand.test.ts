import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { installFakeVscode, loadExtension } from '../helpers/fakeVscode';

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
