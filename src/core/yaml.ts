import type * as Yaml from 'yaml';

/**
 * The yaml library, loaded on first use rather than at import: the bundles get it from dist/yaml.js (esbuild.mjs),
 * so it is not compiled during the extension's activation (~30 ms).
 */
export function loadYaml(): typeof Yaml {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('yaml') as typeof Yaml;
}
