// Bundles the extension and the mlc CLI. Both share src/core; neither ships node_modules.
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as path from 'node:path';

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

// Big dependencies that are needed only once the engine is used (dockerode with its gRPC/ssh2/protobufjs, ~850 KB
// minified) or a catalog is read (yaml) go into their own files beside the bundles, required on first use: V8
// then never compiles them during activation (bench/: activation went from ~118 ms to under the 50 ms budget).
// Each vendored file is self-contained: dockerode keeps its own protobufjs, because @grpc/proto-loader extends
// the protobufjs instance it reaches through relative requires (sharing ours broke BuildKit sessions).
const VENDORED = ['dockerode', 'protobufjs', 'yaml'];
/** @type {() => import('esbuild').Plugin} */
const vendored = () => ({
  name: 'vendored',
  setup(build) {
    build.onResolve({ filter: new RegExp(`^(${VENDORED.join('|')})$`) }, (args) => ({ path: `./${args.path}.js`, external: true }));
  },
});

// Inside the dockerode bundle, two modules only some commands need are evaluated on their first call instead of
// when dockerode loads: dockerode's own BuildKit session (@grpc/grpc-js + @grpc/proto-loader, ~90 ms; our builds
// open their session themselves, core/docker/session/) and docker-modem's ssh transport (ssh2, ~75 ms; only for
// ssh:// engines). Both export one function, so a function that requires the real module on its first call stands
// in; esbuild wraps every bundled CommonJS module to run on its first require, so it then costs nothing before.
const DEFERRED = [
  { module: './session', importer: /dockerode[\\/]lib[\\/]docker\.js$/ },
  { module: './ssh', importer: /docker-modem[\\/]lib[\\/]modem\.js$/ },
];
/** @type {() => import('esbuild').Plugin} */
const deferred = () => ({
  name: 'deferred',
  setup(build) {
    build.onResolve({ filter: /^\.\/(session|ssh)$/ }, async (args) => {
      if (args.namespace === 'deferred' || !DEFERRED.some((d) => d.module === args.path && d.importer.test(args.importer))) return undefined;
      const real = await build.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, pluginData: 'real' });
      return { path: real.path, namespace: 'deferred' };
    });
    build.onLoad({ filter: /.*/, namespace: 'deferred' }, (args) => ({
      contents: `let real;\nmodule.exports = function () {\n  real ??= require(${JSON.stringify(args.path)});\n  return real.apply(this, arguments);\n};\n`,
      loader: 'js',
      resolveDir: path.dirname(args.path),
    }));
  },
});

const targets = [
  { ...common, entryPoints: ['src/extension.ts'], outfile: 'dist/extension.js', plugins: [vendored()] },
  {
    ...common,
    entryPoints: ['src/cli/main.ts'],
    outfile: 'dist/cli.js',
    banner: { js: '#!/usr/bin/env node' },
    plugins: [vendored()],
  },
  ...VENDORED.map((name) => ({ ...common, entryPoints: [name], outfile: `dist/${name}.js`, ...(name === 'dockerode' ? { plugins: [deferred()] } : {}) })),
];

// dockerode opens its BuildKit session's auth.proto at run time from `${__dirname}/proto`; in the bundles
// __dirname is dist/, so the file travels beside them (found when `mlc build` from dist/ failed with ENOENT).
fs.mkdirSync('dist/proto', { recursive: true });
fs.copyFileSync('node_modules/dockerode/lib/proto/auth.proto', 'dist/proto/auth.proto');

// The Compare Runs webview loads uPlot from media/ (its only local resource root; a webview may load nothing
// remote): copied from the dependency at build time rather than committed, so it stays the version package.json names.
fs.mkdirSync('media/vendor', { recursive: true });
for (const file of ['uPlot.iife.min.js', 'uPlot.min.css']) fs.copyFileSync(`node_modules/uplot/dist/${file}`, `media/vendor/${file}`);

if (watch) {
  for (const t of targets) {
    const ctx = await esbuild.context(t);
    await ctx.watch();
  }
} else {
  await Promise.all(targets.map((t) => esbuild.build(t)));
}
