// Bundles the extension and the mlc CLI. Both share src/core; neither ships node_modules.
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

/** @type {import('esbuild').BuildOptions} */
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: production ? false : 'linked',
  minify: production,
  // ssh2 ships optional native addons (cpu-features, sshcrypto.node); it falls back to pure JS without them.
  external: ['vscode', 'cpu-features', './crypto/build/Release/sshcrypto.node'],
  logLevel: 'info',
  legalComments: 'none',
  // jsonc-parser's UMD entry hides its requires from the bundler; its ESM build bundles cleanly.
  mainFields: ['module', 'main'],
};

const targets = [
  { ...common, entryPoints: ['src/extension.ts'], outfile: 'dist/extension.js' },
  {
    ...common,
    entryPoints: ['src/cli/main.ts'],
    outfile: 'dist/cli.js',
    banner: { js: '#!/usr/bin/env node' },
  },
];

// dockerode opens its BuildKit session's auth.proto at run time from `${__dirname}/proto`; in the bundles
// __dirname is dist/, so the file travels beside them (found when `mlc build` from dist/ failed with ENOENT).
fs.mkdirSync('dist/proto', { recursive: true });
fs.copyFileSync('node_modules/dockerode/lib/proto/auth.proto', 'dist/proto/auth.proto');

if (watch) {
  for (const t of targets) {
    const ctx = await esbuild.context(t);
    await ctx.watch();
  }
} else {
  await Promise.all(targets.map((t) => esbuild.build(t)));
}
