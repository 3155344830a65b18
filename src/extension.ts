import * as path from 'node:path';
import * as vscode from 'vscode';
import { EngineEventFeed } from './core/docker/events';
import { ExperimentImagesModel } from './core/images/model';
import { repoOf } from './core/images/tree';
import { createLogger } from './core/log';
import { latestProjectImage } from './core/project';
import { registerCommands } from './vscode/commands/table';
import { DevcontainerChoice } from './vscode/devcontainerChoice';
import { EngineProvider } from './vscode/engineProvider';
import { VscodeGit } from './vscode/gitApi';
import { ExperimentServerProvider, JupyterBridge } from './vscode/jupyter/collection';
import { createLogChannel } from './vscode/log';
import { ImagesTreeProvider } from './vscode/tree/provider';
import { registerGitShowProvider } from './vscode/gitShow';
import { isContainerRemote } from './core/container/attach';
import { MlStatusBar } from './vscode/statusBar';
import { detachedScheduler } from './vscode/runScheduler';
import { activeEditorFolder } from './vscode/workspaceFolder';
import { WorkspaceImages } from './vscode/workspaceImages';

/** Wires services and registers contributions. No Docker or git call happens here: they wait for a command or view. */
export function activate(context: Pick<vscode.ExtensionContext, 'subscriptions' | 'extensionPath' | 'workspaceState'>): void {
  const { channel, sink } = createLogChannel();
  const log = createLogger(sink, 'extension');
  const engines = new EngineProvider(log.child('engine'));
  const git = new VscodeGit();
  const devcontainers = new DevcontainerChoice(context.workspaceState);
  // Inside a dev container the extension host runs in the container, where the host's engine is not: host-only
  // views and commands hide (package.json `when` clauses) and the model never calls an engine.
  const inContainer = isContainerRemote(vscode.env.remoteName);
  void vscode.commands.executeCommand('setContext', 'mlContainers.inContainer', inContainer);
  const trusted = (): boolean => vscode.workspace.isTrusted && !inContainer;
  // One model per workspace folder, all on one engine event stream.
  const events = new EngineEventFeed({ engine: () => engines.get(), trusted, log: log.child('images') });
  const images = new WorkspaceImages(
    (dir) =>
      new ExperimentImagesModel({
        engine: () => engines.get(),
        git,
        folder: () => dir,
        trusted,
        projectRepo: async (d) => repoOf(await latestProjectImage(d, await devcontainers.remembered(d))),
        log: log.child('images'),
        events,
      }),
    (dir, moved) => git.onHeadChange(dir, moved),
  );
  const followFolders = (): void =>
    images.setFolders((vscode.workspace.workspaceFolders ?? []).map((f) => ({ path: f.uri.fsPath, name: f.name })));
  followFolders();
  const provider = new ImagesTreeProvider(images);
  const view = vscode.window.createTreeView('mlContainers.images', {
    treeDataProvider: provider,
    showCollapseAll: true,
    canSelectMany: true,
  });
  const servers = new ExperimentServerProvider(engines, log.child('jupyter'), () =>
    (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath),
  );
  const jupyter = new JupyterBridge(servers, log.child('jupyter'));
  // The kernel picker matters once a notebook is open; registering then never activates the Jupyter extension early.
  const registerForNotebooks = (): void => void jupyter.ensureRegistered();
  // The status bar speaks of the active editor's folder, else the first one; it reads again only when that changes.
  const statusFolder = (): string | undefined => (activeEditorFolder() ?? vscode.workspace.workspaceFolders?.[0])?.uri.fsPath;
  const statusBar = new MlStatusBar(engines, statusFolder, log.child('status'), devcontainers);
  const updateStatus = (): void => void statusBar.update();
  let lastStatusFolder = statusFolder();
  const followEditor = (): void => {
    if (statusFolder() === lastStatusFolder) return;
    lastStatusFolder = statusFolder();
    updateStatus();
  };
  const devcontainerWatcher = vscode.workspace.createFileSystemWatcher(
    '**/{.devcontainer.json,.devcontainer/devcontainer.json,.devcontainer/*/devcontainer.json}',
  );
  // Another folder's devcontainer.json is not what the status bar shows.
  const devcontainerChanged = (uri: vscode.Uri): void => {
    if (vscode.workspace.getWorkspaceFolder(uri)?.uri.fsPath === statusFolder()) updateStatus();
  };
  // Runs end in another process too (`mlc run` in a terminal): their records reach the view through the file.
  const runsWatcher = vscode.workspace.createFileSystemWatcher('**/.mlcontainers/runs.jsonl');
  // Only that file's folder reloads; a file outside every folder reloads them all.
  const runsChanged = (uri: vscode.Uri): void => images.scheduleRefresh(vscode.workspace.getWorkspaceFolder(uri)?.uri.fsPath);

  // Live updates only while the view is visible: the engine's /events, and HEAD moves from the git extension.
  let watching: { dispose(): void } | undefined;
  const followVisibility = (visible: boolean): void => {
    if (visible && !watching) {
      watching = images.watch();
    } else if (!visible && watching) {
      watching.dispose();
      watching = undefined;
    }
  };

  context.subscriptions.push(
    channel,
    engines,
    { dispose: () => watching?.dispose() },
    images,
    provider,
    view,
    view.onDidChangeVisibility((e) => followVisibility(e.visible)),
    vscode.workspace.onDidChangeWorkspaceFolders(() => (followFolders(), followEditor())),
    vscode.window.onDidChangeActiveTextEditor(followEditor),
    servers,
    jupyter,
    vscode.workspace.onDidOpenNotebookDocument(registerForNotebooks),
    engines.onDidChangeEngine(() => {
      images.refresh();
      servers.refresh();
      if (watching) {
        watching.dispose();
        watching = images.watch();
      }
    }),
    vscode.workspace.onDidGrantWorkspaceTrust(() => (images.refresh(), updateStatus())),
    statusBar,
    images.onDidChange(updateStatus),
    engines.onDidChangeEngine(updateStatus),
    devcontainerWatcher,
    devcontainerWatcher.onDidCreate(devcontainerChanged),
    devcontainerWatcher.onDidChange(devcontainerChanged),
    devcontainerWatcher.onDidDelete(devcontainerChanged),
    runsWatcher,
    runsWatcher.onDidCreate(runsChanged),
    runsWatcher.onDidChange(runsChanged),
    registerGitShowProvider(git),
    ...registerCommands({
      log,
      logChannel: channel,
      engines,
      images,
      git,
      jupyter,
      templatesDir: path.join(context.extensionPath, 'templates'),
      mediaDir: path.join(context.extensionPath, 'media'),
      scheduler: detachedScheduler(context.extensionPath, engines),
      devcontainers,
    }),
  );
  if (view.visible) setTimeout(() => followVisibility(view.visible), 0);
  setTimeout(updateStatus, 0);
  if (vscode.workspace.notebookDocuments.some((d) => d.notebookType === 'jupyter-notebook')) {
    setTimeout(registerForNotebooks, 0);
  }
  log.info(`activated (VS Code ${vscode.version})`);
}

export function deactivate(): void {
  // Everything is disposed through context.subscriptions.
}
