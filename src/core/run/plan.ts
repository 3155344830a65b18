// An experiment's plan: every point's config, written before the first run starts, so a sweep whose scheduling
// client died can be resumed (`mlc run --resume ID`) without running a point twice.
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
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
import { printable } from '../generatedText';
import { isRunId } from './runFolder';
import { ConfigError, MAX_SWEEP_POINTS, expandConfig } from './sweep';
import type { DataInput } from './inputs';
import { configInputs, dataInputs, isDataInputList } from './inputs';
import { WORKSPACE_IN_CONTAINER } from '../container/workspace';

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
  /** The data every point reads (mounted folders, `inputs:`), fingerprinted when the plan was made. */
  data?: DataInput[];
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
  /** Plan only, writing nothing (`mlc run --on BACKEND --dry-run`). */
  dryRun?: boolean;
}

/** Reads and expands the config, pins the image and the commit, and writes the plan; nothing starts yet. */
export async function planExperiment(o: PlanOptions): Promise<ExperimentPlan> {
  const now = o.now ?? ((): Date => new Date());
  if (!o.command.length)
    throw new RunError('No command to run: give it after `--`, e.g. `mlc run --config configs/experiment.yaml -- python train.py`.');
  const configPath = path.resolve(o.workspace, o.config);
  const configText = await readConfig(o.workspace, o.config, configPath);
  const configRel = path.relative(o.workspace, configPath).split(path.sep).join('/');
  const expanded = expandConfig(configText, configRel);
  for (const w of expanded.warnings) o.log.warn(w);

  const runtime = {
    env: envNamesOnly(o.runtime?.env),
    envFiles: [...(o.runtime?.envFiles ?? [])].map((f) => path.resolve(o.workspace, f)),
    mounts: [...(o.runtime?.mounts ?? [])],
    ...(o.devcontainer
      ? { devcontainer: path.relative(o.workspace, path.resolve(o.workspace, o.devcontainer)).split(path.sep).join('/') }
      : {}),
  };
  // Before the plan is written: a runArgs flag we cannot pass, a missing variable or env file stops here.
  const settings = await planRuntime(
    o.workspace,
    runtime,
    { ...(o.hostEnv ?? process.env), ...givenEnvValues(o.runtime?.env) },
    { allowImagePrivileges: o.runtime?.allowImagePrivileges },
  );
  const details = await o.engine.inspectImage(o.image, o.signal);
  if (!details) throw new RunError(`Image ${o.image} not found: build it first ("Build Experiment Image" or \`mlc build\`).`);
  // So does an image whose devcontainer.metadata asks for privileges not agreed to (with the flag: remembered here).
  await checkImagePrivileges({ ref: o.image, details }, o.workspace, settings);
  const provenance = readProvenance(details.labels);
  const data = await dataInputs(o.workspace, settings, configInputs(configText, configRel), WORKSPACE_IN_CONTAINER);
  const code = o.code ?? 'workspace';
  if (code === 'image' && !provenance.revision) o.log.warn(`${o.image} records no commit (built outside git): its runs carry none.`);
  const git =
    code === 'workspace'
      ? await o.git.info(o.workspace, o.signal)
      : provenance.revision
        ? { sha: provenance.revision, dirty: provenance.dirty }
        : undefined;
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
    data,
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

/** The longest hyper-parameter file read: its text goes into every run's record. */
const MAX_CONFIG_BYTES = 1024 * 1024;

/**
 * The config's text. A file of the project must be one: a link from inside the project to outside it (a cloned
 * repository's `configs/experiment.yaml -> ~/.docker/config.json`) is refused, since its text would be copied into
 * the run folder, mounted into the container and stored in the record. A path the user names outside the project is
 * theirs to name. Either way: a plain file, at most MAX_CONFIG_BYTES.
 */
async function readConfig(workspace: string, given: string, configPath: string): Promise<string> {
  const notFound = (): ConfigError =>
    new ConfigError(`${given} not found: pass the hyper-parameter YAML with --config (e.g. configs/experiment.yaml).`);
  const real = await fs.realpath(configPath).catch(() => undefined);
  if (real === undefined) throw notFound();
  const inProject = (p: string, root: string): boolean => {
    const rel = path.relative(root, p);
    return rel !== '' && !rel.startsWith(`..${path.sep}`) && rel !== '..' && !path.isAbsolute(rel);
  };
  if (inProject(configPath, workspace) && !inProject(real, await fs.realpath(workspace))) {
    throw new ConfigError(
      `${given} is a link to ${real}, outside the project: a hyper-parameter file must be a file in the project; copy it in, or name that file itself with --config.`,
    );
  }
  const handle = await fs.open(real, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW).catch(() => undefined);
  if (!handle) throw notFound();
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new ConfigError(`${given} is not a file: pass the hyper-parameter YAML with --config.`);
    if (st.size > MAX_CONFIG_BYTES)
      throw new ConfigError(
        `${given} is ${Math.round(st.size / 1024)} KiB; a hyper-parameter file is at most ${MAX_CONFIG_BYTES / 1024} KiB (it is stored in every run's record): keep data in files the training code reads.`,
      );
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
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
  const user = {
    env: runtime?.env ?? [],
    envFiles: runtime?.envFiles ?? [],
    mounts: runtime?.mounts ?? [],
    ...(consent.allowImagePrivileges ? { allowImagePrivileges: true } : {}),
  };
  const raw = project.rawConfig;
  return runtimeSettings(raw, { workspace, hostEnv, user, ...(raw ? { configFile: project.devcontainerPath } : {}) });
}

/**
 * `mlc run --resume`: the plan's image checked against what it asks (imagePrivileges.ts) before anything starts; with
 * `--allow-image-privileges` the consent is remembered for it, for the scheduler and a backend's submission to find.
 */
export async function checkPlanImage(
  engine: Engine,
  plan: ExperimentPlan,
  hostEnv: Readonly<Record<string, string | undefined>>,
  o: { allowImagePrivileges?: boolean; signal?: AbortSignal } = {},
): Promise<void> {
  const details = await engine.inspectImage(plan.image.id, o.signal);
  // A missing image is said where the runs start (executePlan, a backend's submission), each in its own words.
  if (!details) return;
  await checkImagePrivileges({ ref: plan.image.ref, details }, plan.workspace, await planRuntime(plan.workspace, plan.runtime, hostEnv, o));
}

function planFile(workspace: string, id: string, ext = '.json'): string {
  if (!isRunId(id)) throw new RunError(`${printable(id)} is not a sweep or run id: \`mlc runs\` lists them.`);
  return path.join(workspace, PLANS_DIR, `${id}${ext}`);
}

/** The plan of a sweep (or run) id; a sentence that says what to do when there is none. */
export async function readPlan(workspace: string, id: string): Promise<ExperimentPlan> {
  const text = await fs.readFile(planFile(workspace, id), 'utf8').catch(() => undefined);
  if (text === undefined) throw new RunError(`No sweep ${id} in ${PLANS_DIR}: \`mlc runs\` lists the sweeps and runs of this project.`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    raw = undefined;
  }
  if (!isPlan(raw, id))
    throw new RunError(`${path.join(PLANS_DIR, `${id}.json`)} is not a sweep plan: it was edited or torn; run the sweep again.`);
  return raw;
}

/** A plan read back names folders and files by its ids and config name: each is checked before it is used. */
function isPlan(raw: unknown, id: string): raw is ExperimentPlan {
  const name = isRecord(raw) && isRecord(raw.config) ? raw.config.name : undefined;
  return (
    isRecord(raw) &&
    raw.id === id &&
    isRecord(raw.image) &&
    typeof raw.image.id === 'string' &&
    typeof name === 'string' &&
    name === path.basename(name) &&
    name !== '..' &&
    name !== '.' &&
    !name.startsWith('.final') &&
    Array.isArray(raw.command) &&
    raw.command.every((c) => typeof c === 'string') &&
    Array.isArray(raw.points) &&
    raw.points.length <= MAX_SWEEP_POINTS &&
    raw.points.every(
      (p) => isRecord(p) && isRunId(p.runId) && typeof p.text === 'string' && typeof p.index === 'number' && isRecord(p.params),
    ) &&
    (raw.data === undefined || isDataInputList(raw.data))
  );
}

/** Asks a sweep's scheduler, wherever it runs, to start no further point. */
export async function markSweepStopped(workspace: string, id: string): Promise<void> {
  await writeFileAtomic(planFile(workspace, id, '.stop'), '');
}

/**
 * Lets a stopped sweep's scheduler start points again. Only where a person asked to go on (`mlc run --resume`,
 * Resume Sweep): a marker left in place makes the resumed scheduler start nothing.
 */
export async function clearSweepStopped(workspace: string, id: string): Promise<void> {
  await fs.rm(planFile(workspace, id, '.stop'), { force: true });
}

export async function sweepStopped(workspace: string, id: string): Promise<boolean> {
  return fs.lstat(planFile(workspace, id, '.stop')).then(
    (st) => st.isFile(),
    () => false,
  );
}

/** The points that never started: no record of theirs exists, not even a start line. */
export function pendingPoints(plan: ExperimentPlan, records: readonly RunRecord[]): PlannedPoint[] {
  const started = new Set(records.map((r) => r.id));
  return plan.points.filter((p) => !started.has(p.runId));
}
