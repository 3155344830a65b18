import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';

const EXTENSION_ID = 'ml-containers.ml-containers';

export function registerExtensionTests(): void {
  describe('ML Containers in VS Code', () => {
    it("activates from the workspace's .devcontainer/devcontainer.json", async () => {
      const extension = vscode.extensions.getExtension(EXTENSION_ID);
      assert.ok(extension, `${EXTENSION_ID} is not installed in the test instance`);
      await extension.activate();
      assert.equal(extension.isActive, true);
    });

    it('registers every command its package.json contributes', async () => {
      const extension = vscode.extensions.getExtension(EXTENSION_ID);
      await extension?.activate();
      const contributed = (
        (extension?.packageJSON as { contributes?: { commands?: { command: string }[] } }).contributes?.commands ?? []
      ).map((c) => c.command);
      assert.ok(contributed.length > 10, 'package.json contributes no commands');
      const registered = new Set(await vscode.commands.getCommands(true));
      assert.deepEqual(
        contributed.filter((id) => !registered.has(id)),
        [],
      );
    });

    it('contributes the getting-started walkthrough and the Experiment Images view', () => {
      const pkg = vscode.extensions.getExtension(EXTENSION_ID)?.packageJSON as {
        contributes: { walkthroughs: { id: string; steps: unknown[] }[]; views: Record<string, { id: string }[]> };
      };
      assert.equal(pkg.contributes.walkthroughs[0]?.id, 'mlContainers.gettingStarted');
      assert.equal(pkg.contributes.walkthroughs[0]?.steps.length, 5);
      assert.ok(
        Object.values(pkg.contributes.views)
          .flat()
          .some((v) => v.id === 'mlContainers.images'),
      );
    });
  });
}
