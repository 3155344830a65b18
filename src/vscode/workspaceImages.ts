import * as vscode from 'vscode';
import type { ExperimentImagesModel, ExperimentViewState } from '../core/images/model';

/** A workspace folder as the view needs it: its path and the name the workspace gives it. */
export interface ViewFolder {
  readonly path: string;
  readonly name: string;
}

interface Entry {
  folder: ViewFolder;
  model: ExperimentImagesModel;
  changed: { dispose(): void };
  watching?: { dispose(): void };
  head?: Promise<{ dispose(): void } | undefined>;
}

/**
 * The Experiment Images models of the workspace, one per folder, in the workspace's order: made and disposed as
 * folders come and go (setFolders), watched together while the view is visible. The models share one engine event
 * stream (the factory passes them one EngineEventFeed), so a second folder costs its own loads, not a second stream.
 */
export class WorkspaceImages implements vscode.Disposable {
  private entries: Entry[] = [];
  private watchers = 0;
  private readonly emitter = new vscode.EventEmitter<void>();
  /** A folder's model changed, or the folders did. */
  readonly onDidChange = this.emitter.event;

  constructor(
    private readonly create: (folder: string) => ExperimentImagesModel,
    /** Follows the folder's git HEAD while the view is visible (the git extension); undefined when it cannot. */
    private readonly headWatch: (folder: string, moved: () => void) => Promise<{ dispose(): void } | undefined> = async () => undefined,
  ) {}

  /** Keeps the models of folders still open, makes models for new ones, disposes the rest. */
  setFolders(folders: readonly ViewFolder[]): void {
    const old = new Map(this.entries.map((e) => [e.folder.path, e]));
    this.entries = folders.map((folder) => {
      const kept = old.get(folder.path);
      old.delete(folder.path);
      if (kept) return { ...kept, folder };
      const model = this.create(folder.path);
      const entry: Entry = { folder, model, changed: model.onDidChange(() => this.emitter.fire()) };
      if (this.watchers) this.startWatching(entry);
      return entry;
    });
    for (const gone of old.values()) this.disposeEntry(gone);
    this.emitter.fire();
  }

  folders(): ViewFolder[] {
    return this.entries.map((e) => e.folder);
  }

  model(folder: string): ExperimentImagesModel | undefined {
    return this.entries.find((e) => e.folder.path === folder)?.model;
  }

  /** The folder's view state; noFolder for a folder that is not (or no longer) in the workspace. */
  getState(folder: string): Promise<ExperimentViewState> {
    return this.model(folder)?.getState() ?? Promise.resolve({ kind: 'noFolder' });
  }

  /** Reloads the folder's model now; every folder's without one. */
  refresh(folder?: string): void {
    for (const e of this.matching(folder)) e.model.refresh();
  }

  /** A debounced reload of the folder's model; every folder's without one. */
  scheduleRefresh(folder?: string): void {
    for (const e of this.matching(folder)) e.model.scheduleRefresh();
  }

  /** Every model follows the engine's events (and its folder's HEAD) while at least one watcher holds this. */
  watch(): { dispose(): void } {
    if (++this.watchers === 1) this.entries.forEach((e) => this.startWatching(e));
    let disposed = false;
    return {
      dispose: () => {
        if (disposed) return;
        disposed = true;
        if (--this.watchers === 0) this.entries.forEach((e) => this.stopWatching(e));
      },
    };
  }

  private matching(folder: string | undefined): Entry[] {
    return folder === undefined ? this.entries : this.entries.filter((e) => e.folder.path === folder);
  }

  private startWatching(entry: Entry): void {
    entry.watching = entry.model.watch();
    // HEAD moves are followed from the first time the view shows, for as long as the folder is open.
    entry.head ??= this.headWatch(entry.folder.path, () => entry.model.scheduleRefresh()).catch(() => undefined);
  }

  private stopWatching(entry: Entry): void {
    entry.watching?.dispose();
    entry.watching = undefined;
  }

  private disposeEntry(entry: Entry): void {
    this.stopWatching(entry);
    void entry.head?.then((d) => d?.dispose());
    entry.changed.dispose();
    entry.model.dispose();
  }

  dispose(): void {
    this.entries.forEach((e) => this.disposeEntry(e));
    this.entries = [];
    this.emitter.dispose();
  }
}
