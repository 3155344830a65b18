import * as vscode from 'vscode';
import type { ProjectStatus } from '../core/project';
import { projectStatus } from '../core/project';
import { isContainerRemote } from '../core/container/attach';
import type { Logger } from '../core/log';
import type { DevcontainerChoice } from './devcontainerChoice';
import type { EngineProvider } from './engineProvider';

export const STATUS_ACTIONS_COMMAND = 'mlContainers.statusBar.actions';

/**
 * "ML Container" in the status bar: the folder's preset and its latest image's id, or a call to scaffold one; a click
 * opens the action picker. It reads devcontainer.json and asks the engine one inspect, only after activation, only
 * in a trusted folder, and again when something it shows may have changed.
 */
export class MlStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('mlContainers.status', vscode.StatusBarAlignment.Left, 10);
  private generation = 0;

  constructor(
    private readonly engines: EngineProvider,
    private readonly folder: () => string | undefined,
    private readonly log: Logger,
    private readonly devcontainers?: Pick<DevcontainerChoice, 'remembered'>,
  ) {
    this.item.name = vscode.l10n.t('ML Container');
    this.item.command = STATUS_ACTIONS_COMMAND;
  }

  async update(): Promise<void> {
    const generation = ++this.generation;
    const folder = this.folder();
    if (!folder) {
      this.item.hide();
      return;
    }
    if (isContainerRemote(vscode.env.remoteName)) {
      this.item.text = `$(vm-active) ${vscode.l10n.t('In ML Container')}`;
      this.item.tooltip = vscode.l10n.t('This window runs inside a container; build and run from the window on your machine.');
      this.item.show();
      return;
    }
    let status: ProjectStatus | undefined;
    let engineNote: string | undefined;
    try {
      const engine = vscode.workspace.isTrusted ? this.engines.get() : undefined;
      status = await projectStatus(
        folder,
        engine &&
          (async (ref) => {
            try {
              return await engine.inspectImage(ref);
            } catch (e) {
              engineNote = e instanceof Error ? e.message : String(e);
              return undefined;
            }
          }),
        await this.devcontainers?.remembered(folder),
      );
    } catch (e) {
      this.log.warn(`status bar: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (generation !== this.generation) return;
    this.render(status, engineNote);
    this.item.show();
  }

  private render(status: ProjectStatus | undefined, engineNote: string | undefined): void {
    if (!status?.configured) {
      this.item.text = `$(vm) ${vscode.l10n.t('ML Container')}`;
      this.item.tooltip = status
        ? vscode.l10n.t('No ML environment in this folder yet: click to scaffold one.')
        : vscode.l10n.t('devcontainer.json could not be read, or the folder has several: see Show Logs.');
      return;
    }
    const preset = [status.preset, status.variant].filter(Boolean).join(' · ') || vscode.l10n.t('custom');
    const image = status.image;
    const short = image ? image.id.replace(/^sha256:/, '').slice(0, 12) : undefined;
    this.item.text = `$(vm) ${preset}${short ? ` · ${short}` : ''}`;
    const tooltip = new vscode.MarkdownString(undefined, true);
    tooltip.appendMarkdown(`**${vscode.l10n.t('ML Container')}** — ${preset}\n\n`);
    if (image) {
      tooltip.appendMarkdown(`${vscode.l10n.t('Image')}: \`${status.imageRef}\` (\`${short ?? ''}\`)\n\n`);
      if (image.revision)
        tooltip.appendMarkdown(
          `${vscode.l10n.t('Commit')}: \`${image.revision.slice(0, 12)}\`${image.dirty ? ` ${vscode.l10n.t('(with uncommitted changes)')}` : ''}\n\n`,
        );
    } else if (engineNote) {
      tooltip.appendMarkdown(`${vscode.l10n.t('Docker engine: {0}', engineNote)}\n\n`);
    } else if (vscode.workspace.isTrusted) {
      tooltip.appendMarkdown(`${vscode.l10n.t('No image built yet.')}\n\n`);
    } else {
      tooltip.appendMarkdown(`${vscode.l10n.t('Restricted Mode: ML Containers builds and runs nothing here.')}\n\n`);
    }
    tooltip.appendMarkdown(vscode.l10n.t('Click for actions.'));
    this.item.tooltip = tooltip;
  }

  dispose(): void {
    this.item.dispose();
  }
}
