import { execFile } from 'node:child_process';

/** Where an image's code came from. */
export interface GitInfo {
  sha: string;
  dirty: boolean;
  branch?: string;
  /** Remote URL with any credentials removed. */
  remoteUrl?: string;
  describe?: string;
}

/**
 * Git behind one interface: the git CLI here (core, mlc); the VS Code shell can answer from the built-in git
 * extension instead. undefined means the folder is not in a repository.
 */
export interface GitProvider {
  info(folder: string, signal?: AbortSignal): Promise<GitInfo | undefined>;
}

export class GitCli implements GitProvider {
  constructor(private readonly gitPath = 'git') {}

  async info(folder: string, signal?: AbortSignal): Promise<GitInfo | undefined> {
    const sha = await this.git(folder, ['rev-parse', '--verify', '--quiet', 'HEAD'], signal);
    if (!sha) {
      return undefined;
    }
    const [status, branch, remote, describe] = await Promise.all([
      // Untracked files count: they are in the build context, so the image is not the commit. Our own
      // .mlcontainers/ (locks, run records) does not, or every build after the first would be "dirty".
      this.git(folder, ['status', '--porcelain=v1', '--untracked-files=normal', '--', '.', ':(exclude).mlcontainers'], signal),
      this.git(folder, ['symbolic-ref', '--quiet', '--short', 'HEAD'], signal),
      this.git(folder, ['remote', 'get-url', 'origin'], signal),
      this.git(folder, ['describe', '--tags', '--always'], signal),
    ]);
    return {
      sha,
      dirty: (status ?? '').trim().length > 0,
      ...(branch ? { branch } : {}),
      ...(remote ? { remoteUrl: stripCredentials(remote) } : {}),
      ...(describe ? { describe } : {}),
    };
  }

  /** stdout trimmed, or undefined when git fails (not a repository, no remote, no HEAD). */
  private git(cwd: string, args: string[], signal?: AbortSignal): Promise<string | undefined> {
    return new Promise((resolve) => {
      execFile(this.gitPath, args, { cwd, signal, env: { ...process.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' } }, (error, stdout) => {
        resolve(error ? undefined : stdout.trim());
      });
    });
  }
}

/** https://user:token@host/x.git → https://host/x.git; scp-style git@host:x stays (no secret in it). */
export function stripCredentials(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1');
}
