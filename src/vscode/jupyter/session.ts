import * as vscode from 'vscode';
import type { JupyterServer } from '../../core/jupyter/server';
import { browserUrl, serverLabel, startJupyter } from '../../core/jupyter/server';
import { openProject } from '../../core/project';
import { withImagePrivilegeConsent } from '../imagePrivileges';
import { withCancellableProgress } from '../progress';
import type { Services } from '../services';
import { runSettings, workspaceRuntime } from '../settings';
import { requireTrust } from '../trust';
import { JUPYTER_EXTENSION_ID } from './collection';

/**
 * Starts (or reuses) the Jupyter container of an image for a workspace folder, with progress and cancel; the image
 * defaults to the project's latest. No image yet: offers to build it and returns undefined.
 */
export async function startJupyterIn(services: Services, workspace: string, imageRef?: string): Promise<JupyterServer | undefined> {
  requireTrust('run');
  const settings = runSettings();
  // Asked even with an image given: the runtime settings (env, mounts, user) come from the chosen devcontainer.json.
  const choice = await services.devcontainers.choose(workspace);
  if (!choice) return undefined;
  const project = await openProject(workspace, { ...choice, templatesDir: services.templatesDir });
  const image = imageRef ?? project.imageRef;
  const engine = services.engines.get();
  if (!(await engine.inspectImage(image))) {
    const build = vscode.l10n.t('Build Experiment Image');
    const choice = await vscode.window.showWarningMessage(vscode.l10n.t('No image {0} yet: build it first.', image), build);
    if (choice === build) await vscode.commands.executeCommand('mlContainers.images.build', vscode.Uri.file(workspace));
    return undefined;
  }
  const catalog = project.catalog;
  const log = services.log.child('jupyter');
  // Read again after the user agreed to what the image asks: the consent is in the runtime settings.
  const result = await withImagePrivilegeConsent(async () => {
    const runtime = await workspaceRuntime(workspace, choice);
    return withCancellableProgress(vscode.l10n.t('Starting Jupyter in {0}…', image), (signal) =>
      startJupyter({
        engine,
        image,
        workspace,
        gpu: settings.gpu,
        shmSizeBytes: settings.shmSizeBytes,
        readyTimeoutMs: settings.readyTimeoutMs,
        runtime,
        log,
        ...(catalog ? { catalog } : {}),
        ...(services.gpuProbe ? { probe: services.gpuProbe } : {}),
        signal,
      }),
    );
  });
  if (result.note) {
    log.warn(result.note);
    void vscode.window.showWarningMessage(result.note);
  }
  services.jupyter.provider.refresh();
  services.images.scheduleRefresh(workspace);
  return result.server;
}

/** Points the user at the kernel picker, or — without the Jupyter extension — at installing it or the browser. */
export async function announce(services: Services, server: JupyterServer): Promise<void> {
  const openInBrowser = vscode.l10n.t('Open in Browser');
  if (await services.jupyter.ensureRegistered()) {
    const newNotebook = vscode.l10n.t('New Notebook');
    const choice = await vscode.window.showInformationMessage(
      vscode.l10n.t(
        'Jupyter is running: pick "{0}" under ML Containers in a notebook\'s kernel picker (Select Another Kernel…).',
        serverLabel(server),
      ),
      newNotebook,
      openInBrowser,
    );
    if (choice === newNotebook) await vscode.commands.executeCommand('ipynb.newUntitledIpynb');
    if (choice === openInBrowser) await openBrowser(server);
    return;
  }
  const install = vscode.l10n.t('Install Jupyter Extension');
  const choice = await vscode.window.showInformationMessage(
    vscode.l10n.t(
      'Jupyter is running ({0}). Install the Jupyter extension to use it from VS Code notebooks, or open it in the browser.',
      serverLabel(server),
    ),
    install,
    openInBrowser,
  );
  if (choice === install) await vscode.commands.executeCommand('workbench.extensions.installExtension', JUPYTER_EXTENSION_ID);
  if (choice === openInBrowser) await openBrowser(server);
}

export async function openBrowser(server: JupyterServer): Promise<void> {
  const url = browserUrl(server);
  if (url) await vscode.env.openExternal(vscode.Uri.parse(url));
}
