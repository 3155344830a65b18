// Drives a real VS Code — code-server 4.100.3, the VS Code 1.100.3 workbench in a browser with a Node extension
// host — through Debian's Chromium, with our packaged .vsix installed. Used by test/e2e/*.test.ts.
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(__dirname, '../..');
const RESULTS_DIR = path.join(ROOT, 'test-results', 'e2e');
const CHROMIUM = process.env.MLC_CHROMIUM ?? '/usr/bin/chromium';

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface CodeServerOptions {
  /** Directory for the user-data and extensions directories. */
  home: string;
  /** User settings.json content. */
  settings: Record<string, unknown>;
  vsix: string;
}

/** One code-server process with our extension installed, and one Chromium to open windows on it. */
export class CodeServer {
  private constructor(
    private readonly process: ChildProcess,
    private readonly browser: Browser,
    readonly url: string,
    readonly log: () => string,
  ) {}

  static async start(o: CodeServerOptions): Promise<CodeServer> {
    // Installs code-server and Chromium when missing (CI starts from nothing); prints the executable.
    const bin = execFileSync('bash', [path.join(ROOT, 'scripts/test-code-server.sh')], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    }).trim();
    const extensions = path.join(o.home, 'extensions');
    const userData = path.join(o.home, 'user-data');
    fs.mkdirSync(path.join(userData, 'User'), { recursive: true });
    fs.writeFileSync(path.join(userData, 'User', 'settings.json'), JSON.stringify(o.settings, null, 2));
    execFileSync(bin, ['--extensions-dir', extensions, '--user-data-dir', userData, '--install-extension', o.vsix], { stdio: 'pipe' });
    const port = await freePort();
    const args = [
      '--auth',
      'none',
      '--bind-addr',
      `127.0.0.1:${port}`,
      '--extensions-dir',
      extensions,
      '--user-data-dir',
      userData,
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-getting-started-override',
    ];
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CS_DISABLE_FILE_DOWNLOADS: '1' } });
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 60_000;
    while (!/HTTP server listening/.test(output)) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`code-server did not start:\n${output}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    return new CodeServer(child, browser, url, () => output);
  }

  /** A VS Code window on folder; answers the Workspace Trust prompt as told. */
  async openFolder(folder: string, trust: boolean): Promise<Workbench> {
    return this.open(`folder=${encodeURIComponent(folder)}`, trust);
  }

  /** A VS Code window on a multi-root workspace (a .code-workspace file); answers the Workspace Trust prompt. */
  async openWorkspace(file: string, trust: boolean): Promise<Workbench> {
    return this.open(`workspace=${encodeURIComponent(file)}`, trust);
  }

  private async open(query: string, trust: boolean): Promise<Workbench> {
    const page = await this.browser.newPage({ viewport: { width: 1440, height: 900 } });
    page.setDefaultTimeout(60_000);
    await page.goto(`${this.url}/?${query}`);
    await page.waitForSelector('.monaco-workbench', { timeout: 120_000 });
    await page
      .getByRole('button', { name: trust ? 'Yes, I trust the authors' : "No, I don't trust the authors" })
      .click({ timeout: 60_000 });
    return new Workbench(page);
  }

  async close(): Promise<void> {
    await this.browser.close().catch(() => undefined);
    this.process.kill('SIGTERM');
    await new Promise((resolve) => (this.process.exitCode !== null ? resolve(undefined) : this.process.once('exit', resolve)));
  }
}

/** What a user does in one window: the command palette, quick inputs, notifications, views, screenshots. */
export class Workbench {
  constructor(readonly page: Page) {}

  /** F1, the command's title, Enter — as a user runs a command. */
  async runCommand(title: string): Promise<void> {
    // The palette lists the commands registered when its filter was typed, and does not add later ones: right
    // after a window (re)load, extensions' commands may come a moment after the workbench. So a palette that lacks
    // the command is closed and opened again, for up to 30 s, as a user would retype.
    const deadline = Date.now() + 30_000;
    for (;;) {
      await this.page.keyboard.press('F1');
      const input = this.page.locator('.quick-input-widget .quick-input-box input');
      await input.waitFor({ state: 'visible' });
      await input.fill(`>${title}`);
      // Click the row rather than press Enter: until the filter settles, the focused row can still be the most
      // recently used command (an earlier run pressed Enter on "Start Jupyter" a second time that way).
      const row = this.page.locator('.quick-input-widget .monaco-list-row', { hasText: title }).first();
      try {
        await row.waitFor({ timeout: Math.max(1_000, Math.min(5_000, deadline - Date.now())) });
      } catch (e) {
        if (Date.now() >= deadline) throw e;
        await this.page.keyboard.press('Escape');
        continue;
      }
      await row.click();
      return;
    }
  }

  /** The quick input now showing, once its placeholder or prompt (the step's question) contains `question`. */
  async answerQuickInput(question: RegExp, answer?: string): Promise<void> {
    const widget = this.page.locator('.quick-input-widget');
    await widget.waitFor({ state: 'visible', timeout: 60_000 });
    const input = widget.locator('.quick-input-box input');
    // Runs in the page: the step's question is the input's placeholder, or an InputBox's prompt under it.
    const probe = `(() => {
      const el = document.querySelector('.quick-input-widget .quick-input-box input');
      const prompt = document.querySelector('.quick-input-widget .quick-input-message')?.textContent ?? '';
      return !!el && new RegExp(${JSON.stringify(question.source)}, ${JSON.stringify(question.flags)}).test(el.placeholder + ' ' + (el.getAttribute('aria-label') ?? '') + ' ' + prompt);
    })()`;
    await this.page.waitForFunction(probe, undefined, { timeout: 30_000 });
    if (answer !== undefined) {
      await input.fill(answer);
      await widget.locator('.monaco-list-row', { hasText: answer }).first().waitFor({ timeout: 10_000 });
    }
    await this.page.keyboard.press('Enter');
  }

  /** Types into the InputBox now showing, once its prompt contains `question`, and accepts. */
  async answerInputBox(question: RegExp, text: string): Promise<void> {
    const widget = this.page.locator('.quick-input-widget');
    await widget.waitFor({ state: 'visible', timeout: 60_000 });
    await widget.locator('.quick-input-message', { hasText: question }).waitFor({ timeout: 30_000 });
    await widget.locator('.quick-input-box input').fill(text);
    await this.page.keyboard.press('Enter');
  }

  /** A notification toast whose message matches. */
  notification(text: RegExp): Locator {
    return this.page
      .locator('.notification-toast', { has: this.page.locator('.notification-list-item-message', { hasText: text }) })
      .first();
  }

  async waitForNotification(text: RegExp, timeoutMs = 60_000): Promise<Locator> {
    const toast = this.notification(text);
    await toast.waitFor({ state: 'visible', timeout: timeoutMs });
    return toast;
  }

  /** Clears every toast, so the next screenshot shows what it is about. */
  async clearNotifications(): Promise<void> {
    await this.runCommand('Notifications: Clear All Notifications');
  }

  /** Opens the ML Containers activity-bar container. */
  async showExperimentImages(): Promise<Locator> {
    await this.runCommand('ML Containers: Focus on Experiment Images View');
    const view = this.page.locator('.pane', { has: this.page.locator('.pane-header', { hasText: /Experiment Images/i }) });
    await view.waitFor({ state: 'visible', timeout: 30_000 });
    return view;
  }

  /** Drags the side bar's edge out to `width` pixels, so that tree rows show their descriptions in screenshots. */
  async widenSideBar(width: number): Promise<void> {
    const box = await this.page.locator('.part.sidebar').boundingBox();
    if (!box || box.width >= width) return;
    const y = box.y + box.height / 2;
    await this.page.mouse.move(box.x + box.width - 1, y);
    await this.page.mouse.down();
    await this.page.mouse.move(box.x + width, y, { steps: 5 });
    await this.page.mouse.up();
  }

  statusBarItem(text: string | RegExp): Locator {
    return this.page.locator('.part.statusbar .statusbar-item', { hasText: text }).first();
  }

  async screenshot(name: string): Promise<string> {
    fs.mkdirSync(RESULTS_DIR, { recursive: true });
    const file = path.join(RESULTS_DIR, `${name}.png`);
    // The pointer onto empty editor space, so that no hover tooltip covers the picture.
    await this.page.mouse.move(1000, 850);
    await this.page
      .locator('.workbench-hover-container')
      .first()
      .waitFor({ state: 'hidden', timeout: 5_000 })
      .catch(() => undefined);
    await this.page.screenshot({ path: file });
    // Only the pictures the README shows: every PNG in media/screenshots ships in the .vsix, within its 1 MB budget.
    const shown = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8').includes(`media/screenshots/${name}.png`);
    if (process.env.MLC_UPDATE_SCREENSHOTS === '1' && shown) {
      // README images come from this test: `MLC_UPDATE_SCREENSHOTS=1 npm run test:e2e`. They ship in the .vsix
      // (its 1 MB budget), so they go in as palette PNGs: a third of the size, text as sharp.
      const media = path.join(ROOT, 'media', 'screenshots');
      fs.mkdirSync(media, { recursive: true });
      try {
        execFileSync('pngquant', ['--quality=60-85', '--speed', '1', '--strip', '--force', '-o', path.join(media, `${name}.png`), file]);
      } catch (e) {
        throw new Error(
          `pngquant could not shrink ${name}.png for the README (apt-get install pngquant): ${e instanceof Error ? e.message : String(e)}`,
          { cause: e },
        );
      }
    }
    return file;
  }
}
