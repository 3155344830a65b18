import * as path from 'node:path';
import * as vscode from 'vscode';
import { createLogger } from './core/log';
import { registerCommands } from './vscode/commands/table';
import { EngineProvider } from './vscode/engineProvider';
import { VscodeGit } from './vscode/gitApi';
import { createLogChannel } from './vscode/log';
import { ExperimentServerProvider, JupyterBridge } from './vscode/jupyter/collection';
import { ImagesModel } from './vscode/tree/model';
import { ImagesTreeProvider } from './vscode/tree/provider';

/** Wires services and registers contributions. No Docker or git call happens here: they wait for a command or view. */
export function activate(context: Pick<vscode.ExtensionContext, 'subscriptions' | 'extensionPath'>): void {
  const { channel, sink } = createLogChannel();
  const log = createLogger(sink, 'extension');
  const engines = new EngineProvider(log.child('engine'));
  const images = new ImagesModel(engines, log.child('images'));
  const provider = new ImagesTreeProvider(images);
  const view = vscode.window.createTreeView('mlContainers.images', { treeDataProvider: provider, showCollapseAll: false });
  const servers = new ExperimentServerProvider(engines, log.child('jupyter'), () => (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath));
  const jupyter = new JupyterBridge(servers, log.child('jupyter'));
  // The kernel picker matters once a notebook is open; registering then never activates the Jupyter extension early.
  const registerForNotebooks = (): void => void jupyter.ensureRegistered();

  context.subscriptions.push(
    channel,
    engines,
    images,
    provider,
    view,
    servers,
    jupyter,
    vscode.workspace.onDidOpenNotebookDocument(registerForNotebooks),
    engines.onDidChangeEngine(() => images.refresh()),
    engines.onDidChangeEngine(() => servers.refresh()),
    vscode.workspace.onDidGrantWorkspaceTrust(() => images.refresh()),
    ...registerCommands({ log, logChannel: channel, engines, images, git: new VscodeGit(), jupyter, templatesDir: path.join(context.extensionPath, 'templates') }),
  );
  if (vscode.workspace.notebookDocuments.some((d) => d.notebookType === 'jupyter-notebook')) {
    setTimeout(registerForNotebooks, 0);
  }
  log.info(`activated (VS Code ${vscode.version})`);
}

export function deactivate(): void {
  // Everything is disposed through context.subscriptions.
}
