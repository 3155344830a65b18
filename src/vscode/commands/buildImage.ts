import * as os from 'node:os';
import * as vscode from 'vscode';
import type { BuildExperimentResult } from '../../core/build/buildExperiment';
import { buildExperiment } from '../../core/build/buildExperiment';
import type { ContextFinding } from '../../core/build/contextCheck';
import { addToDockerignore, describeFinding, LeakyContextError } from '../../core/build/contextCheck';
import { loadRegistryAuth } from '../../core/docker/registryAuth';
import type { Logger } from '../../core/log';
import { withCancellableProgress } from '../progress';
import { buildSettings } from '../settings';
import { requireTrust } from '../trust';
import { pickWorkspaceFolder } from '../workspaceFolder';
import type { Services } from '../services';

/**
 * "ML Containers: Build Experiment Image": the folder's devcontainer Dockerfile, tagged with its commit. The folder is
 * the one of the row, file or editor it was run from (vscode/workspaceFolder.ts), else picked.
 */
export async function buildImageCommand(services: Services, arg?: unknown): Promise<void> {
  requireTrust('build');
  const folder = await pickWorkspaceFolder(vscode.l10n.t('Folder to build'), arg);
  if (!folder) {
    return;
  }
  const choice = await services.devcontainers.choose(folder.uri.fsPath);
  if (!choice) return;
  const log = services.log.child('build');
  const { buildArgs, strict } = buildSettings();
  let result: BuildExperimentResult;
  try {
    result = await withCancellableProgress(vscode.l10n.t('Building experiment image'), (signal, progress) =>
      buildExperiment({
        folder: folder.uri.fsPath,
        ...choice,
        engine: services.engines.get(),
        git: services.git,
        buildArgs,
        strict,
        registryAuth: (host, authSignal) => loadRegistryAuth(host, process.env, os.homedir(), authSignal),
        log,
        signal,
        onStep: (step) => progress.report({ message: step }),
        // Shown while the build goes on; the button only edits .dockerignore, for the next build.
        onContextFindings: (findings, root) => void offerIgnore(findings, root, log, false),
      }),
    );
  } catch (e) {
    if (e instanceof LeakyContextError) {
      await offerIgnore(e.findings, e.contextRoot, log, true);
      return;
    }
    throw e;
  }
  services.images.refresh(folder.uri.fsPath);
  const showLogs = vscode.l10n.t('Show Logs');
  const answer = await vscode.window.showInformationMessage(
    vscode.l10n.t(
      'Built {0}{1}.',
      result.tags[0] ?? result.imageId,
      result.git ? '' : vscode.l10n.t(' (no git commit: tagged with a timestamp)'),
    ),
    showLogs,
  );
  if (answer === showLogs) {
    services.logChannel.show();
  }
}

/** Names what the context should not hold, and appends the .dockerignore lines when asked (never rewrites the user's). */
async function offerIgnore(findings: readonly ContextFinding[], root: string, log: Logger, refused: boolean): Promise<void> {
  const add = vscode.l10n.t('Add to .dockerignore');
  const named =
    findings.slice(0, 3).map(describeFinding).join(', ') +
    (findings.length > 3 ? vscode.l10n.t(' and {0} more (see the log)', findings.length - 3) : '');
  const answer = refused
    ? await vscode.window.showErrorMessage(vscode.l10n.t('Not built (mlContainers.build.strict): the build context holds {0}.', named), add)
    : await vscode.window.showWarningMessage(
        vscode.l10n.t('The build context holds {0}: it goes into the image, and to any registry the image is pushed to.', named),
        add,
      );
  if (answer !== add) return;
  try {
    const written = await addToDockerignore(
      root,
      findings.map((f) => f.ignoreLine),
    );
    log.info(`added to ${root}/.dockerignore: ${written.join(', ') || '(nothing: the lines were there)'}`);
    void vscode.window.showInformationMessage(
      vscode.l10n.t('Added {0} line(s) to .dockerignore: the next build leaves them out.', written.length),
    );
  } catch (e) {
    log.error(`could not write .dockerignore: ${e instanceof Error ? e.message : String(e)}`);
    void vscode.window.showErrorMessage(vscode.l10n.t('Could not write .dockerignore: {0}', e instanceof Error ? e.message : String(e)));
  }
}
