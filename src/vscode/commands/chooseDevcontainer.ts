import * as vscode from 'vscode';
import { findDevcontainerConfigs } from '../../core/project';
import type { Services } from '../services';
import { pickWorkspaceFolder } from '../workspaceFolder';

/** "ML Containers: Choose Dev Container Configuration…": asks again which devcontainer.json a folder with several uses. */
export async function chooseDevcontainerCommand(services: Services): Promise<void> {
  const folder = await pickWorkspaceFolder(vscode.l10n.t('Folder whose configuration to choose'));
  if (!folder) return;
  const candidates = await findDevcontainerConfigs(folder.uri.fsPath);
  if (candidates.length < 2) {
    void vscode.window.showInformationMessage(
      candidates.length
        ? vscode.l10n.t('{0} has one dev container configuration, {1}: there is nothing to choose.', folder.name, candidates[0] ?? '')
        : vscode.l10n.t('{0} has no devcontainer.json yet: scaffold an ML environment first.', folder.name),
    );
    return;
  }
  const choice = await services.devcontainers.choose(folder.uri.fsPath, { ask: true });
  if (!choice?.devcontainer) return;
  services.log.child('devcontainer').info(`${folder.uri.fsPath}: using ${choice.devcontainer}`);
  services.images.refresh();
}
