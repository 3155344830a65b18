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
// the protobufjs instance it reaches through relative requires (sharing ours broke BuildKit sessions). tar-stream
// (with streamx, ~39 KB minified) packs a context for Podman and unpacks features: one copy beside both bundles
// instead of one in each, and the CLI compiles it only when it packs.
const VENDORED = ['dockerode', 'protobufjs', 'yaml', 'tar-stream'];
/** @type {() => import('esbuild').Plugin} */
const vendored = () => ({
  name: 'vendored',
  setup(build) {
    build.onResolve({ filter: new RegExp(`^(${VENDORED.join('|')})$`) }, (args) => ({ path: `./${args.path}.js`, external: true }));
  },
});

// Three modules inside dockerode that only some commands need go into files of their own beside the bundles,
// required on their first call instead of being read and compiled with dockerode: dockerode's own BuildKit session
// (@grpc/grpc-js + @grpc/proto-loader + protobufjs; our builds open their session themselves, core/docker/session/),
// its BuildKit progress decoder (protobufjs; ours is core/docker/buildProgress.ts) and docker-modem's ssh transport
// (ssh2; only for ssh:// engines). `session` and `ssh` export one function and are required at the top of their
// importer, so a function that requires the real file on its first call stands in; `buildkit` is already required
// inside the one function that uses it. Out of dockerode.js they take most of its bytes with them: V8 compiled all
// of it on every `require` even though esbuild evaluates each bundled module only on its first require (bench/).
// Each is bundled on its own from `entry` into dist/<file>.js; the progress decoder shares dist/protobufjs.js (it only
// decodes with it).
const DEFERRED = [
  {
    module: './session',
    importer: /dockerode[\\/]lib[\\/]docker\.js$/,
    file: 'dockerode-session',
    stub: true,
    entry: 'node_modules/dockerode/lib/session.js',
  },
  {
    module: './buildkit',
    importer: /dockerode[\\/]lib[\\/]docker\.js$/,
    file: 'dockerode-buildkit',
    stub: false,
    entry: 'node_modules/dockerode/lib/buildkit.js',
    plugins: [vendored()],
  },
  {
    module: './ssh',
    importer: /docker-modem[\\/]lib[\\/]modem\.js$/,
    file: 'docker-modem-ssh',
    stub: true,
    entry: 'node_modules/docker-modem/lib/ssh.js',
  },
];
// Two modules that dockerode's files require at load and call only on paths we never take get a stand-in (a
// few lines in dockerode.js) whose functions require the real module on their first call: esbuild runs a bundled
// module's body, and node compiles a built-in, only when first required. node:https (node's TLS code, ~6 ms of every
// fresh process's first engine call; docker-modem's redirect wrapper calls its request() for an https:// engine
// only) and tar-fs with tar-stream (~3 ms; dockerode packs a folder with it, and we never hand it a folder).
const LAZY = [
  { module: 'https', importer: /docker-modem[\\/]lib[\\/]http\.js$/, functions: ['request', 'get'] },
  { module: 'tar-fs', importer: /dockerode[\\/]lib[\\/]util\.js$/, functions: ['pack', 'extract'] },
];
/** @type {() => import('esbuild').Plugin} */
const deferred = () => ({
  name: 'deferred',
  setup(build) {
    build.onResolve({ filter: new RegExp(`^(${DEFERRED.map((d) => d.module.replace('.', '\\.')).join('|')})$`) }, (args) => {
      const d = DEFERRED.find((x) => x.module === args.path && x.importer.test(args.importer));
      if (!d) return undefined;
      return d.stub ? { path: d.file, namespace: 'deferred' } : { path: `./${d.file}.js`, external: true };
    });
    build.onResolve({ filter: new RegExp(`^\\./(${DEFERRED.map((d) => d.file).join('|')})\\.js$`) }, (args) => ({
      path: args.path,
      external: true,
    }));
    build.onLoad({ filter: /.*/, namespace: 'deferred' }, (args) => ({
      contents: `let real;\nmodule.exports = function () {\n  real ??= require('./${args.path}.js');\n  return real.apply(this, arguments);\n};\n`,
      loader: 'js',
    }));
    // LAZY: a stand-in whose functions require the real module on their first call, from the importer's folder.
    build.onResolve({ filter: new RegExp(`^(${LAZY.map((l) => l.module).join('|')})$`) }, (args) => {
      const l = LAZY.find((x) => x.module === args.path && x.importer.test(args.importer));
      return l ? { path: l.module, namespace: 'lazy', pluginData: { dir: path.dirname(args.importer) } } : undefined;
    });
    build.onLoad({ filter: /.*/, namespace: 'lazy' }, (args) => ({
      contents: `module.exports = {\n${LAZY.find((l) => l.module === args.path)
        .functions.map((f) => `  ${f}: (...args) => require('${args.path}').${f}(...args),\n`)
        .join('')}};\n`,
      resolveDir: args.pluginData.dir,
      loader: 'js',
    }));
  },
});

const targets = [
  { ...common, entryPoints: ['src/extension.ts'], outfile: 'dist/extension.js', plugins: [vendored()] },
  // The CLI: dist/mlc.js, run by the small executable dist/cli.js from a V8 code cache (src/cli/codeCache.ts).
  { ...common, entryPoints: ['src/cli/main.ts'], outfile: 'dist/mlc.js', plugins: [vendored()] },
  { ...common, entryPoints: ['src/cli/bin.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' } },
  ...VENDORED.map((name) => ({
    ...common,
    entryPoints: [name],
    outfile: `dist/${name}.js`,
    ...(name === 'dockerode' ? { plugins: [deferred()] } : {}),
  })),
  ...DEFERRED.map((d) => ({ ...common, entryPoints: [d.entry], outfile: `dist/${d.file}.js`, plugins: d.plugins ?? [] })),
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
