// What a container and the GPU preflight need to know about the preset an image was built from, asked of the preset
// catalog by the image's preset label: a preset's needs live in its catalog entry, not in `if (preset === …)` beside
// the code that acts on them. It lives with the catalog because core/container and core/gpu already read the
// catalog's types, and scaffold imports neither of them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readProvenance } from '../labels';
import type { Catalog, GpuArchTable } from './catalog';
import { parseCatalog } from './catalog';
import { templatesDir } from './templateFiles';

export interface PresetFacts {
  /** Commands in its containers run in a login shell, the one that sets up the preset's release. */
  loginShell: boolean;
  /** The GPU-architecture table its images are judged by; undefined: none applies. */
  gpuArchs: GpuArchTable | undefined;
}

/**
 * The facts of the image's preset in `catalog`, else in the catalog shipped beside this code: they decide how a
 * container starts, so a caller that holds no catalog still gets them. An image of no preset, or of one the catalog
 * does not know, needs nothing.
 */
export function presetFacts(labels: Readonly<Record<string, string>>, catalog?: Catalog): PresetFacts {
  const { preset: id } = readProvenance(labels);
  const preset = id === undefined ? undefined : (catalog ?? shippedCatalog())?.presets.find((p) => p.id === id);
  return { loginShell: preset?.loginShell === true, gpuArchs: preset?.gpuArchs };
}

let shipped: { dir: string; catalog: Catalog | undefined } | undefined;

/**
 * templates/catalog.yaml where this code runs, read once and synchronously: the request builders that ask are pure
 * functions, and the file is a few kilobytes. Unreadable or invalid, it is undefined, as optionalCatalog answers;
 * `mlc init` and New ML Environment say what is wrong with it.
 */
function shippedCatalog(): Catalog | undefined {
  const dir = templatesDir();
  if (shipped?.dir !== dir) {
    let catalog: Catalog | undefined;
    try {
      catalog = parseCatalog(fs.readFileSync(path.join(dir, 'catalog.yaml'), 'utf8'));
    } catch {
      catalog = undefined;
    }
    shipped = { dir, catalog };
  }
  return shipped.catalog;
}
