import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Catalog } from './catalog';
import { parseCatalog } from './catalog';
import type { Templates } from './render';

/**
 * templates/ where the CLI runs from: beside dist/ in the package (the bundle's __dirname), beside src/ under tsx
 * (tests); MLC_TEMPLATES_DIR wins. The extension gets its folder from the extension path instead.
 */
export function templatesDir(): string {
  const inSource = __dirname.endsWith(path.join('src', 'core', 'scaffold'));
  return process.env.MLC_TEMPLATES_DIR ?? path.resolve(__dirname, ...(inSource ? ['..', '..', '..'] : ['..']), 'templates');
}

/** Reads templates/ (shipped in the .vsix and beside dist/cli.js). */
export async function loadTemplates(dir: string): Promise<{ catalog: Catalog; templates: Templates }> {
  const read = (...parts: string[]): Promise<string> => fs.readFile(path.join(dir, ...parts), 'utf8');
  const catalog = parseCatalog(await read('catalog.yaml'));
  const [devcontainer, dockerfile, requirements, dockerignore, ...perPreset] = await Promise.all([
    read('common', 'devcontainer.json.mustache'),
    read('common', 'Dockerfile.mustache'),
    read('common', 'requirements.txt'),
    read('common', 'dockerignore'),
    ...catalog.presets.flatMap((p) => [read(p.id, 'experiment.yaml'), read(p.id, 'predict.py')]),
  ]);
  return {
    catalog,
    templates: {
      devcontainer,
      dockerfile,
      requirements,
      dockerignore,
      experiment: Object.fromEntries(catalog.presets.map((p, i) => [p.id, perPreset[2 * i] ?? ''])),
      predict: Object.fromEntries(catalog.presets.map((p, i) => [p.id, perPreset[2 * i + 1] ?? ''])),
    },
  };
}

/**
 * The preset catalog where only hints come from it (the CUDA an image needs, a preset's setup script): undefined
 * when the templates cannot be read, and the caller goes on without it.
 */
export function optionalCatalog(dir: string): Promise<Catalog | undefined> {
  return loadTemplates(dir).then(
    (t) => t.catalog,
    () => undefined,
  );
}
