import * as path from 'node:path';
import type { PlannedWrite } from './plan';
import { planScaffold, projectReader } from './plan';
import type { ResolvedOptions, ScaffoldOptions } from './render';
import { renderScaffold, resolveOptions } from './render';
import { loadTemplates } from './templateFiles';

export interface PreparedScaffold {
  options: ResolvedOptions;
  plan: PlannedWrite[];
}

/** Renders a preset for a project folder and plans its writes; nothing is written until applyPlan. */
export async function prepareScaffold(root: string, templatesDir: string, options: ScaffoldOptions, merge: boolean): Promise<PreparedScaffold> {
  const { catalog, templates } = await loadTemplates(templatesDir);
  const resolved = resolveOptions(catalog, options, path.basename(path.resolve(root)));
  const plan = await planScaffold(renderScaffold(templates, resolved), projectReader(root), { merge });
  return { options: resolved, plan };
}
