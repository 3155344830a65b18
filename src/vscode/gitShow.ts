import * as vscode from 'vscode';
import type { WorkspaceGit } from './gitApi';

export const GIT_SHOW_SCHEME = 'mlc-git';

/** mlc-git:/<file>?<sha>#<folder>: a file as it was at a commit, in a read-only editor. */
export function gitShowUri(folder: string, sha: string, file: string): vscode.Uri {
  return vscode.Uri.from({ scheme: GIT_SHOW_SCHEME, path: `/${file}`, query: sha, fragment: folder });
}

export function registerGitShowProvider(git: WorkspaceGit): vscode.Disposable {
  return vscode.workspace.registerTextDocumentContentProvider(GIT_SHOW_SCHEME, {
    provideTextDocumentContent: async (uri) => {
      const text = await git.show(uri.fragment, uri.query, uri.path.replace(/^\//, ''));
      return text ?? vscode.l10n.t('{0} did not exist at {1}.', uri.path.replace(/^\//, ''), uri.query.slice(0, 7));
    },
  });
}
