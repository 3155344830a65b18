import { runtimeSettings } from '../../src/core/container/runtime';
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Engine } from '../../src/core/docker/engine';
import { BASE_LABEL, DOCKERFILE_PATH_LABEL, REVISION_LABEL, TITLE_LABEL } from '../../src/core/labels';
import { openProject } from '../../src/core/project';
import { git } from '../helpers/git';
import { assertBuiltCli, mlc } from '../helpers/mlc';
import { STANDIN_DEBIAN, requireEngine, requireImage } from './harness';

const DEVCONTAINER = path.resolve(__dirname, '../../node_modules/.bin/devcontainer');

/** The official CLI's resolution of a folder's configuration (and an explicit --config). */
function readConfiguration(
  folder: string,
  env: NodeJS.ProcessEnv,
  config?: string,
): Promise<{ configuration: Record<string, unknown> & { configFilePath: { fsPath: string } } }> {
  const args = ['read-configuration', '--workspace-folder', folder, ...(config ? ['--config', path.join(folder, config)] : [])];
  return new Promise((resolve, reject) =>
    execFile(DEVCONTAINER, args, { env: { ...process.env, ...env } }, (error, stdout, stderr) =>
      error ? reject(new Error(`devcontainer ${args.join(' ')}: ${stderr}`)) : resolve(JSON.parse(stdout)),
    ),
  );
}

describe('devcontainer.json in the three places, image configs, and the official CLI as an oracle', function () {
  this.timeout(300_000);
  let engine: Engine;
  const dirs: string[] = [];
  const tags: string[] = [];
  const suffix = randomBytes(3).toString('hex');

  const project = (files: Record<string, string>): string => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-devcfg-'));
    dirs.push(dir);
    for (const [rel, content] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), content);
    }
    git(dir, 'init', '-q');
    git(dir, 'add', '.');
    git(dir, 'commit', '-qm', 'init');
    return dir;
  };

  before(async function () {
    engine = await requireEngine(this);
    await requireImage(this, engine, STANDIN_DEBIAN);
    assertBuiltCli();
    assert.ok(fs.existsSync(DEVCONTAINER), '@devcontainers/cli is not installed (npm ci)');
  });

  after(async () => {
    for (const tag of tags) await engine?.removeImage(tag).catch(() => undefined);
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('builds an image config (named through ${localEnv:…}) as a labelled layer FROM that image', async () => {
    const name = `mlc-devcfg-image-${suffix}`;
    const dir = project({ '.devcontainer.json': JSON.stringify({ name, image: '${localEnv:MLC_DEVCFG_BASE}' }) });
    const built = await mlc(['build', '--dir', dir, '--no-lock'], { env: { MLC_DEVCFG_BASE: STANDIN_DEBIAN } });
    assert.equal(built.code, 0, built.stderr);
    const [id, ...builtTags] = built.stdout.trim().split('\n');
    tags.push(...builtTags);
    const image = await engine.inspectImage(id ?? '');
    assert.ok(image, `${id} is not on the engine`);
    assert.equal(image.labels[REVISION_LABEL], git(dir, 'rev-parse', 'HEAD'));
    assert.equal(image.labels[BASE_LABEL], STANDIN_DEBIAN);
    assert.equal(image.labels[TITLE_LABEL], name);
    assert.equal(image.labels[DOCKERFILE_PATH_LABEL], '.devcontainer.json');
  });

  it('builds a .devcontainer/<name>/devcontainer.json chosen with --devcontainer, and names the candidates when none is chosen', async () => {
    const name = `mlc-devcfg-sub-${suffix}`;
    const dir = project({
      '.devcontainer/gpu/devcontainer.json': JSON.stringify({ name, build: { dockerfile: 'Dockerfile', context: '../..' } }),
      '.devcontainer/gpu/Dockerfile': `FROM ${STANDIN_DEBIAN}\nCOPY marker.txt /marker.txt\n`,
      '.devcontainer/cpu/devcontainer.json': JSON.stringify({ image: STANDIN_DEBIAN }),
      'marker.txt': 'gpu\n',
    });
    const refused = await mlc(['build', '--dir', dir, '--no-lock']);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /This folder has 2 dev container configurations \(\.devcontainer\/cpu\/devcontainer\.json, \.devcontainer\/gpu\/devcontainer\.json\): choose one with --devcontainer PATH\./,
    );
    const built = await mlc(['build', '--dir', dir, '--devcontainer', '.devcontainer/gpu/devcontainer.json', '--no-lock']);
    assert.equal(built.code, 0, built.stderr);
    const [id, ...builtTags] = built.stdout.trim().split('\n');
    tags.push(...builtTags);
    const image = await engine.inspectImage(id ?? '');
    assert.equal(image?.labels[REVISION_LABEL], git(dir, 'rev-parse', 'HEAD'));
    assert.equal(image?.labels[TITLE_LABEL], name);
    assert.equal(image?.labels[DOCKERFILE_PATH_LABEL], '.devcontainer/gpu/Dockerfile');
    assert.ok(builtTags.includes(`${name}:latest`), builtTags.join(', '));
  });

  it('agrees with `devcontainer read-configuration` on which file and on the substituted values', async () => {
    const config = (label: string) =>
      JSON.stringify({
        name: label,
        image: STANDIN_DEBIAN,
        // Where mlc's containers have the folder; the official CLI takes it from here.
        workspaceFolder: '/workspace',
        containerEnv: {
          HOME_DIR: '${localEnv:MLC_DEVCFG_VALUE}',
          DEFAULTED: '${localEnv:MLC_DEVCFG_UNSET:fallback}',
          UNSET: '${localEnv:MLC_DEVCFG_UNSET}',
          OLD: '${env:MLC_DEVCFG_VALUE}',
          LOCAL: '${localWorkspaceFolder}/data',
          BASENAME: '${localWorkspaceFolderBasename}',
          CONTAINER: '${containerWorkspaceFolder}/out',
          CONTAINER_BASENAME: '${containerWorkspaceFolderBasename}',
          LATER: '${containerEnv:PATH}',
        },
        mounts: ['source=${localWorkspaceFolder}/cache,target=${containerWorkspaceFolder}/.cache,type=bind'],
      });
    const env = { MLC_DEVCFG_VALUE: `value-${suffix}` };
    const both = project({
      '.devcontainer/devcontainer.json': config('default'),
      '.devcontainer.json': config('root'),
      '.devcontainer/sub/devcontainer.json': config('sub'),
    });
    const rootOnly = project({ '.devcontainer.json': config('root') });
    const cases: [string, string | undefined][] = [
      [both, undefined],
      [rootOnly, undefined],
      [both, '.devcontainer/sub/devcontainer.json'],
    ];
    for (const [dir, chosen] of cases) {
      const official = (await readConfiguration(dir, env, chosen)).configuration;
      const ours = await openProject(dir, { devcontainer: chosen, env: { ...process.env, ...env } });
      const { configFilePath, ...values } = official;
      assert.equal(ours.devcontainerPath, configFilePath.fsPath, `${dir} ${chosen ?? '(default)'}`);
      assert.deepEqual(ours.config, values, `${dir} ${chosen ?? '(default)'}`);
      // What a container is given goes through the same substituter, values from this machine's environment secret.
      const runtime = await runtimeSettings(ours.rawConfig, {
        workspace: dir,
        hostEnv: { ...process.env, ...env },
        configFile: ours.devcontainerPath,
      });
      const given = new Map(runtime.env.map((v) => [v.name, v]));
      assert.equal(given.get('LOCAL')?.value, (values.containerEnv as Record<string, string>).LOCAL);
      assert.equal(given.get('HOME_DIR')?.secret, true);
    }
  });

  it("gives a container the official CLI's ${devcontainerId} (read-configuration leaves it; `devcontainer up` resolves it)", async () => {
    const dir = project({
      '.devcontainer/sub/devcontainer.json': JSON.stringify({
        image: STANDIN_DEBIAN,
        workspaceFolder: '/workspace',
        containerEnv: { ID: 'vol-${devcontainerId}' },
      }),
    });
    const config = path.join(dir, '.devcontainer/sub/devcontainer.json');
    const up = await new Promise<string>((resolve, reject) =>
      execFile(DEVCONTAINER, ['up', '--workspace-folder', dir, '--config', config, '--skip-post-create'], (error, stdout, stderr) =>
        error ? reject(new Error(`devcontainer up: ${stderr}`)) : resolve(stdout),
      ),
    );
    const containerId = (JSON.parse(up.trim().split('\n').at(-1)!) as { containerId: string }).containerId;
    try {
      const official = (await engine.inspectContainer(containerId))?.env.find((e) => e.startsWith('ID='));
      const ours = await openProject(dir, { devcontainer: '.devcontainer/sub/devcontainer.json' });
      const runtime = await runtimeSettings(ours.rawConfig, { workspace: dir, hostEnv: process.env, configFile: ours.devcontainerPath });
      assert.match(official ?? '', /^ID=vol-[0-9a-v]{52}$/);
      assert.equal(`ID=${runtime.env.find((v) => v.name === 'ID')?.value}`, official);
    } finally {
      await engine.removeContainer(containerId, { force: true }).catch(() => undefined);
    }
  });
});
