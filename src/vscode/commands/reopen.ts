import * as vscode from 'vscode';
import type { JupyterServer } from '../../core/jupyter/server';
import { WORKSPACE_IN_CONTAINER } from '../../core/container/workspace';
import { DEFAULT_DEVCONTAINER, findDevcontainerConfigs, openProject } from '../../core/project';
import { shortImageId } from '../../core/reference';
import { attachedContainerFolderUri, isContainerRemote } from '../../core/container/attach';
import { imageArgument } from '../imageArgument';
import { announce, startJupyterIn } from '../jupyter/session';
import { dockerTerminal, LOGIN_SHELL } from '../terminal';
import { requireTrust } from '../trust';
import { pickWorkspaceFolder } from '../workspaceFolder';
import type { Services } from '../services';

/** Microsoft's Dev Containers extension, which owns "reopen this folder in its container". */
export const DEV_CONTAINERS_ID = 'ms-vscode-remote.remote-containers';

/** A window already inside a container has nothing to reopen; say so rather than fail further down. */
function refuseInsideContainer(): boolean {
  if (!isContainerRemote(vscode.env.remoteName)) return false;
  void vscode.window.showInformationMessage(
    vscode.l10n.t(
      'This window is already inside a container. Build, run and Jupyter actions are in the window on your machine: use "Reopen Folder Locally" to get back to it.',
    ),
  );
  return true;
}

async function hasDevcontainer(folder: string): Promise<boolean> {
  return (await findDevcontainerConfigs(folder)).length > 0;
}

/**
 * "ML Containers: Reopen in ML Container". Scaffolds first when the folder has no devcontainer.json, builds first when
 * its experiment image does not exist yet, then opens the window in a container of that image — the very image id the
 * Experiment Images view shows, never a second build: through Dev Containers' attach when it is installed (the
 * image's devcontainer.metadata carries remoteUser and the extensions), else the standalone path (Jupyter in the
 * image and a terminal inside it), after offering to install Dev Containers.
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
  const image = await builtImage(services, folder);
  if (!image) return;
  services.log.info(`reopening ${folder.uri.fsPath} in ${image.label} (${image.id}), the image its last build made`);
  await openInImage(services, folder.uri.fsPath, image);
}

/** The experiment image of folder as the last build left it, building it first when there is none (asked). */
async function builtImage(services: Services, folder: vscode.WorkspaceFolder): Promise<ChosenImage | undefined> {
  const choice = await services.devcontainers.choose(folder.uri.fsPath);
  if (!choice) return undefined;
  const project = await openProject(folder.uri.fsPath, { ...choice, templatesDir: services.templatesDir });
  const engine = services.engines.get();
  let details = await engine.inspectImage(project.imageRef);
  if (!details) {
    const build = vscode.l10n.t('Build and Reopen');
    const answer = await vscode.window.showInformationMessage(
      vscode.l10n.t('{0} has no experiment image yet: build it, and the window reopens in the image that build makes.', folder.name),
      build,
    );
    if (answer !== build) return undefined;
    await vscode.commands.executeCommand('mlContainers.images.build', folder.uri);
    details = await engine.inspectImage(project.imageRef);
    if (!details) return undefined;
  }
  // Its commit tag names it as the view does (`name:sha7`); `name:latest` only moves.
  const label = details.repoTags.find((t) => t.startsWith(`${project.imageName}:`) && !t.endsWith(':latest')) ?? project.imageRef;
  return { id: details.id, label };
}

/** An image picked by id (what the container is made from) and the name the user knows it by. */
interface ChosenImage {
  id: string;
  label: string;
}

/** The image's Jupyter container, with the folder at /workspace, opened as a remote window (or the standalone path). */
async function openInImage(services: Services, folder: string, image: ChosenImage): Promise<void> {
  if (!vscode.extensions.getExtension(DEV_CONTAINERS_ID)) {
    await withoutDevContainers(services, folder, image);
    return;
  }
  const server = await startJupyterIn(services, folder, image.id);
  if (!server) return;
  const uri = attachedContainerFolderUri(server.name, WORKSPACE_IN_CONTAINER);
  services.log.info(`opening ${uri} (container ${server.name}, image ${image.label}) through Dev Containers`);
  await vscode.commands.executeCommand('vscode.openFolder', vscode.Uri.parse(uri), { forceNewWindow: true });
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
  await openInImage(services, folder.uri.fsPath, { id: image, label: image });
}

async function withoutDevContainers(services: Services, folder: string, image: ChosenImage): Promise<void> {
  const install = vscode.l10n.t('Install Dev Containers');
  const standalone = vscode.l10n.t('Start Jupyter and a Terminal');
  const choice = await vscode.window.showInformationMessage(
    vscode.l10n.t(
      'Reopening this window inside a container needs the Dev Containers extension. Install it, or work from here: Jupyter in {0} ({1}) and a terminal inside it.',
      image.label,
      shortImageId(image.id),
    ),
    install,
    standalone,
  );
  if (choice === install) {
    await vscode.commands.executeCommand('workbench.extensions.installExtension', DEV_CONTAINERS_ID);
  } else if (choice === standalone) {
    const server = await startJupyterIn(services, folder, image.id);
    if (server) await openStandalone(services, server);
  }
}

async function openStandalone(services: Services, server: JupyterServer): Promise<void> {
  dockerTerminal(services.engines, server.name, ['exec', '-it', '-w', WORKSPACE_IN_CONTAINER, server.containerId, ...LOGIN_SHELL]);
  await announce(services, server);
}
