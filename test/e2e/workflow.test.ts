import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Engine } from '../../src/core/docker/engine';
import { findJupyterServers } from '../../src/core/jupyter/server';
import { findModelServers } from '../../src/core/model/serve';
import { latestProjectImage } from '../../src/core/project';
import type { RunRecord } from '../../src/core/run/records';
import { readRuns } from '../../src/core/run/records';
import { requireEngine, requireImage } from '../docker/harness';
import { gitAs } from '../helpers/git';
import { requireSlurm } from '../helpers/slurm';
import type { Locator } from 'playwright-core';
import type { Workbench } from './codeServer';
import { CodeServer } from './codeServer';

/**
 * Expands a sweep's row under its (expanded) image and returns it: a sweep's points are listed under it, not
 * beside the image's other rows. The row is named "Sweep <id>"; an open one is left open.
 */
async function openSweep(view: Locator, sweepId: string | undefined, timeout = 60_000): Promise<Locator> {
  assert.ok(sweepId, 'the runs are not on record as points of a sweep');
  const row = view.locator('.monaco-list-row', { hasText: `Sweep ${sweepId}` }).first();
  await row.waitFor({ timeout });
  if ((await row.getAttribute('aria-expanded')) !== 'true') await row.click();
  // The pointer resting on the row opens its hover, which then takes the clicks meant for the rows below it.
  await view.page().mouse.move(1000, 850);
  await view
    .page()
    .locator('.context-view .hover-contents')
    .waitFor({ state: 'detached', timeout: 10_000 })
    .catch(() => undefined);
  return row;
}

/** The Compare Runs page's parallel-coordinates canvas, as its script leaves it: an axis each, a position per line. */
interface Chart {
  axes: { id: string; x: number; positions: (number | null)[] }[];
  scrollIntoView(o: { block: string }): void;
}

const ROOT = path.resolve(__dirname, '../..');
const VSIX = path.join(ROOT, 'dist', 'ml-containers.vsix');
const PYTORCH_STANDIN = 'mlc-test/pytorch:bookworm';
// The author the Images view shows beside each commit, in the screenshots too.
const git = gitAs('Ada Physicist');
/** code-server's extension host has this PATH: with sbatch on it, Run Experiment… offers Slurm. */
const sbatchOnPath = spawnSync('sh', ['-c', 'command -v sbatch'], { stdio: 'ignore' }).status === 0;

/** A small analysis repository, as a researcher would have before adding an environment. */
function fixtureRepo(parent: string, name: string): string {
  const dir = path.join(parent, name);
  fs.mkdirSync(path.join(dir, 'src'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'README.md'), '# Dimuon mass fit\n');
  fs.writeFileSync(path.join(dir, 'src', 'train.py'), 'import torch\n\nprint(torch.__version__)\n');
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-qm', 'Dimuon mass fit: first model');
  return dir;
}

/** The status of a GET without credentials. */
function httpGet(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
  });
}

function status(url: string, token: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(new URL('/api/status', url), { headers: token ? { Authorization: `token ${token}` } : {} }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
  });
}

describe('ML Containers in a real VS Code (code-server 4.100.3 + Chromium)', function () {
  let engine: Engine;
  let home: string;
  let server: CodeServer;
  let repo: string;
  /** Image repositories this suite built, removed afterwards. */
  const imageNames: string[] = [];

  before(async function () {
    engine = await requireEngine(this);
    await requireImage(this, engine, PYTORCH_STANDIN);
    assert.ok(fs.existsSync(VSIX), `${VSIX} is missing: npm run test:e2e packages it first`);
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'mlc-e2e-'));
    repo = fixtureRepo(home, 'dimuon-e2e');
    server = await CodeServer.start({
      home,
      vsix: VSIX,
      settings: {
        'workbench.colorTheme': 'Default Dark Modern',
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'extensions.ignoreRecommendations': true,
        'git.openRepositoryInParentFolders': 'never',
        'telemetry.telemetryLevel': 'off',
        'chat.disableAIFeatures': true,
        // No registry here: every build starts from the local stand-in, through the setting users point at a mirror.
        'mlContainers.build.args': { BASE_IMAGE: PYTORCH_STANDIN },
      },
    });
  });

  after(async () => {
    await server?.close();
    if (engine && home) {
      for (const s of await findJupyterServers(engine, { all: true })) {
        if (s.workspace.startsWith(home)) await engine.removeContainer(s.containerId, { force: true }).catch(() => undefined);
      }
      for (const s of await findModelServers(engine, {}).catch(() => [])) {
        if (imageNames.some((n) => s.imageRef.startsWith(`${n}:`)))
          await engine.removeContainer(s.containerId, { force: true }).catch(() => undefined);
      }
      for (const name of imageNames) {
        for (const image of await engine.listImages({ reference: name })) {
          await engine.removeImage(image.id, { force: true }).catch(() => undefined);
        }
      }
    }
    if (home) fs.rmSync(home, { recursive: true, force: true });
  });

  describe('a trusted folder: scaffold → build → sidebar → Jupyter', () => {
    let vscode: Workbench;
    let sha7: string;
    let name: string;

    before(async () => {
      vscode = await server.openFolder(repo, true);
      await vscode.widenSideBar(560);
    });

    afterEach(async function () {
      // What the window showed when a step failed: the first thing to look at in test-results/e2e/.
      if (this.currentTest?.state === 'failed')
        await vscode.screenshot(`failed-${this.currentTest.title.slice(0, 40).replace(/\W+/g, '-')}`);
    });

    it('scaffolds PyTorch (GPU) from the command palette, and the files appear', async () => {
      await vscode.runCommand('ML Containers: New ML Environment…');
      await vscode.answerQuickInput(/Preset/, 'PyTorch');
      await vscode.answerQuickInput(/GPU or CPU/, 'GPU');
      await vscode.answerQuickInput(/PyTorch version/);
      await vscode.answerQuickInput(/Port Jupyter listens on/);
      await vscode.answerQuickInput(/Extra pip packages/);
      await vscode.answerQuickInput(/Base image/);
      const written = await vscode.waitForNotification(
        /PyTorch 2\.14\.1 \(gpu\) on pytorch\/pytorch:\S+, CUDA 13\.0\. \d+ file\(s\) written/,
      );
      await written.getByRole('button', { name: 'Open devcontainer.json' }).click();
      await vscode.page.locator('.tab', { hasText: 'devcontainer.json' }).waitFor({ timeout: 30_000 });
      await vscode.page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'Dockerfile' }).first().waitFor({ timeout: 30_000 });
      for (const file of ['.devcontainer/devcontainer.json', '.devcontainer/Dockerfile', '.dockerignore', 'requirements.txt']) {
        assert.ok(fs.existsSync(path.join(repo, file)), `${file} was not written`);
      }
      assert.match(fs.readFileSync(path.join(repo, '.devcontainer/devcontainer.json'), 'utf8'), /"MLC_PRESET": "pytorch"/);
      name = (await latestProjectImage(repo)).replace(/:latest$/, '');
      imageNames.push(name);
      const folderRow = vscode.page.locator('.explorer-folders-view .monaco-list-row', { hasText: '.devcontainer' }).first();
      if ((await folderRow.getAttribute('aria-expanded')) !== 'true') await folderRow.click();
      await vscode.clearNotifications();
      await vscode.screenshot('scaffold');
    });

    it('builds the committed environment and shows the image under its commit in Experiment Images', async () => {
      git(repo, 'add', '-A');
      git(repo, 'commit', '-qm', 'Add a PyTorch environment');
      sha7 = git(repo, 'rev-parse', '--short=7', 'HEAD');
      assert.equal(git(repo, 'status', '--porcelain'), '', 'the fixture repo should be clean before the build');
      await vscode.runCommand('ML Containers: Build Experiment Image');
      await vscode.waitForNotification(new RegExp(`Built ${name}:${sha7}`), 480_000);
      const image = await engine.inspectImage(`${name}:${sha7}`);
      assert.ok(image, `${name}:${sha7} is not in the engine`);
      assert.equal(image.labels['org.opencontainers.image.revision']?.slice(0, 7), sha7);
      assert.equal(image.labels['org.mlcontainers.base'], PYTORCH_STANDIN, 'mlContainers.build.args did not reach the build');

      const view = await vscode.showExperimentImages();
      const commitRow = view.locator('.monaco-list-row', { hasText: 'Add a PyTorch environment' }).first();
      await commitRow.waitFor({ timeout: 30_000 });
      await view
        .locator('.monaco-list-row', { hasText: `${name}:${sha7}` })
        .first()
        .waitFor({ timeout: 30_000 });
      await vscode.clearNotifications();
      await vscode.screenshot('sidebar');
    });

    it('starts Jupyter in the image: token, 127.0.0.1 only, listed under the image with the status bar naming it', async () => {
      await vscode.runCommand('ML Containers: Start Jupyter');
      await vscode.waitForNotification(/Jupyter is running/, 180_000);
      const [jupyter] = (await findJupyterServers(engine, { workspace: repo })).filter((s) => s.running);
      assert.ok(jupyter?.baseUrl && jupyter.token, 'no running Jupyter container for the workspace');
      assert.match(jupyter.baseUrl, /^http:\/\/127\.0\.0\.1:\d+\/?$/);
      assert.equal(await status(jupyter.baseUrl, jupyter.token), 200);
      assert.equal(await status(jupyter.baseUrl, undefined), 403);

      const view = await vscode.showExperimentImages();
      const imageRow = view.locator('.monaco-list-row', { hasText: `${name}:${sha7}` }).first();
      if ((await imageRow.getAttribute('aria-expanded')) !== 'true') await imageRow.click();
      // The container's row: "Jupyter" and its loopback address (the token is never shown).
      const jupyterRow = view.locator('.monaco-list-row', { hasText: jupyter.baseUrl.replace(/\/$/, '') }).first();
      await jupyterRow.waitFor({ timeout: 30_000 });
      assert.match((await jupyterRow.textContent()) ?? '', /^Jupyter/);
      assert.doesNotMatch((await jupyterRow.textContent()) ?? '', new RegExp(jupyter.token));
      await vscode
        .statusBarItem(`pytorch · gpu · ${(await engine.inspectImage(`${name}:${sha7}`))?.id.slice(7, 19) ?? '?'}`)
        .waitFor({ timeout: 30_000 });
      await vscode.clearNotifications();
      await vscode.screenshot('jupyter');
    });

    it('Reopen in ML Container opens the image the build made, by id: no second build (without Dev Containers: Jupyter and a terminal in it)', async () => {
      const built = await engine.inspectImage(`${name}:${sha7}`);
      assert.ok(built);
      const imagesBefore = (await engine.listImages({ reference: name })).length;
      await vscode.runCommand('ML Containers: Reopen in ML Container');
      // code-server has no Dev Containers (Microsoft's marketplace only): the standalone path, naming the image.
      const offer = await vscode.waitForNotification(new RegExp(`Jupyter in ${name}:${sha7} \\(${built.id.slice(7, 19)}\\)`));
      await offer.getByRole('button', { name: 'Start Jupyter and a Terminal' }).click();
      try {
        // The terminal opens once Jupyter runs in the container (the one Start Jupyter made: same image, reused).
        await vscode.page.locator('.terminal-wrapper .xterm').first().waitFor({ timeout: 180_000 });
        const running = (await findJupyterServers(engine, { workspace: repo })).filter((s) => s.running);
        assert.deepEqual(
          running.map((s) => s.imageId),
          [built.id],
          'the container is not of the image the build made',
        );
        assert.equal((await engine.listImages({ reference: name })).length, imagesBefore, 'Reopen built another image');
      } finally {
        // A terminal left open comes back after the reload test's window reload, and takes the focus there.
        await vscode.runCommand('Terminal: Kill All Terminals');
        await vscode.clearNotifications();
      }
    });

    it('runs a two-point sweep from the palette: both runs recorded with their output, and listed under the image', async () => {
      fs.writeFileSync(path.join(repo, 'configs', 'sweep.yaml'), '# learning-rate sweep\nlr: [0.1, 0.01]\nepochs: 1\n');
      git(repo, 'add', '-A');
      git(repo, 'commit', '-qm', 'Sweep the learning rate');
      const head = git(repo, 'rev-parse', 'HEAD');
      await vscode.runCommand('ML Containers: Run Experiment…');
      await vscode.answerQuickInput(/Lists in the file become a sweep/, 'configs/sweep.yaml');
      // Where sbatch is on PATH (CI sets up Slurm), Run Experiment… asks where the runs go first.
      if (sbatchOnPath) await vscode.answerQuickInput(/Where the runs go/, 'This engine');
      await vscode.answerInputBox(/MLC_CONFIG/, `python3 -c "import os; print('seen', open(os.environ['MLC_CONFIG']).read().split()[4])"`);
      await vscode.waitForNotification(/Sweep: 2 of 2 runs succeeded/, 180_000);
      const { runs } = await readRuns(repo);
      assert.equal(runs.length, 2);
      const image = await engine.inspectImage(`${name}:${sha7}`);
      for (const run of runs) {
        assert.equal(run.image.id, image?.id, 'the run did not use the image built at its commit');
        assert.equal(run.commit, head);
        assert.equal(run.dirty, false);
        assert.equal(run.status, 'succeeded');
        assert.equal(fs.readFileSync(path.join(repo, run.log), 'utf8'), `seen ${String(run.params.lr)}\n`);
      }

      const view = await vscode.showExperimentImages();
      const imageRow = view.locator('.monaco-list-row', { hasText: `${name}:${sha7}` }).first();
      await imageRow.waitFor({ timeout: 30_000 });
      if ((await imageRow.getAttribute('aria-expanded')) !== 'true') await imageRow.click();
      // One row for the sweep under the image, with its counts; its two points under it.
      assert.equal(new Set(runs.map((r) => r.sweep?.id)).size, 1, 'the two points are not of one sweep');
      const sweepRow = await openSweep(view, runs[0]?.sweep?.id, 30_000);
      await sweepRow.filter({ hasText: /2 points · 2 ok/ }).waitFor({ timeout: 30_000 });
      for (const lr of ['lr=0.1', 'lr=0.01']) await view.locator('.monaco-list-row', { hasText: lr }).first().waitFor({ timeout: 30_000 });
      await vscode.clearNotifications();
      await vscode.screenshot('runs');
    });

    it('compares a sweep that writes metrics: headline metric on its rows, Compare Runs on the selection draws the chart', async () => {
      fs.writeFileSync(path.join(repo, 'configs', 'metrics.yaml'), 'lr: [0.1, 0.01]\nepochs: 8\n');
      git(repo, 'add', '-A');
      git(repo, 'commit', '-qm', 'Log the loss');
      // A training loop in one line: eight steps of a loss that falls faster with the larger rate, to metrics.jsonl.
      const train = [
        'import json, os',
        "lr = float(open(os.environ['MLC_CONFIG']).read().split('lr:')[1].split()[0])",
        "f = open(os.path.join(os.environ['MLC_RUN_DIR'], 'metrics.jsonl'), 'w')",
        "[f.write(json.dumps({'step': s, 'loss': 1 / (1 + 10 * lr * s), 'acc': 1 - 1 / (1 + 10 * lr * s)}) + chr(10)) for s in range(8)]",
        'f.close()',
      ].join('; ');
      await vscode.runCommand('ML Containers: Run Experiment…');
      await vscode.answerQuickInput(/Lists in the file become a sweep/, 'configs/metrics.yaml');
      // Where sbatch is on PATH (CI sets up Slurm), Run Experiment… asks where the runs go first.
      if (sbatchOnPath) await vscode.answerQuickInput(/Where the runs go/, 'This engine');
      await vscode.answerInputBox(/MLC_CONFIG/, `python3 -c "${train}"`);
      await vscode.waitForNotification(/Sweep: 2 of 2 runs succeeded/, 180_000);
      const runs = (await readRuns(repo)).runs.filter((r) => r.config.path === 'configs/metrics.yaml');
      assert.equal(runs.length, 2);
      for (const run of runs) assert.equal(run.metrics?.metrics.loss?.steps, 8, `run ${run.id} recorded no loss series`);

      const view = await vscode.showExperimentImages();
      const imageRow = view.locator('.monaco-list-row', { hasText: `${name}:${sha7}` }).first();
      if ((await imageRow.getAttribute('aria-expanded')) !== 'true') await imageRow.click();
      // The sweep's row names its best point at the headline metric; its points are under it.
      const sweepRow = await openSweep(view, runs[0]?.sweep?.id, 30_000);
      await sweepRow.filter({ hasText: /2 ok · best loss 0\.125 \(lr=0\.1\b/ }).waitFor({ timeout: 30_000 });
      // The headline metric (the first one written: loss) on each point's row: 1 / (1 + 10 · lr · 7). "ok · loss"
      // is a run's row; the sweep's says "best loss".
      const fast = view.locator('.monaco-list-row', { hasText: /ok · loss 0\.125/ }).first();
      const slow = view.locator('.monaco-list-row', { hasText: /ok · loss 0\.5882/ }).first();
      await fast.waitFor({ timeout: 30_000 });
      await slow.waitFor({ timeout: 30_000 });
      // The view redraws when the runs' containers go (engine events): a redraw closes an open context menu, and
      // Enter then lands on the tree. So the gesture starts once they are gone and the view has settled.
      for (
        let i = 0;
        i < 60 &&
        (await engine.listContainers({ labels: [`org.mlcontainers.workspace=${repo}`, 'org.mlcontainers.role=run'], all: true })).length;
        i++
      ) {
        await new Promise((r) => setTimeout(r, 500));
      }
      await new Promise((r) => setTimeout(r, 1_000));
      await fast.click();
      await slow.click({ modifiers: ['ControlOrMeta'] });
      await slow.click({ button: 'right' });
      // A hovered menu item takes the focus, and Enter runs it (a synthetic click on the item was ignored).
      await vscode.page
        .locator('.context-view .action-label', { hasText: /^Compare Runs$/ })
        .first()
        .hover();
      await vscode.page.keyboard.press('Enter');

      const page = vscode.page.frameLocator('iframe.webview.ready').frameLocator('iframe#active-frame');
      await page.locator('section.chart canvas').first().waitFor({ timeout: 60_000 });
      assert.equal(await page.locator('#runs-table tbody tr').count(), 2);
      // The best loss is the larger rate's, marked in its row.
      assert.match((await page.locator('#runs-table td.best').first().textContent()) ?? '', /^0\.125 ★$/);
      await vscode.clearNotifications();
      // The runs' terminal closed, so the picture shows the whole chart with its legend.
      await vscode.runCommand('View: Hide Panel');
      await vscode.screenshot('compare');

      // Compare Sweep on the sweep's own row opens the same panel with every point of the sweep, none selected.
      await vscode.runCommand('View: Close All Editors');
      await page.locator('section.chart canvas').first().waitFor({ state: 'detached', timeout: 30_000 });
      await vscode.showExperimentImages();
      await sweepRow.click({ button: 'right' });
      await vscode.page
        .locator('.context-view .action-label', { hasText: /^Compare Sweep$/ })
        .first()
        .hover();
      await vscode.page.keyboard.press('Enter');
      await page.locator('section.chart canvas').first().waitFor({ timeout: 60_000 });
      assert.equal(await page.locator('#runs-table tbody tr').count(), 2);
      assert.match((await page.locator('#runs-table td.best').first().textContent()) ?? '', /^0\.125 ★$/);
    });

    it('compares a 36-run grid (3 learning rates × 4 batch sizes × 3 seeds): 12 lines with the seeds grouped, a brush on lr filters the table', async () => {
      fs.writeFileSync(path.join(repo, 'configs', 'grid.yaml'), 'lr: [0.001, 0.01, 0.1]\nbatch: [16, 32, 64, 128]\nseed: [1, 2, 3]\n');
      git(repo, 'add', '-A');
      git(repo, 'commit', '-qm', 'A grid with seeds');
      // Eight steps of a loss that falls faster with the larger rate, a little higher with a larger batch or seed.
      const train = [
        'import json, os, re',
        "c = open(os.environ['MLC_CONFIG']).read()",
        "v = lambda k: float(re.search('^' + k + ':[ ]*([0-9.]+)', c, re.M).group(1))",
        "f = open(os.path.join(os.environ['MLC_RUN_DIR'], 'metrics.jsonl'), 'w')",
        "[f.write(json.dumps({'step': s, 'loss': 1 / (1 + 10 * v('lr') * s) + v('batch') / 1e4 + v('seed') / 1e3}) + chr(10)) for s in range(8)]",
        'f.close()',
      ].join('; ');
      await vscode.runCommand('ML Containers: Run Experiment…');
      await vscode.answerQuickInput(/Lists in the file become a sweep/, 'configs/grid.yaml');
      if (sbatchOnPath) await vscode.answerQuickInput(/Where the runs go/, 'This engine');
      await vscode.answerInputBox(/MLC_CONFIG/, `python3 -c "${train}"`);
      await vscode.waitForNotification(/Sweep: 36 of 36 runs succeeded/, 600_000);
      const runs = (await readRuns(repo)).runs.filter((r) => r.config.path === 'configs/grid.yaml');
      assert.equal(runs.length, 36);

      const view = await vscode.showExperimentImages();
      const imageRow = view.locator('.monaco-list-row', { hasText: `${name}:${sha7}` }).first();
      if ((await imageRow.getAttribute('aria-expanded')) !== 'true') await imageRow.click();
      const sweepRow = await openSweep(view, runs[0]?.sweep?.id, 30_000);
      await sweepRow.filter({ hasText: /36 points · 36 ok/ }).waitFor({ timeout: 30_000 });
      await vscode.runCommand('View: Close All Editors');
      await sweepRow.click({ button: 'right' });
      await vscode.page
        .locator('.context-view .action-label', { hasText: /^Compare Sweep$/ })
        .first()
        .hover();
      await vscode.page.keyboard.press('Enter');

      const page = vscode.page.frameLocator('iframe.webview.ready').frameLocator('iframe#active-frame');
      const parallel = page.locator('canvas#parallel');
      await parallel.waitFor({ timeout: 60_000 });
      // Seeds grouped (the default where the runs differ in `seed`): a line per setting, 3 × 4.
      assert.deepEqual(await parallel.evaluate((c: unknown) => (c as Chart).axes.map((a) => a.id)), [
        'param:lr',
        'param:batch',
        'metric:loss',
      ]);
      assert.equal(await parallel.evaluate((c: unknown) => (c as Chart).axes[0]!.positions.length), 12);
      assert.equal(await page.locator('#runs-table tbody tr:not(.spacer)').count(), 12, 'a row per seed group');

      // Brushing the top quarter of the lr axis keeps lr = 0.1: its 4 batch sizes × 3 seeds.
      await parallel.evaluate((c: unknown) => (c as Chart).scrollIntoView({ block: 'center' }));
      const box = (await parallel.boundingBox())!;
      const x = box.x + (await parallel.evaluate((c: unknown) => (c as Chart).axes.find((a) => a.id === 'param:lr')!.x));
      const top = box.y + 30;
      const bottom = box.y + 320 - 16;
      await vscode.page.mouse.move(x, top - 2);
      await vscode.page.mouse.down();
      await vscode.page.mouse.move(x, top + (bottom - top) / 4, { steps: 5 });
      await vscode.page.mouse.up();
      await page.locator('#shown-count', { hasText: /^12 \/ 36/ }).waitFor({ timeout: 10_000 });
      assert.equal(await page.locator('#runs-table tbody tr:not(.spacer)').count(), 4, 'the 4 groups of lr = 0.1');
      await vscode.clearNotifications();
      await vscode.runCommand('View: Hide Panel');
      await vscode.screenshot('compare-sweep');
    });

    it('runs outlive a window reload: the sweep goes on in the background, its rows come back running, then end ok', async () => {
      fs.writeFileSync(path.join(repo, 'configs', 'slow.yaml'), 'point: [1, 2]\n');
      git(repo, 'add', '-A');
      git(repo, 'commit', '-qm', 'A sweep that waits');
      const before = new Set((await readRuns(repo)).runs.map((r) => r.id));
      const slowRuns = async (): Promise<{ status: string; params: Record<string, unknown> }[]> =>
        (await readRuns(repo)).runs.filter((r) => !before.has(r.id));
      // Each point runs until the test releases it (a file in the project), so no step depends on how long a reload takes.
      const release = (point: number): void => fs.writeFileSync(path.join(repo, '.mlcontainers', `release-${point}`), '');
      await vscode.runCommand('ML Containers: Run Experiment…');
      await vscode.answerQuickInput(/Lists in the file become a sweep/, 'configs/slow.yaml');
      // Each point logs a metric, then waits: its headline (loss = 1/point) must survive the reload into its row.
      // Where sbatch is on PATH (CI sets up Slurm), Run Experiment… asks where the runs go first.
      if (sbatchOnPath) await vscode.answerQuickInput(/Where the runs go/, 'This engine');
      await vscode.answerInputBox(
        /MLC_CONFIG/,
        `python3 -c "import os, time; p = open(os.environ['MLC_CONFIG']).read().split()[1]; open(os.path.join(os.environ['MLC_RUN_DIR'], 'metrics.jsonl'), 'w').write('{\\"step\\": 0, \\"loss\\": %s}' % (1 / int(p)) + chr(10)); [time.sleep(0.2) for _ in range(3000) if not os.path.exists('.mlcontainers/release-' + p)]"`,
      );
      try {
        // The first point runs (one at a time on CPU); the window reloads under it.
        const deadline = Date.now() + 120_000;
        while (!(await slowRuns()).some((r) => r.status === 'running')) {
          assert.ok(Date.now() < deadline, 'the sweep did not start');
          await new Promise((r) => setTimeout(r, 500));
        }
        await vscode.runCommand('Developer: Reload Window');
        await vscode.page.waitForSelector('.monaco-workbench', { timeout: 120_000 });
        const running = await engine.listContainers({ labels: [`org.mlcontainers.workspace=${repo}`, 'org.mlcontainers.role=run'] });
        assert.equal(running.length, 1, 'the reload stopped the run');

        const view = await vscode.showExperimentImages();
        const imageRow = view.locator('.monaco-list-row', { hasText: `${name}:${sha7}` }).first();
        await imageRow.waitFor({ timeout: 60_000 });
        if ((await imageRow.getAttribute('aria-expanded')) !== 'true') await imageRow.click();
        await openSweep(view, (await readRuns(repo)).runs.find((r) => !before.has(r.id))?.sweep?.id);
        // A row's text is its label then its description, maybe with nothing between: "point=1running · 4.6s · just now".
        const row = (point: number, status: 'running' | 'ok'): Locator =>
          view.locator('.monaco-list-row', { hasText: new RegExp(`point=${point}\\s*${status} · `) }).first();
        await row(1, 'running').waitFor({ timeout: 60_000 });
        await vscode.screenshot('runs-after-reload');
        release(1);
        // The second point is started by the scheduler that outlived the window.
        await row(2, 'running').waitFor({ timeout: 120_000 });
        release(2);
        for (const point of [1, 2]) await row(point, 'ok').waitFor({ timeout: 120_000 });
        // Finished with their headline metric, as the view shows it after the reload.
        await view
          .locator('.monaco-list-row', { hasText: /point=1\s*ok · loss 1 · / })
          .first()
          .waitFor({ timeout: 30_000 });
        await view
          .locator('.monaco-list-row', { hasText: /point=2\s*ok · loss 0\.5 · / })
          .first()
          .waitFor({ timeout: 30_000 });
        assert.deepEqual(
          (await slowRuns()).map((r) => [r.params.point, r.status]),
          [
            [1, 'succeeded'],
            [2, 'succeeded'],
          ],
        );
        assert.deepEqual(
          await engine.listContainers({ labels: [`org.mlcontainers.workspace=${repo}`, 'org.mlcontainers.role=run'], all: true }),
          [],
          'a run container was left behind',
        );
      } finally {
        release(1);
        release(2);
      }
    });

    it('Save Model on a run row, Serve from its message: the status item shows the port and the URL, Stop Model removes the server', async () => {
      // One run (its row is named by its config) that writes its model, declared under outputs:, and the project's
      // predict.py, so that the model image serves by itself.
      fs.writeFileSync(path.join(repo, 'configs', 'model.yaml'), 'outputs: [model.pt]\nscale: 3\n');
      fs.writeFileSync(
        path.join(repo, 'predict.py'),
        [
          'import os',
          '',
          'def load(model_dir):',
          "    return float(open(os.path.join(model_dir, 'model.pt')).read())",
          '',
          'def predict(model, inputs):',
          "    return [x * model for x in inputs['x']]",
          '',
        ].join('\n'),
      );
      git(repo, 'add', '-A');
      git(repo, 'commit', '-qm', 'Save the model');
      await vscode.runCommand('ML Containers: Run Experiment…');
      await vscode.answerQuickInput(/Lists in the file become a sweep/, 'configs/model.yaml');
      if (sbatchOnPath) await vscode.answerQuickInput(/Where the runs go/, 'This engine');
      await vscode.answerInputBox(
        /MLC_CONFIG/,
        `python3 -c "import os; open(os.path.join(os.environ['MLC_RUN_DIR'], 'model.pt'), 'w').write('3')"`,
      );
      await vscode.waitForNotification(/Run \S+ succeeded/, 180_000);
      const run = (await readRuns(repo)).runs.find((r) => r.config.path === 'configs/model.yaml');
      assert.ok(run?.status === 'succeeded', 'the run that writes model.pt did not succeed');
      const modelName = 'dimuon-e2e-model';
      imageNames.push(modelName);
      await vscode.clearNotifications();

      const view = await vscode.showExperimentImages();
      const imageRow = view.locator('.monaco-list-row', { hasText: `${name}:${sha7}` }).first();
      if ((await imageRow.getAttribute('aria-expanded')) !== 'true') await imageRow.click();
      const runRow = view.locator('.monaco-list-row', { hasText: /configs\/model\.yaml\s*ok · / }).first();
      await runRow.waitFor({ timeout: 60_000 });
      // As for Compare Runs: once the run's container is gone the view has settled, and a redraw closes no menu.
      for (
        let i = 0;
        i < 60 &&
        (await engine.listContainers({ labels: [`org.mlcontainers.workspace=${repo}`, 'org.mlcontainers.role=run'], all: true })).length;
        i++
      ) {
        await new Promise((r) => setTimeout(r, 500));
      }
      await new Promise((r) => setTimeout(r, 1_000));
      await runRow.click({ button: 'right' });
      await vscode.page
        .locator('.context-view .action-label', { hasText: /^Save Model…$/ })
        .first()
        .hover();
      await vscode.page.keyboard.press('Enter');
      await vscode.answerInputBox(/tagged <name>:/, modelName);
      const saved = await vscode.waitForNotification(new RegExp(`Saved run ${run.id} as model ${modelName}:${run.id}`), 300_000);
      await saved.getByRole('button', { name: 'Serve' }).click();
      await vscode.waitForNotification(new RegExp(`Model ${modelName} is served at http://127\\.0\\.0\\.1:\\d+`), 180_000);

      const [served] = (await findModelServers(engine, {})).filter((s) => s.running && s.imageRef === `${modelName}:${run.id}`);
      assert.ok(served?.baseUrl && served.port && served.token, 'no running server of the saved model');
      assert.equal(await httpGet(`${served.baseUrl}/v2/health/ready`), 200);
      assert.equal(await httpGet(`${served.baseUrl}/v2/models/${modelName}`), 401, 'the model answered without its token');
      const item = vscode.statusBarItem(`${modelName} :${served.port}`);
      await item.waitFor({ timeout: 30_000 });
      await item.hover();
      const hover = vscode.page.locator('.workbench-hover-container', { hasText: served.baseUrl }).first();
      await hover.waitFor({ timeout: 30_000 });
      assert.doesNotMatch((await hover.textContent()) ?? '', new RegExp(served.token), 'the token is in the tooltip');
      await vscode.clearNotifications();
      await vscode.screenshot('serve');

      await item.click();
      await vscode.answerQuickInput(new RegExp(`${modelName} :${served.port}`), 'Stop Model');
      await vscode.waitForNotification(new RegExp(`Stopped model ${modelName}`), 60_000);
      await item.waitFor({ state: 'detached', timeout: 30_000 });
      assert.equal(await engine.inspectContainer(served.containerId), undefined, 'the server container is still there');
      await vscode.clearNotifications();
    });

    it('a Slurm sweep from Run Experiment… shows under its image pending or running, then ok, as its tasks record themselves', async function () {
      if (!sbatchOnPath) {
        console.log(
          '      skipped: sbatch is not on PATH, so Run Experiment… offers no Slurm (scripts/test-slurm.sh sets up a one-node cluster)',
        );
        this.skip();
      }
      requireSlurm(this);
      fs.writeFileSync(path.join(repo, 'configs', 'slurm.yaml'), 'slurm_point: [1, 2]\n');
      git(repo, 'add', '-A');
      git(repo, 'commit', '-qm', 'A sweep for the cluster');
      const before = new Set((await readRuns(repo)).runs.map((r) => r.id));
      const slurmRuns = async (): Promise<RunRecord[]> => (await readRuns(repo)).runs.filter((r) => !before.has(r.id));
      // Each task waits until the test releases it (a file in the project), so "running" is there to be seen.
      const release = (point: number): void => fs.writeFileSync(path.join(repo, '.mlcontainers', `release-slurm-${point}`), '');
      await vscode.runCommand('ML Containers: Run Experiment…');
      await vscode.answerQuickInput(/Lists in the file become a sweep/, 'configs/slurm.yaml');
      await vscode.answerQuickInput(/Where the runs go/, 'Slurm');
      await vscode.answerInputBox(
        /MLC_CONFIG/,
        `python3 -c "import os, time; p = open(os.environ['MLC_CONFIG']).read().split()[1]; [time.sleep(0.2) for _ in range(3000) if not os.path.exists('.mlcontainers/release-slurm-' + p)]; print('task', p)"`,
      );
      try {
        await vscode.waitForNotification(/Sweep \S+: 2 runs submitted to Slurm/, 120_000);
        const submitted = await slurmRuns();
        assert.equal(submitted.length, 2);
        assert.ok(
          submitted.every((r) => r.backend === 'slurm' && /^\d+_\d+$/.test(r.job?.id ?? '')),
          'both runs are on record as array tasks',
        );

        const view = await vscode.showExperimentImages();
        const imageRow = view.locator('.monaco-list-row', { hasText: `${name}:${sha7}` }).first();
        await imageRow.waitFor({ timeout: 60_000 });
        if ((await imageRow.getAttribute('aria-expanded')) !== 'true') await imageRow.click();
        await openSweep(view, submitted[0]?.sweep?.id);
        const row = (point: number, status: string): Locator =>
          view.locator('.monaco-list-row', { hasText: new RegExp(`slurm_point=${point}\\s*${status} · `) }).first();
        // Queued, or already started by the one-node cluster: either way open, and never ended before its release.
        for (const point of [1, 2]) await row(point, '(pending|running)').waitFor({ timeout: 60_000 });
        // The task's own start line (mlc slurm-task start) reaches the view without an engine event of the view's own.
        await row(1, 'running').waitFor({ timeout: 120_000 });
        await vscode.screenshot('runs-slurm');
        release(1);
        release(2);
        for (const point of [1, 2]) await row(point, 'ok').waitFor({ timeout: 180_000 });
        const ended = await slurmRuns();
        assert.deepEqual(
          ended.map((r) => [r.params.slurm_point, r.status, r.exitCode, r.job?.state]),
          [
            [1, 'succeeded', 0, 'COMPLETED'],
            [2, 'succeeded', 0, 'COMPLETED'],
          ],
        );
        for (const r of ended)
          assert.match(fs.readFileSync(path.join(repo, r.log), 'utf8'), new RegExp(`^task ${String(r.params.slurm_point)}$`, 'm'));
      } finally {
        release(1);
        release(2);
        const jobs = [
          ...new Set(
            (await slurmRuns())
              .filter((r) => r.status === 'running')
              .map((r) => r.job?.id.split('_')[0])
              .filter((j): j is string => Boolean(j)),
          ),
        ];
        if (jobs.length) spawnSync('scancel', jobs);
      }
    });
  });

  describe('an untrusted folder (Restricted Mode)', () => {
    it('Build Experiment Image refuses with the reason and offers Manage Workspace Trust; nothing is built', async () => {
      const untrusted = fixtureRepo(home, 'untrusted-e2e');
      fs.cpSync(path.join(repo, '.devcontainer'), path.join(untrusted, '.devcontainer'), { recursive: true });
      // Its own name, so that its image name is not the trusted workspace's (which this suite did build).
      const config = path.join(untrusted, '.devcontainer', 'devcontainer.json');
      fs.writeFileSync(config, fs.readFileSync(config, 'utf8').replace('"dimuon-e2e (PyTorch)"', '"untrusted-e2e (PyTorch)"'));
      const vscode = await server.openFolder(untrusted, false);
      await vscode.runCommand('ML Containers: Build Experiment Image');
      const toast = await vscode.waitForNotification(/builds nothing in Restricted Mode/);
      await toast.getByRole('button', { name: 'Manage Workspace Trust' }).waitFor();
      const view = await vscode.showExperimentImages();
      await view.getByText(/builds and runs nothing in Restricted Mode/).waitFor();
      await vscode.screenshot('restricted');
      const untrustedImage = (await latestProjectImage(untrusted)).replace(/:latest$/, '');
      assert.notEqual(untrustedImage, imageNames[0]);
      assert.deepEqual(await engine.listImages({ reference: untrustedImage }), []);
      await vscode.page.close();
    });
  });
});
