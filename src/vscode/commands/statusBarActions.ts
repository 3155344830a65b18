import * as vscode from 'vscode';
import { isContainerRemote } from '../../core/container/attach';
import type { Services } from '../services';

interface Action extends vscode.QuickPickItem {
  command: string;
  args?: unknown[];
}

/** The status bar item's click: what one does with an ML container, in the order one does it. */
export async function statusBarActionsCommand(_services: Services): Promise<void> {
  const inContainer = isContainerRemote(vscode.env.remoteName);
  const host: Action[] = [
    { label: `$(remote) ${vscode.l10n.t('Reopen in ML Container')}`, command: 'mlContainers.reopen' },
    { label: `$(package) ${vscode.l10n.t('Build Experiment Image')}`, command: 'mlContainers.images.build' },
    { label: `$(notebook) ${vscode.l10n.t('Start Jupyter')}`, command: 'mlContainers.jupyter.start' },
    { label: `$(circuit-board) ${vscode.l10n.t('Check GPU Setup')}`, command: 'mlContainers.gpu.check' },
    { label: `$(new-folder) ${vscode.l10n.t('New ML Environment…')}`, command: 'mlContainers.scaffold.new' },
    { label: `$(list-tree) ${vscode.l10n.t('Show Experiment Images')}`, command: 'mlContainers.images.focus' },
    { label: `$(pulse) ${vscode.l10n.t('Check Docker Engine')}`, command: 'mlContainers.engine.doctor' },
  ];
  const always: Action[] = [
    {
      label: `$(book) ${vscode.l10n.t('Get Started with ML Containers')}`,
      command: 'workbench.action.openWalkthrough',
      args: ['ml-containers.ml-containers#mlContainers.gettingStarted', false],
    },
    { label: `$(output) ${vscode.l10n.t('Show Logs')}`, command: 'mlContainers.log.show' },
  ];
  const picked = await vscode.window.showQuickPick(inContainer ? always : [...host, ...always], {
    title: vscode.l10n.t('ML Container'),
    placeHolder: inContainer
      ? vscode.l10n.t('This window is inside a container; build and run from the window on your machine')
      : vscode.l10n.t('Pick an action'),
  });
  if (picked) await vscode.commands.executeCommand(picked.command, ...(picked.args ?? []));
}
