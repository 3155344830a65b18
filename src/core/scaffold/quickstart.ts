// `mlc quickstart`'s project: an example from templates/examples/ with a preset scaffolded beside it, written into a
// folder of its own in one rename, and the base image it can build FROM on this machine. A journal beside the folder
// lets the next quickstart undo one that was killed outright.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { writeFileAtomic } from '../atomicWrite';
import { UserError } from '../errors';
import type { LatestTag } from './latestTags';

/** The example `mlc quickstart` writes: an MLP on scikit-learn's bundled digits, trained with PyTorch. */
export const QUICKSTART_EXAMPLE = 'pytorch-digits';

/** The PyTorch stand-in `npm run engine` builds (scripts/test-engine.sh) where no registry can be reached. */
export const PYTORCH_STANDIN = 'mlc-test/pytorch:bookworm';

export class QuickstartError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'QuickstartError';
  }
}

/** The folder exists with something in it; only --force replaces it (and keeps the old one aside). */
export class QuickstartFolderError extends QuickstartError {
  constructor(message: string) {
    super(message);
    this.name = 'QuickstartFolderError';
  }
}

/**
 * An example's files, relative paths with forward slashes. A file named `gitignore` is written as `.gitignore`, as
 * templates/common/dockerignore is: dot-files are easy to lose on the way into a package.
 */
export async function readExample(templatesDir: string, name: string): Promise<{ path: string; content: string }[]> {
  const root = path.join(templatesDir, 'examples', name);
  const entries = await fs.readdir(root, { recursive: true, withFileTypes: true }).catch((e: NodeJS.ErrnoException) => {
    throw new QuickstartError(
      `The example ${name} is missing from ${path.join(templatesDir, 'examples')} (${e.code ?? e.message}): reinstall ML Containers.`,
    );
  });
  const files = await Promise.all(
    entries
      .filter((e) => e.isFile())
      .map(async (e) => {
        const relative = path.relative(root, path.join(e.parentPath, e.name)).split(path.sep).join('/');
        return {
          path: relative === 'gitignore' ? '.gitignore' : relative,
          content: await fs.readFile(path.join(e.parentPath, e.name), 'utf8'),
        };
      }),
  );
  return files.sort((a, b) => a.path.localeCompare(b.path));
}

export interface BaseChoice {
  image: string;
  /** One line for the user: which base, and why this one. */
  note: string;
}

/**
 * The base the quickstart builds FROM: the catalog's when this engine has it or its registry answers (the build
 * pulls it), else the local PyTorch stand-in, said so; neither: a sentence naming the ways out.
 */
export async function chooseQuickstartBase(
  catalogBase: string,
  o: { hasImage: (ref: string) => Promise<boolean>; lookup: () => Promise<LatestTag> },
): Promise<BaseChoice> {
  if (await o.hasImage(catalogBase)) return { image: catalogBase, note: `Base: the catalog's ${catalogBase}, already on this engine.` };
  const found = await o.lookup();
  if (found.kind !== 'pinned')
    return {
      image: catalogBase,
      note: `Base: the catalog's ${catalogBase}, pulled from ${found.source} by the build (several GB the first time).`,
    };
  if (await o.hasImage(PYTORCH_STANDIN)) {
    return {
      image: PYTORCH_STANDIN,
      note: `${catalogBase} cannot be pulled here (${found.why}): using the local stand-in ${PYTORCH_STANDIN} that \`npm run engine\` builds.`,
    };
  }
  throw new QuickstartError(
    `${catalogBase} cannot be pulled here (${found.why}) and the local stand-in ${PYTORCH_STANDIN} is missing: connect this machine to the registry, pass --base-image with a PyTorch image this engine has, or run \`npm run engine\` in a clone of ML Containers.`,
  );
}

export interface CreatedProject {
  dir: string;
  /** Where --force moved the folder that was there before; undefined when there was none (or it was empty). */
  movedAside: string | undefined;
  /** Removes the project and puts back the folder it replaced (or the empty one): after a later step failed. */
  discard(): Promise<void>;
  /** Every step succeeded: the project stays, and no later quickstart takes it for a killed one's. */
  keep(): Promise<void>;
}

/**
 * What a quickstart has done to DIR so far, kept beside it (`.DIR.mlc-quickstart.json`) until it ends: a quickstart
 * killed outright (SIGKILL, a crash) runs no clean-up, so the next one into DIR reads this and undoes it.
 */
interface QuickstartJournal {
  pid: number;
  staging: string;
  /** DIR existed (empty, or moved aside to `movedAside`). */
  existing: boolean;
  movedAside?: string;
  /** DIR may now be the new project: removed on recovery. Set only once DIR is absent or ours. */
  placed: boolean;
}

function journalFile(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.mlc-quickstart.json`);
}

async function writeJournal(target: string, journal: QuickstartJournal): Promise<void> {
  await writeFileAtomic(journalFile(target), `${JSON.stringify(journal)}\n`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Undoes what a killed quickstart into `dir` left (its staging folder, its half-made project) and puts back the
 * folder its --force moved aside; one sentence saying so, or undefined when nothing was left. Paths in the journal are
 * used only when they are the names a quickstart into `dir` gives them.
 */
export async function recoverQuickstart(dir: string): Promise<string | undefined> {
  const target = path.resolve(dir);
  const file = journalFile(target);
  const text = await fs.readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  let j: Partial<QuickstartJournal> = {};
  try {
    j = JSON.parse(text) as Partial<QuickstartJournal>;
  } catch {
    // Torn: only the journal goes.
  }
  if (typeof j.pid === 'number' && j.pid !== process.pid && alive(j.pid)) {
    throw new QuickstartFolderError(
      `Another mlc quickstart (process ${j.pid}) is making ${target} right now: wait for it to end, or give another folder.`,
    );
  }
  const sibling = (p: unknown, prefix: string): p is string =>
    typeof p === 'string' && path.dirname(p) === path.dirname(target) && path.basename(p).startsWith(prefix);
  if (sibling(j.staging, `.${path.basename(target)}.mlc-quickstart-`)) await fs.rm(j.staging, { recursive: true, force: true });
  const exists = (p: string): Promise<boolean> =>
    fs.lstat(p).then(
      () => true,
      () => false,
    );
  if (j.placed === true) await fs.rm(target, { recursive: true, force: true });
  let putBack = false;
  if (sibling(j.movedAside, `${path.basename(target)}.before-quickstart-`) && (await exists(j.movedAside)) && !(await exists(target))) {
    await fs.rename(j.movedAside, target);
    putBack = true;
  } else if (j.existing === true && !(await exists(target))) {
    await fs.mkdir(target);
  }
  await fs.rm(file, { force: true });
  return `An earlier mlc quickstart into ${target} was killed before it finished: what it had made was removed${putBack ? ' and the folder it had moved aside put back' : ''}.`;
}

/**
 * Whether the quickstart may write `dir`: absent, empty, or (with `force`) to be moved aside; a sentence that says
 * what to do otherwise. Asked before anything else happens, and again just before the rename.
 */
export async function checkProjectDir(dir: string, force: boolean): Promise<{ existing: boolean; occupied: boolean }> {
  const target = path.resolve(dir);
  const stat = await fs.stat(target).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  });
  if (stat && !stat.isDirectory())
    throw new QuickstartFolderError(`${target} exists and is not a folder: give the quickstart a new folder's path.`);
  const occupied = stat ? (await fs.readdir(target)).length > 0 : false;
  if (occupied && !force) {
    throw new QuickstartFolderError(
      `${target} exists and is not empty: give a new folder, or pass --force to move it aside (kept as ${path.basename(target)}.before-quickstart-<time>) and start over.`,
    );
  }
  return { existing: stat !== undefined, occupied };
}

/**
 * Creates `dir` with what `fill` writes into a staging folder beside it, then one rename: a failure while filling
 * leaves nothing behind. An existing non-empty `dir` is refused; with `force` it is moved aside (never deleted) to
 * `<dir>.before-quickstart-<time>`, and put back if the project cannot take its place.
 */
export async function createProjectDir(
  dir: string,
  force: boolean,
  fill: (staging: string) => Promise<void>,
  now: () => Date = () => new Date(),
): Promise<CreatedProject> {
  const target = path.resolve(dir);
  const { existing, occupied } = await checkProjectDir(target, force);
  await fs.mkdir(path.dirname(target), { recursive: true });
  const staging = path.join(path.dirname(target), `.${path.basename(target)}.mlc-quickstart-${randomBytes(4).toString('hex')}`);
  // Each step is in the journal before it is taken, so a kill between any two leaves what recoverQuickstart undoes.
  const journal: QuickstartJournal = { pid: process.pid, staging, existing, placed: false };
  await writeJournal(target, journal);
  const dropJournal = (): Promise<void> => fs.rm(journalFile(target), { force: true });
  await fs.mkdir(staging);
  try {
    await fill(staging);
  } catch (e) {
    await fs.rm(staging, { recursive: true, force: true });
    await dropJournal();
    throw e;
  }
  let movedAside: string | undefined;
  try {
    if (occupied) {
      movedAside = `${target}.before-quickstart-${now().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '')}`;
      await writeJournal(target, { ...journal, movedAside });
      await fs.rename(target, movedAside);
    } else if (existing) {
      await fs.rmdir(target);
    }
    await writeJournal(target, { ...journal, ...(movedAside ? { movedAside } : {}), placed: true });
    await fs.rename(staging, target);
  } catch (e) {
    if (movedAside) await fs.rename(movedAside, target).catch(() => undefined);
    await fs.rm(staging, { recursive: true, force: true });
    await dropJournal();
    throw e;
  }
  return {
    dir: target,
    movedAside,
    discard: async () => {
      await fs.rm(target, { recursive: true, force: true });
      if (movedAside) await fs.rename(movedAside, target);
      else if (existing) await fs.mkdir(target);
      await dropJournal();
    },
    keep: dropJournal,
  };
}
