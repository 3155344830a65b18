import type { Catalog } from '../../src/core/scaffold/catalog';
import { parseCatalog } from '../../src/core/scaffold/catalog';

/**
 * catalog.yaml text of one-version CPU presets, each with the extra lines given (`loginShell: true`), indented
 * under it; parse it with parseCatalog, or use presetCatalog.
 */
export function presetCatalogText(presets: Record<string, string[]>): string {
  return [
    'presets:',
    ...Object.entries(presets).flatMap(([id, extra]) => [
      `  ${id}:`,
      `    label: ${id}`,
      '    description: a preset',
      '    module: os',
      '    versions:',
      '      - version: "1"',
      '        cpu: { image: "python:3.12-slim" }',
      ...extra.map((l) => `    ${l}`),
    ]),
  ].join('\n');
}

/** A catalog of such presets, through the real parser. */
export function presetCatalog(presets: Record<string, string[]>): Catalog {
  return parseCatalog(presetCatalogText(presets));
}
