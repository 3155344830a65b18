import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { applyEdits, modify } from 'jsonc-parser';
import type { Engine } from '../../src/core/docker/engine';
import { applyPlan } from '../../src/core/scaffold/plan';
import { prepareScaffold } from '../../src/core/scaffold/prepare';
import type { ScaffoldOptions } from '../../src/core/scaffold/render';
import { requireEngine, requireImage, requireKind } from './harness';

const ROOT = path.resolve(__dirname, '../..');
const DEVCONTAINER = path.join(ROOT, 'node_modules', '.bin', 'devcontainer');
// The 20.10 client has BuildKit built in; the scaffold's RUN --mount=type=cache needs it (TEST-WORLD.md).
const DOCKER_PATH = fs.existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function devcontainer(args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      DEVCONTAINER,
      [...args, '--docker-path', DOCKER_PATH],
      { env: { ...process.env, DOCKER_BUILDKIT: '1' }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

function exec(dir: string, command: string): Promise<Result> {
  return devcontainer(['exec', '--workspace-folder', dir, 'bash', '-lc', command]);
}

interface PresetCase {
  options: ScaffoldOptions;
  standin: string;
  /** No PyPI here: the stand-in already has what the framework step would install. */
  clearFrameworkPip?: boolean;
  check: string;
  expect: RegExp;
}

const CASES: PresetCase[] = [
  {
    options: { preset: 'pytorch', variant: 'gpu' },
    standin: 'mlc-test/pytorch:bookworm',
    check: 'python3 -c "import torch; print(torch.__version__)"',
    expect: /^1\.13/m,
  },
  {
    options: { preset: 'tensorflow', variant: 'cpu' },
    standin: 'mlc-test/jupyter:bookworm',
    check: 'python3 -c "import numpy; print(numpy.__version__)"',
    expect: /^\d+\.\d+/m,
  },
  {
    options: { preset: 'scikit-hep' },
    standin: 'mlc-test/hep:bookworm',
    clearFrameworkPip: true,
    check: 'python3 -c "import h5py; print(h5py.__version__)"',
    expect: /^3\.\d+/m,
  },
  {
    options: { preset: 'atlas' },
    standin: 'mlc-test/atlas:bookworm',
    check: 'echo "release=$AnalysisBase_VERSION"; cat /usr/local/share/jupyter/kernels/analysisbase/kernel.json',
    expect: /release=25\.2\.30[\s\S]*release_setup\.sh/,
  },
];

/**
 * The presets ask for `--ulimit memlock=-1` (pinned memory for data loaders). A sandboxed engine without
 * CAP_SYS_RESOURCE refuses to raise the limit ("error setting rlimit type 8"); there, and only there, the test
 * lowers the request to the host's hard limit so the rest of the scaffold is still exercised.
 */
async function memlockThisHostAllows(): Promise<string | undefined> {
  const probe = await new Promise<string>((resolve) =>
    execFile(DOCKER_PATH, ['run', '--rm', '--ulimit', 'memlock=-1', 'mlc-test/debian:bookworm', 'true'], (e, _o, stderr) =>
      resolve(e ? stderr : ''),
    ),
  );
  if (!/rlimit type 8/.test(probe)) {
    return undefined;
  }
  const hardKb = await new Promise<string>((resolve) => execFile('bash', ['-c', 'ulimit -Hl'], (_e, out) => resolve(out.trim())));
  console.log(`      note: this engine cannot raise memlock (host hard limit ${hardKb} KB); devcontainer.json gets that limit here`);
  return hardKb === 'unlimited' ? undefined : `memlock=${Number(hardKb) * 1024}`;
}

describe('presets built and started by the official devcontainer CLI', function () {
  let engine: Engine;
  let memlock: string | undefined;
  const projects: string[] = [];

  before(async function () {
    engine = await requireEngine(this);
    await requireKind(
      this,
      engine,
      'docker',
      'BuildKit-only: the devcontainer CLI builds through BuildKit\'s /grpc session, which Podman answers 404 ("failed to dial gRPC: unable to upgrade to h2c")',
    );
    assert.ok(fs.existsSync(DEVCONTAINER), '@devcontainers/cli is not installed (npm ci)');
    memlock = await memlockThisHostAllows();
  });

  after(async () => {
    for (const dir of projects) {
      const containers = await new Promise<string>((resolve) =>
        execFile(DOCKER_PATH, ['ps', '-aq', '--filter', `label=devcontainer.local_folder=${dir}`], (_e, out) => resolve(out)),
      );
      for (const id of containers.split('\n').filter(Boolean)) {
        await new Promise((resolve) => execFile(DOCKER_PATH, ['rm', '-f', id], resolve));
      }
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const images = await new Promise<string>((resolve) =>
      execFile(DOCKER_PATH, ['images', '--format', '{{.Repository}}'], (_e, out) => resolve(out)),
    );
    const ours = images.split('\n').filter((r) => r.startsWith('vsc-mlc-preset-'));
    if (ours.length) {
      await new Promise((resolve) => execFile(DOCKER_PATH, ['rmi', '-f', ...ours], resolve));
    }
  });

  for (const c of CASES) {
    it(`${c.options.preset} (${c.options.variant ?? 'default'}): devcontainer up succeeds, the framework imports and jupyter is on PATH`, async function () {
      await requireImage(this, engine, c.standin);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mlc-preset-${c.options.preset}-`));
      projects.push(dir);
      fs.writeFileSync(path.join(dir, 'train.py'), 'print("training")\n');
      const { plan } = await prepareScaffold(dir, path.join(ROOT, 'templates'), { ...c.options, baseImage: c.standin }, false);
      await applyPlan(dir, plan);
      const file = path.join(dir, '.devcontainer', 'devcontainer.json');
      let text = fs.readFileSync(file, 'utf8');
      assert.ok(text.includes('"memlock=-1"'));
      if (c.clearFrameworkPip) {
        text = applyEdits(text, modify(text, ['build', 'args', 'FRAMEWORK_PIP'], '', {}));
      }
      if (memlock) {
        text = text.replace('"memlock=-1"', JSON.stringify(memlock));
      }
      fs.writeFileSync(file, text);

      const up = await devcontainer(['up', '--workspace-folder', dir]);
      const outcome = up.stdout.trim().split('\n').pop() ?? '';
      assert.equal(up.code, 0, `devcontainer up failed:\n${up.stderr.slice(-3000)}`);
      assert.match(outcome, /"outcome":"success"/);

      const check = await exec(dir, c.check);
      assert.equal(check.code, 0, check.stderr.slice(-2000));
      assert.match(check.stdout, c.expect);

      const jupyter = await exec(dir, 'command -v jupyter && jupyter server --version && id -un && ls /workspace');
      assert.equal(jupyter.code, 0, jupyter.stderr.slice(-2000));
      assert.match(jupyter.stdout, /\/jupyter\n/);
      assert.match(
        jupyter.stdout,
        new RegExp(`^${c.options.preset === 'atlas' ? 'atlas' : 'mlc'}$`, 'm'),
        'not running as the non-root user',
      );
      assert.match(jupyter.stdout, /train\.py/, 'the project was not copied into the image');
    });
  }
});
