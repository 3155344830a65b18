import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AmbiguousDevcontainerError, findDevcontainerConfigs, latestProjectImage, openProject } from '../../../src/core/project';
import { InvalidJsoncError } from '../../../src/core/scaffold/mergeDevcontainer';
import { templatesDir } from '../../../src/core/scaffold/templateFiles';

describe('openProject', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-project-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const write = (rel: string, text: string): void => {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  };

  it('reads devcontainer.json (comments allowed), names the image after it, and loads the catalog from templates/', async () => {
    write(
      '.devcontainer/devcontainer.json',
      '{\n  // scaffolded\n  "name": "Dimuon Fit",\n  "build": { "dockerfile": "Dockerfile" },\n  "containerEnv": { "MLC_PRESET": "atlas" }\n}\n',
    );
    const project = await openProject(dir, { templatesDir: templatesDir() });
    assert.equal(project.folder, path.resolve(dir));
    assert.equal(project.devcontainerPath, path.join(dir, '.devcontainer', 'devcontainer.json'));
    assert.deepEqual(project.config, { name: 'Dimuon Fit', build: { dockerfile: 'Dockerfile' }, containerEnv: { MLC_PRESET: 'atlas' } });
    assert.equal(project.imageName, 'dimuon-fit');
    assert.equal(project.imageRef, 'dimuon-fit:latest');
    assert.equal(project.catalog?.presets.find((p) => p.id === 'atlas')?.setupScript, '/home/atlas/release_setup.sh');
    assert.equal(await latestProjectImage(dir), 'dimuon-fit:latest');
  });

  it('without devcontainer.json: no config, the image named after the folder; no catalog unless templates/ is given or readable', async () => {
    const folder = path.join(dir, 'My Analysis');
    fs.mkdirSync(folder);
    const project = await openProject(folder);
    assert.equal(project.config, undefined);
    assert.equal(project.imageRef, 'my-analysis:latest');
    assert.equal(project.catalog, undefined);
    assert.equal((await openProject(folder, { templatesDir: path.join(dir, 'missing') })).catalog, undefined);
  });

  it('reads another devcontainer.json when asked (a subfolder configuration)', async () => {
    write('.devcontainer/tensorflow/devcontainer.json', '{ "name": "tf" }');
    const project = await openProject(dir, { devcontainer: path.join('.devcontainer', 'tensorflow', 'devcontainer.json') });
    assert.equal(project.imageRef, 'tf:latest');
  });

  it('a malformed devcontainer.json fails whoever reads the config or the image, not whoever brought an image of their own', async () => {
    write('.devcontainer/devcontainer.json', '{\n  "image": "x"\n  "name": "y"\n}\n');
    const project = await openProject(dir, { templatesDir: templatesDir() });
    assert.ok(project.catalog, 'the catalog does not depend on the file');
    assert.throws(
      () => project.imageRef,
      (e: unknown) => e instanceof InvalidJsoncError && /devcontainer\.json:3:3/.test(e.message),
    );
    assert.throws(() => project.config, InvalidJsoncError);
    await assert.rejects(latestProjectImage(dir), InvalidJsoncError);
  });

  it('finds the three places the spec allows, fixed ones first, subfolders by name; ignores other files', async () => {
    write('.devcontainer/tf/devcontainer.json', '{}');
    write('.devcontainer/atlas/devcontainer.json', '{}');
    write('.devcontainer/notes/readme.md', '');
    write('.devcontainer.json', '{}');
    write('.devcontainer/devcontainer.json', '{}');
    assert.deepEqual(await findDevcontainerConfigs(dir), [
      '.devcontainer/devcontainer.json',
      '.devcontainer.json',
      '.devcontainer/atlas/devcontainer.json',
      '.devcontainer/tf/devcontainer.json',
    ]);
  });

  it('without a choice takes .devcontainer/devcontainer.json, else .devcontainer.json (as the official CLI), else the only subfolder one', async () => {
    write('.devcontainer/gpu/devcontainer.json', '{ "name": "gpu" }');
    assert.equal((await openProject(dir)).imageRef, 'gpu:latest');
    write('.devcontainer.json', '{ "name": "root file" }');
    assert.equal((await openProject(dir)).imageRef, 'root-file:latest');
    write('.devcontainer/devcontainer.json', '{ "name": "default" }');
    const project = await openProject(dir);
    assert.equal(project.imageRef, 'default:latest');
    assert.equal(project.devcontainerPath, path.join(dir, '.devcontainer', 'devcontainer.json'));
    assert.deepEqual(project.candidates, ['.devcontainer/devcontainer.json', '.devcontainer.json', '.devcontainer/gpu/devcontainer.json']);
    assert.equal((await openProject(dir, { devcontainer: '.devcontainer/gpu/devcontainer.json' })).imageRef, 'gpu:latest');
  });

  it('several subfolder configurations and none chosen: one sentence listing them, for whoever reads the config', async () => {
    write('.devcontainer/gpu/devcontainer.json', '{ "name": "gpu" }');
    write('.devcontainer/cpu/devcontainer.json', '{ "name": "cpu" }');
    const project = await openProject(dir);
    const sentence =
      'This folder has 2 dev container configurations (.devcontainer/cpu/devcontainer.json, .devcontainer/gpu/devcontainer.json): choose one with --devcontainer PATH.';
    assert.throws(
      () => project.config,
      (e: unknown) => e instanceof AmbiguousDevcontainerError && e.message === sentence,
    );
    assert.throws(() => project.devcontainerPath, AmbiguousDevcontainerError);
    await assert.rejects(latestProjectImage(dir), AmbiguousDevcontainerError);
    assert.equal(await latestProjectImage(dir, '.devcontainer/cpu/devcontainer.json'), 'cpu:latest');
  });

  it("substitutes the config's variables when it is loaded", async () => {
    write(
      '.devcontainer.json',
      '{ "name": "${localEnv:PROJECT_NAME:fallback}", "containerEnv": { "DATA": "${localWorkspaceFolder}/data", "IN": "${containerWorkspaceFolder}", "P": "${containerEnv:PATH}" } }',
    );
    const project = await openProject(dir, { env: { PROJECT_NAME: 'Dimuon' } });
    assert.equal(project.imageRef, 'dimuon:latest');
    assert.deepEqual(project.config?.containerEnv, { DATA: `${path.resolve(dir)}/data`, IN: '/workspace', P: '${containerEnv:PATH}' });
    assert.equal((await openProject(dir, { env: {} })).imageRef, 'fallback:latest');
  });
});
