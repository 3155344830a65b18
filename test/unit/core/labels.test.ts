import * as assert from 'node:assert/strict';
import type { ImageProvenance, ProvenanceInput } from '../../../src/core/labels';
import { isProvenanceLabel, provenanceLabels, readProvenance, stampLabels } from '../../../src/core/labels';

const SHA = '0123456789abcdef0123456789abcdef01234567';

describe('image labels', () => {
  it('reads back every field provenanceLabels writes', () => {
    const input: ProvenanceInput = {
      git: { sha: SHA, dirty: true, branch: 'main', remoteUrl: 'https://github.com/lab/x.git', describe: 'v1.2-3-g0123456' },
      title: 'dimuon',
      preset: 'pytorch',
      variant: 'gpu',
      baseImage: 'pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime',
      baseDigest: `sha256:${'b'.repeat(64)}`,
      dockerfileSha256: 'f'.repeat(64),
      dockerfilePath: '.devcontainer/Dockerfile',
      config: { path: 'configs/a.yaml', sha256: 'c'.repeat(64) },
    };
    const want: ImageProvenance = {
      managed: true,
      revision: SHA,
      dirty: true,
      title: 'dimuon',
      source: 'https://github.com/lab/x.git',
      version: 'v1.2-3-g0123456',
      branch: 'main',
      preset: 'pytorch',
      variant: 'gpu',
      base: 'pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime',
      baseDigest: `sha256:${'b'.repeat(64)}`,
      dockerfilePath: '.devcontainer/Dockerfile',
      dockerfileSha256: 'f'.repeat(64),
      configPath: 'configs/a.yaml',
      configSha256: 'c'.repeat(64),
      lockSha256: 'e'.repeat(64),
    };
    // The lock's hash is stamped on after the build, in a layer of its own.
    assert.deepEqual(readProvenance({ ...provenanceLabels(input), ...stampLabels({ lockSha256: 'e'.repeat(64) }) }), want);
  });

  it('leaves out what was not labelled: no git, no preset, no config', () => {
    const labels = provenanceLabels({ git: undefined, title: 't', dockerfileSha256: 'f'.repeat(64) });
    assert.deepEqual(readProvenance(labels), { managed: true, dirty: false, title: 't', dockerfileSha256: 'f'.repeat(64) });
    assert.deepEqual(readProvenance({}), { managed: false, dirty: false });
    assert.equal(readProvenance({ 'org.mlcontainers.dirty': 'false', 'org.opencontainers.image.revision': SHA }).dirty, false);
  });

  it('counts our keys and the OCI image keys as provenance, and nothing else', () => {
    for (const key of Object.keys(provenanceLabels({ git: { sha: SHA, dirty: false }, title: 't', dockerfileSha256: 'f' }))) {
      assert.ok(isProvenanceLabel(key), key);
    }
    for (const key of ['maintainer', 'org.mlcontainersx.y', 'org.opencontainers.artifact.created', 'com.nvidia.cudnn.version']) {
      assert.ok(!isProvenanceLabel(key), key);
    }
  });
});
