import { execFile } from 'node:child_process';
import { UserError } from '../errors';
import { printable } from '../generatedText';

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

export interface CommitMeta {
  sha: string;
  subject: string;
  author: string;
  /** Author date, ISO 8601. */
  date: string;
}

export interface GitHistory {
  head: string | undefined;
  /** The current branch's commits, newest first (`git rev-list HEAD`, bounded). */
  branchOrder: string[];
  /** Subject, author and date of HEAD and of every asked-for sha that exists in the repository. */
  commits: Map<string, CommitMeta>;
}

/** What the Experiment Images view needs from git: two calls however many images there are. */
export interface GitHistoryProvider {
  /** undefined when folder is not in a git repository. */
  history(folder: string, shas: readonly string[], signal?: AbortSignal): Promise<GitHistory | undefined>;
}

/** How many commits of the branch order the view considers; older images are listed after them. */
export const BRANCH_ORDER_LIMIT = 5000;

export class GitCli implements GitProvider, GitHistoryProvider {
  constructor(private readonly gitPath = 'git') {}

  async info(folder: string, signal?: AbortSignal): Promise<GitInfo | undefined> {
    // Three processes at once (each build and run pays for them): status v2 with --branch gives the commit, the
    // branch and the changes in one; the other two answer nothing outside a repository.
    const [status, remote, describe] = await Promise.all([
      // Untracked files count: they are in the build context, so the image is not the commit. Our own
      // .mlcontainers/ (locks, run records) does not, or every build after the first would be "dirty".
      this.git(folder, ['status', '--porcelain=v2', '--branch', '--untracked-files=normal', '--', '.', ':(exclude).mlcontainers'], signal),
      this.git(folder, ['remote', 'get-url', 'origin'], signal),
      this.git(folder, ['describe', '--tags', '--always'], signal),
    ]);
    if (status === undefined) return undefined;
    const lines = status.split('\n').filter(Boolean);
    const header = (key: string): string | undefined =>
      lines.find((l) => l.startsWith(`# branch.${key} `))?.slice(`# branch.${key} `.length);
    const sha = header('oid');
    // "(initial)": a repository without a commit yet.
    if (!sha || !/^[0-9a-f]{40,64}$/.test(sha)) return undefined;
    const branch = header('head');
    return {
      sha,
      dirty: lines.some((l) => !l.startsWith('#')),
      ...(branch && branch !== '(detached)' ? { branch } : {}),
      ...(remote ? { remoteUrl: stripCredentials(remote) } : {}),
      ...(describe ? { describe } : {}),
    };
  }

  async history(folder: string, shas: readonly string[], signal?: AbortSignal): Promise<GitHistory | undefined> {
    const order = await this.git(folder, ['rev-list', `--max-count=${BRANCH_ORDER_LIMIT}`, 'HEAD', '--'], signal);
    if (order === undefined) {
      // No HEAD yet (a fresh `git init`) is still a repository; anything else is not one.
      return (await this.git(folder, ['rev-parse', '--git-dir'], signal)) === undefined
        ? undefined
        : { head: undefined, branchOrder: [], commits: new Map() };
    }
    const branchOrder = order.split('\n').filter(Boolean);
    const wanted = [...new Set([...(branchOrder[0] ? [branchOrder[0]] : []), ...shas.filter((s) => /^[0-9a-f]{7,64}$/.test(s))])];
    const commits = new Map<string, CommitMeta>();
    if (wanted.length) {
      // One call for all of them, shas on stdin; --ignore-missing skips commits from other repositories.
      const log = await this.git(
        folder,
        ['log', '--no-walk=unsorted', '--ignore-missing', '--stdin', '--format=%H%x1f%an%x1f%aI%x1f%s%x1e'],
        signal,
        wanted.join('\n') + '\n',
      );
      for (const record of (log ?? '').split('\x1e')) {
        const [sha, author, date, subject] = record.trim().split('\x1f');
        if (sha && author !== undefined && date !== undefined) commits.set(sha, { sha, author, date, subject: subject ?? '' });
      }
    }
    return { head: branchOrder[0], branchOrder, commits };
  }

  /** A file's text at a commit (`git show sha:path`), or undefined when it did not exist there. */
  async show(folder: string, sha: string, file: string, signal?: AbortSignal): Promise<string | undefined> {
    assertCommitId(sha);
    return this.git(folder, ['show', '--end-of-options', `${sha}:${file}`], signal, undefined, false);
  }

  /** Checks out a commit (detached); rejects with git's own message when it refuses. */
  async checkout(folder: string, sha: string, signal?: AbortSignal): Promise<void> {
    assertCommitId(sha);
    await new Promise<void>((resolve, reject) => {
      execFile(
        this.gitPath,
        ['switch', '--detach', '--end-of-options', sha],
        { cwd: folder, signal, env: gitEnv() },
        (error, _stdout, stderr) => {
          if (error) reject(new Error(stderr.trim() || error.message));
          else resolve();
        },
      );
    });
  }

  /**
   * Makes `folder` a repository whose first commit holds everything in it, and returns the commit. Without a
   * user.name/user.email in git's config, the commit is authored by "ML Containers quickstart" rather than failing.
   */
  async initialCommit(folder: string, message: string, signal?: AbortSignal): Promise<string> {
    const run = (args: string[]): Promise<string> =>
      new Promise((resolve, reject) => {
        execFile(this.gitPath, args, { cwd: folder, signal, env: gitEnv() }, (error, stdout, stderr) => {
          if (error) reject(new Error(stderr.trim() || error.message));
          else resolve(stdout.trim());
        });
      });
    await run(['init', '-q']);
    await run(['add', '-A']);
    const identity = (await this.git(folder, ['config', 'user.email'], signal))
      ? []
      : ['-c', 'user.name=ML Containers quickstart', '-c', 'user.email=quickstart@ml-containers.invalid'];
    await run([...identity, 'commit', '-q', '--no-gpg-sign', '-m', message]);
    return run(['rev-parse', 'HEAD']);
  }

  /** stdout trimmed, or undefined when git fails (not a repository, no remote, no HEAD). */
  private git(cwd: string, args: string[], signal?: AbortSignal, input?: string, trim = true): Promise<string | undefined> {
    return new Promise((resolve) => {
      const child = execFile(this.gitPath, args, { cwd, signal, env: gitEnv(), maxBuffer: 64 * 1024 * 1024 }, (error, stdout) => {
        resolve(error ? undefined : trim ? stdout.trim() : stdout);
      });
      if (input !== undefined) child.stdin?.end(input);
    });
  }
}

/** A full commit id as git writes it: 40 hex digits, or 64 in a SHA-256 repository. */
export function isCommitId(s: string): boolean {
  return /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(s);
}

export class RevisionError extends UserError {
  constructor(readonly revision: string) {
    super(
      `${printable(revision)} is not a commit id (40 hex digits): the image's revision label was not written by a build from a git commit, so there is no commit to show or check out.`,
    );
    this.name = 'RevisionError';
  }
}

/**
 * A revision comes from an image's label, which a base image can set when the project is not in git: only a full
 * commit id reaches git, where nothing else (`--output=…`, a branch, `HEAD~1`) can be read in its place.
 */
function assertCommitId(sha: string): void {
  if (!isCommitId(sha)) throw new RevisionError(sha);
}

function gitEnv(): NodeJS.ProcessEnv {
  return { ...process.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' };
}

/** https://user:token@host/x.git → https://host/x.git; scp-style git@host:x stays (no secret in it). */
export function stripCredentials(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1');
}
