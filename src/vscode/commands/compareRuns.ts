import * as vscode from 'vscode';
import { formatAge } from '../../core/format';
import { compareRuns, selectRuns } from '../../core/run/compare';
import { headlineMetric, withLiveMetrics } from '../../core/run/comparePayload';
import type { RunRecord } from '../../core/run/records';
import { readRuns } from '../../core/run/records';
import { requireTrust } from '../trust';
import { formatParams } from '../../core/run/sweep';
import { ComparePanel } from '../comparePanel';
import type { Services } from '../services';
import { headlineMetricSetting } from '../settings';
import type { TreeNode } from '../tree/provider';
import { pickWorkspaceFolder } from '../workspaceFolder';

/** Runs offered by the palette's pick, newest first. */
const PICKABLE_RUNS = 50;

/**
 * "Compare Runs": the runs selected in the Experiment Images view (a command run from a multi-selection gets the
 * clicked row and every selected row), else a pick of recent runs; one webview panel shows them side by side.
 */
export async function compareRunsCommand(services: Services, clicked?: unknown, selected?: unknown): Promise<void> {
  requireTrust('read');
  const workspace = (await pickWorkspaceFolder(vscode.l10n.t('Folder whose runs to compare'), clicked))?.uri.fsPath;
  if (!workspace) return;
  const rows = (Array.isArray(selected) && selected.length ? selected : [clicked]) as (TreeNode | undefined)[];
  // Runs are compared within one folder: the clicked row's.
  let ids = rows.flatMap((n) => (n?.kind === 'run' && n.folder === workspace ? [n.run.id] : []));
  // One row is a start, not a comparison: the pick opens with it ticked.
  if (ids.length < 2) {
    const picked = await pickRuns((await readRuns(workspace)).runs, ids);
    if (!picked) return;
    ids = picked;
  }
  showComparison(
    services,
    workspace,
    { ids },
    ids.length === 1 ? vscode.l10n.t('Run {0}', ids[0]!) : vscode.l10n.t('Compare {0} Runs', ids.length),
  );
}

/** "Compare Sweep" on a sweep row or on one of its runs: every point of the sweep. */
export async function compareSweepCommand(services: Services, clicked?: unknown): Promise<void> {
  requireTrust('read');
  const node = clicked as TreeNode | undefined;
  if (node?.kind === 'sweep') {
    showComparison(services, node.folder, { sweep: node.sweep.id }, vscode.l10n.t('Sweep {0}', node.sweep.id));
    return;
  }
  if (node?.kind !== 'run') return;
  const workspace = node.folder;
  const sweep = node.run.sweep;
  if (!sweep) {
    void vscode.window.showInformationMessage(
      vscode.l10n.t('Run {0} is not part of a sweep: select runs and use Compare Runs.', node.run.id),
    );
    return;
  }
  showComparison(services, workspace, { sweep: sweep.id }, vscode.l10n.t('Sweep {0}', sweep.id));
}

function showComparison(services: Services, workspace: string, which: { ids?: string[]; sweep?: string }, title: string): void {
  const load = async (): Promise<Awaited<ReturnType<typeof compareRuns>>> =>
    compareRuns(await withLiveMetrics(workspace, selectRuns((await readRuns(workspace)).runs, which)));
  ComparePanel.show(vscode.Uri.file(services.mediaDir), { workspace, title, load }, services.log.child('compare'));
}

/** A multi-pick of recent runs; undefined when the user picked none. */
async function pickRuns(all: readonly RunRecord[], preselected: readonly string[]): Promise<string[] | undefined> {
  if (!all.length) {
    void vscode.window.showInformationMessage(vscode.l10n.t('No runs yet: Run Experiment… starts one.'));
    return undefined;
  }
  const headline = headlineMetricSetting();
  const items = [...all]
    .sort((a, b) => b.start.localeCompare(a.start))
    .slice(0, PICKABLE_RUNS)
    .map((r) => {
      const metric = headlineMetric(r.metrics, headline);
      return {
        label: formatParams(r.params) || r.config.path,
        description: [r.status, metric ? `${metric.name} ${metric.text}` : '', formatAge(Date.parse(r.start) / 1000)]
          .filter(Boolean)
          .join(' · '),
        detail: `${r.id} · ${r.image.ref}`,
        picked: preselected.includes(r.id),
        id: r.id,
      };
    });
  const picked = await vscode.window.showQuickPick(items, {
    title: vscode.l10n.t('Compare Runs'),
    placeHolder: vscode.l10n.t('Runs to compare'),
    canPickMany: true,
    matchOnDetail: true,
  });
  return picked?.length ? picked.map((p) => p.id) : undefined;
}
