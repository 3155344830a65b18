// One cold activation, in a fresh process: load dist/extension.js and run activate() against a stand-in `vscode`
// module (the unit tests' fake, bundled by bench/activation.ts). Prints {loadMs, activateMs} as JSON.
'use strict';
const { performance } = require('node:perf_hooks');

const [fakePath, extensionPath, root] = process.argv.slice(2);
const { installFakeVscode } = require(fakePath);
installFakeVscode();

const t0 = performance.now();
const extension = require(extensionPath);
const t1 = performance.now();
Promise.resolve(extension.activate({ subscriptions: [], extensionPath: root, extensionUri: { fsPath: root } }))
  .then(() => {
    const t2 = performance.now();
    process.stdout.write(JSON.stringify({ loadMs: t1 - t0, activateMs: t2 - t1 }));
    // activate() schedules its first status bar update for later; the measurement ends here.
    process.exit(0);
  })
  .catch((e) => {
    process.stderr.write(`activate() failed: ${e && e.stack ? e.stack : e}\n`);
    process.exit(1);
  });
