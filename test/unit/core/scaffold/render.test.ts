import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Catalog, Variant } from '../../../../src/core/scaffold/catalog';
import { variantsOf } from '../../../../src/core/scaffold/catalog';
import { parseJsonc } from '../../../../src/core/scaffold/mergeDevcontainer';
import type { RenderedFile, Templates } from '../../../../src/core/scaffold/render';
import { ScaffoldError, renderScaffold, resolveOptions } from '../../../../src/core/scaffold/render';
import { loadTemplates } from '../../../../src/core/scaffold/templateFiles';

const TEMPLATES = path.resolve(__dirname, '../../../../templates');
// At any depth (moby matches from the context root: `*.pt` alone misses outputs/run1/model.pt).
const REQUIRED_IGNORES = [
  'data/',
  'datasets/',
  '**/checkpoints/',
  '**/*.ckpt',
  '**/*.pt',
  '**/*.pth',
  '**/*.safetensors',
  '**/*.h5',
  '**/*.onnx',
  '**/*.root',
  '**/__pycache__',
  '**/.ipynb_checkpoints',
  '**/.pytest_cache',
  '**/.venv',
  '**/lightning_logs/',
  '**/outputs/',
  '**/runs/',
  '**/wandb/',
  '**/mlruns/',
  '**/dvclive/',
  '**/.mlcontainers/',
  '**/.env',
  '**/.env.*',
  '**/*.pem',
  '**/*.key',
  '**/id_rsa*',
  '**/.netrc',
  '**/.kaggle/',
  '**/.aws/',
  '**/.huggingface/',
  '.git',
];

function file(files: RenderedFile[], suffix: string): RenderedFile {
  const f = files.find((x) => x.path.endsWith(suffix));
  assert.ok(f, `no ${suffix} rendered`);
  return f;
}

/** Dockerfile instructions in order, continuation lines joined. */
function instructions(dockerfile: string): { op: string; args: string }[] {
  return dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => ({ op: l.split(/\s+/)[0] ?? '', args: l.slice((l.split(/\s+/)[0] ?? '').length).trim() }));
}

describe('preset rendering', () => {
  let catalog: Catalog;
  let templates: Templates;

  before(async () => {
    ({ catalog, templates } = await loadTemplates(TEMPLATES));
  });

  it('has the four presets with CUDA versions for every GPU base', () => {
    assert.deepEqual(
      catalog.presets.map((p) => p.id),
      ['pytorch', 'tensorflow', 'atlas', 'scikit-hep'],
    );
    for (const p of catalog.presets) {
      for (const v of p.versions) {
        if (v.gpu) assert.match(v.gpu.cuda ?? '', /^\d+\.\d+$/, `${p.id} ${v.version}`);
      }
    }
  });

  const cases: [string, Variant][] = [
    ['pytorch', 'gpu'],
    ['pytorch', 'cpu'],
    ['tensorflow', 'gpu'],
    ['tensorflow', 'cpu'],
    ['atlas', 'cpu'],
    ['scikit-hep', 'cpu'],
  ];
  for (const [preset, variant] of cases) {
    describe(`${preset} (${variant})`, () => {
      let files: RenderedFile[];
      before(() => {
        files = renderScaffold(templates, resolveOptions(catalog, { preset, variant }, 'my-analysis'));
      });

      it('writes a devcontainer.json that parses, builds the Dockerfile from the project root and forwards Jupyter', () => {
        const json = parseJsonc(file(files, 'devcontainer.json').content, 'devcontainer.json');
        const build = json.build as { dockerfile: string; context: string; args: Record<string, string> };
        assert.equal(build.dockerfile, 'Dockerfile');
        assert.equal(build.context, '..');
        assert.ok(build.args.BASE_IMAGE);
        assert.deepEqual(json.forwardPorts, [8888]);
        assert.deepEqual((json.portsAttributes as Record<string, { label: string }>)['8888']?.label, 'Jupyter');
        assert.deepEqual((json.customizations as { vscode: { extensions: string[] } }).vscode.extensions, [
          'ms-python.python',
          'ms-toolsai.jupyter',
        ]);
        const runArgs = json.runArgs as string[];
        assert.ok(runArgs.some((a) => a.startsWith('--shm-size=')));
        assert.ok(runArgs.join(' ').includes('--ulimit memlock=-1'));
        assert.ok(runArgs.join(' ').includes('--ulimit stack=67108864'));
        assert.equal((json.containerEnv as Record<string, string>).MLC_PRESET, preset);
        assert.match(String(json.postCreateCommand), /import /);
      });

      it(variant === 'gpu' ? 'asks for a GPU as optional' : 'asks for no GPU', () => {
        const json = parseJsonc(file(files, 'devcontainer.json').content, 'devcontainer.json');
        if (variant === 'gpu') {
          assert.deepEqual(json.hostRequirements, { gpu: 'optional' });
        } else {
          assert.equal(json.hostRequirements, undefined);
        }
      });

      it('orders the Dockerfile: ARG BASE_IMAGE, FROM, framework, Jupyter, requirements, then code, as a non-root user', () => {
        const ops = instructions(file(files, 'Dockerfile').content);
        assert.equal(ops[0]?.op, 'ARG');
        assert.match(ops[0]?.args ?? '', /^BASE_IMAGE=/);
        assert.deepEqual(ops[1], { op: 'FROM', args: '${BASE_IMAGE}' });
        const idx = (pred: (i: { op: string; args: string }) => boolean): number => ops.findIndex(pred);
        const framework = idx((i) => i.op === 'RUN' && i.args.includes('FRAMEWORK_PIP'));
        const jupyter = idx((i) => i.op === 'RUN' && i.args.includes('jupyter server --version'));
        const copyReq = idx((i) => i.op === 'COPY' && i.args.includes('requirements.txt'));
        const pipReq = idx((i) => i.op === 'RUN' && i.args.includes('-r /tmp/mlc/requirements.txt'));
        const copyCode = idx((i) => i.op === 'COPY' && /\. \/workspace$/.test(i.args));
        const user = ops.map((o) => o.op).lastIndexOf('USER');
        assert.ok(
          framework > 1 && framework < jupyter && jupyter < copyReq && copyReq < pipReq && pipReq < copyCode,
          ops.map((o) => o.op).join(','),
        );
        assert.ok(user > copyCode);
        assert.notEqual(ops[user]?.args, 'root');
        for (const i of ops.filter((o) => o.op === 'RUN' && /pip install/.test(o.args))) {
          assert.match(i.args, /--mount=type=cache,target=\/root\/\.cache\/pip/);
        }
      });

      it('has no # syntax= line and no secrets', () => {
        const dockerfile = file(files, 'Dockerfile').content;
        assert.doesNotMatch(dockerfile, /^#\s*syntax=/m);
        assert.doesNotMatch(dockerfile, /(PASSWORD|TOKEN|SECRET|API_KEY)/i);
      });

      it('keeps data, checkpoints and caches out of the build context', () => {
        const ignore = file(files, '.dockerignore');
        assert.equal(ignore.kind, 'appendLines');
        for (const entry of REQUIRED_IGNORES) assert.ok(ignore.kind === 'appendLines' && ignore.lines.includes(entry), entry);
      });

      it('writes requirements.txt and a YAML experiment config only when absent', () => {
        assert.equal(file(files, 'requirements.txt').kind, 'createOnly');
        const config = file(files, 'configs/experiment.yaml');
        assert.equal(config.kind, 'createOnly');
        assert.equal(typeof parseYaml(config.content), 'object');
      });
    });
  }

  it('puts GPU bases from the catalog, CUDA noted, and CPU PyTorch on slim Python with CPU wheels', () => {
    const gpu = resolveOptions(catalog, { preset: 'pytorch', variant: 'gpu' }, 'x');
    assert.match(gpu.baseImage, /^pytorch\/pytorch:[\d.]+-cuda[\d.]+-cudnn\d+-runtime$/);
    assert.equal(gpu.cuda, '13.0');
    const cpu = resolveOptions(catalog, { preset: 'pytorch', variant: 'cpu', python: '3.12' }, 'x');
    assert.equal(cpu.baseImage, 'python:3.12-slim');
    assert.match(cpu.frameworkIndexUrl, /whl\/cpu$/);
    assert.equal(
      resolveOptions(catalog, { preset: 'tensorflow', variant: 'gpu' }, 'x').baseImage,
      'tensorflow/tensorflow:2.21.0-gpu-jupyter',
    );
    assert.equal(resolveOptions(catalog, { preset: 'tensorflow', variant: 'cpu' }, 'x').baseImage, 'tensorflow/tensorflow:2.21.0-jupyter');
  });

  it('wires the AnalysisBase setup script into shells and the Jupyter kernel', () => {
    const files = renderScaffold(templates, resolveOptions(catalog, { preset: 'atlas' }, 'x'));
    const dockerfile = file(files, 'Dockerfile').content;
    assert.match(dockerfile, /source \/home\/atlas\/release_setup\.sh/);
    assert.match(dockerfile, /\/etc\/profile\.d\//);
    assert.match(dockerfile, /kernels\/analysisbase\/kernel\.json/);
    assert.match(dockerfile, /SHELL \["\/bin\/bash", "-l"/);
    const json = parseJsonc(file(files, 'devcontainer.json').content, 'devcontainer.json');
    assert.equal(json.userEnvProbe, 'loginInteractiveShell');
    assert.equal(json.remoteUser, 'atlas');
  });

  it('applies the base-image override, extra pip packages, port and subfolder layout', () => {
    const o = resolveOptions(
      catalog,
      {
        preset: 'pytorch',
        variant: 'gpu',
        baseImage: 'registry.local:5000/ml/torch:dev',
        extraPip: ['einops pandas==2.2.3'],
        jupyterPort: 9999,
        layout: 'subfolder',
      },
      'x',
    );
    const files = renderScaffold(templates, o);
    assert.ok(files.some((f) => f.path === '.devcontainer/pytorch/devcontainer.json'));
    const json = parseJsonc(file(files, 'devcontainer.json').content, 'devcontainer.json');
    const build = json.build as { context: string; args: Record<string, string> };
    assert.equal(build.context, '../..');
    assert.equal(build.args.BASE_IMAGE, 'registry.local:5000/ml/torch:dev');
    assert.equal(build.args.EXTRA_PIP_PACKAGES, 'einops pandas==2.2.3');
    assert.deepEqual(json.forwardPorts, [9999]);
  });

  it('escapes a name with quotes into valid JSON', () => {
    const files = renderScaffold(templates, resolveOptions(catalog, { preset: 'scikit-hep', name: 'Ada\'s "dimuon" study' }, 'x'));
    assert.equal(parseJsonc(file(files, 'devcontainer.json').content, 'x').name, 'Ada\'s "dimuon" study');
  });

  it('refuses bad input with a message that says what to use instead', () => {
    assert.throws(
      () => resolveOptions(catalog, { preset: 'jax' }, 'x'),
      /Unknown preset "jax"; choose one of: pytorch, tensorflow, atlas, scikit-hep/,
    );
    assert.throws(
      () => resolveOptions(catalog, { preset: 'atlas', variant: 'gpu' }, 'x'),
      (e: unknown) => e instanceof ScaffoldError && /no GPU variant; choose cpu/.test(e.message),
    );
    assert.throws(() => resolveOptions(catalog, { preset: 'pytorch', baseImage: 'Not An Image' }, 'x'), /not a valid image reference/);
    assert.throws(() => resolveOptions(catalog, { preset: 'pytorch', extraPip: ['torch; rm -rf /'] }, 'x'), /not a pip requirement/);
    assert.throws(() => resolveOptions(catalog, { preset: 'pytorch', jupyterPort: 70000 }, 'x'), /not a port number/);
    assert.throws(
      () => resolveOptions(catalog, { preset: 'pytorch', variant: 'gpu', python: '3.12' }, 'x'),
      /uses the Python of its base image/,
    );
    assert.throws(
      () => resolveOptions(catalog, { preset: 'pytorch', version: '0.4' }, 'x'),
      /not in the catalog; choose one of: 2\.14\.1, 2\.11\.0, 2\.5\.1/,
    );
  });

  it('offers gpu and cpu where the catalog has both', () => {
    assert.deepEqual(variantsOf(catalog.presets[0]!), ['gpu', 'cpu']);
    assert.deepEqual(variantsOf(catalog.presets[2]!), ['cpu']);
  });
});
