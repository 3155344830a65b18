import * as assert from 'node:assert/strict';
import { apptainerBuildCommand, apptainerDefinition } from '../../src/core/export/apptainer';

const labels = {
  'org.opencontainers.image.revision': '3f2a1bc9d0e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8',
  'org.opencontainers.image.source': 'https://example.org/lab/dimuon.git',
  'org.mlcontainers.preset': 'atlas',
  'org.mlcontainers.dirty': 'false',
  'org.mlcontainers.config.path': 'configs/exp\nwith newline.yaml',
  maintainer: 'someone else',
};

describe('Apptainer definition files (mlc export apptainer)', () => {
  it('bootstraps from the local engine by default, carrying our and the OCI labels (not others)', () => {
    const def = apptainerDefinition({ imageRef: 'dimuon:3f2a1bc', source: { kind: 'docker-daemon' }, labels });
    const lines = def.split('\n');
    assert.deepEqual(lines.slice(0, 2), ['Bootstrap: docker-daemon', 'From: dimuon:3f2a1bc']);
    assert.ok(lines.includes('    org.opencontainers.image.revision 3f2a1bc9d0e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8'));
    assert.ok(lines.includes('    org.mlcontainers.preset atlas'));
    assert.ok(lines.includes('    org.mlcontainers.config.path configs/exp with newline.yaml'), 'a newline in a label value would end the %labels entry');
    assert.ok(!def.includes('maintainer'));
    assert.match(def, /%help\n {4}Experiment image dimuon:3f2a1bc from commit 3f2a1bc9d0e4, exported by ML Containers\.\n {4}GPUs: apptainer exec --nv/);
    assert.ok(!def.includes('%environment'), 'no setup script, no %environment');
    assert.ok(!def.includes('%runscript'), "the image's ENTRYPOINT/CMD stay the runscript");
  });

  it('bootstraps from a docker save archive when asked, and says when the image was dirty', () => {
    const def = apptainerDefinition({ imageRef: 'dimuon:3f2a1bc-dirty', source: { kind: 'docker-archive', archive: '/scratch/dimuon.tar' }, labels: { ...labels, 'org.mlcontainers.dirty': 'true' } });
    assert.match(def, /^Bootstrap: docker-archive\nFrom: \/scratch\/dimuon\.tar\n/);
    assert.match(def, /from commit 3f2a1bc9d0e4 with uncommitted changes/);
  });

  it('sources the HEP release setup in %environment (POSIX sh, quoted, silent if absent)', () => {
    const def = apptainerDefinition({ imageRef: 'ana:1', source: { kind: 'docker-daemon' }, labels: {}, setupScript: "/home/atlas/release_setup.sh" });
    assert.match(def, /%environment\n.*\n {4}if \[ -f '\/home\/atlas\/release_setup\.sh' \]; then \. '\/home\/atlas\/release_setup\.sh' >\/dev\/null 2>&1 \|\| true; fi\n/);
    assert.ok(!def.includes('%labels'), 'no labels, no empty %labels section');
    assert.ok(!/\bsource\b/.test(def.split('%environment')[1] ?? ''), '%environment runs under /bin/sh: `.` not `source`');
  });

  it('builds the .sif with apptainer build SIF DEF', () => {
    assert.deepEqual(apptainerBuildCommand('singularity', 'a.def', 'a.sif'), ['singularity', 'build', 'a.sif', 'a.def']);
  });
});
