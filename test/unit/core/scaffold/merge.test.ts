import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InvalidJsoncError, mergeDevcontainer, parseJsonc } from '../../../../src/core/scaffold/mergeDevcontainer';
import { applyPlan, ScaffoldConflictError } from '../../../../src/core/scaffold/plan';
import { prepareScaffold } from '../../../../src/core/scaffold/prepare';

const TEMPLATES = path.resolve(__dirname, '../../../../templates');

const USER_CONFIG = `// Our lab's container — do not remove this header
{
  "name": "dimuon", // keep the name
  /* block comment about the image */
  "image": "python:3.11",
  "runArgs": ["--shm-size=16g"],
  "customizations": {
    "vscode": {
      // extensions we rely on
      "extensions": ["charliermarsh.ruff"]
    }
  },
  "mounts": ["source=/data,target=/data,type=bind"], // unknown to us: must survive
}
`;

function tempProject(files: Record<string, string> = {}): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-scaffold-'));
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), content);
  }
  return root;
}

describe('devcontainer.json merge', () => {
  it("keeps every comment, unknown key and the user's own values", () => {
    const merged = mergeDevcontainer(
      USER_CONFIG,
      {
        name: 'ours',
        build: { dockerfile: 'Dockerfile', context: '..', args: { BASE_IMAGE: 'pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime' } },
        runArgs: ['--shm-size=8g', '--ulimit', 'memlock=-1'],
        customizations: { vscode: { extensions: ['ms-python.python', 'ms-toolsai.jupyter'] } },
        forwardPorts: [8888],
      },
      'devcontainer.json',
    );
    for (const comment of [
      "// Our lab's container — do not remove this header",
      '// keep the name',
      '/* block comment about the image */',
      '// extensions we rely on',
      '// unknown to us: must survive',
    ]) {
      assert.ok(merged.includes(comment), `lost comment: ${comment}`);
    }
    const json = parseJsonc(merged, 'devcontainer.json');
    assert.equal(json.name, 'dimuon');
    assert.equal(json.image, undefined, 'image and build are alternatives: image must go');
    assert.deepEqual(json.mounts, ['source=/data,target=/data,type=bind']);
    assert.deepEqual(json.runArgs, ['--shm-size=16g', '--ulimit', 'memlock=-1'], 'their shm-size wins, our ulimit is added');
    assert.deepEqual((json.customizations as { vscode: { extensions: string[] } }).vscode.extensions, [
      'charliermarsh.ruff',
      'ms-python.python',
      'ms-toolsai.jupyter',
    ]);
    assert.deepEqual(json.forwardPorts, [8888]);
    assert.equal((json.build as { args: Record<string, string> }).args.BASE_IMAGE, 'pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime');
  });

  it('reports invalid JSONC with line and column', () => {
    const broken = '{\n  "name": "x",\n  "build": { "dockerfile": "Dockerfile" \n  "runArgs": []\n}\n';
    assert.throws(
      () => parseJsonc(broken, '.devcontainer/devcontainer.json'),
      (e: unknown) =>
        e instanceof InvalidJsoncError &&
        e.line === 4 &&
        /^\.devcontainer\/devcontainer\.json:4:\d+: CommaExpected\. .*nothing was written/.test(e.message),
    );
  });

  it('refuses to merge into a Docker Compose configuration', () => {
    assert.throws(() => mergeDevcontainer('{ "dockerComposeFile": "compose.yml" }', { build: {} }, 'x.json'), /dockerComposeFile/);
  });
});

describe('scaffold plan and writes', () => {
  it('creates every file in an empty project', async () => {
    const root = tempProject();
    const { plan } = await prepareScaffold(root, TEMPLATES, { preset: 'pytorch', variant: 'gpu' }, false);
    assert.deepEqual(plan.map((p) => `${p.action} ${p.path}`).sort(), [
      'create .devcontainer/Dockerfile',
      'create .devcontainer/devcontainer.json',
      'create .dockerignore',
      'create configs/experiment.yaml',
      'create predict.py',
      'create requirements.txt',
    ]);
    await applyPlan(root, plan);
    assert.ok(fs.existsSync(path.join(root, '.devcontainer', 'Dockerfile')));
    assert.deepEqual(
      fs.readdirSync(path.join(root, '.devcontainer')).sort(),
      ['Dockerfile', 'devcontainer.json'],
      'a temporary file was left behind',
    );
  });

  it('refuses an existing devcontainer.json unless merging, and then keeps its comments', async () => {
    const root = tempProject({ '.devcontainer/devcontainer.json': USER_CONFIG });
    await assert.rejects(prepareScaffold(root, TEMPLATES, { preset: 'pytorch' }, false), ScaffoldConflictError);
    const { plan } = await prepareScaffold(root, TEMPLATES, { preset: 'pytorch' }, true);
    await applyPlan(root, plan);
    const text = fs.readFileSync(path.join(root, '.devcontainer/devcontainer.json'), 'utf8');
    assert.ok(text.includes("// Our lab's container — do not remove this header"));
    assert.ok(text.includes('// unknown to us: must survive'));
    assert.equal((parseJsonc(text, 'x').build as { dockerfile: string }).dockerfile, 'Dockerfile');
  });

  it("never overwrites the user's Dockerfile: ours goes beside it and the config points there", async () => {
    const root = tempProject({ '.devcontainer/devcontainer.json': USER_CONFIG, '.devcontainer/Dockerfile': 'FROM ubuntu:24.04\n' });
    const { plan } = await prepareScaffold(root, TEMPLATES, { preset: 'pytorch' }, true);
    await applyPlan(root, plan);
    assert.equal(fs.readFileSync(path.join(root, '.devcontainer/Dockerfile'), 'utf8'), 'FROM ubuntu:24.04\n');
    assert.match(fs.readFileSync(path.join(root, '.devcontainer/ml.Dockerfile'), 'utf8'), /^ARG BASE_IMAGE=/m);
    const json = parseJsonc(fs.readFileSync(path.join(root, '.devcontainer/devcontainer.json'), 'utf8'), 'x');
    assert.equal((json.build as { dockerfile: string }).dockerfile, 'ml.Dockerfile');
  });

  it('writes a second configuration to .devcontainer/<preset>/ without touching the first', async () => {
    const root = tempProject({ '.devcontainer/devcontainer.json': USER_CONFIG });
    const { plan } = await prepareScaffold(root, TEMPLATES, { preset: 'scikit-hep', layout: 'subfolder' }, false);
    await applyPlan(root, plan);
    assert.equal(fs.readFileSync(path.join(root, '.devcontainer/devcontainer.json'), 'utf8'), USER_CONFIG);
    assert.ok(fs.existsSync(path.join(root, '.devcontainer/scikit-hep/devcontainer.json')));
  });

  it("appends missing entries to an existing .dockerignore and keeps the user's requirements and config", async () => {
    const root = tempProject({
      '.dockerignore': '# mine\ndata/\nsecrets.env',
      'requirements.txt': 'numpy==1.26.4\n',
      'configs/experiment.yaml': 'lr: 1\n',
    });
    const { plan } = await prepareScaffold(root, TEMPLATES, { preset: 'pytorch' }, false);
    assert.equal(plan.find((p) => p.path === '.dockerignore')?.action, 'modify');
    assert.equal(plan.find((p) => p.path === 'requirements.txt')?.action, 'keep');
    await applyPlan(root, plan);
    const ignore = fs.readFileSync(path.join(root, '.dockerignore'), 'utf8');
    assert.ok(ignore.startsWith('# mine\ndata/\nsecrets.env\n'));
    assert.equal(ignore.split('\n').filter((l) => l === 'data/').length, 1, 'data/ was added twice');
    assert.ok(ignore.includes('\n**/checkpoints/\n'));
    assert.equal(fs.readFileSync(path.join(root, 'requirements.txt'), 'utf8'), 'numpy==1.26.4\n');
    assert.equal(fs.readFileSync(path.join(root, 'configs/experiment.yaml'), 'utf8'), 'lr: 1\n');
  });

  it('writes nothing when one file cannot be written', async () => {
    const root = tempProject({ afile: 'in the way' });
    // requirements.txt is staged first; afile/x cannot be (afile is a file), so nothing may land.
    await assert.rejects(
      applyPlan(root, [
        { path: 'requirements.txt', action: 'create', content: 'x\n', note: '' },
        { path: 'afile/x', action: 'create', content: 'y', note: '' },
      ]),
    );
    assert.deepEqual(fs.readdirSync(root), ['afile'], 'a file or a temporary was left although the scaffold failed');
  });
});
