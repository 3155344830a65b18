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

/**
 * The CUDA a base image names in its own environment, when the engine has the image; undefined when it does not,
 * when the image names none, or when the engine cannot be asked (core/gpu/imageCuda.ts `localImageCuda`).
 */
export type BaseCudaLookup = (image: string) => Promise<{ version: string; source: 'CUDA_VERSION' | 'NVIDIA_REQUIRE_CUDA' } | undefined>;

/**
 * Renders a preset for a project folder and plans its writes; nothing is written until applyPlan. A base other
 * than the catalog's is described by what `lookup` reads from the image, not by the catalog.
 */
export async function prepareScaffold(
  root: string,
  templatesDir: string,
  options: ScaffoldOptions,
  merge: boolean,
  lookup?: BaseCudaLookup,
): Promise<PreparedScaffold> {
  const { catalog, templates } = await loadTemplates(templatesDir);
  const resolved = resolveOptions(catalog, options, path.basename(path.resolve(root)));
  const own = resolved.baseImage !== resolved.catalogBaseImage && lookup ? await lookup(resolved.baseImage) : undefined;
  const described: ResolvedOptions = own ? { ...resolved, cuda: own.version, cudaSource: own.source } : resolved;
  const plan = await planScaffold(renderScaffold(templates, described), projectReader(root), { merge });
  return { options: described, plan };
}
