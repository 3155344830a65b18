import * as vscode from 'vscode';
import type { ImageSummary } from '../../core/docker/engine';
import { formatBytes } from '../../core/format';
import type { ImagesModel } from './model';

/** Maps the model's images to tree items; the empty, down and untrusted states are viewsWelcome content. */
export class ImagesTreeProvider implements vscode.TreeDataProvider<ImageSummary>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<ImageSummary | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  private readonly subscription: vscode.Disposable;

  constructor(private readonly model: ImagesModel) {
    this.subscription = model.onDidChange(() => this.emitter.fire(undefined));
  }

  async getChildren(element?: ImageSummary): Promise<ImageSummary[]> {
    if (element) {
      return [];
    }
    const state = await this.model.getState();
    return state.kind === 'ready' ? state.images : [];
  }

  getTreeItem(image: ImageSummary): vscode.TreeItem {
    const label = image.repoTags[0] ?? image.id.replace(/^sha256:/, '').slice(0, 12);
    const item = new vscode.TreeItem(label, vscode.TreeItemCollapsibleState.None);
    item.id = image.id;
    item.description = `${formatBytes(image.size)} · ${formatAge(image.created)}`;
    item.iconPath = new vscode.ThemeIcon('package');
    item.contextValue = 'image;';
    return item;
  }

  dispose(): void {
    this.subscription.dispose();
    this.emitter.dispose();
  }
}

function formatAge(createdSeconds: number): string {
  const seconds = Math.max(0, Date.now() / 1000 - createdSeconds);
  const steps: [number, string][] = [[86400, 'd'], [3600, 'h'], [60, 'm']];
  for (const [size, suffix] of steps) {
    if (seconds >= size) {
      return `${Math.floor(seconds / size)}${suffix} ago`;
    }
  }
  return 'just now';
}
