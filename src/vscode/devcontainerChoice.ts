import * as path from 'node:path';
import * as vscode from 'vscode';
import { findDevcontainerConfigs } from '../core/project';

const STATE_KEY = 'mlContainers.devcontainerByFolder';

/**
 * Which devcontainer.json a folder's commands use when it has several: asked once with a QuickPick, then remembered
 * per folder in workspaceState (the Choose Dev Container Configuration command asks again).
 */
export class DevcontainerChoice {
  constructor(private readonly state: Pick<vscode.Memento, 'get' | 'update'>) {}

  /** The remembered configuration of folder while it still exists; never asks (status bar, view). */
  async remembered(folder: string): Promise<string | undefined> {
    const chosen = this.state.get<Record<string, string>>(STATE_KEY, {})[path.resolve(folder)];
    return chosen !== undefined && (await findDevcontainerConfigs(folder)).includes(chosen) ? chosen : undefined;
  }

  /**
   * What openProject needs for folder: no choice when it has one configuration or none, else the remembered one,
   * else the user's pick (remembered). Undefined when the user dismissed the picker.
   */
  async choose(folder: string, options: { ask?: boolean } = {}): Promise<{ devcontainer?: string } | undefined> {
    const candidates = await findDevcontainerConfigs(folder);
    if (candidates.length < 2) return {};
    const remembered = options.ask ? undefined : await this.remembered(folder);
    if (remembered) return { devcontainer: remembered };
    const picked = await vscode.window.showQuickPick(
      candidates.map((c) => ({ label: c })),
      {
        title: vscode.l10n.t('Dev container configuration for {0}', path.basename(folder)),
        placeHolder: vscode.l10n.t('This folder has several; the choice is remembered for it'),
      },
    );
    if (!picked) return undefined;
    await this.state.update(STATE_KEY, { ...this.state.get<Record<string, string>>(STATE_KEY, {}), [path.resolve(folder)]: picked.label });
    return { devcontainer: picked.label };
  }
}
