// Image names and references.
import type { GitInfo } from './provenance/git';

/** `<name>:<sha7>[-dirty]` and `<name>:latest`; without git, a UTC timestamp tag instead of the sha. */
export function imageTags(name: string, git: GitInfo | undefined, now: Date): string[] {
  const id = git ? `${git.sha.slice(0, 7)}${git.dirty ? '-dirty' : ''}` : now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  return [`${name}:${id}`, `${name}:latest`];
}

/**
 * Makes a valid repository name from a devcontainer.json name or folder: lowercase, [a-z0-9] joined by single
 * separators (., _, -), at most 128 characters.
 */
export function imageName(raw: string): string {
  const cleaned = raw
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/[._-]{2,}/g, '-')
    .replace(/^[._-]+|[._-]+$/g, '')
    .slice(0, 128)
    .replace(/[._-]+$/, '');
  return cleaned || 'ml-experiment';
}
