// An experiment's plan: every point's config, written before the first run starts, so a sweep whose scheduling
// client died can be resumed (`mlc run --resume ID`) without running a point twice.
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { writeFileAtomic } from '../atomicWrite';
import type { GpuSetting } from '../container/gpu';
import { checkImagePrivileges } from '../container/imagePrivileges';
import type { RuntimeSettings, UserRuntimeInput } from '../container/runtime';
import { envNamesOnly, givenEnvValues, runtimeSettings } from '../container/runtime';
import { openProject } from '../project';
import type { Engine } from '../docker/engine';
import { UserError } from '../errors';
import { isRecord } from '../json';
import { readProvenance } from '../labels';
import type { Logger } from '../log';
import type { GitProvider } from '../provenance/git';
import type { RunCode, RunRecord } from './records';
import { ConfigError, expandConfig } from './sweep';

/** Plans, by sweep id (or a single run's id). */
export const PLANS_DIR = path.join('.mlcontainers', 'sweeps');

export class RunError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'RunError';
  }
}

export interface PlannedPoint {
  runId: string;
  index: number;
  params: Record<string, unknown>;
  /** The config this point's container sees. */
  text: string;
  sha256: string;
}

export interface ExperimentPlan {
  /** The sweep's id, or the single run's. */
  id: string;
  sweep: boolean;
  workspace: string;
  /** Pinned by id: a rebuild meanwhile does not change what a resumed sweep runs. */
  image: RunRecord['image'];
  code: RunCode;
  /** The code's commit: the workspace's at submission (code "workspace"), the image's (code "image"). */
  commit: string | null;
  dirty: boolean;
  config: { path: string; name: string };
  command: string[];
  gpu: GpuSetting;
  parallel: number | undefined;
  shmSizeBytes: number;
  /** What the user added (--env, --env-file, --mount): env by NAME only, the values come from the environment at start. */
  runtime?: { env: string[]; envFiles: string[]; mounts: string[]; devcontainer?: string };
  points: PlannedPoint[];
  created: string;
  warnings: string[];
}

export interface PlanOptions {
  engine: Engine;
  workspace: string;
  /** The hyper-parameter YAML, absolute or relative to the workspace. */
  config: string;
  image: string;
  command: string[];
  code?: RunCode;
  gpu: GpuSetting;
  parallel?: number;
  shmSizeBytes: number;
  /** --env NAME[=VALUE], --env-file, --mount (and the settings for them). */
  runtime?: UserRuntimeInput;
  /** The devcontainer.json whose runtime settings the runs get, relative to the workspace; default: the folder's. */
  devcontainer?: string | undefined;
  /** Where NAME-only variables and ${localEnv:…} come from (default: this process's environment). */
  hostEnv?: Readonly<Record<string, string | undefined>>;
  git: GitProvider;
  log: Logger;
  signal?: AbortSignal;
  now?: () => Date;
  /** Plan only, writing nothing (`mlc run --on slurm --dry-run`). */
  dryRun?: boolean;
}

/** Reads and expands the config, pins the image and the commit, and writes the plan; nothing starts yet. */
export async function planExperiment(o: PlanOptions): Promise<ExperimentPlan> {
  const now = o.now ?? ((): Date => new Date());
  if (!o.command.length) throw new RunError('No command to run: give it after `--`, e.g. `mlc run --config configs/experiment.yaml -- python train.py`.');
  const configPath = path.resolve(o.workspace, o.config);
  const configText = await fs.readFile(configPath, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new ConfigError(e.code === 'ENOENT' ? `${o.config} not found: pass the hyper-parameter YAML with --config (e.g. configs/experiment.yaml).` : `${o.config}: ${e.message}`);
  });
  const configRel = path.relative(o.workspace, configPath).split(path.sep).join('/');
  const expanded = expandConfig(configText, configRel);
  for (const w of expanded.warnings) o.log.warn(w);

  const runtime = {
    env: envNamesOnly(o.runtime?.env),
    envFiles: [...(o.runtime?.envFiles ?? [])].map((f) => path.resolve(o.workspace, f)),
    mounts: [...(o.runtime?.mounts ?? [])],
    ...(o.devcontainer ? { devcontainer: path.relative(o.workspace, path.resolve(o.workspace, o.devcontainer)).split(path.sep).join('/') } : {}),
  };
  // Before the plan is written: a runArgs flag we cannot pass, a missing variable or env file stops here.
  const settings = await planRuntime(o.workspace, runtime, { ...(o.hostEnv ?? process.env), ...givenEnvValues(o.runtime?.env) }, { allowImagePrivileges: o.runtime?.allowImagePrivileges });
  const details = await o.engine.inspectImage(o.image, o.signal);
  if (!details) throw new RunError(`Image ${o.image} not found: build it first ("Build Experiment Image" or \`mlc build\`).`);
  // So does an image whose devcontainer.metadata asks for privileges not agreed to (with the flag: remembered here).
  await checkImagePrivileges({ ref: o.image, details }, o.workspace, settings);
  const provenance = readProvenance(details.labels);
  const code = o.code ?? 'workspace';
  if (code === 'image' && !provenance.revision) o.log.warn(`${o.image} records no commit (built outside git): its runs carry none.`);
  const git = code === 'workspace' ? await o.git.info(o.workspace, o.signal) : provenance.revision ? { sha: provenance.revision, dirty: provenance.dirty } : undefined;
  if (!git && code === 'workspace') o.log.warn(`${o.workspace} is not a git repository: run records carry no commit.`);

  const stamp = now().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  const id = `${stamp}-${randomBytes(2).toString('hex')}`;
  const sweep = expanded.points.length > 1;
  const plan: ExperimentPlan = {
    id,
    sweep,
    workspace: o.workspace,
    image: { id: details.id, ref: o.image, tags: details.repoTags, revision: provenance.revision ?? null, dirty: provenance.dirty },
    code,
    commit: git?.sha ?? null,
    dirty: git?.dirty ?? false,
    config: { path: configRel, name: path.basename(configPath) },
    command: o.command,
    gpu: o.gpu,
    parallel: o.parallel,
    shmSizeBytes: o.shmSizeBytes,
    runtime,
    points: expanded.points.map((p) => ({
      runId: sweep ? `${id}-${p.index + 1}` : id,
      index: p.index,
      params: p.params,
      text: p.text,
      sha256: createHash('sha256').update(p.text).digest('hex'),
    })),
    created: now().toISOString(),
    warnings: expanded.warnings,
  };
  if (!o.dryRun) await writeFileAtomic(planFile(o.workspace, id), `${JSON.stringify(plan, null, 2)}\n`);
  return plan;
}

/**
 * The runtime settings a plan's containers get: the project's devcontainer.json as it is now, and what the user
 * added, their values taken from `hostEnv` (a value given on the command line travels in the scheduler's environment).
 */
export async function planRuntime(
  workspace: string,
  runtime: ExperimentPlan['runtime'],
  hostEnv: Readonly<Record<string, string | undefined>>,
  consent: { allowImagePrivileges?: boolean | undefined } = {},
): Promise<RuntimeSettings> {
  const project = await openProject(workspace, { devcontainer: runtime?.devcontainer });
  const user = { env: runtime?.env ?? [], envFiles: runtime?.envFiles ?? [], mounts: runtime?.mounts ?? [], ...(consent.allowImagePrivileges ? { allowImagePrivileges: true } : {}) };
  return runtimeSettings(project.rawConfig, { workspace, hostEnv, user });
}

/**
 * `mlc run --resume`: the plan's image checked against what it asks (imagePrivileges.ts) before anything starts; with
 * `--allow-image-privileges` the consent is remembered for it, for the scheduler and a Slurm submission to find.
 */
export async function checkPlanImage(engine: Engine, plan: ExperimentPlan, hostEnv: Readonly<Record<string, string | undefined>>, o: { allowImagePrivileges?: boolean; signal?: AbortSignal } = {}): Promise<void> {
  const details = await engine.inspectImage(plan.image.id, o.signal);
  // A missing image is said where the runs start (executePlan, the Slurm submission), each in its own words.
  if (!details) return;
  await checkImagePrivileges({ ref: plan.image.ref, details }, plan.workspace, await planRuntime(plan.workspace, plan.runtime, hostEnv, o));
}

function planFile(workspace: string, id: string): string {
  return path.join(workspace, PLANS_DIR, `${id}.json`);
}

/** The plan of a sweep (or run) id; a sentence that says what to do when there is none. */
export async function readPlan(workspace: string, id: string): Promise<ExperimentPlan> {
  const text = await fs.readFile(planFile(workspace, id), 'utf8').catch(() => undefined);
  if (text === undefined) throw new RunError(`No sweep ${id} in ${PLANS_DIR}: \`mlc runs\` lists the sweeps and runs of this project.`);
  const raw: unknown = JSON.parse(text);
  if (!isRecord(raw) || raw.id !== id || !Array.isArray(raw.points)) throw new RunError(`${path.join(PLANS_DIR, `${id}.json`)} is not a sweep plan: it was edited or torn; run the sweep again.`);
  return raw as unknown as ExperimentPlan;
}

/** Asks a sweep's scheduler, wherever it runs, to start no further point. */
export async function markSweepStopped(workspace: string, id: string): Promise<void> {
  await writeFileAtomic(path.join(workspace, PLANS_DIR, `${id}.stop`), '');
}

export async function sweepStopped(workspace: string, id: string): Promise<boolean> {
  return fs.access(path.join(workspace, PLANS_DIR, `${id}.stop`)).then(() => true, () => false);
}

/** The points that never started: no record of theirs exists, not even a start line. */
export function pendingPoints(plan: ExperimentPlan, records: readonly RunRecord[]): PlannedPoint[] {
  const started = new Set(records.map((r) => r.id));
  return plan.points.filter((p) => !started.has(p.runId));
}
