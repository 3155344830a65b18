import type { Engine, EngineEvent } from '../docker/engine';
import { EngineError } from '../docker/errors';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { JOB_LABEL, MANAGED_LABEL, REVISION_LABEL, ROLE_LABEL, WORKSPACE_LABEL } from '../labels';
import type { Logger } from '../log';
import type { GitHistoryProvider } from '../provenance/git';
import { finishRun, reconcileRuns } from '../run/lifecycle';
import type { RunRecord } from '../run/records';
import { RUNS_FILE, readRuns } from '../run/records';
import type { RunBackend } from '../backends/backend';
import { batchBackends, openRunsOf, reconcileOpenRuns } from '../backends/index';
import type { Timers } from '../docker/events';
import { EngineEventFeed, realTimers } from '../docker/events';
import type { ExperimentTree } from './tree';
import { groupImages } from './tree';

export type ExperimentViewState =
  | { kind: 'idle' }
  | { kind: 'untrusted' }
  | { kind: 'noFolder' }
  | { kind: 'down'; message: string }
  | { kind: 'ready'; tree: ExperimentTree };

export interface ExperimentModelDeps {
  engine: () => Engine;
  git: GitHistoryProvider;
  /** The workspace folder the view shows; undefined when none is open. */
  folder: () => string | undefined;
  trusted: () => boolean;
  /** The project's image repository (from its devcontainer.json name or folder). */
  projectRepo: (folder: string) => Promise<string>;
  log: Logger;
  timers?: Timers;
  /** Quiet time after an event before the list is reloaded. */
  debounceMs?: number;
  /** The workspace's run records (default: .mlcontainers/runs.jsonl); tests that drive timers pass their own. */
  runs?: (folder: string) => Promise<RunRecord[]>;
  /**
   * Finishes the runs that ended while no client followed them (default: core/run/lifecycle.ts, when the folder
   * has run records); tests that drive timers pass their own.
   */
  reconcile?: (engine: Engine, folder: string) => Promise<void>;
  /** The engine's event stream, shared by the models of a multi-root workspace (default: one of its own). */
  events?: EngineEventFeed;
  /**
   * The run backends (core/backends/), asked on each load while one of their runs is on record as pending or
   * running, to close the jobs that ended without a line of their own (cancelled, over time). Default: every
   * registered backend; tests pass their own.
   */
  backends?: () => readonly RunBackend[];
  /** How often the view reads the records again while a backend's run is pending or running (no engine event tells). */
  pollMs?: number;
}

const IMAGE_ACTIONS = new Set(['tag', 'untag', 'delete', 'import', 'load', 'pull']);
const CONTAINER_ACTIONS = new Set(['create', 'start', 'die', 'stop', 'destroy', 'rename']);

/**
 * One image list, one container list (both by our label), one git history and the workspace's run records: the whole
 * tree, for the view and `mlc ls`.
 */
export async function loadExperimentTree(
  engine: Engine,
  git: GitHistoryProvider,
  folder: string,
  projectRepo: string,
  signal?: AbortSignal,
  runRecords: (folder: string) => Promise<RunRecord[]> = async (dir) => (await readRuns(dir)).runs,
): Promise<ExperimentTree> {
  const [images, containers, runs] = await Promise.all([
    engine.listImages({ labels: [MANAGED_LABEL] }, signal),
    engine.listContainers({ labels: [`${MANAGED_LABEL}=true`], all: true }, signal),
    runRecords(folder),
  ]);
  const shas = [...new Set(images.map((i) => i.labels[REVISION_LABEL]).filter((s): s is string => Boolean(s)))];
  const history = await git.history(folder, shas, signal);
  return groupImages(images, containers, history, projectRepo, runs);
}

/** Whether an engine event can change what the view shows. */
export function isRelevantEvent(e: EngineEvent): boolean {
  if (e.type === 'image') return IMAGE_ACTIONS.has(e.action);
  if (e.type === 'container') return CONTAINER_ACTIONS.has(e.action) && e.attributes[MANAGED_LABEL] === 'true';
  return false;
}

/** A run container of this folder ended: whoever sees that first records it (core/run/lifecycle.ts). */
export function isRunEnd(e: EngineEvent, folder: string | undefined): boolean {
  // A backend's job owns its container (core/backends/), as in findRunContainers.
  return (
    e.type === 'container' &&
    e.action === 'die' &&
    e.attributes[ROLE_LABEL] === 'run' &&
    !e.attributes[JOB_LABEL] &&
    folder !== undefined &&
    e.attributes[WORKSPACE_LABEL] === folder
  );
}

/** Finishes the folder's ended runs; a folder without run records has none, and costs no engine call. */
async function reconcileIfRuns(engine: Engine, folder: string, log: Logger): Promise<void> {
  if (
    !(await fs.access(path.join(folder, RUNS_FILE)).then(
      () => true,
      () => false,
    ))
  )
    return;
  await reconcileRuns({ engine, workspace: folder, log });
}

/**
 * The Experiment Images view's cache. One /images/json and one /containers/json call (both filtered by our label)
 * and one git history lookup per load; loads only when asked (the view is open) after a change. Changes come from
 * the engine's /events stream while watched, debounced, and from whoever calls scheduleRefresh (git HEAD moves).
 * A multi-root workspace has one model per folder (vscode/workspaceImages.ts), all on one EngineEventFeed.
 */
export class ExperimentImagesModel {
  private state: ExperimentViewState = { kind: 'idle' };
  private loading: Promise<ExperimentViewState> | undefined;
  private readonly listeners = new Set<() => void>();
  private readonly timers: Timers;
  private pending: unknown;
  /** The next read of the records while a backend's run is open and the view watched. */
  private poll: unknown;
  /** The last failure of each backend, logged once until it changes. */
  private readonly backendWarnings = new Map<string, string>();
  /** Whether the last load found a backend's run pending or running. */
  private backendOpen = false;
  private watchers = 0;
  private stopWatching: (() => void) | undefined;
  /** The folder whose ended runs were last finished; reset when events may have been missed. */
  private reconciled: string | undefined;
  /** Loads so far; tests and the benchmark read it. */
  loads = 0;

  private readonly feed: EngineEventFeed;

  constructor(private readonly deps: ExperimentModelDeps) {
    this.timers = deps.timers ?? realTimers;
    this.feed = deps.events ?? new EngineEventFeed(deps);
  }

  onDidChange(listener: () => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  getState(): Promise<ExperimentViewState> {
    if (this.state.kind !== 'idle') return Promise.resolve(this.state);
    this.loading ??= this.load().finally(() => (this.loading = undefined));
    return this.loading;
  }

  /** Forgets the cache now and tells the view, which asks again. */
  refresh(): void {
    if (this.pending !== undefined) {
      this.timers.clearTimeout(this.pending);
      this.pending = undefined;
    }
    this.state = { kind: 'idle' };
    for (const l of [...this.listeners]) l();
  }

  /** A refresh after debounceMs; further calls meanwhile join it, so a burst costs one reload. */
  scheduleRefresh(): void {
    if (this.pending !== undefined) return;
    this.pending = this.timers.setTimeout(() => {
      this.pending = undefined;
      this.refresh();
    }, this.deps.debounceMs ?? 250);
  }

  /**
   * Follows the engine's /events while at least one watcher holds it (the view is visible), through the feed the
   * model was given (one stream for every folder's model) or its own.
   */
  watch(): { dispose(): void } {
    this.watchers++;
    if (this.watchers === 1) {
      this.stopWatching = this.feed.subscribe({
        event: (engine, event) => {
          if (isRunEnd(event, this.deps.folder())) void this.finishEnded(engine, event.id);
          if (isRelevantEvent(event)) this.scheduleRefresh();
        },
        // A run may have ended while the stream was down: the next load finishes it.
        dropped: () => (this.reconciled = undefined),
        resumed: () => this.scheduleRefresh(),
      });
      if (this.backendOpen) this.pollBackends();
    }
    let disposed = false;
    return {
      dispose: () => {
        if (disposed) return;
        disposed = true;
        if (--this.watchers === 0) {
          this.stopWatching?.();
          this.stopWatching = undefined;
          this.stopPolling();
        }
      },
    };
  }

  private async load(): Promise<ExperimentViewState> {
    this.loads++;
    if (!this.deps.trusted()) return this.set({ kind: 'untrusted' });
    const folder = this.deps.folder();
    if (!folder) return this.set({ kind: 'noFolder' });
    try {
      const repo = await this.deps.projectRepo(folder).catch(() => '');
      if (this.reconciled !== folder) {
        const reconcile =
          this.deps.reconcile ?? ((engine: Engine, dir: string): Promise<void> => reconcileIfRuns(engine, dir, this.deps.log));
        try {
          await reconcile(this.deps.engine(), folder);
          this.reconciled = folder;
        } catch (e) {
          this.deps.log.warn(`could not record the runs that ended: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      const runs = await this.backendRuns(folder);
      const tree = await loadExperimentTree(this.deps.engine(), this.deps.git, folder, repo, undefined, async () => runs);
      this.backendOpen = this.backends().some((b) => openRunsOf(b, runs).length > 0);
      if (this.backendOpen) this.pollBackends();
      return this.set({ kind: 'ready', tree });
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      if (e instanceof EngineError) this.deps.log.warn(message);
      else this.deps.log.error(message);
      return this.set({ kind: 'down', message });
    }
  }

  private backends(): readonly RunBackend[] {
    return (this.deps.backends ?? batchBackends)();
  }

  /** The folder's run records, after the backends closed the jobs that ended unrecorded. */
  private async backendRuns(folder: string): Promise<RunRecord[]> {
    const read = this.deps.runs ?? (async (dir: string): Promise<RunRecord[]> => (await readRuns(dir)).runs);
    const records = await read(folder);
    const { changed, failed } = await reconcileOpenRuns(this.backends(), records, { workspace: folder, log: this.deps.log });
    for (const b of this.backends()) if (!failed.some((f) => f.backend === b)) this.backendWarnings.delete(b.id);
    for (const f of failed) {
      const message = `could not ask ${f.backend.title} about the runs: ${f.message}`;
      if (message !== this.backendWarnings.get(f.backend.id)) this.deps.log.warn(message);
      this.backendWarnings.set(f.backend.id, message);
    }
    return changed ? await read(folder) : records;
  }

  /** While watched, the view loads again in a while: a backend's job start and end are lines in the records, not events. */
  private pollBackends(): void {
    if (this.watchers === 0 || this.poll !== undefined) return;
    this.poll = this.timers.setTimeout(() => {
      this.poll = undefined;
      this.refresh();
    }, this.deps.pollMs ?? 5000);
  }

  private stopPolling(): void {
    if (this.poll !== undefined) this.timers.clearTimeout(this.poll);
    this.poll = undefined;
  }

  /** A run container of the view's folder died: its record, output and removal, then the view shows how it ended. */
  private async finishEnded(engine: Engine, containerId: string): Promise<void> {
    const workspace = this.deps.folder();
    if (!workspace) return;
    try {
      await finishRun({ engine, workspace, containerId, log: this.deps.log });
    } catch (e) {
      this.deps.log.warn(
        `could not record the end of run container ${containerId.slice(0, 12)}: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    this.scheduleRefresh();
  }

  private set(state: ExperimentViewState): ExperimentViewState {
    this.state = state;
    return state;
  }

  dispose(): void {
    this.stopWatching?.();
    this.listeners.clear();
    if (this.pending !== undefined) this.timers.clearTimeout(this.pending);
    this.stopPolling();
  }
}
