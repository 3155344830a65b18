import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Variant } from '../../../../src/core/scaffold/catalog';
import { applyPlan } from '../../../../src/core/scaffold/plan';
import { prepareScaffold } from '../../../../src/core/scaffold/prepare';

const TEMPLATES = path.resolve(__dirname, '../../../../templates');
const SERVE = path.join(TEMPLATES, 'model', 'serve.py');
const PRESETS: [string, Variant][] = [
  ['pytorch', 'gpu'],
  ['pytorch', 'cpu'],
  ['tensorflow', 'gpu'],
  ['tensorflow', 'cpu'],
  ['atlas', 'cpu'],
  ['scikit-hep', 'cpu'],
];

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-predict-scaffold-'));
}

async function scaffold(preset: string, variant: Variant, files: Record<string, string> = {}): Promise<string> {
  const root = tempDir();
  for (const [rel, content] of Object.entries(files)) fs.writeFileSync(path.join(root, rel), content);
  const { plan } = await prepareScaffold(root, TEMPLATES, { preset, variant }, false);
  await applyPlan(root, plan);
  return root;
}

function python(args: string[], cwd?: string): { status: number | null; out: string } {
  const r = spawnSync('python3', args, { encoding: 'utf8', cwd, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}` };
}

const hasPython = python(['--version']).status === 0;

/**
 * Runs `body` (Python) with serve.py's Model, as the server uses it: import the scaffolded predict.py, load(model_dir),
 * then infer on a V2 request body. Prints one JSON line.
 */
function throughServer(root: string, modelDir: string, body: string): { status: number | null; out: string } {
  const script = `
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("mlc_serve", ${JSON.stringify(SERVE)})
serve = importlib.util.module_from_spec(spec)
spec.loader.exec_module(serve)
model = serve.Model(${JSON.stringify(path.join(root, 'predict.py'))}, ${JSON.stringify(modelDir)}, "m")
${body}
`;
  return python(['-c', script], root);
}

describe("presets' predict.py", () => {
  for (const [preset, variant] of PRESETS) {
    it(`${preset} (${variant}) scaffolds its own predict.py at the project root, with load(model_dir) and predict(model, inputs)`, async () => {
      const root = await scaffold(preset, variant);
      const text = fs.readFileSync(path.join(root, 'predict.py'), 'utf8');
      assert.equal(text, fs.readFileSync(path.join(TEMPLATES, preset, 'predict.py'), 'utf8'));
      assert.match(text, /^def load\(model_dir\):$/m);
      assert.match(text, /^def predict\(model, inputs\):$/m);
      assert.match(text, /^"""What `mlc serve` and `mlc predict` call/);
    });
  }

  it('keeps a predict.py the project already has, byte for byte', async () => {
    const mine = 'def load(model_dir):\n    return 1\n\n\ndef predict(model, inputs):\n    return model\n';
    const root = tempDir();
    fs.writeFileSync(path.join(root, 'predict.py'), mine);
    const { plan } = await prepareScaffold(root, TEMPLATES, { preset: 'tensorflow' }, false);
    assert.deepEqual(
      plan.find((p) => p.path === 'predict.py'),
      { path: 'predict.py', action: 'keep', note: 'yours, kept as it is' },
    );
    await applyPlan(root, plan);
    assert.equal(fs.readFileSync(path.join(root, 'predict.py'), 'utf8'), mine);
  });

  describe('as Python (python3 on this machine)', function () {
    // Each test starts python3 a few times, slow on a busy 2-core machine.
    this.timeout(60_000);
    before(function () {
      if (!hasPython) {
        console.log('      skipped: no python3 on PATH to compile and run the scaffolded predict.py');
        this.skip();
      }
    });

    for (const preset of ['pytorch', 'tensorflow', 'atlas', 'scikit-hep']) {
      it(`${preset}'s predict.py compiles`, async () => {
        const root = await scaffold(preset, 'cpu');
        const r = python(['-m', 'py_compile', path.join(root, 'predict.py')]);
        assert.equal(r.status, 0, r.out);
      });
    }

    // Standard library only: these run here without any framework.
    for (const preset of ['scikit-hep', 'atlas']) {
      it(`${preset}'s predict.py serves a pickled model with a predict method, and says what to write for one without`, async () => {
        const root = await scaffold(preset, 'cpu');
        const modelDir = tempDir();
        // The class lives in a module beside predict.py, as a project's own code would: pickle imports it by name.
        fs.writeFileSync(
          path.join(root, 'cuts.py'),
          'class Cut:\n    def predict(self, rows):\n        return [int(sum(r) > 1.0) for r in rows]\n\nclass NoPredict:\n    pass\n',
        );
        const dump = (cls: string, file: string): void => {
          const r = python(['-c', `import pickle, cuts; pickle.dump(cuts.${cls}(), open(${JSON.stringify(file)}, "wb"))`], root);
          assert.equal(r.status, 0, r.out);
        };
        dump('Cut', path.join(modelDir, 'model.pkl'));
        const request = '{"inputs": [{"name": "features", "shape": [3, 2], "datatype": "FP32", "data": [0.1, 0.2, 0.9, 0.5, 2, 0]}]}';
        const ok = throughServer(root, modelDir, `model.load()\nprint(json.dumps(model.infer(json.loads('${request}'))["outputs"]))`);
        assert.equal(ok.status, 0, ok.out);
        assert.deepEqual(JSON.parse(ok.out.trim().split('\n').at(-1) ?? ''), [
          { name: 'output', shape: [3], datatype: 'INT64', data: [0, 1, 1] },
        ]);

        dump('NoPredict', path.join(modelDir, 'model.pkl'));
        const bad = throughServer(root, modelDir, `model.load()\nmodel.infer(json.loads('${request}'))`);
        assert.notEqual(bad.status, 0);
        assert.match(bad.out, /NotImplementedError: write predict\(\) in predict\.py: the NoPredict in model\.pkl has no predict method/);

        const empty = throughServer(root, tempDir(), 'model.load()');
        assert.match(empty.out, /FileNotFoundError: no model\.pkl in .*: save it from the run with pickle\.dump/);
      });
    }

    describe('PyTorch, when python3 here imports torch', function () {
      before(function () {
        if (python(['-c', 'import torch']).status !== 0) {
          console.log('      skipped: python3 here cannot import torch (the stand-in images have it)');
          this.skip();
        }
      });

      it("serves the quickstart's kind of model.pt as it is, and the same numbers as the network in process", async () => {
        const root = await scaffold('pytorch', 'cpu');
        const modelDir = tempDir();
        // What templates/examples/pytorch-digits/train.py saves: the state_dict of Linear(64, h), ReLU, Linear(h, 10).
        const r = throughServer(
          root,
          modelDir,
          `import os, torch
from torch import nn
torch.manual_seed(0)
net = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
torch.save(net.state_dict(), os.path.join(${JSON.stringify(modelDir)}, "model.pt"))
model.load()
x = [[float((i * 7 + j) % 17) for j in range(64)] for i in range(5)]
answer = model.infer({"inputs": [{"name": "pixels", "shape": [5, 64], "datatype": "FP32", "data": x}]})["outputs"][0]
with torch.no_grad():
    expected = net(torch.tensor(x)).flatten().tolist()
print(json.dumps({"shape": answer["shape"], "close": max(abs(a - b) for a, b in zip(answer["data"], expected)) < 1e-5}))`,
        );
        assert.equal(r.status, 0, r.out);
        assert.deepEqual(JSON.parse(r.out.trim().split('\n').at(-1) ?? ''), { shape: [5, 10], close: true });
      });

      it('names build_model() when the weights are of a network it cannot rebuild', async () => {
        const root = await scaffold('pytorch', 'cpu');
        const modelDir = tempDir();
        const r = throughServer(
          root,
          modelDir,
          `import os, torch
from torch import nn
torch.save(nn.Conv2d(1, 4, 3).state_dict(), os.path.join(${JSON.stringify(modelDir)}, "model.pt"))
model.load()`,
        );
        assert.notEqual(r.status, 0);
        assert.match(
          r.out,
          /NotImplementedError: write build_model\(\) in predict\.py to return the network model\.pt's weights belong to/,
        );
      });
    });
  });
});
