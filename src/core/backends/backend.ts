// Where a plan's runs go. A run backend takes a written plan (core/run/plan.ts) and answers for the runs it took:
// which are still queued or running, how each ended, and how to stop them. This engine is one (local.ts); a batch
// system is another (a folder beside this file). Records say which backend ran them (`backend`, `job`); the CLI, the view and the
// scheduler ask the backend through this interface and name none.
import type { Engine } from '../docker/engine';
import type { Logger } from '../log';
import type { ExperimentPlan } from '../run/plan';
import type { RunRecord } from '../run/records';

export interface BackendContext {
  /** The project folder whose `.mlcontainers/runs.jsonl` holds the runs. */
  workspace: string;
  log: Logger;
  signal?: AbortSignal;
}

/** What every backend answers for the runs it took, this engine included. */
export interface RunBackend {
  /** What records carry as `backend`, and `mlc run --on` takes. */
  readonly id: string;
  /** For sentences: "the engine", or the batch system's name. */
  readonly title: string;
  /**
   * Closes the runs on record as running (of `records`, this backend's) whose job ended without a final line of
   * its own: cancelled, over time, its client killed. Returns whether a record changed.
   */
  reconcile(records: readonly RunRecord[], o: BackendContext): Promise<boolean>;
  /** Stops a run, or every open run of a sweep (`target` is either id): the ids of the runs it stopped. */
  stop(target: string, o: BackendContext): Promise<string[]>;
  /** Whether the run's job still waits or runs (`mlc logs -f` follows its output.log until it does not). */
  isLive(record: RunRecord, o: BackendContext): Promise<boolean>;
}

/** The flags `mlc run --on ID` takes for one backend, beside the common ones: node:util parseArgs options. */
export interface BackendFlags {
  options: Record<string, { type: 'string'; multiple?: boolean } | { type: 'boolean' }>;
  /** The help section, as `mlc run --help` prints it. */
  help: string;
  /** The flags' values checked and turned into the backend's options: throws one sentence on a bad value. */
  parse(values: Readonly<Record<string, string | boolean | string[] | undefined>>): unknown;
}

export interface SubmitInput {
  /** The engine the plan's image is on (the backend may convert or push it from there). */
  engine: Engine;
  /** This process's environment plus values given as NAME=VALUE, which the plan on disk names only. */
  hostEnv: Readonly<Record<string, string | undefined>>;
  /** What `flags.parse` made of the command line; `{}` from VS Code. */
  options: unknown;
  /** The engine address given with --host, for scripts that reach it from another machine. */
  host?: string;
  /** This CLI (node and script), for scripts that record their job's start and end. */
  recorder: { node: string; cli: string };
  /** Render only: nothing written or submitted; `script` says what would be. */
  dryRun?: boolean;
  log: Logger;
  signal?: AbortSignal;
}

export interface Submission {
  /** The runs on record as queued, in the plan's order. */
  runs: string[];
  /** The backend's name for what it took (an array job's id); absent on a dry run. */
  job?: string;
  /** What the backend runs (a batch script), and where it is kept, relative to the workspace. */
  script?: string;
  scriptFile?: string;
}

/** A backend the user can send a plan to (`mlc run --on ID`, Run Experiment's "where"). */
export interface BatchBackend extends RunBackend {
  /** One line for the VS Code picker: what submitting there does. */
  readonly description: string;
  readonly flags: BackendFlags;
  /** Whether it can take jobs from this machine (its submit command on PATH): asked before it is offered. */
  available(): Promise<boolean>;
  /**
   * Submits the plan's points (all of them: a plan a backend takes is submitted whole). When it returns, every
   * point is on record as queued with `backend` and `job`, so `mlc runs` and the view list them at once.
   */
  submit(plan: ExperimentPlan, o: SubmitInput): Promise<Submission>;
}
