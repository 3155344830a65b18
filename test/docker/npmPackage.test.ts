// `npm pack` → `npm install -g` puts a working mlc on PATH: the package ships the bundles (dist/ holds every runtime
// dependency) and the templates, and the install needs no registry (--offline), so it pulls nothing.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { assertBuiltCli } from '../helpers/mlc';

const ROOT = path.resolve(__dirname, '../..');

describe('the npm package (npm pack, then npm install -g --offline)', function () {
  let tmp: string;
  before(() => {
    assertBuiltCli();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-npm-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('installs an mlc that prints its version and scaffolds a project from the packaged templates', () => {
    const npm = (args: string[], cwd = ROOT): string =>
      execFileSync('npm', [...args, '--no-audit', '--no-fund'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const [packed] = JSON.parse(npm(['pack', '--json', '--pack-destination', tmp])) as { filename: string; files: { path: string }[] }[];
    const tarball = path.join(tmp, packed!.filename);
    const prefix = path.join(tmp, 'prefix');
    npm(['install', '-g', '--offline', '--prefix', prefix, tarball], tmp);

    const mlc = path.join(prefix, 'bin', 'mlc');
    const version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    // The executable runs the CLI's bundle from a code cache in the user's cache folder: written by the first run,
    // read by the next (src/cli/codeCache.ts; Node >= 22.1 keeps its own under node/).
    const env: NodeJS.ProcessEnv = { ...process.env, XDG_CACHE_HOME: path.join(tmp, 'cache') };
    delete env.NODE_DISABLE_COMPILE_CACHE;
    assert.equal(execFileSync(mlc, ['--version'], { encoding: 'utf8', env }).trim(), version);
    const cached = fs.readdirSync(path.join(tmp, 'cache', 'ml-containers', 'v8'));
    assert.ok(
      cached.some((f) => /^mlc\._\.[0-9a-f]{8}\.[0-9a-f]{32}\.bin$/.test(f) || f === 'node'),
      `no code cache: ${cached.join(', ')}`,
    );
    assert.equal(execFileSync(mlc, ['--version'], { encoding: 'utf8', env }).trim(), version);
    const installed = path.join(prefix, 'lib', 'node_modules', 'ml-containers');
    assert.ok(!fs.existsSync(path.join(installed, 'node_modules')), 'the install pulled dependencies the bundles already hold');

    const project = path.join(tmp, 'project');
    const out = execFileSync(mlc, ['init', '--preset', 'pytorch', '--variant', 'cpu', '--dir', project, '--json'], { encoding: 'utf8' });
    // devcontainer.json, Dockerfile, requirements.txt, configs/experiment.yaml, predict.py and .dockerignore.
    assert.equal((JSON.parse(out) as { written: number }).written, 6);
    assert.ok(fs.existsSync(path.join(project, '.devcontainer', 'Dockerfile')));
    assert.ok(fs.existsSync(path.join(project, 'predict.py')), "the packaged templates hold the presets' predict.py");
  });
});
