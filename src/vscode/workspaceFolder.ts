import * as vscode from 'vscode';

/** The workspace folder of a file, or of the folder path a tree row carries; undefined outside every folder. */
function folderOfPath(fsPath: string): vscode.WorkspaceFolder | undefined {
  return vscode.workspace.getWorkspaceFolder(vscode.Uri.file(fsPath));
}

/** The folder of the file in the active editor, if it is in one. */
export function activeEditorFolder(): vscode.WorkspaceFolder | undefined {
  const uri = vscode.window.activeTextEditor?.document.uri;
  return uri?.scheme === 'file' ? folderOfPath(uri.fsPath) : undefined;
}

/**
 * The folder a command works on, without asking: the one its argument names (a row of the Experiment Images view
 * carries its folder; the explorer and the editor title pass a file's Uri), else the active editor's, else the only
 * one. Undefined when that leaves a choice between several, or when none is open.
 */
export function inferWorkspaceFolder(arg?: unknown): vscode.WorkspaceFolder | undefined {
  const given = arg as { folder?: unknown; fsPath?: unknown; scheme?: unknown } | undefined;
  if (typeof given?.folder === 'string') return folderOfPath(given.folder);
  if (typeof given?.fsPath === 'string' && given.scheme === 'file') {
    const folder = folderOfPath(given.fsPath);
    if (folder) return folder;
  }
  const folders = vscode.workspace.workspaceFolders ?? [];
  return activeEditorFolder() ?? (folders.length === 1 ? folders[0] : undefined);
}

/**
 * The folder a command works on: inferred from its argument, the active editor or the only folder
 * (inferWorkspaceFolder), else the user's pick; undefined (with a hint) when none is open, or when the pick is dismissed.
 */
export async function pickWorkspaceFolder(placeHolder: string, arg?: unknown): Promise<vscode.WorkspaceFolder | undefined> {
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (folders.length === 0) {
    void vscode.window.showInformationMessage(vscode.l10n.t('Open the folder of your ML project first.'));
    return undefined;
  }
  return inferWorkspaceFolder(arg) ?? vscode.window.showWorkspaceFolderPick({ placeHolder });
}
