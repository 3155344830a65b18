import * as vscode from 'vscode';
import { EngineError } from '../../core/docker/errors';
import { EndpointError } from '../../core/docker/endpoint';
import type { Services } from '../services';
import { RestrictedModeError } from '../trust';
import { buildImageCommand } from './buildImage';
import { checkGpuCommand } from './checkGpu';
import { compareImagesCommand } from './compareImages';
import { compareRunsCommand, compareSweepCommand } from './compareRuns';
import { chooseDevcontainerCommand } from './chooseDevcontainer';
import { doctorCommand } from './doctor';
import {
  checkoutCommand,
  compareWithCommand,
  copyReferenceCommand,
  copyRunCommand,
  deleteImageCommand,
  openShellCommand,
  rebuildCommand,
  showDockerfileCommand,
  tagImageCommand,
} from './imageActions';
import {
  openJupyterInBrowserCommand,
  restartJupyterCommand,
  showJupyterLogsCommand,
  startJupyterCommand,
  stopJupyterCommand,
} from './jupyter';
import { modelServerActionsCommand, modelServingDisposable, saveModelCommand, serveModelCommand, stopModelCommand } from './models';
import { newEnvironmentCommand } from './newEnvironment';
import { refreshImagesCommand } from './refreshImages';
import { openRunConfigCommand, runExperimentCommand, showRunOutputCommand, stopRunCommand } from './runs';
import { reopenCommand, reopenInImageCommand } from './reopen';
import { statusBarActionsCommand } from './statusBarActions';
import { showLogCommand } from './showLog';
import { copySweepIdCommand, resumeSweepCommand, stopSweepCommand, toggleSweepOrderCommand } from './sweeps';

export type CommandHandler = (services: Services, ...args: unknown[]) => unknown;

/** The one command table: every contributed command id and its handler. */
export const commandTable: Record<string, CommandHandler> = {
  'mlContainers.engine.doctor': doctorCommand,
  'mlContainers.scaffold.new': newEnvironmentCommand,
  'mlContainers.images.build': buildImageCommand,
  'mlContainers.devcontainer.choose': chooseDevcontainerCommand,
  'mlContainers.images.compare': compareImagesCommand,
  'mlContainers.images.refresh': refreshImagesCommand,
  'mlContainers.log.show': showLogCommand,
  'mlContainers.gpu.check': checkGpuCommand,
  'mlContainers.jupyter.start': startJupyterCommand,
  'mlContainers.jupyter.stop': stopJupyterCommand,
  'mlContainers.jupyter.restart': restartJupyterCommand,
  'mlContainers.jupyter.logs': showJupyterLogsCommand,
  'mlContainers.jupyter.openBrowser': openJupyterInBrowserCommand,
  'mlContainers.runs.start': runExperimentCommand,
  'mlContainers.runs.openConfig': openRunConfigCommand,
  'mlContainers.runs.compare': compareRunsCommand,
  'mlContainers.runs.compareSweep': compareSweepCommand,
  'mlContainers.runs.showOutput': showRunOutputCommand,
  'mlContainers.runs.stop': stopRunCommand,
  'mlContainers.runs.stopSweep': stopSweepCommand,
  'mlContainers.runs.resumeSweep': resumeSweepCommand,
  'mlContainers.runs.copySweepId': copySweepIdCommand,
  'mlContainers.runs.toggleSweepOrder': toggleSweepOrderCommand,
  'mlContainers.images.openShell': openShellCommand,
  'mlContainers.images.rebuild': rebuildCommand,
  'mlContainers.images.checkout': checkoutCommand,
  'mlContainers.images.compareWith': compareWithCommand,
  'mlContainers.images.copyRunCommand': copyRunCommand,
  'mlContainers.images.copyReference': copyReferenceCommand,
  'mlContainers.images.tag': tagImageCommand,
  'mlContainers.images.delete': deleteImageCommand,
  'mlContainers.images.showDockerfile': showDockerfileCommand,
  'mlContainers.images.reopenInImage': reopenInImageCommand,
  'mlContainers.reopen': reopenCommand,
  'mlContainers.statusBar.actions': statusBarActionsCommand,
  'mlContainers.models.save': saveModelCommand,
  'mlContainers.models.serve': serveModelCommand,
  'mlContainers.models.stop': stopModelCommand,
  'mlContainers.models.serverActions': modelServerActionsCommand,
};

export function registerCommands(services: Services): vscode.Disposable[] {
  return [
    ...Object.entries(commandTable).map(([id, handler]) =>
      vscode.commands.registerCommand(id, (...args: unknown[]) => runWrapped(id, handler, services, args)),
    ),
    // The model servers these commands start stop with the window.
    modelServingDisposable(services),
  ];
}

/** Every handler runs through here once: logged, silent on user cancel, a short message with "Show Logs" on error. */
async function runWrapped(id: string, handler: CommandHandler, services: Services, args: unknown[]): Promise<unknown> {
  const log = services.log.child('command');
  log.debug(`${id}`);
  try {
    return await handler(services, ...args);
  } catch (e) {
    if (e instanceof vscode.CancellationError || (e instanceof EngineError && e.reason === 'cancelled')) {
      log.info(`${id}: cancelled`);
      return undefined;
    }
    const message = e instanceof Error ? e.message : String(e);
    log.error(`${id}: ${message}`);
    if (!(e instanceof EngineError || e instanceof EndpointError) && e instanceof Error && e.stack) {
      log.debug(e.stack);
    }
    const showLogs = vscode.l10n.t('Show Logs');
    const manageTrust = vscode.l10n.t('Manage Workspace Trust');
    const actions = e instanceof RestrictedModeError ? [manageTrust, showLogs] : [showLogs];
    void vscode.window.showErrorMessage(message, ...actions).then((choice) => {
      if (choice === showLogs) services.logChannel.show();
      if (choice === manageTrust) void vscode.commands.executeCommand('workbench.trust.manage');
    });
    return undefined;
  }
}
