import * as vscode from 'vscode';
import { MANAGED_LABEL, REVISION_LABEL } from '../../core/labels';
import { lockFor, lockPath } from '../../core/provenance/lock';
import type { Services } from '../services';
import { pickWorkspaceFolder } from '../workspaceFolder';

/** "Compare Environments…": the pip/conda locks of two experiment images (kept in the folder's .mlcontainers/), side by side. */
export async function compareImagesCommand(services: Services, arg?: unknown): Promise<void> {
  const folder = await pickWorkspaceFolder(vscode.l10n.t('Folder whose environments to compare'), arg);
  if (!folder) {
    return;
  }
  const engine = services.engines.get();
  const images = (await engine.listImages({ labels: [MANAGED_LABEL] }))
    .filter((i) => i.repoTags.length > 0)
    .sort((a, b) => b.created - a.created);
  if (images.length < 2) {
    void vscode.window.showInformationMessage(vscode.l10n.t('Build at least two experiment images to compare their environments.'));
    return;
  }
  const items = images.map((i) => ({ label: i.repoTags[0] ?? i.id, description: i.labels[REVISION_LABEL]?.slice(0, 7) ?? '', id: i.id }));
  const first = await vscode.window.showQuickPick(items, {
    title: vscode.l10n.t('Compare Environments'),
    placeHolder: vscode.l10n.t('Older image'),
  });
  const second =
    first &&
    (await vscode.window.showQuickPick(
      items.filter((i) => i.id !== first.id),
      { title: vscode.l10n.t('Compare Environments'), placeHolder: vscode.l10n.t('Newer image') },
    ));
  if (!first || !second) {
    return;
  }
  const root = folder.uri.fsPath;
  await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Reading package lists…') }, () =>
    Promise.all([lockFor(engine, root, first.id), lockFor(engine, root, second.id)]),
  );
  await vscode.commands.executeCommand(
    'vscode.diff',
    vscode.Uri.file(lockPath(root, first.id)),
    vscode.Uri.file(lockPath(root, second.id)),
    `${first.label} ↔ ${second.label}`,
  );
}
