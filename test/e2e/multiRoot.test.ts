import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Engine } from '../../src/core/docker/engine';
import { latestProjectImage } from '../../src/core/project';
import { requireEngine, requireImage, STANDIN_DEBIAN } from '../docker/harness';
import { gitAs } from '../helpers/git';
import type { Workbench } from './codeServer';
import { CodeServer } from './codeServer';

const ROOT = path.resolve(__dirname, '../..');
const VSIX = path.join(ROOT, 'dist', 'ml-containers.vsix');
const git = gitAs('Ada Physicist');

/** A committed project with its own devcontainer.json and Dockerfile; its image is named after the folder. */
function project(parent: string, name: string): string {
  const dir = path.join(parent, name);
  fs.mkdirSync(path.join(dir, '.devcontainer'), { recursive: true });
  fs.writeFileSync(
    path.join(dir, '.devcontainer', 'devcontainer.json'),
    `${JSON.stringify({ name, build: { dockerfile: 'Dockerfile', context: '..' } }, null, 2)}\n`,
  );
  fs.writeFileSync(path.join(dir, '.devcontainer', 'Dockerfile'), `FROM ${STANDIN_DEBIAN}\nRUN echo ${name} > /project\n`);
  fs.writeFileSync(path.join(dir, 'train.py'), `print("${name}")\n`);
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-qm', `${name}: first model`);
  return dir;
}

describe('a multi-root workspace in a real VS Code (code-server + Chromium)', function () {
  let engine: Engine;
  let home: string;
  let server: CodeServer;
  let vscode: Workbench;
  let alpha: string;
  let beta: string;
  const imageNames: string[] = [];

  before(async function () {
    engine = await requireEngine(this);
    await requireImage(this, engine, STANDIN_DEBIAN);
    assert.ok(fs.existsSync(VSIX), `${VSIX} is missing: npm run package first`);
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-e2e-multi-'));
    // Names of this run's own, so that no other suite's images show under these folders.
    const suffix = path
      .basename(home)
      .slice(-6)
      .toLowerCase()
      .replace(/[^a-z0-9]/g, 'x');
    alpha = project(home, `mr-alpha-${suffix}`);
    beta = project(home, `mr-beta-${suffix}`);
    for (const dir of [alpha, beta]) imageNames.push((await latestProjectImage(dir)).replace(/:latest$/, ''));
    const workspace = path.join(home, 'two.code-workspace');
    fs.writeFileSync(workspace, JSON.stringify({ folders: [{ path: path.basename(alpha) }, { path: path.basename(beta) }] }, null, 2));
    server = await CodeServer.start({
      home,
      vsix: VSIX,
      settings: {
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'extensions.ignoreRecommendations': true,
        'git.openRepositoryInParentFolders': 'never',
        'telemetry.telemetryLevel': 'off',
        'chat.disableAIFeatures': true,
      },
    });
    vscode = await server.openWorkspace(workspace, true);
    await vscode.widenSideBar(560);
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed')
      await vscode?.screenshot(`failed-multiroot-${this.currentTest.title.slice(0, 40).replace(/\W+/g, '-')}`);
  });

  after(async () => {
    await server?.close();
    if (engine) {
      for (const name of imageNames) {
        for (const image of await engine.listImages({ reference: name }))
          await engine.removeImage(image.id, { force: true }).catch(() => undefined);
      }
    }
    if (home) fs.rmSync(home, { recursive: true, force: true });
  });

  /** Opens a file of the workspace in an editor (Quick Open takes an absolute path). */
  async function openFile(file: string): Promise<void> {
    await vscode.page.keyboard.press('Control+P');
    const input = vscode.page.locator('.quick-input-widget .quick-input-box input');
    await input.waitFor({ state: 'visible' });
    await input.fill(file);
    await vscode.page
      .locator('.quick-input-widget .monaco-list-row', { hasText: path.basename(file) })
      .first()
      .waitFor({ timeout: 30_000 });
    await vscode.page.keyboard.press('Enter');
    await vscode.page.locator('.tab.active', { hasText: path.basename(file) }).waitFor({ timeout: 30_000 });
  }

  it("Build from the palette with the active editor in the first folder builds that folder's image, without asking which", async () => {
    await openFile(path.join(alpha, 'train.py'));
    await vscode.runCommand('ML Containers: Build Experiment Image');
    const sha7 = git(alpha, 'rev-parse', '--short=7', 'HEAD');
    await vscode.waitForNotification(new RegExp(`Built ${imageNames[0]}:${sha7}`), 300_000);
    const image = await engine.inspectImage(`${imageNames[0]}:${sha7}`);
    assert.equal(image?.labels['org.opencontainers.image.revision'], git(alpha, 'rev-parse', 'HEAD'));
  });

  it("Build on the second folder's Dockerfile (editor title) builds the second folder's image, and the status bar names it", async () => {
    await vscode.clearNotifications();
    await openFile(path.join(beta, '.devcontainer', 'Dockerfile'));
    await vscode.page.locator('.editor-actions .action-label[aria-label*="Build Experiment Image"]').first().click();
    const sha7 = git(beta, 'rev-parse', '--short=7', 'HEAD');
    await vscode.waitForNotification(new RegExp(`Built ${imageNames[1]}:${sha7}`), 300_000);
    const image = await engine.inspectImage(`${imageNames[1]}:${sha7}`);
    assert.ok(image, `${imageNames[1]}:${sha7} is not in the engine`);
    assert.equal(image.labels['org.opencontainers.image.revision'], git(beta, 'rev-parse', 'HEAD'));
    assert.equal(image.labels['org.mlcontainers.dockerfile.path'], '.devcontainer/Dockerfile');
    // The editor is in the second folder: the status bar speaks of its image.
    await vscode.statusBarItem(`custom · ${image.id.slice(7, 19)}`).waitFor({ timeout: 60_000 });
  });

  it("Experiment Images lists each folder's image under that folder", async () => {
    const view = await vscode.showExperimentImages();
    for (const name of imageNames) await view.locator('.monaco-list-row', { hasText: name }).first().waitFor({ timeout: 60_000 });
    // The rows in order with their depth: folder (1) → commit (2) → image (3).
    const rows = await view
      .locator('.monaco-list-row')
      .evaluateAll((els) => els.map((e) => [e.getAttribute('aria-level'), e.textContent ?? '']));
    const at = (text: string, level: string): number => rows.findIndex(([l, t]) => l === level && t.includes(text));
    const [alphaName, betaName] = [path.basename(alpha), path.basename(beta)];
    const alphaRow = at(alphaName, '1');
    const betaRow = at(betaName, '1');
    const alphaImage = at(`${imageNames[0]}:`, '3');
    const betaImage = at(`${imageNames[1]}:`, '3');
    assert.ok(alphaRow >= 0 && betaRow > alphaRow, `folder rows: ${JSON.stringify(rows)}`);
    assert.ok(alphaImage > alphaRow && alphaImage < betaRow, `${imageNames[0]} is not under ${alphaName}: ${JSON.stringify(rows)}`);
    assert.ok(betaImage > betaRow, `${imageNames[1]} is not under ${betaName}: ${JSON.stringify(rows)}`);
    await vscode.screenshot('multi-root');
  });
});
