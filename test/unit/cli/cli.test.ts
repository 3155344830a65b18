import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mlcInProcess as run } from '../../helpers/cli';

function listFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

describe('mlc', () => {
  it('prints usage with exit 2 when no command is given, and names unknown commands', async () => {
    assert.equal((await run([])).code, 2);
    const unknown = await run(['frobnicate']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.err, /unknown command "frobnicate"/);
  });

  it('a UserError (here a build with no devcontainer.json) exits 1 with its message alone, no stack', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-usererror-'));
    try {
      const r = await run(['build', '--dir', dir]);
      assert.equal(r.code, 1);
      assert.equal(
        r.err,
        `mlc build: ${path.join('.devcontainer', 'devcontainer.json')} not found: run "New ML Environment" (mlc init) first.`,
      );
      assert.equal(r.out, '');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('init', () => {
    let dir: string;
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-init-'));
    });

    it('writes the same files as the VS Code command', async () => {
      const r = await run(['init', '--preset', 'pytorch', '--variant', 'cpu', '--python', '3.12', '--pip', 'einops', '--dir', dir]);
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(listFiles(dir), [
        '.devcontainer/Dockerfile',
        '.devcontainer/devcontainer.json',
        '.dockerignore',
        'configs/experiment.yaml',
        'predict.py',
        'requirements.txt',
      ]);
      assert.match(r.out, /PyTorch 2\.14\.1 \(cpu\) on python:3\.12-slim/);
      assert.match(fs.readFileSync(path.join(dir, '.devcontainer/devcontainer.json'), 'utf8'), /"EXTRA_PIP_PACKAGES": "einops"/);
    });

    it('without --yes refuses to touch an existing file and writes nothing', async () => {
      fs.writeFileSync(path.join(dir, '.dockerignore'), 'secrets/\n');
      const r = await run(['init', '--preset', 'tensorflow', '--dir', dir]);
      assert.equal(r.code, 2);
      assert.match(r.err, /would change existing \.dockerignore .*--yes/);
      assert.deepEqual(listFiles(dir), ['.dockerignore']);
      assert.equal(fs.readFileSync(path.join(dir, '.dockerignore'), 'utf8'), 'secrets/\n');
    });

    it('says how to merge or add a second configuration when devcontainer.json exists', async () => {
      fs.mkdirSync(path.join(dir, '.devcontainer'));
      fs.writeFileSync(path.join(dir, '.devcontainer/devcontainer.json'), '// mine\n{ "image": "python:3.11" }\n');
      const r = await run(['init', '--preset', 'atlas', '--dir', dir]);
      assert.equal(r.code, 2);
      assert.match(r.err, /already exists\. Re-run with --yes .* or --subfolder/);
      const merged = await run(['init', '--preset', 'atlas', '--dir', dir, '--yes']);
      assert.equal(merged.code, 0, merged.err);
      assert.match(fs.readFileSync(path.join(dir, '.devcontainer/devcontainer.json'), 'utf8'), /^\/\/ mine/);
    });

    it('reports malformed devcontainer.json with line:column and writes nothing', async () => {
      fs.mkdirSync(path.join(dir, '.devcontainer'));
      fs.writeFileSync(path.join(dir, '.devcontainer/devcontainer.json'), '{\n  "image": "x"\n  "name": "y"\n}\n');
      const r = await run(['init', '--preset', 'pytorch', '--dir', dir, '--yes']);
      assert.equal(r.code, 1);
      assert.match(r.err, /devcontainer\.json:3:3: CommaExpected/);
      assert.deepEqual(listFiles(dir), ['.devcontainer/devcontainer.json']);
    });

    it("describes an overridden base by the image, not the catalog's CUDA, and still writes when the engine is down", async () => {
      const mirror = 'registry.example.org/ml/pytorch:2.5.1';
      const r = await run([
        'init',
        '--preset',
        'pytorch',
        '--variant',
        'gpu',
        '--base-image',
        mirror,
        '--host',
        `unix://${path.join(dir, 'no-docker.sock')}`,
        '--dir',
        dir,
      ]);
      assert.equal(r.code, 0, r.err);
      const first = r.out.split('\n')[0];
      assert.equal(
        first,
        `PyTorch (gpu) on ${mirror} instead of the catalog's pytorch/pytorch:2.14.1-cuda13.0-cudnn9-runtime; framework: the image's own; CUDA: unknown — checked at first GPU run`,
      );
      const config = fs.readFileSync(path.join(dir, '.devcontainer/devcontainer.json'), 'utf8');
      assert.match(
        config,
        /\/\/ Chosen instead of the catalog's \S+; CUDA: unknown — checked at first GPU run\.\n\s*"BASE_IMAGE": "registry\.example\.org\/ml\/pytorch:2\.5\.1"/,
      );
      assert.doesNotMatch(`${r.out}\n${config}`, /CUDA 12\.4/);
    });

    it('rejects an invalid variant as a usage error', async () => {
      const r = await run(['init', '--preset', 'pytorch', '--variant', 'tpu', '--dir', dir]);
      assert.equal(r.code, 2);
      assert.match(r.err, /--variant must be gpu or cpu/);
    });
  });
});
