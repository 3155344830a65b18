import * as assert from 'node:assert/strict';
import { checkBuildArgs, parseBuildArgList } from '../../../../src/core/build/buildArgs';

describe('build arg overrides (mlc build --build-arg, mlContainers.build.args)', () => {
  it('parses NAME=VALUE like docker build, keeping "=" inside values and empty values', () => {
    assert.deepEqual(parseBuildArgList(['BASE_IMAGE=mirror.example.org/pytorch:2.5', 'X=a=b', 'EMPTY=']), {
      BASE_IMAGE: 'mirror.example.org/pytorch:2.5',
      X: 'a=b',
      EMPTY: '',
    });
  });

  it('refuses entries without a value or with a name the Dockerfile ARG syntax cannot hold', () => {
    assert.throws(() => parseBuildArgList(['BASE_IMAGE']), /expected NAME=VALUE/);
    assert.throws(() => parseBuildArgList(['1X=y']), /expected NAME=VALUE/);
  });

  it('checks the settings object where it enters', () => {
    assert.deepEqual(checkBuildArgs(undefined), {});
    assert.deepEqual(checkBuildArgs({ BASE_IMAGE: 'mlc-test/pytorch:bookworm' }), { BASE_IMAGE: 'mlc-test/pytorch:bookworm' });
    assert.throws(() => checkBuildArgs(['BASE_IMAGE=x']), /object of NAME/);
    assert.throws(() => checkBuildArgs({ BASE_IMAGE: 3 }), /BASE_IMAGE must be a string/);
    assert.throws(() => checkBuildArgs({ 'bad name': 'x' }), /not a build arg name/);
  });
});
