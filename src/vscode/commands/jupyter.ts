import * as vscode from 'vscode';
import type { JupyterServer } from '../../core/jupyter/server';
import { findJupyterServers, lastLogLines, serverLabel, stopJupyter, waitForJupyter } from '../../core/jupyter/server';
import { imageArgument } from '../imageArgument';
import { announce, openBrowser, startJupyterIn } from '../jupyter/session';
import { runSettings } from '../settings';
import type { TreeNode } from '../tree/provider';
import { requireTrust } from '../trust';
import { pickWorkspaceFolder } from '../workspaceFolder';
import type { Services } from '../services';

/** "ML Containers: Start Jupyter": the workspace's latest experiment image (or the one chosen), attached to VS Code. */
export async function startJupyterCommand(services: Services, arg?: unknown): Promise<void> {
  requireTrust('run');
  const folder = await pickWorkspaceFolder(vscode.l10n.t('Folder to start Jupyter for'), arg);
  if (!folder) return;
  const server = await startJupyterIn(services, folder.uri.fsPath, imageArgument(arg));
  if (server) await announce(services, server);
}

/** The workspace's running Jupyter servers; one is picked when there are several. */
async function pickServer(
  services: Services,
  placeHolder: string,
  includeStopped = false,
  arg?: unknown,
): Promise<JupyterServer | undefined> {
  requireTrust('run');
  const node = arg as TreeNode | undefined;
  if (node?.kind === 'container') {
    // Chosen in the sidebar: that container, whatever workspace it serves.
    const all = await findJupyterServers(services.engines.get(), { all: true });
    return all.find((s) => s.containerId === node.node.id);
  }
  const folder = await pickWorkspaceFolder(placeHolder, arg);
  if (!folder) return undefined;
  const servers = await findJupyterServers(services.engines.get(), { workspace: folder.uri.fsPath, all: includeStopped });
  if (servers.length === 0) {
    void vscode.window.showInformationMessage(vscode.l10n.t('No Jupyter container for {0}: run "Start Jupyter" first.', folder.name));
    return undefined;
  }
  if (servers.length === 1) return servers[0];
  const pick = await vscode.window.showQuickPick(
    servers.map((s) => ({
      label: serverLabel(s),
      description: `${s.name}${s.running ? '' : ` (${vscode.l10n.t('stopped')})`}`,
      server: s,
    })),
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
  services.images.scheduleRefresh(server.workspace);
  void vscode.window.showInformationMessage(vscode.l10n.t('Stopped Jupyter in {0}.', server.name));
}

export async function restartJupyterCommand(services: Services, arg?: unknown): Promise<void> {
  const server = await pickServer(services, vscode.l10n.t('Jupyter server to restart'), true, arg);
  if (!server) return;
  const engine = services.engines.get();
  const { readyTimeoutMs } = runSettings();
  const log = services.log.child('jupyter');
  await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Restarting Jupyter in {0}…', server.name) },
    async () => {
      await engine.restartContainer(server.containerId);
      // The engine may publish a different port after a restart: read it back.
      const [again] = (await findJupyterServers(engine, { workspace: server.workspace, imageId: server.imageId })).filter(
        (s) => s.containerId === server.containerId,
      );
      await waitForJupyter(engine, again ?? server, readyTimeoutMs, log);
    },
  );
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
