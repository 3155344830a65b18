import * as assert from 'node:assert/strict';
import { BuildFailedError } from '../../../src/core/build/buildExperiment';
import { BuildContextError } from '../../../src/core/docker/buildContext';
import { RegistryAuthError } from '../../../src/core/docker/registryAuth';
import { UserError } from '../../../src/core/errors';
import { K8sExportError } from '../../../src/core/export/kubernetes';
import { UncommittedImageError } from '../../../src/core/export/rules';
import { PushError } from '../../../src/core/push/push';
import { JupyterStartError } from '../../../src/core/jupyter/server';
import { RunError } from '../../../src/core/run/plan';
import { GpuUnavailableError } from '../../../src/core/container/gpu';
import { ConfigError } from '../../../src/core/run/sweep';
import { CatalogError } from '../../../src/core/scaffold/catalog';
import { InvalidJsoncError } from '../../../src/core/scaffold/mergeDevcontainer';
import { ScaffoldError } from '../../../src/core/scaffold/render';

describe('UserError', () => {
  it('is the base of every error whose message is the whole story, and each keeps its own name', () => {
    const errors: [Error, string][] = [
      [new ScaffoldError('m'), 'ScaffoldError'],
      [new CatalogError('m'), 'CatalogError'],
      [new InvalidJsoncError('devcontainer.json', 3, 3, 'CommaExpected'), 'InvalidJsoncError'],
      [new BuildFailedError('m', 'RUN pip install', []), 'BuildFailedError'],
      [new BuildContextError('m'), 'BuildContextError'],
      [new JupyterStartError('m'), 'JupyterStartError'],
      [new GpuUnavailableError('m'), 'GpuUnavailableError'],
      [new ConfigError('m'), 'ConfigError'],
      [new RunError('m'), 'RunError'],
      [new PushError('m', 'noName'), 'PushError'],
      [new RegistryAuthError('m'), 'RegistryAuthError'],
      [new K8sExportError('m'), 'K8sExportError'],
      [new UncommittedImageError('dimuon:3f2a1bc-dirty', '3f2a1bc'), 'UncommittedImageError'],
    ];
    for (const [e, name] of errors) {
      assert.ok(e instanceof UserError, `${name} extends UserError`);
      assert.equal(e.name, name);
    }
  });
});
