import * as vscode from 'vscode';
import type { ImageSummary } from '../../core/docker/engine';
import type { JupyterServer } from '../../core/jupyter/server';
import { browserUrl, findJupyterServers, lastLogLines, serverLabel, startJupyter, stopJupyter, waitForJupyter } from '../../core/jupyter/server';
import { openProject } from '../../core/project';
import { toAbortSignal } from '../cancellation';
import { JUPYTER_EXTENSION_ID } from '../jupyter/collection';
import { runSettings } from '../settings';
import type { TreeNode } from '../tree/provider';
import { requireTrust } from '../trust';
import { pickWorkspaceFolder } from '../workspaceFolder';
import type { Services } from './table';


/** An image chosen in the sidebar (its tag, else its id) or passed by reference. */
export function imageArgument(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg;
  const node = arg as TreeNode | undefined;
  if (node?.kind === 'image') return node.node.image.repoTags.length ? node.node.name : node.node.image.id;
  const image = arg as Partial<ImageSummary> | undefined;
  return image?.repoTags?.[0] ?? image?.id;
}

/** "ML Containers: Start Jupyter": the workspace's latest experiment image (or the one chosen), attached to VS Code. */
export async function startJupyterCommand(services: Services, arg?: unknown): Promise<void> {
  requireTrust('run');
  const folder = await pickWorkspaceFolder(vscode.l10n.t('Folder to start Jupyter for'));
  if (!folder) return;
  const server = await startJupyterIn(services, folder.uri.fsPath, imageArgument(arg));
  if (server) await announce(services, server);
}

/**
 * Starts (or reuses) the Jupyter container of an image for a workspace folder, with progress and cancel; the image
 * defaults to the project's latest. No image yet: offers to build it and returns undefined.
 */
export async function startJupyterIn(services: Services, workspace: string, imageRef?: string): Promise<JupyterServer | undefined> {
  requireTrust('run');
  const settings = runSettings();
  const project = await openProject(workspace, { templatesDir: services.templatesDir });
  const image = imageRef ?? project.imageRef;
  const engine = services.engines.get();
  if (!(await engine.inspectImage(image))) {
    const build = vscode.l10n.t('Build Experiment Image');
    const choice = await vscode.window.showWarningMessage(vscode.l10n.t('No image {0} yet: build it first.', image), build);
    if (choice === build) await vscode.commands.executeCommand('mlContainers.images.build');
    return undefined;
  }
  const catalog = project.catalog;
  const log = services.log.child('jupyter');
  const result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Starting Jupyter in {0}…', image), cancellable: true },
    async (_progress, token) => {
      const abort = toAbortSignal(token);
      try {
        return await startJupyter({
          engine,
          image,
          workspace,
          gpu: settings.gpu,
          shmSizeBytes: settings.shmSizeBytes,
          readyTimeoutMs: settings.readyTimeoutMs,
          log,
          ...(catalog ? { catalog } : {}),
          ...(services.gpuProbe ? { probe: services.gpuProbe } : {}),
          signal: abort.signal,
        });
      } finally {
        abort.dispose();
      }
    },
  );
  if (result.note) {
    log.warn(result.note);
    void vscode.window.showWarningMessage(result.note);
  }
  services.jupyter.provider.refresh();
  services.images.scheduleRefresh();
  return result.server;
}

/** Points the user at the kernel picker, or — without the Jupyter extension — at installing it or the browser. */
export async function announce(services: Services, server: JupyterServer): Promise<void> {
  const openInBrowser = vscode.l10n.t('Open in Browser');
  if (await services.jupyter.ensureRegistered()) {
    const newNotebook = vscode.l10n.t('New Notebook');
    const choice = await vscode.window.showInformationMessage(
      vscode.l10n.t('Jupyter is running: pick "{0}" under ML Containers in a notebook\'s kernel picker (Select Another Kernel…).', serverLabel(server)),
      newNotebook,
      openInBrowser,
    );
    if (choice === newNotebook) await vscode.commands.executeCommand('ipynb.newUntitledIpynb');
    if (choice === openInBrowser) await openBrowser(server);
    return;
  }
  const install = vscode.l10n.t('Install Jupyter Extension');
  const choice = await vscode.window.showInformationMessage(
    vscode.l10n.t('Jupyter is running ({0}). Install the Jupyter extension to use it from VS Code notebooks, or open it in the browser.', serverLabel(server)),
    install,
    openInBrowser,
  );
  if (choice === install) await vscode.commands.executeCommand('workbench.extensions.installExtension', JUPYTER_EXTENSION_ID);
  if (choice === openInBrowser) await openBrowser(server);
}

async function openBrowser(server: JupyterServer): Promise<void> {
  const url = browserUrl(server);
  if (url) await vscode.env.openExternal(vscode.Uri.parse(url));
}

/** The workspace's running Jupyter servers; one is picked when there are several. */
async function pickServer(services: Services, placeHolder: string, includeStopped = false, arg?: unknown): Promise<JupyterServer | undefined> {
  requireTrust('run');
  const node = arg as TreeNode | undefined;
  if (node?.kind === 'container') {
    // Chosen in the sidebar: that container, whatever workspace it serves.
    const all = await findJupyterServers(services.engines.get(), { all: true });
    return all.find((s) => s.containerId === node.node.id);
  }
  const folder = await pickWorkspaceFolder(placeHolder);
  if (!folder) return undefined;
  const servers = await findJupyterServers(services.engines.get(), { workspace: folder.uri.fsPath, all: includeStopped });
  if (servers.length === 0) {
    void vscode.window.showInformationMessage(vscode.l10n.t('No Jupyter container for {0}: run "Start Jupyter" first.', folder.name));
    return undefined;
  }
  if (servers.length === 1) return servers[0];
  const pick = await vscode.window.showQuickPick(
    servers.map((s) => ({ label: serverLabel(s), description: `${s.name}${s.running ? '' : ` (${vscode.l10n.t('stopped')})`}`, server: s })),
    { placeHolder },
  );
  return pick?.server;
}

export async function stopJupyterCommand(services: Services, arg?: unknown): Promise<void> {
  const server = await pickServer(services, vscode.l10n.t('Jupyter server to stop'), true, arg);
  if (!server) return;
  await stopJupyter(services.engines.get(), [server]);
  services.log.child('jupyter').info(`stopped and removed ${server.name}`);
  services.jupyter.provider.refresh();
  services.images.scheduleRefresh();
  void vscode.window.showInformationMessage(vscode.l10n.t('Stopped Jupyter in {0}.', server.name));
}

export async function restartJupyterCommand(services: Services, arg?: unknown): Promise<void> {
  const server = await pickServer(services, vscode.l10n.t('Jupyter server to restart'), true, arg);
  if (!server) return;
  const engine = services.engines.get();
  const { readyTimeoutMs } = runSettings();
  const log = services.log.child('jupyter');
  await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Restarting Jupyter in {0}…', server.name) }, async () => {
    await engine.restartContainer(server.containerId);
    // The engine may publish a different port after a restart: read it back.
    const [again] = (await findJupyterServers(engine, { workspace: server.workspace, imageId: server.imageId })).filter((s) => s.containerId === server.containerId);
    await waitForJupyter(engine, again ?? server, readyTimeoutMs, log);
  });
  services.jupyter.provider.refresh();
  void vscode.window.showInformationMessage(vscode.l10n.t('Jupyter in {0} restarted.', server.name));
}

/** The container's log (tokens masked) in a read-only editor. */
export async function showJupyterLogsCommand(services: Services, arg?: unknown): Promise<void> {
  const server = await pickServer(services, vscode.l10n.t('Jupyter server whose log to show'), true, arg);
  if (!server) return;
  const lines = await lastLogLines(services.engines.get(), server.containerId, 1000);
  const document = await vscode.workspace.openTextDocument({ content: lines.join('\n') + '\n', language: 'log' });
  await vscode.window.showTextDocument(document, { preview: true });
}

export async function openJupyterInBrowserCommand(services: Services, arg?: unknown): Promise<void> {
  const server = await pickServer(services, vscode.l10n.t('Jupyter server to open'), false, arg);
  if (server) await openBrowser(server);
}
