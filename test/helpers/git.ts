import { execFileSync } from 'node:child_process';

/** Runs git in `dir` as the given author (so commits work on a machine with no git identity); returns trimmed stdout. */
export function gitAs(name: string): (dir: string, ...args: string[]) => string {
  return (dir, ...args) =>
    execFileSync('git', ['-c', `user.name=${name}`, '-c', 'user.email=ada@example.org', ...args], { cwd: dir, encoding: 'utf8' }).trim();
}

export const git = gitAs('Ada');
