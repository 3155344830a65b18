import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { latestProjectImage, openProject } from '../../src/core/project';
import { InvalidJsoncError } from '../../src/core/scaffold/mergeDevcontainer';
import { templatesDir } from '../../src/core/scaffold/templateFiles';

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
    write('.devcontainer/devcontainer.json', '{\n  // scaffolded\n  "name": "Dimuon Fit",\n  "build": { "dockerfile": "Dockerfile" },\n  "containerEnv": { "MLC_PRESET": "atlas" }\n}\n');
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
    assert.throws(() => project.imageRef, (e: unknown) => e instanceof InvalidJsoncError && /devcontainer\.json:3:3/.test(e.message));
    assert.throws(() => project.config, InvalidJsoncError);
    await assert.rejects(latestProjectImage(dir), InvalidJsoncError);
  });
});
