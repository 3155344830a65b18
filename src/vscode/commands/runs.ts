import * as path from 'node:path';
import { parse as parseShell } from 'shell-quote';
import * as vscode from 'vscode';
import { openProject } from '../../core/project';
import type { ExperimentResult, PlannedRun } from '../../core/run/experiment';
import { runExperiment } from '../../core/run/experiment';
import { RUN_DIR, readRuns } from '../../core/run/records';
import { formatParams } from '../../core/run/sweep';
import { imageArgument } from '../imageArgument';
import { runSettings } from '../settings';
import type { TreeNode } from '../tree/provider';
import { requireTrust } from '../trust';
import { pickWorkspaceFolder } from '../workspaceFolder';
import type { Services } from '../services';

const DEFAULT_COMMAND = 'python train.py';

/**
 * Splits a command line the way a shell would (quotes, escapes), without a shell: pipes, redirections and globs are
 * refused with a hint, and $VARS stay literal for the container to see.
 */
export function splitCommand(text: string): string[] {
  const words = parseShell(text, (name) => `$${name}`);
  const op = words.find((w) => typeof w !== 'string');
  if (op) {
    throw new Error(vscode.l10n.t('The command runs without a shell, so "{0}" means nothing to it: wrap it as sh -c \'…\'.', 'op' in op ? String(op.op) : '#'));
  }
  return words as string[];
}

/** YAML files of the folder that can be hyper-parameter configs: not the tool's own, not dependencies. */
async function pickConfig(folder: vscode.WorkspaceFolder): Promise<string | undefined> {
  const found = await vscode.workspace.findFiles(new vscode.RelativePattern(folder, '**/*.{yaml,yml}'), '{**/node_modules/**,**/.mlcontainers/**,**/.devcontainer/**,**/.git/**,**/.github/**}', 500);
  const active = vscode.window.activeTextEditor?.document.uri;
  const rel = (uri: vscode.Uri): string => path.relative(folder.uri.fsPath, uri.fsPath).split(path.sep).join('/');
  const items = found
    .map((uri) => ({ label: rel(uri), uri }))
    .sort((a, b) => Number(b.uri.fsPath === active?.fsPath) - Number(a.uri.fsPath === active?.fsPath) || Number(b.label.startsWith('configs/')) - Number(a.label.startsWith('configs/')) || a.label.localeCompare(b.label));
  if (!items.length) {
    void vscode.window.showInformationMessage(vscode.l10n.t('No YAML config in {0}: put your hyper-parameters in configs/experiment.yaml ("New ML Environment" writes one).', folder.name));
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(items, { title: vscode.l10n.t('Run Experiment: hyper-parameter file'), placeHolder: vscode.l10n.t('Lists in the file become a sweep over every combination') });
  return picked?.label;
}

/**
 * "ML Containers: Run Experiment…": a config, a command, and the run (or sweep) in the project's latest image (or
 * the image chosen in the sidebar). Output streams to a terminal; closing it cancels the runs.
 */
export async function runExperimentCommand(services: Services, arg?: unknown): Promise<void> {
  requireTrust('run');
  const folder = await pickWorkspaceFolder(vscode.l10n.t('Folder to run the experiment in'));
  if (!folder) return;
  const workspace = folder.uri.fsPath;
  const config = await pickConfig(folder);
  if (!config) return;
  const previous = (await readRuns(workspace)).runs.filter((r) => r.config.path === config).at(-1)?.command;
  const commandText = await vscode.window.showInputBox({
    title: vscode.l10n.t('Run Experiment: command'),
    prompt: vscode.l10n.t('Runs in /workspace with $MLC_CONFIG pointing at {0}', config),
    value: previous ? previous.map((w) => (/[\s'"\\$]/.test(w) ? `'${w.replace(/'/g, `'\\''`)}'` : w)).join(' ') : DEFAULT_COMMAND,
    validateInput: (text) => {
      try {
        return splitCommand(text).length ? undefined : vscode.l10n.t('Give the command to run, e.g. {0}', DEFAULT_COMMAND);
      } catch (e) {
        return e instanceof Error ? e.message : String(e);
      }
    },
  });
  if (commandText === undefined) return;
  const command = splitCommand(commandText);
  const project = await openProject(workspace, { templatesDir: services.templatesDir });
  const image = imageArgument(arg) ?? project.imageRef;
  const settings = runSettings();
  const catalog = project.catalog;
  const log = services.log.child('run');

  const controller = new AbortController();
  const output = new vscode.EventEmitter<string>();
  const opened = new Promise<void>((resolve) => {
    const pty: vscode.Pseudoterminal = {
      onDidWrite: output.event,
      open: () => resolve(),
      close: () => controller.abort(),
    };
    vscode.window.createTerminal({ name: vscode.l10n.t('ML Run: {0}', config), pty, iconPath: new vscode.ThemeIcon('beaker') }).show();
  });
  await opened;
  const write = (text: string): void => output.fire(text.replace(/\r?\n/g, '\r\n'));
  const prefix = (r: PlannedRun): string => (r.size > 1 ? `[${r.point.index + 1}/${r.size}] ` : '');
  write(`${vscode.l10n.t('Running {0} in {1} with {2}', commandText, image, config)}\n`);

  let result: ExperimentResult;
  try {
    result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: vscode.l10n.t('Running {0}', config) },
      () =>
        runExperiment({
          engine: services.engines.get(),
          workspace,
          config,
          image,
          command,
          gpu: settings.gpu,
          shmSizeBytes: settings.shmSizeBytes,
          git: services.git,
          log,
          ...(catalog ? { catalog } : {}),
          ...(services.gpuProbe ? { probe: services.gpuProbe } : {}),
          onStart: (r) => {
            if (r.size > 1) write(`\x1b[1m${prefix(r)}run ${r.id}: ${formatParams(r.point.params)}\x1b[0m\n`);
            services.images.scheduleRefresh();
          },
          onLine: (r, line, stream) => write(`${prefix(r)}${stream === 'stderr' ? `\x1b[33m${line}\x1b[0m` : line}\n`),
          onRecord: (r) => write(`\x1b[1m${r.sweep ? `[${r.sweep.index + 1}/${r.sweep.size}] ` : ''}run ${r.id}: ${r.status}${r.exitCode !== null ? ` (exit ${r.exitCode})` : ''}\x1b[0m\n`),
          signal: controller.signal,
        }),
    );
  } catch (e) {
    write(`\x1b[31m${e instanceof Error ? e.message : String(e)}\x1b[0m\n`);
    throw e;
  } finally {
    output.dispose();
    services.images.scheduleRefresh();
  }
  if (result.note) void vscode.window.showWarningMessage(result.note);
  const ok = result.records.filter((r) => r.status === 'succeeded').length;
  const total = result.records.length + result.notStarted;
  const summary = total === 1
    ? result.records[0]?.status === 'succeeded'
      ? vscode.l10n.t('Run {0} succeeded.', result.records[0].id)
      : vscode.l10n.t('Run {0} {1} (exit {2}).', result.records[0]?.id ?? '', result.records[0]?.status ?? '', String(result.records[0]?.exitCode ?? '?'))
    : vscode.l10n.t('Sweep: {0} of {1} runs succeeded.', ok, total);
  const show = ok === total ? vscode.window.showInformationMessage : vscode.window.showWarningMessage;
  void show(summary);
}

/** "Open Run Config" on a run in the sidebar: the exact config that run saw (for a sweep point, the generated one). */
export async function openRunConfigCommand(_services: Services, arg?: unknown): Promise<void> {
  const node = arg as TreeNode | undefined;
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (node?.kind !== 'run' || !folder) return;
  const file = path.join(folder.uri.fsPath, RUN_DIR, node.run.id, path.basename(node.run.config.path));
  await vscode.window.showTextDocument(vscode.Uri.file(file), { preview: true });
}
