import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Engine } from '../../src/core/docker/engine';
import { assertBuiltCli, mlc } from '../helpers/mlc';
import { STANDIN_DEBIAN, engineKind, requireEngine, requireImage } from './harness';

// An image built here has no registry digest until it is pushed: the refusal. Pinning to the digest of a real push
// is in push.test.ts (a local docker-registry); the manifests themselves are unit-tested (test/unit/core/export/kubernetes.test.ts).
describe('mlc export k8s (built CLI against the real engine)', function () {
  let engine: Engine;

  before(async function () {
    engine = await requireEngine(this);
    await requireImage(this, engine, STANDIN_DEBIAN);
    assertBuiltCli();
  });

  it('refuses an image that was built here and never pushed, says to push it, and writes nothing', async () => {
    // Docker records no digest for an image that never left this machine; Podman gives every local image one, and
    // the refusal must not take it for a registry's.
    const digests = (await engine.inspectImage(STANDIN_DEBIAN))?.repoDigests;
    if ((await engineKind(engine)) === 'podman') assert.notDeepEqual(digests, []);
    else assert.deepEqual(digests, []);
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-k8s-'));
    const { code, stdout, stderr } = await mlc(['export', 'k8s', STANDIN_DEBIAN, '--out', out]);
    assert.equal(code, 1, stderr);
    assert.equal(stdout, '');
    assert.match(
      stderr,
      new RegExp(`^mlc export: ${STANDIN_DEBIAN} exists only on this machine .*mlc push ${STANDIN_DEBIAN} --registry REGISTRY`),
    );
    assert.deepEqual(fs.readdirSync(out), []);
  });

  it('pins the image the same way for a TrainJob or a JobSet: the never-pushed image is refused, nothing written', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-k8s-'));
    for (const kind of ['trainjob', 'jobset']) {
      const { code, stdout, stderr } = await mlc([
        'export',
        'k8s',
        STANDIN_DEBIAN,
        '--kind',
        kind,
        '--nodes',
        '2',
        '--queue',
        'q',
        '--out',
        out,
      ]);
      assert.equal(code, 1, stderr);
      assert.equal(stdout, '');
      assert.match(stderr, new RegExp(`^mlc export: ${STANDIN_DEBIAN} exists only on this machine `));
    }
    assert.deepEqual(fs.readdirSync(out), []);
  });
});
