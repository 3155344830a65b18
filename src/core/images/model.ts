import type { Engine, EngineEvent } from '../docker/engine';
import { EngineError } from '../docker/errors';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { MANAGED_LABEL, REVISION_LABEL, ROLE_LABEL, SLURM_JOB_LABEL, WORKSPACE_LABEL } from '../labels';
import type { Logger } from '../log';
import type { GitHistoryProvider } from '../provenance/git';
import { finishRun, reconcileRuns } from '../run/lifecycle';
import type { RunRecord } from '../run/records';
import { RUNS_FILE, readRuns } from '../run/records';
import type { Slurm } from '../backends/slurm/slurm';
import { reconcileSlurmRuns } from '../backends/slurm/tasks';
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
   * squeue/sacct, asked on each load while a Slurm run is on record as pending or running, to close the tasks that
   * ended without a line of their own (cancelled, over time); absent: the records alone are shown.
   */
  slurm?: () => Slurm;
  /** How often the view reads the records again while a Slurm run is pending or running (no engine event tells). */
  slurmPollMs?: number;
}

/** A Slurm run still on record as pending or running: its changes come from its task and squeue, not from events. */
function isOpenSlurmRun(r: RunRecord): boolean {
  return r.status === 'running' && r.slurm !== undefined;
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
  // A Slurm task's container is its batch script's to finish (core/slurm/tasks.ts), as in findRunContainers.
  return e.type === 'container' && e.action === 'die' && e.attributes[ROLE_LABEL] === 'run' && !e.attributes[SLURM_JOB_LABEL] && folder !== undefined && e.attributes[WORKSPACE_LABEL] === folder;
}

/** Finishes the folder's ended runs; a folder without run records has none, and costs no engine call. */
async function reconcileIfRuns(engine: Engine, folder: string, log: Logger): Promise<void> {
  if (!(await fs.access(path.join(folder, RUNS_FILE)).then(() => true, () => false))) return;
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
  /** The next read of the records while a Slurm run is open and the view watched. */
  private poll: unknown;
  /** The last squeue/sacct failure, logged once until it changes. */
  private slurmWarning: string | undefined;
  /** Whether the last load found a Slurm run pending or running. */
  private slurmOpen = false;
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
      if (this.slurmOpen) this.pollSlurm();
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
        const reconcile = this.deps.reconcile ?? ((engine: Engine, dir: string): Promise<void> => reconcileIfRuns(engine, dir, this.deps.log));
        try {
          await reconcile(this.deps.engine(), folder);
          this.reconciled = folder;
        } catch (e) {
          this.deps.log.warn(`could not record the runs that ended: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      const runs = await this.slurmRuns(folder);
      const tree = await loadExperimentTree(this.deps.engine(), this.deps.git, folder, repo, undefined, async () => runs);
      this.slurmOpen = runs.some(isOpenSlurmRun);
      if (this.slurmOpen) this.pollSlurm();
      return this.set({ kind: 'ready', tree });
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      if (e instanceof EngineError) this.deps.log.warn(message);
      else this.deps.log.error(message);
      return this.set({ kind: 'down', message });
    }
  }

  /** The folder's run records, after squeue/sacct closed the Slurm tasks that ended unrecorded. */
  private async slurmRuns(folder: string): Promise<RunRecord[]> {
    const read = this.deps.runs ?? (async (dir: string): Promise<RunRecord[]> => (await readRuns(dir)).runs);
    const records = await read(folder);
    if (!this.deps.slurm || !records.some(isOpenSlurmRun)) return records;
    try {
      const changed = await reconcileSlurmRuns({ slurm: this.deps.slurm(), workspace: folder, log: this.deps.log, records });
      this.slurmWarning = undefined;
      return changed ? await read(folder) : records;
    } catch (e) {
      const message = `could not ask Slurm about the runs: ${e instanceof Error ? e.message : String(e)}`;
      if (message !== this.slurmWarning) this.deps.log.warn((this.slurmWarning = message));
      return records;
    }
  }

  /** While watched, the view loads again in a while: a Slurm task's start and end are lines in the records, not events. */
  private pollSlurm(): void {
    if (this.watchers === 0 || this.poll !== undefined) return;
    this.poll = this.timers.setTimeout(() => {
      this.poll = undefined;
      this.refresh();
    }, this.deps.slurmPollMs ?? 5000);
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
      this.deps.log.warn(`could not record the end of run container ${containerId.slice(0, 12)}: ${e instanceof Error ? e.message : String(e)}`);
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
