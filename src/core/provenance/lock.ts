import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { writeFileAtomic } from '../atomicWrite';
import type { Engine } from '../docker/engine';

/** Where environment locks live in a project: one file per image id. */
export const LOCK_DIR = path.join('.mlcontainers', 'locks');

export interface PackageDiff {
  added: { name: string; version: string }[];
  removed: { name: string; version: string }[];
  changed: { name: string; from: string; to: string }[];
}

/**
 * Captures what is installed in an image: `pip freeze`, plus `conda list --export` where conda exists. Runs in a
 * throw-away container without network.
 */
export async function captureLock(engine: Engine, image: string, signal?: AbortSignal): Promise<string> {
  const script = 'python3 -m pip freeze --all 2>/dev/null || pip freeze --all; if command -v conda >/dev/null 2>&1; then echo "# conda"; conda list --export; fi';
  const { exitCode, stdout, stderr } = await engine.runCapture(image, ['sh', '-c', script], signal);
  if (exitCode !== 0 && !stdout.trim()) {
    throw new Error(`Could not list the packages in ${image} (exit ${exitCode}): ${stderr.trim().split('\n').pop() ?? ''}`);
  }
  return stdout;
}

export function lockPath(folder: string, imageId: string): string {
  return path.join(folder, LOCK_DIR, `${imageId.replace(/^sha256:/, '')}.txt`);
}

/** Writes the lock atomically, with a header naming the image. */
export async function writeLock(folder: string, imageId: string, tags: string[], packages: string): Promise<string> {
  const file = lockPath(folder, imageId);
  await writeFileAtomic(file, `# image ${imageId}\n# tags ${tags.join(' ')}\n${packages.endsWith('\n') ? packages : `${packages}\n`}`);
  return file;
}

/** name → version from pip freeze (`a==1`, `a @ url`) and conda export (`a=1=build`) lines. */
export function parseLock(text: string): Map<string, string> {
  const packages = new Map<string, string>();
  let section = 'pip';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '# conda') section = 'conda';
    if (!line || line.startsWith('#') || line.startsWith('-e ')) continue;
    const pip = /^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*(?:==\s*(\S+)|@\s*(\S+))/.exec(line);
    const conda = section === 'conda' ? /^([^=\s]+)=([^=\s]+)/.exec(line) : null;
    if (conda) {
      packages.set(`conda:${conda[1]}`, conda[2] ?? '');
    } else if (pip) {
      packages.set(pip[1]!.toLowerCase().replace(/[-_.]+/g, '-'), pip[2] ?? pip[3] ?? '');
    }
  }
  return packages;
}

export function diffLocks(a: Map<string, string>, b: Map<string, string>): PackageDiff {
  const diff: PackageDiff = { added: [], removed: [], changed: [] };
  for (const [name, version] of b) {
    const before = a.get(name);
    if (before === undefined) diff.added.push({ name, version });
    else if (before !== version) diff.changed.push({ name, from: before, to: version });
  }
  for (const [name, version] of a) if (!b.has(name)) diff.removed.push({ name, version });
  const byName = (x: { name: string }, y: { name: string }): number => x.name.localeCompare(y.name);
  diff.added.sort(byName);
  diff.removed.sort(byName);
  diff.changed.sort(byName);
  return diff;
}

export function formatDiff(diff: PackageDiff): string[] {
  return [
    ...diff.added.map((p) => `+ ${p.name}==${p.version}`),
    ...diff.removed.map((p) => `- ${p.name}==${p.version}`),
    ...diff.changed.map((p) => `~ ${p.name} ${p.from} -> ${p.to}`),
  ];
}

/** The lock of an image: from the project's lock folder, captured (and kept) when missing. */
export async function lockFor(engine: Engine, folder: string, ref: string, signal?: AbortSignal): Promise<{ imageId: string; text: string }> {
  const image = await engine.inspectImage(ref, signal);
  if (!image) {
    throw new Error(`No image ${ref}: check the name with \`docker images\` or \`mlc ls\`.`);
  }
  try {
    return { imageId: image.id, text: await fs.readFile(lockPath(folder, image.id), 'utf8') };
  } catch {
    const text = await captureLock(engine, image.id, signal);
    await writeLock(folder, image.id, image.repoTags, text);
    return { imageId: image.id, text };
  }
}
