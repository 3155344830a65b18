import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Engine } from '../../src/core/docker/engine';
import { STANDIN_DEBIAN, requireEngine, requireImage } from './harness';

const CLI = path.resolve(__dirname, '../../dist/cli.js');

// An image built here has no registry digest until it is pushed: the refusal. Pinning to the digest of a real push
// is in push.test.ts (a local docker-registry); the manifests themselves are unit-tested (test/unit/kubernetes.test.ts).
describe('mlc export k8s (built CLI against the real engine)', function () {
  let engine: Engine;

  before(async function () {
    engine = await requireEngine(this);
    await requireImage(this, engine, STANDIN_DEBIAN);
    assert.ok(fs.existsSync(CLI), 'dist/cli.js is missing: run `npm run build` first');
  });

  it('refuses an image that was built here and never pushed, says to push it, and writes nothing', async () => {
    assert.deepEqual((await engine.inspectImage(STANDIN_DEBIAN))?.repoDigests, []);
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-k8s-'));
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [CLI, 'export', 'k8s', STANDIN_DEBIAN, '--out', out], (error, stdout, stderr) => {
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
      });
    });
    assert.equal(code, 1, stderr);
    assert.equal(stdout, '');
    assert.match(stderr, new RegExp(`^mlc export: ${STANDIN_DEBIAN} exists only on this machine .*mlc push ${STANDIN_DEBIAN} --registry REGISTRY`));
    assert.deepEqual(fs.readdirSync(out), []);
  });
});
