import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { mergeDevcontainer, parseJsonc } from './mergeDevcontainer';
import type { RenderedFile } from './render';

export interface PlannedWrite {
  /** Relative to the project folder, with forward slashes. */
  path: string;
  action: 'create' | 'modify' | 'keep';
  content?: string;
  /** Why, in a few words: shown before the user consents and in the CLI output. */
  note: string;
}

export class ScaffoldConflictError extends Error {
  constructor(
    message: string,
    readonly files: string[],
  ) {
    super(message);
    this.name = 'ScaffoldConflictError';
  }
}

const APPEND_MARKER = '# Added by ML Containers: keep data, checkpoints and caches out of image build contexts';

/**
 * Decides what happens to each rendered file given what is on disk. Pure but for `read`. An existing
 * devcontainer.json is merged (comments kept) only when `merge` is set; otherwise it is a conflict.
 */
export async function planScaffold(
  files: RenderedFile[],
  read: (relative: string) => Promise<string | undefined>,
  options: { merge: boolean },
): Promise<PlannedWrite[]> {
  const plan: PlannedWrite[] = [];
  let dockerfileName = 'Dockerfile';
  for (const file of files.filter((f) => f.kind === 'dockerfile')) {
    const existing = await read(file.path);
    if (existing === undefined || existing === file.content) {
      plan.push({
        path: file.path,
        action: existing === undefined ? 'create' : 'keep',
        content: file.content,
        note: existing === undefined ? 'new' : 'unchanged',
      });
      continue;
    }
    if (!options.merge) {
      throw new ScaffoldConflictError(`${file.path} already exists.`, [file.path]);
    }
    // Their Dockerfile stays; ours goes beside it and the merged config points at it.
    dockerfileName = 'ml.Dockerfile';
    const beside = `${path.posix.dirname(file.path)}/${dockerfileName}`;
    const besideExisting = await read(beside);
    if (besideExisting !== undefined && besideExisting !== file.content) {
      throw new ScaffoldConflictError(`${file.path} and ${beside} already exist.`, [file.path, beside]);
    }
    plan.push({
      path: beside,
      action: besideExisting === undefined ? 'create' : 'keep',
      content: file.content,
      note: `new, beside your ${path.posix.basename(file.path)}`,
    });
  }
  for (const file of files) {
    const existing = file.kind === 'dockerfile' ? undefined : await read(file.path);
    switch (file.kind) {
      case 'dockerfile':
        break;
      case 'devcontainer': {
        const ours = parseJsonc(file.content, file.path);
        if (dockerfileName !== 'Dockerfile') {
          (ours.build as Record<string, unknown>).dockerfile = dockerfileName;
        }
        if (existing === undefined) {
          const content = dockerfileName === 'Dockerfile' ? file.content : mergeDevcontainer(file.content, ours, file.path);
          plan.push({ path: file.path, action: 'create', content, note: 'new' });
        } else if (!options.merge) {
          throw new ScaffoldConflictError(`${file.path} already exists.`, [file.path]);
        } else {
          const merged = mergeDevcontainer(existing, ours, file.path);
          plan.push({
            path: file.path,
            action: merged === existing ? 'keep' : 'modify',
            content: merged,
            note: merged === existing ? 'already up to date' : 'merged; your comments and keys kept',
          });
        }
        break;
      }
      case 'createOnly':
        plan.push(
          existing === undefined
            ? { path: file.path, action: 'create', content: file.content, note: 'new' }
            : { path: file.path, action: 'keep', note: 'yours, kept as it is' },
        );
        break;
      case 'appendLines': {
        if (existing === undefined) {
          plan.push({ path: file.path, action: 'create', content: `${APPEND_MARKER}\n${file.lines.join('\n')}\n`, note: 'new' });
          break;
        }
        const have = new Set(existing.split(/\r?\n/).map((l) => l.trim()));
        const missing = file.lines.filter((l) => !have.has(l));
        if (missing.length === 0) {
          plan.push({ path: file.path, action: 'keep', note: 'already ignores what we need' });
        } else {
          const sep = existing.endsWith('\n') || existing === '' ? '' : '\n';
          plan.push({
            path: file.path,
            action: 'modify',
            content: `${existing}${sep}\n${APPEND_MARKER}\n${missing.join('\n')}\n`,
            note: `${missing.length} line(s) appended`,
          });
        }
        break;
      }
    }
  }
  return plan;
}

/**
 * Writes the plan atomically: every file goes to a temporary sibling first, and only when all of them are written
 * are they renamed into place. A failure before that leaves the project as it was.
 */
export async function applyPlan(root: string, plan: PlannedWrite[]): Promise<string[]> {
  const writes = plan.filter((p): p is PlannedWrite & { content: string } => p.action !== 'keep' && p.content !== undefined);
  const staged: { tmp: string; target: string }[] = [];
  try {
    for (const w of writes) {
      const target = path.join(root, ...w.path.split('/'));
      await fs.mkdir(path.dirname(target), { recursive: true });
      const tmp = `${target}.mlc-${randomBytes(4).toString('hex')}.tmp`;
      const mode = await fs.stat(target).then(
        (s) => s.mode,
        () => undefined,
      );
      await fs.writeFile(tmp, w.content, { flag: 'wx', ...(mode !== undefined ? { mode } : {}) });
      staged.push({ tmp, target });
    }
  } catch (e) {
    await Promise.all(staged.map((s) => fs.rm(s.tmp, { force: true })));
    throw e;
  }
  for (const s of staged) {
    await fs.rename(s.tmp, s.target);
  }
  return writes.map((w) => w.path);
}

/** Reads a project-relative file, undefined when absent. */
export function projectReader(root: string): (relative: string) => Promise<string | undefined> {
  return async (relative) => {
    try {
      return await fs.readFile(path.join(root, ...relative.split('/')), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        return undefined;
      }
      throw e;
    }
  };
}
