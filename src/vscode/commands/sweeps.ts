import * as vscode from 'vscode';
import type { BatchBackend, RunBackend } from '../../core/backends/backend';
import { batchBackends, openRunsOf } from '../../core/backends/index';
import { localBackend } from '../../core/backends/local';
import { givenEnvValues } from '../../core/container/runtime';
import { singleLine } from '../../core/generatedText';
import type { SweepNode } from '../../core/images/tree';
import { clearSweepStopped, markSweepStopped, pendingPoints, readPlan } from '../../core/run/plan';
import { isLocal, readRuns } from '../../core/run/records';
import { userRuntimeSettings } from '../settings';
import type { Services } from '../services';
import type { TreeNode } from '../tree/provider';
import { requireTrust } from '../trust';

/** The sweep row a menu command was given, and its folder. */
function sweepNode(arg: unknown): { sweep: SweepNode; workspace: string } | undefined {
  const node = arg as TreeNode | undefined;
  return node?.kind === 'sweep' ? { sweep: node.sweep, workspace: node.folder } : undefined;
}

/**
 * "Stop Sweep": its scheduler starts no further point, then every backend holding one of its open runs stops its own
 * (recorded as cancelled), as `mlc stop SWEEP` does.
 */
export async function stopSweepCommand(services: Services, arg?: unknown): Promise<void> {
  requireTrust('run');
  const picked = sweepNode(arg);
  if (!picked) return;
  const { sweep, workspace } = picked;
  const log = services.log.child('run');
  const stopped = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Stopping sweep {0}…', singleLine(sweep.id)) },
    async () => {
      await markSweepStopped(workspace, sweep.id).catch((e: unknown) =>
        log.warn(`sweep ${sweep.id}: could not mark it stopped: ${e instanceof Error ? e.message : String(e)}`),
      );
      const records = (await readRuns(workspace)).runs.filter((r) => r.sweep?.id === sweep.id);
      const backends: RunBackend[] = [localBackend(() => services.engines.get()), ...(services.backends ?? batchBackends)()];
      const ids: string[] = [];
      for (const backend of backends)
        if (openRunsOf(backend, records).length) ids.push(...(await backend.stop(sweep.id, { workspace, log })));
      return ids;
    },
  );
  services.images.scheduleRefresh(workspace);
  void vscode.window.showInformationMessage(
    vscode.l10n.t('Sweep {0}: {1} run(s) stopped; it starts no further point.', singleLine(sweep.id), stopped.length),
  );
}

/**
 * "Resume Sweep": the points that never started, by the same background `mlc run --resume` Run Experiment starts.
 * A backend took its sweep whole, so a sweep that ran there is not resumed here.
 */
export async function resumeSweepCommand(services: Services, arg?: unknown): Promise<void> {
  requireTrust('run');
  const picked = sweepNode(arg);
  if (!picked) return;
  const { sweep, workspace } = picked;
  const id = singleLine(sweep.id);
  const elsewhere = sweep.runs.find((r) => !isLocal(r));
  if (elsewhere) {
    const title = (services.backends ?? batchBackends)().find((b: BatchBackend) => b.id === elsewhere.backend)?.title;
    void vscode.window.showInformationMessage(
      vscode.l10n.t(
        'Sweep {0} ran on {1}, which takes a sweep whole: stop it and submit it again.',
        id,
        title ?? singleLine(elsewhere.backend ?? ''),
      ),
    );
    return;
  }
  const plan = await readPlan(workspace, sweep.id);
  const points = pendingPoints(plan, (await readRuns(workspace)).runs);
  if (!points.length) {
    void vscode.window.showInformationMessage(vscode.l10n.t('Sweep {0}: every point has started.', id));
    return;
  }
  // Stop Sweep left a marker that makes its scheduler start no further point; Resume is asking for them again. The
  // scheduler started below keeps any marker (core/run/detach.ts), so it is cleared here.
  await clearSweepStopped(workspace, sweep.id);
  const scheduled = services.scheduler(plan, givenEnvValues(userRuntimeSettings().env));
  services.log
    .child('run')
    .info(`sweep ${sweep.id}: resuming ${points.length} of ${plan.points.length} points; scheduler log ${scheduled.logFile}`);
  void scheduled.exited.then(() => services.images.scheduleRefresh(workspace));
  services.images.scheduleRefresh(workspace);
  void vscode.window.showInformationMessage(
    vscode.l10n.t('Sweep {0}: resuming {1} of {2} points that never started.', id, points.length, plan.points.length),
  );
}

/** "Copy Sweep Id": what `mlc runs --compare`, `mlc stop` and `mlc run --resume` take. */
export async function copySweepIdCommand(_services: Services, arg?: unknown): Promise<void> {
  const picked = sweepNode(arg);
  if (!picked) return;
  await vscode.env.clipboard.writeText(picked.sweep.id);
  void vscode.window.setStatusBarMessage(vscode.l10n.t('Copied {0}', singleLine(picked.sweep.id)), 3000);
}

/** "Sort Sweep Points": toggles mlContainers.runs.sweepOrder between the headline metric and start; the view follows. */
export async function toggleSweepOrderCommand(): Promise<void> {
  const config = vscode.workspace.getConfiguration('mlContainers');
  const next = config.get<unknown>('runs.sweepOrder', 'metric') === 'start' ? 'metric' : 'start';
  await config.update('runs.sweepOrder', next, vscode.ConfigurationTarget.Global);
}
