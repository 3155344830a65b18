import * as path from 'node:path';
import { parse as parseShell } from 'shell-quote';
import * as vscode from 'vscode';
import { openProject } from '../../core/project';
import { schedulerLogTail } from '../../core/run/detach';
import type { FollowResult, FollowTarget } from '../../core/run/follow';
import { followRuns } from '../../core/run/follow';
import { findRunContainers, stopRuns } from '../../core/run/lifecycle';
import type { ExperimentPlan } from '../../core/run/plan';
import { RunError, markSweepStopped, planExperiment, sweepStopped } from '../../core/run/plan';
import type { RunRecord } from '../../core/run/records';
import { readRuns } from '../../core/run/records';
import { plainRunFile } from '../../core/run/runFolder';
import { formatParams } from '../../core/run/sweep';
import type { BatchBackend } from '../../core/backends/backend';
import { batchBackends, findBackend } from '../../core/backends/index';
import { localBackend } from '../../core/backends/local';
import { isLocal } from '../../core/run/records';
import { imageArgument } from '../imageArgument';
import { withImagePrivilegeConsent } from '../imagePrivileges';
import { runSettings, userRuntimeSettings } from '../settings';
import { givenEnvValues } from '../../core/container/runtime';
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
    throw new Error(
      vscode.l10n.t(
        'The command runs without a shell, so "{0}" means nothing to it: wrap it as sh -c \'…\'.',
        'op' in op ? String(op.op) : '#',
      ),
    );
  }
  return words as string[];
}

/** YAML files of the folder that can be hyper-parameter configs: not the tool's own, not dependencies. */
async function pickConfig(folder: vscode.WorkspaceFolder): Promise<string | undefined> {
  const found = await vscode.workspace.findFiles(
    new vscode.RelativePattern(folder, '**/*.{yaml,yml}'),
    '{**/node_modules/**,**/.mlcontainers/**,**/.devcontainer/**,**/.git/**,**/.github/**}',
    500,
  );
  const active = vscode.window.activeTextEditor?.document.uri;
  const rel = (uri: vscode.Uri): string => path.relative(folder.uri.fsPath, uri.fsPath).split(path.sep).join('/');
  const items = found
    .map((uri) => ({ label: rel(uri), uri }))
    .sort(
      (a, b) =>
        Number(b.uri.fsPath === active?.fsPath) - Number(a.uri.fsPath === active?.fsPath) ||
        Number(b.label.startsWith('configs/')) - Number(a.label.startsWith('configs/')) ||
        a.label.localeCompare(b.label),
    );
  if (!items.length) {
    void vscode.window.showInformationMessage(
      vscode.l10n.t(
        'No YAML config in {0}: put your hyper-parameters in configs/experiment.yaml ("New ML Environment" writes one).',
        folder.name,
      ),
    );
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(items, {
    title: vscode.l10n.t('Run Experiment: hyper-parameter file'),
    placeHolder: vscode.l10n.t('Lists in the file become a sweep over every combination'),
  });
  return picked?.label;
}

/**
 * "ML Containers: Run Experiment…": a config, a command, and the run (or sweep) in the project's latest image (or
 * the image chosen in the sidebar). The plan is written here and its runs start in a background process, so they
 * outlive this window; a terminal follows them, and closing it asks whether to stop them.
 */
export async function runExperimentCommand(services: Services, arg?: unknown): Promise<void> {
  requireTrust('run');
  const folder = await pickWorkspaceFolder(vscode.l10n.t('Folder to run the experiment in'), arg);
  if (!folder) return;
  const workspace = folder.uri.fsPath;
  const config = await pickConfig(folder);
  if (!config) return;
  const target = await pickTarget(services);
  if (!target) return;
  const previous = (await readRuns(workspace)).runs.filter((r) => r.config.path === config).at(-1)?.command;
  const commandText = await vscode.window.showInputBox({
    title: vscode.l10n.t('Run Experiment: command'),
    prompt: vscode.l10n.t('Runs in /workspace with $MLC_CONFIG pointing at {0}', config),
    // A command is often long and written with the config or the code beside it: a click there, or a run's
    // terminal or a panel taking focus, must not throw it away.
    ignoreFocusOut: true,
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
  const given = imageArgument(arg);
  const choice = given ? {} : await services.devcontainers.choose(workspace);
  if (!choice) return;
  const project = await openProject(workspace, { ...choice, templatesDir: services.templatesDir });
  const image = given ?? project.imageRef;
  const settings = runSettings();
  const log = services.log.child('run');
  const engine = services.engines.get();

  const runtime = userRuntimeSettings();
  // In a backend the job's script hands the container the GPUs of its allocation, not this machine's.
  // An image that asks for privileges is refused before the plan is written; agreed to, the scheduler finds the consent.
  const backend = target === 'engine' ? undefined : target;
  const plan = await withImagePrivilegeConsent(() =>
    planExperiment({
      engine,
      workspace,
      config,
      image,
      command,
      gpu: backend ? 'none' : settings.gpu,
      shmSizeBytes: settings.shmSizeBytes,
      runtime,
      ...choice,
      git: services.git,
      log,
    }),
  );
  if (backend) return submitToBackend(services, backend, plan, givenEnvValues(runtime.env));
  const scheduled = services.scheduler(plan, givenEnvValues(runtime.env));
  log.info(
    `${plan.sweep ? `sweep ${plan.id}: ${plan.points.length} runs` : `run ${plan.id}`} started in the background; scheduler log ${scheduled.logFile}`,
  );
  services.images.scheduleRefresh(workspace);
  let schedulerEnded: number | null | undefined;
  void scheduled.exited.then((code) => (schedulerEnded = code));

  const controller = new AbortController();
  let finished = false;
  const output = new vscode.EventEmitter<string>();
  const opened = new Promise<void>((resolve) => {
    const pty: vscode.Pseudoterminal = {
      onDidWrite: output.event,
      open: () => resolve(),
      // Only the following ends with the terminal; the runs go on unless asked to stop.
      close: () => {
        controller.abort();
        if (!finished) {
          askToStop(services, plan).catch((e: unknown) => {
            const message = e instanceof Error ? e.message : String(e);
            log.error(`stopping ${plan.id}: ${message}`);
            void vscode.window.showErrorMessage(message);
          });
        }
      },
    };
    vscode.window.createTerminal({ name: vscode.l10n.t('ML Run: {0}', config), pty, iconPath: new vscode.ThemeIcon('beaker') }).show();
  });
  await opened;
  const write = (text: string): void => output.fire(text.replace(/\r?\n/g, '\r\n'));
  const size = plan.points.length;
  const targets: FollowTarget[] = plan.points.map((p) => ({ id: p.runId, prefix: size > 1 ? `[${p.index + 1}/${size}] ` : '' }));
  const params = new Map(plan.points.map((p) => [p.runId, p.params]));
  write(`${vscode.l10n.t('Running {0} in {1} with {2}', commandText, image, config)}\n`);
  write(
    `\x1b[2m${vscode.l10n.t('The runs go on in the background: closing this terminal or the window stops nothing unless you choose to.')}\x1b[0m\n`,
  );

  let result: FollowResult;
  try {
    result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: vscode.l10n.t('Running {0}', config) },
      () =>
        followRuns({
          engine,
          workspace,
          targets,
          log,
          moreToCome: async () => schedulerEnded === undefined && !(plan.sweep && (await sweepStopped(workspace, plan.id))),
          wake: scheduled.exited,
          onStart: (t) => {
            if (size > 1) write(`\x1b[1m${t.prefix}run ${t.id}: ${formatParams(params.get(t.id) ?? {})}\x1b[0m\n`);
            services.images.scheduleRefresh(workspace);
          },
          onLine: (t, line, stream) => write(`${t.prefix}${stream === 'stderr' ? `\x1b[33m${line}\x1b[0m` : line}\n`),
          onEnd: (t, r) => {
            write(`\x1b[1m${t.prefix}run ${r.id}: ${r.status}${r.exitCode !== null ? ` (exit ${r.exitCode})` : ''}\x1b[0m\n`);
            services.images.scheduleRefresh(workspace);
          },
          signal: controller.signal,
        }),
    );
  } finally {
    finished = true;
    services.images.scheduleRefresh(workspace);
  }
  if (controller.signal.aborted) {
    output.dispose();
    return;
  }
  if (!result.records.length && schedulerEnded !== undefined && schedulerEnded !== 0) {
    const tail = schedulerLogTail(scheduled.logFile);
    write(`\x1b[31m${tail}\x1b[0m\n`);
    output.dispose();
    throw new RunError(vscode.l10n.t('The experiment did not start: {0}', tail.split('\n').at(-1) ?? ''));
  }
  output.dispose();
  const ok = result.records.filter((r) => r.status === 'succeeded').length;
  const total = result.records.length + result.notStarted.length;
  const first = result.records[0];
  const summary =
    total === 1
      ? first?.status === 'succeeded'
        ? vscode.l10n.t('Run {0} succeeded.', first.id)
        : vscode.l10n.t('Run {0} {1} (exit {2}).', first?.id ?? plan.id, first?.status ?? 'not started', String(first?.exitCode ?? '?'))
      : vscode.l10n.t('Sweep: {0} of {1} runs succeeded.', ok, total);
  const show = ok === total ? vscode.window.showInformationMessage : vscode.window.showWarningMessage;
  void show(summary);
}

/** Where the runs go: this engine, or a run backend that can take jobs from here (asked only when one can). */
async function pickTarget(services: Services): Promise<'engine' | BatchBackend | undefined> {
  const offered: BatchBackend[] = [];
  for (const b of (services.backends ?? batchBackends)()) if (await b.available()) offered.push(b);
  if (!offered.length) return 'engine';
  const items = [
    { label: vscode.l10n.t('This engine'), description: vscode.l10n.t('run here, followed in a terminal'), target: 'engine' as const },
    ...offered.map((b) => ({ label: b.title, description: b.description, target: b })),
  ];
  return (
    await vscode.window.showQuickPick(items, {
      title: vscode.l10n.t('Run Experiment: where'),
      placeHolder: vscode.l10n.t('Where the runs go'),
    })
  )?.target;
}

/**
 * The plan submitted by the bundled mlc (`mlc run --resume ID --on BACKEND`), which ends once the backend took it:
 * its runs are on record as pending at once and show under their image; `mlc runs` and the view follow them there.
 */
async function submitToBackend(
  services: Services,
  backend: BatchBackend,
  plan: ExperimentPlan,
  env: Record<string, string>,
): Promise<void> {
  const log = services.log.child('run');
  const scheduled = services.scheduler(plan, env, { on: backend.id });
  const code = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Submitting {0} to {1}', plan.id, backend.title) },
    () => scheduled.exited,
  );
  services.images.scheduleRefresh();
  const tail = schedulerLogTail(scheduled.logFile);
  if (code !== 0) {
    log.error(`submitting ${plan.id} to ${backend.title}: ${tail}`);
    throw new RunError(vscode.l10n.t('{0} did not take the experiment: {1}', backend.title, tail.split('\n').at(-1) ?? ''));
  }
  log.info(`${plan.id} submitted to ${backend.title}; log ${scheduled.logFile}`);
  void vscode.window.showInformationMessage(
    plan.sweep
      ? vscode.l10n.t(
          'Sweep {0}: {1} runs submitted to {2}. They show under their image, pending until {2} starts them.',
          plan.id,
          plan.points.length,
          backend.title,
        )
      : vscode.l10n.t('Run {0} submitted to {1}. It shows under its image, pending until {1} starts it.', plan.id, backend.title),
  );
}

/** Closing a following terminal before its runs ended: they go on unless the user says stop (modal, default: leave). */
async function askToStop(services: Services, plan: ExperimentPlan): Promise<void> {
  const stop = vscode.l10n.t('Stop the runs');
  const leave = vscode.l10n.t('Leave them running');
  const choice = await vscode.window.showWarningMessage(
    plan.sweep ? vscode.l10n.t('Sweep {0} is still running.', plan.id) : vscode.l10n.t('Run {0} is still running.', plan.id),
    { modal: true, detail: vscode.l10n.t('Its runs go on in the background and show in the Experiment Images view.') },
    leave,
    stop,
  );
  const log = services.log.child('run');
  if (choice !== stop) {
    log.info(`${plan.id} left running in the background`);
    return;
  }
  // The scheduler starts no further point; then the running ones stop and are recorded as cancelled.
  if (plan.sweep) await markSweepStopped(plan.workspace, plan.id);
  const stopped = await stopRuns({ engine: services.engines.get(), workspace: plan.workspace, target: plan.id, log });
  log.info(`stopped ${stopped.length} run(s) of ${plan.id}`);
  services.images.scheduleRefresh(plan.workspace);
}

/** "Open Run Config" on a run in the sidebar: the exact config that run saw (for a sweep point, the generated one). */
export async function openRunConfigCommand(_services: Services, arg?: unknown): Promise<void> {
  requireTrust('read');
  const picked = runNode(arg);
  if (!picked) return;
  const file = await plainRunFile(picked.workspace, picked.run.id, path.basename(picked.run.config.path));
  await vscode.window.showTextDocument(vscode.Uri.file(file), { preview: true });
}

/** The run row a context action was invoked on, with its folder. */
function runNode(arg: unknown): { run: RunRecord; workspace: string } | undefined {
  const node = arg as TreeNode | undefined;
  return node?.kind === 'run' ? { run: node.run, workspace: node.folder } : undefined;
}

/**
 * "Show Output" on a run: while it runs, a terminal that follows its container's output (closing it stops only
 * the following); once it ended, its output.log.
 */
export async function showRunOutputCommand(services: Services, arg?: unknown): Promise<void> {
  requireTrust('read');
  const picked = runNode(arg);
  if (!picked) return;
  const { run, workspace } = picked;
  const engine = run.status === 'running' ? services.engines.get() : undefined;
  const container = engine ? (await findRunContainers(engine, workspace)).find((c) => c.runId === run.id) : undefined;
  if (!engine || !container) {
    // The editor follows links: the file is opened only when it is the run's own plain file.
    await vscode.window.showTextDocument(vscode.Uri.file(await plainRunFile(workspace, run.id, 'output.log')), { preview: true });
    return;
  }
  const controller = new AbortController();
  const output = new vscode.EventEmitter<string>();
  const opened = new Promise<void>((resolve) => {
    const pty: vscode.Pseudoterminal = { onDidWrite: output.event, open: () => resolve(), close: () => controller.abort() };
    vscode.window.createTerminal({ name: vscode.l10n.t('ML Run: {0}', run.id), pty, iconPath: new vscode.ThemeIcon('output') }).show();
  });
  await opened;
  const write = (text: string): void => output.fire(text.replace(/\r?\n/g, '\r\n'));
  try {
    await followRuns({
      engine,
      workspace,
      targets: [{ id: run.id, prefix: '' }],
      log: services.log.child('run'),
      // A container not started yet is still coming while its record says it runs.
      moreToCome: async () => (await readRuns(workspace)).runs.find((r) => r.id === run.id)?.status === 'running',
      onLine: (_t, line, stream) => write(`${stream === 'stderr' ? `\x1b[33m${line}\x1b[0m` : line}\n`),
      onEnd: (_t, r) => write(`\x1b[1mrun ${r.id}: ${r.status}${r.exitCode !== null ? ` (exit ${r.exitCode})` : ''}\x1b[0m\n`),
      signal: controller.signal,
    });
  } finally {
    output.dispose();
    services.images.scheduleRefresh(workspace);
  }
}

/** "Stop Run" on a running run: SIGTERM, SIGKILL after 10 s, recorded as cancelled; its sweep's other points go on. */
export async function stopRunCommand(services: Services, arg?: unknown): Promise<void> {
  requireTrust('run');
  const picked = runNode(arg);
  if (!picked) return;
  const { run, workspace } = picked;
  const stopped = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Stopping run {0}…', run.id) },
    () =>
      (isLocal(run) ? localBackend(() => services.engines.get()) : findBackend(run.backend ?? ''))?.stop(run.id, {
        workspace,
        log: services.log.child('run'),
      }) ?? Promise.resolve([]),
  );
  services.images.scheduleRefresh(workspace);
  if (stopped.length) void vscode.window.showInformationMessage(vscode.l10n.t('Run {0} stopped (recorded as cancelled).', run.id));
  else void vscode.window.showInformationMessage(vscode.l10n.t('Run {0} is no longer running.', run.id));
}
