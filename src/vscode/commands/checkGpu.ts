import * as vscode from 'vscode';
import { checkGpu, formatPreflight } from '../../core/gpu/preflight';
import { latestProjectImage } from '../../core/project';
import { optionalCatalog } from '../../core/scaffold/templateFiles';
import { withCancellableProgress } from '../progress';
import type { Services } from '../services';
import { pickWorkspaceFolder } from '../workspaceFolder';

/** "ML Containers: Check GPU Setup": the preflight against the workspace's latest image when there is one. */
export async function checkGpuCommand(services: Services, arg?: unknown): Promise<void> {
  // Without a folder the host is still checked; with several, the image checked is the chosen folder's.
  const folder = vscode.workspace.workspaceFolders?.length
    ? await pickWorkspaceFolder(vscode.l10n.t('Folder whose image to check'), arg)
    : undefined;
  if (vscode.workspace.workspaceFolders?.length && !folder) return;
  const engine = services.engines.get();
  const preflight = await withCancellableProgress(vscode.l10n.t('Checking GPU setup…'), async (signal) => {
    const ref =
      folder && vscode.workspace.isTrusted
        ? await latestProjectImage(folder.uri.fsPath, await services.devcontainers.remembered(folder.uri.fsPath)).catch(() => undefined)
        : undefined;
    const details = ref ? await engine.inspectImage(ref, signal) : undefined;
    const catalog = await optionalCatalog(services.templatesDir);
    return await checkGpu({
      engine,
      // The project's lock of the image, when there is one, says which GPUs its PyTorch has kernels for.
      ...(ref && details && folder ? { image: { ref, details }, folder: folder.uri.fsPath } : {}),
      ...(catalog ? { catalog } : {}),
      ...(services.gpuProbe ? { probe: services.gpuProbe } : {}),
      signal,
    });
  });
  const log = services.log.child('gpu');
  for (const line of formatPreflight(preflight)) log.info(line);
  const showLogs = vscode.l10n.t('Show Logs');
  const { kind, sentence } = preflight.verdict;
  const choice =
    kind === 'works'
      ? await vscode.window.showInformationMessage(sentence, showLogs)
      : await vscode.window.showWarningMessage(sentence, showLogs);
  if (choice === showLogs) services.logChannel.show();
}
