import * as vscode from 'vscode';
import type { GitInfo, GitProvider } from '../core/provenance/git';
import { GitCli, stripCredentials } from '../core/provenance/git';

// The few members of the built-in git extension's API (extensions/git/src/api/git.d.ts, version 1) used here.
interface GitExtensionApi {
  getRepository(uri: vscode.Uri): {
    state: {
      HEAD?: { name?: string; commit?: string };
      remotes: { name: string; fetchUrl?: string }[];
      workingTreeChanges: { uri: vscode.Uri }[];
      indexChanges: unknown[];
      untrackedChanges?: { uri: vscode.Uri }[];
    };
  } | null;
}

/**
 * Git for the extension: the built-in vscode.git API when it is enabled (no extra process, and it already
 * watches the repository), the git CLI otherwise and for `git describe`, which the API does not offer.
 */
export class VscodeGit implements GitProvider {
  private readonly cli = new GitCli();

  async info(folder: string, signal?: AbortSignal): Promise<GitInfo | undefined> {
    const api = await this.api();
    const repo = api?.getRepository(vscode.Uri.file(folder));
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
