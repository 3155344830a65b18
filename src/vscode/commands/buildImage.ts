import * as os from 'node:os';
import * as vscode from 'vscode';
import { buildExperiment } from '../../core/build/buildExperiment';
import { loadRegistryAuth } from '../../core/docker/registryAuth';
import { withCancellableProgress } from '../progress';
import { buildSettings } from '../settings';
import { requireTrust } from '../trust';
import { pickWorkspaceFolder } from '../workspaceFolder';
import type { Services } from '../services';

/** "ML Containers: Build Experiment Image": the workspace's devcontainer Dockerfile, tagged with its commit. */
export async function buildImageCommand(services: Services): Promise<void> {
  requireTrust('build');
  const folder = await pickWorkspaceFolder(vscode.l10n.t('Folder to build'));
  if (!folder) {
    return;
  }
  const log = services.log.child('build');
  const { buildArgs } = buildSettings();
  const result = await withCancellableProgress(vscode.l10n.t('Building experiment image'), (signal, progress) =>
    buildExperiment({
      folder: folder.uri.fsPath,
      engine: services.engines.get(),
      git: services.git,
      buildArgs,
      registryAuth: (host, authSignal) => loadRegistryAuth(host, process.env, os.homedir(), authSignal),
      log,
      signal,
      onStep: (step) => progress.report({ message: step }),
    }),
  );
  services.images.refresh();
  const showLogs = vscode.l10n.t('Show Logs');
  const answer = await vscode.window.showInformationMessage(
    vscode.l10n.t('Built {0}{1}.', result.tags[0] ?? result.imageId, result.git ? '' : vscode.l10n.t(' (no git commit: tagged with a timestamp)')),
    showLogs,
  );
  if (answer === showLogs) {
    services.logChannel.show();
  }
}
