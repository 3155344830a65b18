// Real-VS-Code tier through @vscode/test-electron. It downloads VS Code, so it runs on users' machines and on
// hosted CI, not on machines without access to Microsoft's servers (a later tier drives code-server instead).
import * as esbuild from 'esbuild';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runTests } from '@vscode/test-electron';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const outDir = path.join(root, 'out', 'vscode-tests');

await esbuild.build({
  entryPoints: [path.join(root, 'test/vscode/suite/index.ts')],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  outfile: path.join(outDir, 'index.js'),
  external: ['vscode', 'mocha'],
  logLevel: 'warning',
});

try {
  await runTests({
    version: process.env.VSCODE_TEST_VERSION ?? 'stable',
    extensionDevelopmentPath: root,
    extensionTestsPath: path.join(outDir, 'index.js'),
    launchArgs: [path.join(root, 'test/fixtures/workspace'), '--disable-extensions'],
  });
} catch (e) {
  console.error(`VS Code tests failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
