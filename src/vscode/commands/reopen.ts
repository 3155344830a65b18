import * as vscode from 'vscode';
import type { JupyterServer } from '../../core/jupyter/server';
import { WORKSPACE_IN_CONTAINER } from '../../core/container/request';
import { DEFAULT_DEVCONTAINER, findDevcontainerConfigs } from '../../core/project';
import { attachedContainerFolderUri, isContainerRemote } from '../../core/container/attach';
import { imageArgument } from '../imageArgument';
import { announce, startJupyterIn } from '../jupyter/session';
import { dockerTerminal, LOGIN_SHELL } from '../terminal';
import { requireTrust } from '../trust';
import { pickWorkspaceFolder } from '../workspaceFolder';
import type { Services } from '../services';

/** Microsoft's Dev Containers extension, which owns "reopen this folder in its container". */
export const DEV_CONTAINERS_ID = 'ms-vscode-remote.remote-containers';
/** Its command that builds the folder's devcontainer.json and reopens the window inside the container. */
export const DEV_CONTAINERS_REOPEN = 'remote-containers.reopenInContainer';

/** A window already inside a container has nothing to reopen; say so rather than fail further down. */
function refuseInsideContainer(): boolean {
  if (!isContainerRemote(vscode.env.remoteName)) return false;
  void vscode.window.showInformationMessage(
    vscode.l10n.t('This window is already inside a container. Build, run and Jupyter actions are in the window on your machine: use "Reopen Folder Locally" to get back to it.'),
  );
  return true;
}

async function hasDevcontainer(folder: string): Promise<boolean> {
  return (await findDevcontainerConfigs(folder)).length > 0;
}

/**
 * "ML Containers: Reopen in ML Container". Scaffolds first when the folder has no devcontainer.json, then hands the
 * folder to Dev Containers (which builds that config and reopens the window inside it). Without Dev Containers it
 * offers to install it, or the standalone path: the experiment container with Jupyter and a terminal in it.
 */
export async function reopenCommand(services: Services, arg?: unknown): Promise<void> {
  if (refuseInsideContainer()) return;
  requireTrust('run');
  const folder = await pickWorkspaceFolder(vscode.l10n.t('Folder to reopen in its ML container'), arg);
  if (!folder) return;
  if (!(await hasDevcontainer(folder.uri.fsPath))) {
    const scaffold = vscode.l10n.t('New ML Environment…');
    const choice = await vscode.window.showInformationMessage(
      vscode.l10n.t('{0} has no {1} yet: scaffold an ML environment first, then reopen in it.', folder.name, DEFAULT_DEVCONTAINER),
      scaffold,
    );
    if (choice !== scaffold) return;
    await vscode.commands.executeCommand('mlContainers.scaffold.new', folder.uri);
    if (!(await hasDevcontainer(folder.uri.fsPath))) return;
  }
  if (vscode.extensions.getExtension(DEV_CONTAINERS_ID)) {
    services.log.info(`reopening ${folder.uri.fsPath} through Dev Containers (${DEV_CONTAINERS_REOPEN})`);
    await vscode.commands.executeCommand(DEV_CONTAINERS_REOPEN);
    return;
  }
  await withoutDevContainers(services, folder.uri.fsPath, undefined);
}

/**
 * "Reopen Workspace in this Image" (Experiment Images view): the image's Jupyter container, which has the folder
 * mounted at /workspace, opened as a remote window through Dev Containers' attach; the notebook kernels and the
 * editor then see the same files and packages.
 */
export async function reopenInImageCommand(services: Services, arg: unknown): Promise<void> {
  if (refuseInsideContainer()) return;
  requireTrust('run');
  const image = imageArgument(arg);
  if (!image) throw new Error(vscode.l10n.t('Run this from an image in the Experiment Images view.'));
  const folder = await pickWorkspaceFolder(vscode.l10n.t('Folder to open in {0}', image), arg);
  if (!folder) return;
  if (!vscode.extensions.getExtension(DEV_CONTAINERS_ID)) {
    await withoutDevContainers(services, folder.uri.fsPath, image);
    return;
  }
  const server = await startJupyterIn(services, folder.uri.fsPath, image);
  if (!server) return;
  const uri = attachedContainerFolderUri(server.name, WORKSPACE_IN_CONTAINER);
  services.log.info(`opening ${uri} (container ${server.name}) through Dev Containers`);
  await vscode.commands.executeCommand('vscode.openFolder', vscode.Uri.parse(uri), { forceNewWindow: true });
}

async function withoutDevContainers(services: Services, folder: string, image: string | undefined): Promise<void> {
  const install = vscode.l10n.t('Install Dev Containers');
  const standalone = vscode.l10n.t('Start Jupyter and a Terminal');
  const choice = await vscode.window.showInformationMessage(
    vscode.l10n.t('Reopening this window inside a container needs the Dev Containers extension. Install it, or work from here: Jupyter in the experiment container and a terminal inside it.'),
    install,
    standalone,
  );
  if (choice === install) {
    await vscode.commands.executeCommand('workbench.extensions.installExtension', DEV_CONTAINERS_ID);
  } else if (choice === standalone) {
    const server = await startJupyterIn(services, folder, image);
    if (server) await openStandalone(services, server);
  }
}

async function openStandalone(services: Services, server: JupyterServer): Promise<void> {
  dockerTerminal(services.engines, server.name, ['exec', '-it', '-w', WORKSPACE_IN_CONTAINER, server.containerId, ...LOGIN_SHELL]);
  await announce(services, server);
}
