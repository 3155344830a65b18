import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as vscode from 'vscode';
import { formatAge, formatBytes, formatDuration } from '../../core/format';
import type { ExperimentViewState } from '../../core/images/model';
import { singleLine } from '../../core/generatedText';
import type { CommitGroup, ContainerNode, ExperimentTree, ImageNode, PointOrder, SweepNode } from '../../core/images/tree';
import {
  SWEEP_POINTS_SHOWN,
  commitContextValue,
  containerContextValue,
  imageContextValue,
  runContextValue,
  sweepBest,
  sweepContextValue,
  sweepPoints,
} from '../../core/images/tree';
import { isProvenanceLabel, readProvenance } from '../../core/labels';
import { lockPath } from '../../core/provenance/lock';
import { tryParseReference } from '../../core/reference';
import type { RunRecord } from '../../core/run/records';
import type { RunStatusWord } from '../../core/run/status';
import { runStatus } from '../../core/run/status';
import { formatParams } from '../../core/run/sweep';
import { formatMetricValue, headlineMetric } from '../../core/run/comparePayload';
import { headlineMetricSetting } from '../settings';
import type { WorkspaceImages } from '../workspaceImages';

/**
 * What the Experiment Images view shows, and what its commands receive as their argument. Every row carries the
 * workspace folder it belongs to (vscode/workspaceFolder.ts reads it); with several folders, each is a top-level row.
 */
export type TreeNode = { folder: string } & (
  | { kind: 'folder'; name: string; state: ExperimentViewState }
  | { kind: 'head'; sha: string; subject: string }
  | { kind: 'commit'; group: CommitGroup }
  | { kind: 'image'; node: ImageNode; group: CommitGroup }
  | { kind: 'container'; node: ContainerNode; image: ImageNode }
  | { kind: 'sweep'; sweep: SweepNode; image: ImageNode }
  | { kind: 'run'; run: RunRecord; image: ImageNode }
  | { kind: 'moreRuns'; count: number; image: ImageNode }
  /** A sweep's points past the first SWEEP_POINTS_SHOWN, in the same order: expanding the row lists them. */
  | { kind: 'morePoints'; sweep: SweepNode; image: ImageNode; points: RunRecord[] }
);

/** Single runs listed under an image; `mlc runs` lists them all. */
const RUNS_SHOWN = 20;

/** Commits shown expanded; older ones start collapsed. */
const EXPANDED_COMMITS = 3;

/**
 * Maps the models' trees to tree items: one folder's tree at the top level, or each folder's under its own row in a
 * multi-root workspace. Empty, down, untrusted and no-folder states render no items, so the view's welcome content
 * (package.json viewsWelcome, keyed on mlContainers.engineState) shows instead.
 */
export class ImagesTreeProvider implements vscode.TreeDataProvider<TreeNode>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<TreeNode | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  private readonly subscription: { dispose(): void };
  private readonly settingSubscription: { dispose(): void };
  private lastKind: string | undefined;

  constructor(private readonly images: WorkspaceImages) {
    this.subscription = images.onDidChange(() => this.emitter.fire(undefined));
    this.settingSubscription = vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('mlContainers.runs.headlineMetric') || e.affectsConfiguration('mlContainers.runs.sweepOrder'))
        this.emitter.fire(undefined);
    });
  }

  async getChildren(element?: TreeNode): Promise<TreeNode[]> {
    const folder = element?.folder;
    if (element?.kind === 'folder') return element.state.kind === 'ready' ? this.treeNodes(element.folder, element.state.tree, true) : [];
    if (element?.kind === 'commit')
      return element.group.images.map((node) => ({ folder: element.folder, kind: 'image', node, group: element.group }));
    if (element?.kind === 'image' && folder) {
      // Jupyter and shells, then sweeps, then single runs; a run's containers are its row.
      const image = element.node;
      const runs: TreeNode[] = image.singles.slice(0, RUNS_SHOWN).map((run) => ({ folder, kind: 'run', run, image }));
      if (image.singles.length > RUNS_SHOWN) runs.push({ folder, kind: 'moreRuns', count: image.singles.length - RUNS_SHOWN, image });
      return [
        ...image.containers.map((node): TreeNode => ({ folder, kind: 'container', node, image })),
        ...image.sweeps.map((sweep): TreeNode => ({ folder, kind: 'sweep', sweep, image })),
        ...runs,
      ];
    }
    if (element?.kind === 'sweep' && folder) {
      const { sweep, image } = element;
      const points = sweepPoints(sweep, headlineMetricSetting(), sweepOrderSetting());
      const shown: TreeNode[] = points.slice(0, SWEEP_POINTS_SHOWN).map((run) => ({ folder, kind: 'run', run, image }));
      if (points.length > SWEEP_POINTS_SHOWN)
        shown.push({ folder, kind: 'morePoints', sweep, image, points: points.slice(SWEEP_POINTS_SHOWN) });
      return shown;
    }
    if (element?.kind === 'morePoints' && folder)
      return element.points.map((run): TreeNode => ({ folder, kind: 'run', run, image: element.image }));
    if (element) return [];
    const folders = this.images.folders();
    this.multiRoot = folders.length > 1;
    const only = folders.length === 1 ? folders[0] : undefined;
    if (only) {
      const state = await this.images.getState(only.path);
      this.publish(state);
      return state.kind === 'ready' ? this.treeNodes(only.path, state.tree, false) : [];
    }
    const states = await Promise.all(folders.map((f) => this.images.getState(f.path)));
    // No folder, Restricted Mode or no engine: the same welcome content as for one folder.
    const ready = states.find((s) => s.kind === 'ready');
    this.publish(ready ?? states.find((s) => s.kind !== 'idle') ?? { kind: 'noFolder' });
    return ready ? folders.map((f, i): TreeNode => ({ folder: f.path, kind: 'folder', name: f.name, state: states[i]! })) : [];
  }

  /** A folder's commits; with other images listed (or under a folder row), HEAD without an image gets a Build row. */
  private treeNodes(folder: string, tree: ExperimentTree, underFolder: boolean): TreeNode[] {
    this.lastGroups.set(folder, tree.groups);
    const nodes: TreeNode[] = tree.groups.map((group) => ({ folder, kind: 'commit', group }));
    // With no images at all in a one-folder workspace, the welcome content says the same.
    if (tree.head && !tree.head.hasImage && (nodes.length || underFolder))
      nodes.unshift({ folder, kind: 'head', sha: tree.head.sha, subject: tree.head.meta?.subject ?? '' });
    return nodes;
  }

  /** Row ids are per folder in a multi-root workspace: two folders may list the same image or commit. */
  private id(element: TreeNode, id: string): string {
    return this.multiRoot ? `${element.folder}::${id}` : id;
  }

  getTreeItem(element: TreeNode): vscode.TreeItem {
    switch (element.kind) {
      case 'folder': {
        const { state } = element;
        const item = new vscode.TreeItem(element.name, vscode.TreeItemCollapsibleState.Expanded);
        item.id = `folder:${element.folder}`;
        item.iconPath = new vscode.ThemeIcon('root-folder');
        item.tooltip = element.folder;
        item.contextValue = 'folder;';
        item.description =
          state.kind === 'down'
            ? state.message
            : state.kind === 'ready' && !state.tree.repository
              ? vscode.l10n.t('not a git repository')
              : state.kind === 'ready' && !state.tree.groups.length
                ? vscode.l10n.t('no experiment images yet')
                : '';
        return item;
      }
      case 'head': {
        const item = new vscode.TreeItem(
          vscode.l10n.t('HEAD {0}: no image yet — Build', element.sha.slice(0, 7)),
          vscode.TreeItemCollapsibleState.None,
        );
        item.id = this.id(element, `head:${element.sha}`);
        item.description = element.subject;
        item.iconPath = new vscode.ThemeIcon('add');
        item.contextValue = 'headNoImage;';
        item.command = { command: 'mlContainers.images.build', title: vscode.l10n.t('Build Experiment Image'), arguments: [element] };
        return item;
      }
      case 'commit': {
        const { group } = element;
        const index = this.lastGroups.get(element.folder)?.indexOf(group) ?? -1;
        const label = group.sha
          ? `${group.isHead ? 'HEAD ' : ''}${group.sha.slice(0, 7)}  ${group.meta?.subject ?? ''}`
          : vscode.l10n.t('Built outside git');
        const item = new vscode.TreeItem(
          label,
          index < EXPANDED_COMMITS ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.Collapsed,
        );
        item.id = this.id(element, `commit:${group.sha ?? 'none'}`);
        item.description = [
          group.meta?.author,
          group.meta ? formatAge(Date.parse(group.meta.date) / 1000) : undefined,
          group.sha && !group.onBranch ? vscode.l10n.t('not on this branch') : undefined,
        ]
          .filter(Boolean)
          .join(' · ');
        item.iconPath = new vscode.ThemeIcon(group.isHead ? 'git-commit' : group.onBranch ? 'circle-outline' : 'git-branch');
        item.contextValue = commitContextValue(group);
        if (group.meta) {
          item.tooltip = new vscode.MarkdownString(
            `**${escape(group.meta.subject)}**\n\n${escape(group.meta.author)}, ${group.meta.date}\n\n\`${group.sha}\``,
          );
        }
        return item;
      }
      case 'image': {
        const { node } = element;
        const state = node.containers.length
          ? vscode.TreeItemCollapsibleState.Expanded
          : node.runs.length
            ? vscode.TreeItemCollapsibleState.Collapsed
            : vscode.TreeItemCollapsibleState.None;
        const item = new vscode.TreeItem(node.name, state);
        // VS Code keeps an item's collapsed state by id, and an image that had no container (no children) would stay
        // collapsed when Jupyter starts in it: a new id for "has containers" lets the row open to show them.
        item.id = this.id(
          element,
          `image:${node.image.id}${node.containers.length ? ':with-containers' : node.runs.length ? ':with-runs' : ''}`,
        );
        const failed = node.runs.filter((r) => r.status === 'failed').length;
        const runs = node.runs.length
          ? vscode.l10n.t('{0} runs', node.runs.length) + (failed ? vscode.l10n.t(' ({0} failed)', failed) : '')
          : '';
        item.description = [
          node.dirty ? vscode.l10n.t('dirty') : '',
          ...node.otherTags.map((t) => tryParseReference(t)?.tag ?? t),
          runs,
          formatBytes(node.image.size),
          formatAge(node.image.created),
        ]
          .filter(Boolean)
          .join(' · ');
        item.iconPath = new vscode.ThemeIcon('package', node.dirty ? new vscode.ThemeColor('list.warningForeground') : undefined);
        item.contextValue = imageContextValue(node, element.group);
        return item;
      }
      case 'container': {
        const { node } = element;
        const item = new vscode.TreeItem(
          node.role === 'jupyter' ? vscode.l10n.t('Jupyter') : node.name,
          vscode.TreeItemCollapsibleState.None,
        );
        item.id = this.id(element, `container:${node.id}`);
        item.description = node.jupyterUrl ?? node.status;
        item.tooltip = `${node.name} — ${node.status}`;
        item.iconPath = new vscode.ThemeIcon(
          node.role === 'jupyter' ? 'notebook' : 'vm',
          node.state === 'running' ? new vscode.ThemeColor('testing.iconPassed') : undefined,
        );
        item.contextValue = containerContextValue(node);
        return item;
      }
      case 'sweep': {
        const { sweep } = element;
        const item = new vscode.TreeItem(vscode.l10n.t('Sweep {0}', singleLine(sweep.id)), vscode.TreeItemCollapsibleState.Collapsed);
        item.id = this.id(element, `sweep:${element.image.image.id}:${sweep.id}`);
        item.description = sweepDescription(sweep);
        item.iconPath = new vscode.ThemeIcon(
          'beaker',
          sweep.counts.running || sweep.counts.pending
            ? new vscode.ThemeColor('testing.iconQueued')
            : sweep.counts.failed
              ? new vscode.ThemeColor('testing.iconFailed')
              : sweep.counts.ok
                ? new vscode.ThemeColor('testing.iconPassed')
                : undefined,
        );
        item.tooltip = `${vscode.l10n.t('Sweep {0}', singleLine(sweep.id))} — ${item.description}`;
        item.contextValue = sweepContextValue(sweep);
        return item;
      }
      case 'morePoints': {
        const item = new vscode.TreeItem(vscode.l10n.t('show {0} more', element.points.length), vscode.TreeItemCollapsibleState.Collapsed);
        item.id = this.id(element, `morePoints:${element.image.image.id}:${element.sweep.id}`);
        item.iconPath = new vscode.ThemeIcon('ellipsis');
        item.contextValue = 'morePoints;';
        return item;
      }
      case 'run': {
        const item = this.runItem(element.run, element);
        item.id = this.id(element, `run:${element.run.id}`);
        return item;
      }
      case 'moreRuns': {
        const item = new vscode.TreeItem(
          vscode.l10n.t('{0} older runs — `mlc runs --last 0` lists them all', element.count),
          vscode.TreeItemCollapsibleState.None,
        );
        item.id = this.id(element, `moreRuns:${element.image.image.id}`);
        item.iconPath = new vscode.ThemeIcon('ellipsis');
        return item;
      }
    }
  }

  /** A recorded run: its sweep values (else its config), exit status, duration and age; a click opens its output. */
  private runItem(run: RunRecord, node: TreeNode): vscode.TreeItem {
    const params = formatParams(run.params);
    const item = new vscode.TreeItem(params || run.config.path, vscode.TreeItemCollapsibleState.None);
    const word = runStatus(run);
    const pending = word.kind === 'pending';
    const status = statusLabel(word);
    const headline = headlineMetric(run.metrics, headlineMetricSetting());
    item.description = [
      status,
      headline ? `${headline.name} ${headline.text}` : '',
      formatDuration((run.end ? Date.parse(run.end) : Date.now()) - Date.parse(run.start)),
      formatAge(Date.parse(run.start) / 1000),
    ]
      .filter(Boolean)
      .join(' · ');
    item.iconPath = new vscode.ThemeIcon(
      pending
        ? 'clock'
        : run.status === 'running'
          ? 'sync~spin'
          : run.status === 'succeeded'
            ? 'pass'
            : run.status === 'failed'
              ? 'error'
              : 'circle-slash',
      new vscode.ThemeColor(
        run.status === 'running'
          ? 'testing.iconQueued'
          : run.status === 'succeeded'
            ? 'testing.iconPassed'
            : run.status === 'failed'
              ? 'testing.iconFailed'
              : 'disabledForeground',
      ),
    );
    item.contextValue = runContextValue(run);
    item.tooltip = new vscode.MarkdownString(
      [
        `**${vscode.l10n.t('Run')} ${escape(run.id)}** — ${escape(status)}`,
        ['```sh', run.command.join(' ').replace(/`{3,}/g, '` ` `'), '```'].join('\n'),
        `${vscode.l10n.t('Config')}: ${escape(run.config.path)} \`sha256:${run.config.sha256.slice(0, 16)}…\`${params ? ` — ${escape(params)}` : ''}`,
        `${vscode.l10n.t('Code')}: ${run.commit ? `\`${run.commit.slice(0, 12)}\`${run.dirty ? ` ${vscode.l10n.t('with uncommitted changes')}` : ''}` : vscode.l10n.t('no git commit')}${run.code === 'image' ? ` (${vscode.l10n.t('built into the image')})` : ''}`,
        `GPU: ${escape(run.gpus)} · ${escape(run.start)}`,
        ...metricsTable(run),
      ].join('\n\n'),
    );
    // Through Show Output, which opens the run's output.log only when it is the run's own plain file.
    item.command = { command: 'mlContainers.runs.showOutput', title: vscode.l10n.t('Open Run Output'), arguments: [node] };
    return item;
  }

  /** The Markdown tooltip is built on hover: labels, preset, commit, and the environment lock's hash. */
  async resolveTreeItem(item: vscode.TreeItem, element: TreeNode): Promise<vscode.TreeItem> {
    if (element.kind !== 'image') return item;
    const { node, group, folder } = element;
    const labels = node.image.labels;
    const { preset, variant } = readProvenance(labels);
    const lock = await fs.readFile(lockPath(folder, node.image.id)).catch(() => undefined);
    const rows = Object.entries(labels)
      .filter(([k]) => isProvenanceLabel(k))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `| \`${k}\` | ${escape(v)} |`);
    const md = new vscode.MarkdownString(
      [
        `**${escape(node.name)}**${node.dirty ? ` — ${vscode.l10n.t('built from uncommitted changes')}` : ''}`,
        '',
        preset ? `${vscode.l10n.t('Preset')}: ${escape(preset)} (${escape(variant ?? '')})` : '',
        group.meta ? `${vscode.l10n.t('Commit')}: ${escape(group.meta.subject)} — ${escape(group.meta.author)}` : '',
        lock
          ? `${vscode.l10n.t('Environment lock')}: \`sha256:${createHash('sha256').update(lock).digest('hex').slice(0, 16)}…\``
          : vscode.l10n.t('No environment lock recorded.'),
        '',
        '| label | value |',
        '| --- | --- |',
        ...rows,
      ].join('\n'),
    );
    item.tooltip = md;
    return item;
  }

  /** Each folder's commits as last listed: the first few start expanded. */
  private readonly lastGroups = new Map<string, CommitGroup[]>();
  private multiRoot = false;

  /** Context keys for welcome content and menus, set only when they change. */
  private publish(state: ExperimentViewState): void {
    const kind = state.kind === 'ready' && !state.tree.repository ? 'noRepository' : state.kind;
    if (kind !== this.lastKind) {
      this.lastKind = kind;
      void vscode.commands.executeCommand('setContext', 'mlContainers.engineState', kind);
    }
  }

  dispose(): void {
    this.subscription.dispose();
    this.settingSubscription.dispose();
    this.emitter.dispose();
  }
}

/** The run's metric summaries as a Markdown table (none: nothing). */
function metricsTable(run: RunRecord): string[] {
  const entries = Object.entries(run.metrics?.metrics ?? {});
  if (!entries.length) return [];
  const rows = entries.map(
    ([name, s]) =>
      `| ${escape(name)} | ${formatMetricValue(s.last)} | ${formatMetricValue(s.min)} | ${formatMetricValue(s.max)} | ${s.steps} |`,
  );
  return [
    [
      `| ${vscode.l10n.t('metric')} | ${vscode.l10n.t('last')} | min | max | ${vscode.l10n.t('steps')} |`,
      '| --- | ---: | ---: | ---: | ---: |',
      ...rows,
    ].join('\n'),
  ];
}

/** The order of a sweep's points (mlContainers.runs.sweepOrder): best first at the headline metric, or newest first. */
function sweepOrderSetting(): PointOrder {
  return vscode.workspace.getConfiguration('mlContainers').get<unknown>('runs.sweepOrder', 'metric') === 'start' ? 'start' : 'metric';
}

/** "36 points · 30 ok · 2 failed · 3 running · 1 pending · best loss 0.125 (lr=0.01)": counts that are not zero. */
function sweepDescription(sweep: SweepNode): string {
  const c = sweep.counts;
  const best = sweepBest(sweep, headlineMetricSetting());
  return [
    vscode.l10n.t('{0} points', sweep.size),
    c.ok ? vscode.l10n.t('{0} ok', c.ok) : '',
    c.failed ? vscode.l10n.t('{0} failed', c.failed) : '',
    c.running ? vscode.l10n.t('{0} running', c.running) : '',
    c.pending ? vscode.l10n.t('{0} pending', c.pending) : '',
    c.cancelled ? vscode.l10n.t('{0} cancelled', c.cancelled) : '',
    c.notStarted ? vscode.l10n.t('{0} not started', c.notStarted) : '',
    best
      ? vscode.l10n.t(
          'best {0} {1} ({2})',
          singleLine(best.metric),
          formatMetricValue(best.value),
          singleLine(formatParams(best.run.params)) || best.run.id,
        )
      : '',
  ]
    .filter(Boolean)
    .join(' · ');
}

/** Markdown-escapes text from labels and commit messages (they are not ours). */
function escape(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
}

/** The run's status in the user's language (core/run/status.ts decides which). */
function statusLabel(s: RunStatusWord): string {
  switch (s.kind) {
    case 'pending':
      return vscode.l10n.t('pending');
    case 'running':
      return vscode.l10n.t('running');
    case 'ok':
      return vscode.l10n.t('ok');
    case 'not started':
      return vscode.l10n.t('not started');
    case 'cancelled':
      return vscode.l10n.t('cancelled');
    case 'exit':
      return vscode.l10n.t('exit {0}', String(s.code));
    case 'ended':
      return s.word;
  }
}
