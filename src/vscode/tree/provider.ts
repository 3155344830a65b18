import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as vscode from 'vscode';
import { formatAge, formatBytes } from '../../core/format';
import type { ExperimentImagesModel, ExperimentViewState } from '../../core/images/model';
import type { CommitGroup, ContainerNode, ImageNode } from '../../core/images/tree';
import { commitContextValue, containerContextValue, imageContextValue } from '../../core/images/tree';
import { LABEL_PREFIX } from '../../core/labels';
import { lockPath } from '../../core/provenance/lock';

/** What the Experiment Images view shows, and what its commands receive as their argument. */
export type TreeNode =
  | { kind: 'head'; sha: string; subject: string }
  | { kind: 'commit'; group: CommitGroup }
  | { kind: 'image'; node: ImageNode; group: CommitGroup }
  | { kind: 'container'; node: ContainerNode; image: ImageNode };

/** Commits shown expanded; older ones start collapsed. */
const EXPANDED_COMMITS = 3;

/**
 * Maps the model's tree to tree items. Empty, down, untrusted and no-folder states render no items, so the
 * view's welcome content (package.json viewsWelcome, keyed on mlContainers.engineState) shows instead.
 */
export class ImagesTreeProvider implements vscode.TreeDataProvider<TreeNode>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<TreeNode | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  private readonly subscription: { dispose(): void };
  private lastKind: string | undefined;

  constructor(private readonly model: ExperimentImagesModel, private readonly folder: () => string | undefined) {
    this.subscription = model.onDidChange(() => this.emitter.fire(undefined));
  }

  async getChildren(element?: TreeNode): Promise<TreeNode[]> {
    if (element?.kind === 'commit') return element.group.images.map((node) => ({ kind: 'image', node, group: element.group }));
    if (element?.kind === 'image') return element.node.containers.map((node) => ({ kind: 'container', node, image: element.node }));
    if (element) return [];
    const state = await this.model.getState();
    this.publish(state);
    if (state.kind !== 'ready') return [];
    const { tree } = state;
    const nodes: TreeNode[] = tree.groups.map((group) => ({ kind: 'commit', group }));
    // With other images listed, HEAD without an image gets its own row that offers the build; with none at all,
    // the welcome content says the same.
    if (tree.head && !tree.head.hasImage && nodes.length) nodes.unshift({ kind: 'head', sha: tree.head.sha, subject: tree.head.meta?.subject ?? '' });
    return nodes;
  }

  getTreeItem(element: TreeNode): vscode.TreeItem {
    switch (element.kind) {
      case 'head': {
        const item = new vscode.TreeItem(vscode.l10n.t('HEAD {0}: no image yet — Build', element.sha.slice(0, 7)), vscode.TreeItemCollapsibleState.None);
        item.id = `head:${element.sha}`;
        item.description = element.subject;
        item.iconPath = new vscode.ThemeIcon('add');
        item.contextValue = 'headNoImage;';
        item.command = { command: 'mlContainers.images.build', title: vscode.l10n.t('Build Experiment Image') };
        return item;
      }
      case 'commit': {
        const { group } = element;
        const index = this.groupIndex(group);
        const label = group.sha ? `${group.isHead ? 'HEAD ' : ''}${group.sha.slice(0, 7)}  ${group.meta?.subject ?? ''}` : vscode.l10n.t('Built outside git');
        const item = new vscode.TreeItem(label, index < EXPANDED_COMMITS ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.Collapsed);
        item.id = `commit:${group.sha ?? 'none'}`;
        item.description = [group.meta?.author, group.meta ? formatAge(Date.parse(group.meta.date) / 1000) : undefined, group.sha && !group.onBranch ? vscode.l10n.t('not on this branch') : undefined]
          .filter(Boolean)
          .join(' · ');
        item.iconPath = new vscode.ThemeIcon(group.isHead ? 'git-commit' : group.onBranch ? 'circle-outline' : 'git-branch');
        item.contextValue = commitContextValue(group);
        if (group.meta) {
          item.tooltip = new vscode.MarkdownString(`**${escape(group.meta.subject)}**\n\n${escape(group.meta.author)}, ${group.meta.date}\n\n\`${group.sha}\``);
        }
        return item;
      }
      case 'image': {
        const { node } = element;
        const item = new vscode.TreeItem(node.name, node.containers.length ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.None);
        // VS Code keeps an item's collapsed state by id, and an image that had no container (no children) would stay
        // collapsed when Jupyter starts in it: a new id for "has containers" lets the row open to show them.
        item.id = `image:${node.image.id}${node.containers.length ? ':with-containers' : ''}`;
        item.description = [node.dirty ? vscode.l10n.t('dirty') : '', ...node.otherTags.map((t) => t.slice(t.lastIndexOf(':') + 1)), formatBytes(node.image.size), formatAge(node.image.created)]
          .filter(Boolean)
          .join(' · ');
        item.iconPath = new vscode.ThemeIcon('package', node.dirty ? new vscode.ThemeColor('list.warningForeground') : undefined);
        item.contextValue = imageContextValue(node, element.group);
        return item;
      }
      case 'container': {
        const { node } = element;
        const item = new vscode.TreeItem(node.role === 'jupyter' ? vscode.l10n.t('Jupyter') : node.name, vscode.TreeItemCollapsibleState.None);
        item.id = `container:${node.id}`;
        item.description = node.jupyterUrl ?? node.status;
        item.tooltip = `${node.name} — ${node.status}`;
        item.iconPath = new vscode.ThemeIcon(node.role === 'jupyter' ? 'notebook' : 'vm', node.state === 'running' ? new vscode.ThemeColor('testing.iconPassed') : undefined);
        item.contextValue = containerContextValue(node);
        return item;
      }
    }
  }

  /** The Markdown tooltip is built on hover: labels, preset, commit, and the environment lock's hash. */
  async resolveTreeItem(item: vscode.TreeItem, element: TreeNode): Promise<vscode.TreeItem> {
    if (element.kind !== 'image') return item;
    const { node, group } = element;
    const labels = node.image.labels;
    const folder = this.folder();
    const lock = folder ? await fs.readFile(lockPath(folder, node.image.id)).catch(() => undefined) : undefined;
    const rows = Object.entries(labels)
      .filter(([k]) => k.startsWith(LABEL_PREFIX) || k.startsWith('org.opencontainers.'))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `| \`${k}\` | ${escape(v)} |`);
    const md = new vscode.MarkdownString(
      [
        `**${escape(node.name)}**${node.dirty ? ` — ${vscode.l10n.t('built from uncommitted changes')}` : ''}`,
        '',
        labels[`${LABEL_PREFIX}.preset`] ? `${vscode.l10n.t('Preset')}: ${escape(labels[`${LABEL_PREFIX}.preset`] ?? '')} (${escape(labels[`${LABEL_PREFIX}.variant`] ?? '')})` : '',
        group.meta ? `${vscode.l10n.t('Commit')}: ${escape(group.meta.subject)} — ${escape(group.meta.author)}` : '',
        lock ? `${vscode.l10n.t('Environment lock')}: \`sha256:${createHash('sha256').update(lock).digest('hex').slice(0, 16)}…\`` : vscode.l10n.t('No environment lock recorded.'),
        '',
        '| label | value |',
        '| --- | --- |',
        ...rows,
      ].join('\n'),
    );
    item.tooltip = md;
    return item;
  }

  private groupIndex(group: CommitGroup): number {
    return this.lastGroups.indexOf(group);
  }

  private lastGroups: CommitGroup[] = [];

  /** Context keys for welcome content and menus, set only when they change. */
  private publish(state: ExperimentViewState): void {
    this.lastGroups = state.kind === 'ready' ? state.tree.groups : [];
    const kind = state.kind === 'ready' && !state.tree.repository ? 'noRepository' : state.kind;
    if (kind !== this.lastKind) {
      this.lastKind = kind;
      void vscode.commands.executeCommand('setContext', 'mlContainers.engineState', kind);
    }
  }

  dispose(): void {
    this.subscription.dispose();
    this.emitter.dispose();
  }
}

/** Markdown-escapes text from labels and commit messages (they are not ours). */
function escape(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
}
