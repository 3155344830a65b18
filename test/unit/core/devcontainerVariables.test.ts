import * as assert from 'node:assert/strict';
import { substitute } from '../../../src/core/container/runtime';
import { UnresolvableVariableError, devcontainerId, substituteText, substituteVariables } from '../../../src/core/devcontainerVariables';

describe('substituteVariables (devcontainer.json variables)', () => {
  const context = {
    localWorkspaceFolder: '/home/ada/dimuon',
    containerWorkspaceFolder: '/workspace',
    configFile: '/home/ada/dimuon/.devcontainer/devcontainer.json',
    env: { HF_HOME: '/data/hf', EMPTY: '' },
  };

  it('replaces localEnv (with its default), env, and the local and container folders in every string, keys untouched', () => {
    const config = {
      name: '${localWorkspaceFolderBasename}-dev',
      containerEnv: {
        HF_HOME: '${localEnv:HF_HOME}',
        '${localEnv:HF_HOME}': 'key',
        MISSING: '${localEnv:NOPE}',
        DEFAULTED: '${localEnv:NOPE:fallback}',
        SET_EMPTY: '${localEnv:EMPTY:fallback}',
        ENV: '${env:HF_HOME}',
      },
      mounts: [
        'source=${localWorkspaceFolder}/data,target=${containerWorkspaceFolder}/data,type=bind',
        { target: '/x/${containerWorkspaceFolderBasename}' },
      ],
      runArgs: ['--shm-size=8g'],
      hostRequirements: { gpu: true, cpus: 4 },
    };
    assert.deepEqual(substituteVariables(config, context), {
      name: 'dimuon-dev',
      containerEnv: {
        HF_HOME: '/data/hf',
        '${localEnv:HF_HOME}': 'key',
        MISSING: '',
        DEFAULTED: 'fallback',
        SET_EMPTY: '',
        ENV: '/data/hf',
      },
      mounts: ['source=/home/ada/dimuon/data,target=/workspace/data,type=bind', { target: '/x/workspace' }],
      runArgs: ['--shm-size=8g'],
      hostRequirements: { gpu: true, cpus: 4 },
    });
  });

  it('leaves ${containerEnv:…} for the container and unknown variables as written', () => {
    const out = substituteVariables({ remoteEnv: { PATH: '${containerEnv:PATH}:/opt/bin', X: '${unknownThing}' } }, context);
    assert.deepEqual(out, { remoteEnv: { PATH: '${containerEnv:PATH}:/opt/bin', X: '${unknownThing}' } });
  });

  it('resolves a container folder written with local variables', () => {
    const out = substituteVariables(
      { a: '${containerWorkspaceFolder}', b: '${containerWorkspaceFolderBasename}' },
      { ...context, containerWorkspaceFolder: '/workspaces/${localWorkspaceFolderBasename}' },
    );
    assert.deepEqual(out, { a: '/workspaces/dimuon', b: 'dimuon' });
  });

  it('resolves ${devcontainerId}: 52 base-32 digits, the same for a folder and config, different for another config', () => {
    const out = substituteVariables({ volume: 'cache-${devcontainerId}' }, context);
    const id = devcontainerId(context.localWorkspaceFolder, context.configFile);
    assert.match(id, /^[0-9a-v]{52}$/);
    assert.equal(out.volume, `cache-${id}`);
    assert.notEqual(devcontainerId(context.localWorkspaceFolder, '/home/ada/dimuon/.devcontainer/gpu/devcontainer.json'), id);
  });

  it('a localEnv without a name is one sentence naming the file', () => {
    assert.throws(
      () => substituteVariables({ a: '${localEnv}' }, context),
      (e: unknown) =>
        e instanceof UnresolvableVariableError &&
        e.message === '${localEnv} in devcontainer.json names no environment variable: write ${localEnv:NAME} or ${localEnv:NAME:default}.',
    );
  });
});

describe('one substituter for the project and for what a container is given', () => {
  it('runtime settings substitute as the project is read: the same ${devcontainerId}, host values marked as such', () => {
    const configFile = '/home/ada/dimuon/.devcontainer/gpu/devcontainer.json';
    const ours = substitute('vol-${devcontainerId}', { workspace: '/home/ada/dimuon', hostEnv: {}, configFile });
    assert.deepEqual(ours, { value: `vol-${devcontainerId('/home/ada/dimuon', configFile)}`, fromHost: false });
    assert.deepEqual(substitute('${localEnv:TOKEN}@${containerWorkspaceFolder}', { workspace: '/w', hostEnv: { TOKEN: 't0k' } }), {
      value: 't0k@/workspace',
      fromHost: true,
    });
    assert.deepEqual(
      substituteText('${localWorkspaceFolderBasename}', {
        localWorkspaceFolder: '/w/dimuon',
        containerWorkspaceFolder: '/workspace',
        configFile,
        env: {},
      }),
      { value: 'dimuon', fromHost: false },
    );
  });
});
