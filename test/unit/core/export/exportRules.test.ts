import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { UserError } from '../../../../src/core/errors';
import {
  UncommittedImageError,
  apptainerDefFileName,
  assertCommitted,
  configMismatchNote,
  presetSetupScript,
} from '../../../../src/core/export/rules';
import type { Catalog } from '../../../../src/core/scaffold/catalog';

const SHA = '3f2a1bc9d0e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8';
const CONFIG = 'lr: 0.001\n';
const labels = {
  'org.opencontainers.image.revision': SHA,
  'org.mlcontainers.dirty': 'false',
  'org.mlcontainers.config.path': 'configs/experiment.yaml',
  'org.mlcontainers.config.sha256': createHash('sha256').update(CONFIG).digest('hex'),
};

describe('export rules', () => {
  it('refuses an image built from uncommitted changes, naming its commit, unless dirty images are allowed', () => {
    const dirty = { ...labels, 'org.mlcontainers.dirty': 'true' };
    assert.doesNotThrow(() => assertCommitted('dimuon:3f2a1bc', labels, false));
    assert.doesNotThrow(() => assertCommitted('dimuon:3f2a1bc-dirty', dirty, true));
    assert.throws(
      () => assertCommitted('dimuon:3f2a1bc-dirty', dirty, false),
      (e: unknown) =>
        e instanceof UncommittedImageError &&
        e instanceof UserError &&
        /^dimuon:3f2a1bc-dirty was built from uncommitted changes, so its commit 3f2a1bc .*--allow-dirty\.$/.test(e.message),
    );
  });

  it('notes a config that is not the one the image was built with, and only then', () => {
    assert.equal(configMismatchNote('dimuon:3f2a1bc', 'exp.yaml', CONFIG, labels), undefined);
    assert.equal(
      configMismatchNote('dimuon:3f2a1bc', 'other.yaml', 'lr: 0.1\n', labels),
      'note: other.yaml is not the config dimuon:3f2a1bc was built with (configs/experiment.yaml); the job gets other.yaml.',
    );
    assert.equal(
      configMismatchNote('dimuon:3f2a1bc', 'other.yaml', 'lr: 0.1\n', { 'org.mlcontainers.dirty': 'false' }),
      undefined,
      'built without a config: nothing to compare',
    );
  });

  it("finds the setup script of the image's preset in the catalog", () => {
    const catalog = { presets: [{ id: 'atlas', setupScript: '/home/atlas/release_setup.sh' }, { id: 'pytorch' }] } as unknown as Catalog;
    assert.equal(presetSetupScript({ 'org.mlcontainers.preset': 'atlas' }, catalog), '/home/atlas/release_setup.sh');
    assert.equal(presetSetupScript({ 'org.mlcontainers.preset': 'pytorch' }, catalog), undefined);
    assert.equal(presetSetupScript({}, catalog), undefined);
    assert.equal(presetSetupScript({ 'org.mlcontainers.preset': 'atlas' }, undefined), undefined);
  });

  it('names the .def after the last part of the reference, tag or digest included', () => {
    assert.equal(apptainerDefFileName('dimuon:3f2a1bc'), 'dimuon_3f2a1bc.def');
    assert.equal(apptainerDefFileName('localhost:5000/lab/dimuon:paper-v1'), 'dimuon_paper-v1.def');
    assert.equal(apptainerDefFileName(`ghcr.io/lab/dimuon@sha256:${'ab'.repeat(4)}`), 'dimuon_sha256_abababab.def');
  });
});
