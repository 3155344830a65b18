import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';

const EXTENSION_ID = 'ml-containers.ml-containers';

export function registerExtensionTests(): void {
  describe('ML Containers in VS Code', () => {
    it('activates from the workspace\'s .devcontainer/devcontainer.json', async () => {
      const extension = vscode.extensions.getExtension(EXTENSION_ID);
      assert.ok(extension, `${EXTENSION_ID} is not installed in the test instance`);
      await extension.activate();
      assert.equal(extension.isActive, true);
    });

    it('registers every contributed command', async () => {
      const commands = await vscode.commands.getCommands(true);
      for (const id of ['mlContainers.engine.doctor', 'mlContainers.images.refresh', 'mlContainers.log.show']) {
        assert.ok(commands.includes(id), `${id} is not registered`);
      }
    });
  });
}
