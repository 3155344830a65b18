import * as vscode from 'vscode';
import type { Engine } from '../../core/docker/engine';
import { listModels } from '../../core/model/list';
import { defaultModelName, modelNameProblem, saveModel } from '../../core/model/save';
import type { ModelServer } from '../../core/model/serve';
import { curlCommand, serveModel, stopModelServers } from '../../core/model/serve';
import { shortImageId } from '../../core/reference';
import { withCancellableProgress } from '../progress';
import { runSettings } from '../settings';
import type { TreeNode } from '../tree/provider';
import { requireTrust } from '../trust';
import { pickWorkspaceFolder } from '../workspaceFolder';
import type { Services } from '../services';

export const MODEL_SERVER_ACTIONS_COMMAND = 'mlContainers.models.serverActions';

interface Served {
  server: ModelServer;
  engine: Engine;
  item: vscode.StatusBarItem;
}

/**
 * The model servers this window started, one status bar item each. They live as long as the window: disposing
 * (deactivate) removes their containers, so no server and no token outlives the session that showed them.
 */
export class ModelServing implements vscode.Disposable {
  private readonly served = new Map<string, Served>();

  add(server: ModelServer, engine: Engine): void {
    const item = vscode.window.createStatusBarItem(`mlContainers.modelServer.${server.container}`, vscode.StatusBarAlignment.Left, 9);
    item.name = vscode.l10n.t('Model Server');
    item.text = `$(server) ${server.model} :${String(server.port ?? '?')}`;
    // The URL and the container only: the token stays out of everything shown (Copy curl Command carries it).
    item.tooltip = vscode.l10n.t(
      'Model {0} ({1}) served at {2} by container {3}. Click to copy its URL or a curl command, or to stop it.',
      server.model,
      server.imageRef,
      server.baseUrl ?? '',
      server.container,
    );
    item.command = { command: MODEL_SERVER_ACTIONS_COMMAND, title: vscode.l10n.t('Model Server Actions'), arguments: [server.containerId] };
    item.show();
    this.served.set(server.containerId, { server, engine, item });
  }

  list(): ModelServer[] {
    return [...this.served.values()].map((s) => s.server);
  }

  get(containerId: string): ModelServer | undefined {
    return this.served.get(containerId)?.server;
  }

  /** Stops and removes the container; the item goes once the engine says so. */
  async stop(containerId: string, signal?: AbortSignal): Promise<void> {
    const entry = this.served.get(containerId);
    if (!entry) return;
    await stopModelServers(entry.engine, [entry.server], signal);
    entry.item.dispose();
    this.served.delete(containerId);
  }

  dispose(): void {
    // The extension host does not wait for a disposal: one forced removal each goes out at once (a stop would wait
    // for the server to exit first).
    for (const { server, engine, item } of this.served.values()) {
      item.dispose();
      void engine.removeContainer(server.containerId, { force: true }).catch(() => undefined);
    }
    this.served.clear();
  }
}

const serving = new WeakMap<Services, ModelServing>();

/** The servers of the window these services belong to. */
export function modelServing(services: Services): ModelServing {
  let s = serving.get(services);
  if (!s) {
    s = new ModelServing();
    serving.set(services, s);
  }
  return s;
}

/** What registerCommands hands to the extension's subscriptions: the window's servers stop with it. */
export function modelServingDisposable(services: Services): vscode.Disposable {
  return { dispose: () => serving.get(services)?.dispose() };
}

/** "Save Model…" on a succeeded run in Experiment Images: its artifacts and card in an image FROM the run's image. */
export async function saveModelCommand(services: Services, arg?: unknown): Promise<void> {
  requireTrust('run');
  const node = arg as TreeNode | undefined;
  if (node?.kind !== 'run') {
    void vscode.window.showInformationMessage(
      vscode.l10n.t('Save Model works on a run: right-click a succeeded run in Experiment Images.'),
    );
    return;
  }
  const { run, folder: workspace } = node;
  if (run.status !== 'succeeded') {
    void vscode.window.showInformationMessage(
      vscode.l10n.t('Run {0} is {1}, and only a run that succeeded has a model to save.', run.id, run.status),
    );
    return;
  }
  const name = await vscode.window.showInputBox({
    title: vscode.l10n.t('Save Model: run {0}', run.id),
    prompt: vscode.l10n.t('The model image is tagged <name>:{0}.', run.id),
    value: await defaultModelName(run.image.ref, workspace),
    validateInput: (value) => modelNameProblem(value.trim()),
  });
  if (name === undefined) return;
  const engine = services.engines.get();
  const saved = await withCancellableProgress(vscode.l10n.t('Saving run {0} as a model…', run.id), (signal) =>
    saveModel({
      engine,
      workspace,
      run: run.id,
      name: name.trim(),
      templatesDir: services.templatesDir,
      log: services.log.child('model'),
      signal,
    }),
  );
  services.images.scheduleRefresh(workspace);
  const serve = vscode.l10n.t('Serve');
  const choice = await vscode.window.showInformationMessage(
    vscode.l10n.t('Saved run {0} as model {1} ({2}).', run.id, saved.tag, shortImageId(saved.imageId)),
    serve,
  );
  if (choice === serve) await serveIn(services, saved.tag, workspace);
}

/** "Serve Model…": a model image (picked among the engine's, or the one given) served from this window. */
export async function serveModelCommand(services: Services, arg?: unknown): Promise<void> {
  requireTrust('run');
  const engine = services.engines.get();
  let model = typeof arg === 'string' ? arg : undefined;
  if (model === undefined) {
    const models = await listModels(engine);
    if (!models.length) {
      void vscode.window.showInformationMessage(
        vscode.l10n.t('No model image on this engine: right-click a succeeded run in Experiment Images and choose Save Model.'),
      );
      return;
    }
    const picked = await vscode.window.showQuickPick(
      models.map((m) => ({
        label: m.tags[0] ?? shortImageId(m.id),
        description: [...m.aliases, m.headline ? `${m.headline.name} ${String(m.headline.value)}` : ''].filter(Boolean).join(' · '),
        detail: m.run ? vscode.l10n.t('run {0}', m.run) : undefined,
        ref: m.tags[0] ?? m.id,
      })),
      { placeHolder: vscode.l10n.t('Model to serve') },
    );
    if (!picked) return;
    model = picked.ref;
  }
  // predict.py comes from the project when the image carries none.
  const folder = await pickWorkspaceFolder(vscode.l10n.t('Project whose predict.py serves the model'));
  if (!folder) return;
  await serveIn(services, model, folder.uri.fsPath);
}

async function serveIn(services: Services, model: string, workspace: string): Promise<void> {
  requireTrust('run');
  const engine = services.engines.get();
  const server = await withCancellableProgress(vscode.l10n.t('Starting model {0}…', model), (signal) =>
    serveModel({
      engine,
      model,
      workspace,
      templatesDir: services.templatesDir,
      readyTimeoutMs: runSettings().readyTimeoutMs,
      log: services.log.child('model'),
      signal,
    }),
  );
  modelServing(services).add(server, engine);
  void vscode.window.showInformationMessage(
    vscode.l10n.t('Model {0} is served at {1}: its status bar item copies a curl command or stops it.', server.model, server.baseUrl ?? ''),
  );
}

/** The server a command acts on: the one the status item names, else the only one, else a pick. */
async function pickServed(services: Services, arg: unknown, placeHolder: string): Promise<ModelServer | undefined> {
  const serving = modelServing(services);
  if (typeof arg === 'string') return serving.get(arg);
  const servers = serving.list();
  if (servers.length === 0) {
    void vscode.window.showInformationMessage(vscode.l10n.t('No model is served from this window: run Serve Model first.'));
    return undefined;
  }
  if (servers.length === 1) return servers[0];
  const picked = await vscode.window.showQuickPick(
    servers.map((s) => ({ label: `${s.model} :${String(s.port ?? '?')}`, description: s.imageRef, server: s })),
    { placeHolder },
  );
  return picked?.server;
}

/** A click on a model server's status item: copy its URL or a curl command, or stop it. */
export async function modelServerActionsCommand(services: Services, arg?: unknown): Promise<void> {
  const server = await pickServed(services, arg, vscode.l10n.t('Model server'));
  if (!server) return;
  const actions = [
    { label: `$(copy) ${vscode.l10n.t('Copy URL')}`, description: server.baseUrl, action: 'url' },
    { label: `$(terminal) ${vscode.l10n.t('Copy curl Command')}`, description: vscode.l10n.t('with its token'), action: 'curl' },
    { label: `$(debug-stop) ${vscode.l10n.t('Stop Model')}`, description: server.container, action: 'stop' },
  ] as const;
  const picked = await vscode.window.showQuickPick([...actions], { placeHolder: `${server.model} :${String(server.port ?? '?')}` });
  if (picked?.action === 'url') {
    await vscode.env.clipboard.writeText(server.baseUrl ?? '');
    void vscode.window.showInformationMessage(vscode.l10n.t('Copied {0}.', server.baseUrl ?? ''));
  } else if (picked?.action === 'curl') {
    await vscode.env.clipboard.writeText(await curlCommand(server));
    void vscode.window.showInformationMessage(
      vscode.l10n.t("Copied a curl command for {0}: it carries the server's token, so keep it as you would a password.", server.model),
    );
  } else if (picked?.action === 'stop') {
    await stopServer(services, server);
  }
}

/** "Stop Model…": stops and removes a server this window started. */
export async function stopModelCommand(services: Services, arg?: unknown): Promise<void> {
  const server = await pickServed(services, arg, vscode.l10n.t('Model server to stop'));
  if (server) await stopServer(services, server);
}

async function stopServer(services: Services, server: ModelServer): Promise<void> {
  await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Stopping model {0}…', server.model) },
    () => modelServing(services).stop(server.containerId),
  );
  services.log.child('model').info(`stopped and removed ${server.container}`);
  void vscode.window.showInformationMessage(vscode.l10n.t('Stopped model {0} and removed {1}.', server.model, server.container));
}
