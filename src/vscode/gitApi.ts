import * as vscode from 'vscode';
import type { GitHistory, GitHistoryProvider, GitInfo, GitProvider } from '../core/provenance/git';
import { GitCli, stripCredentials } from '../core/provenance/git';

// The few members of the built-in git extension's API (extensions/git/src/api/git.d.ts, version 1) used here.
interface GitExtensionApi {
  getRepository(uri: vscode.Uri): {
    /** Re-reads `git status`; state is otherwise refreshed only when the extension's file watcher fires. */
    status(): Promise<void>;
    state: {
      HEAD?: { name?: string; commit?: string };
      remotes: { name: string; fetchUrl?: string }[];
      workingTreeChanges: { uri: vscode.Uri }[];
      indexChanges: unknown[];
      untrackedChanges?: { uri: vscode.Uri }[];
      onDidChange?: vscode.Event<void>;
    };
  } | null;
}

/** Git as the extension's commands and views use it. */
export interface WorkspaceGit extends GitProvider, GitHistoryProvider {
  show(folder: string, sha: string, file: string): Promise<string | undefined>;
  checkout(folder: string, sha: string): Promise<void>;
  onHeadChange(folder: string, listener: () => void): Promise<vscode.Disposable | undefined>;
}

/**
 * Git for the extension: the built-in vscode.git API when it is enabled (no extra process, and it already
 * watches the repository), the git CLI otherwise and for `git describe`, which the API does not offer.
 */
export class VscodeGit implements WorkspaceGit {
  private readonly cli = new GitCli();

  /** History, file contents at a commit and checkout: the CLI (the API has no batched lookup by sha). */
  history(folder: string, shas: readonly string[], signal?: AbortSignal): Promise<GitHistory | undefined> {
    return this.cli.history(folder, shas, signal);
  }

  show(folder: string, sha: string, file: string): Promise<string | undefined> {
    return this.cli.show(folder, sha, file);
  }

  checkout(folder: string, sha: string): Promise<void> {
    return this.cli.checkout(folder, sha);
  }

  /** Fires when HEAD of the repository holding folder moves (commit, checkout, pull); nothing without the git extension. */
  async onHeadChange(folder: string, listener: () => void): Promise<vscode.Disposable | undefined> {
    const api = await this.api();
    const repo = api?.getRepository(vscode.Uri.file(folder));
    if (!repo?.state.onDidChange) return undefined;
    let head = repo.state.HEAD?.commit;
    return repo.state.onDidChange(() => {
      if (repo.state.HEAD?.commit !== head) {
        head = repo.state.HEAD?.commit;
        listener();
      }
    });
  }

  async info(folder: string, signal?: AbortSignal): Promise<GitInfo | undefined> {
    const api = await this.api();
    const repo = api?.getRepository(vscode.Uri.file(folder));
    // A commit made in a terminal a moment ago is not in state until the watcher fires: provenance must not be
    // stale (the end-to-end test caught a build labelled with the previous commit and "dirty"), so refresh first.
    await repo?.status();
    const sha = repo?.state.HEAD?.commit;
    if (!repo || !sha) {
      return this.cli.info(folder, signal);
    }
    const ours = (uri: vscode.Uri): boolean => !uri.fsPath.split(/[\\/]/).includes('.mlcontainers');
    const changes = [...repo.state.workingTreeChanges, ...(repo.state.untrackedChanges ?? [])].filter((c) => ours(c.uri));
    const remote = repo.state.remotes.find((r) => r.name === 'origin') ?? repo.state.remotes[0];
    const describe = (await this.cli.info(folder, signal))?.describe;
    return {
      sha,
      dirty: changes.length > 0 || repo.state.indexChanges.length > 0,
      ...(repo.state.HEAD?.name ? { branch: repo.state.HEAD.name } : {}),
      ...(remote?.fetchUrl ? { remoteUrl: stripCredentials(remote.fetchUrl) } : {}),
      ...(describe ? { describe } : {}),
    };
  }

  private async api(): Promise<GitExtensionApi | undefined> {
    const extension = vscode.extensions.getExtension<{ enabled: boolean; getAPI(version: 1): GitExtensionApi }>('vscode.git');
    if (!extension) {
      return undefined;
    }
    const exports = extension.isActive ? extension.exports : await extension.activate();
    return exports.enabled ? exports.getAPI(1) : undefined;
  }
}
