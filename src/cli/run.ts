import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { Engine } from '../core/docker/engine';
import { EngineError } from '../core/docker/errors';
import { machineEngine } from '../core/docker/machine';
import { formatAge, formatDuration } from '../core/format';
import { openProject } from '../core/project';
import { commitTag } from '../core/images/tree';
import { GitCli } from '../core/provenance/git';
import type { RunRecord } from '../core/run/records';
import { executePlan } from '../core/run/experiment';
import { RUNS_FILE, readRuns } from '../core/run/records';
import { commitCell, runStatus, statusText } from '../core/run/status';
import { readRunOutput } from '../core/run/runFolder';
import { findRunContainers, finishRun, reconcileRuns } from '../core/run/lifecycle';
import type { RunComparison } from '../core/run/compare';
import type { SeedGroup } from '../core/run/compare';
import { compareRuns, groupSeeds, imageLocks, latestSweep, selectRuns, topRuns } from '../core/run/compare';
import { varyingParamKeys } from '../core/run/comparePayload';
import { SCHEDULER_ENV, schedulerLaunch, schedulerLogTail, startScheduler } from '../core/run/detach';
import type { ExperimentPlan, PlannedPoint } from '../core/run/plan';
import { PLANS_DIR, checkPlanImage, clearSweepStopped, markSweepStopped, pendingPoints, planExperiment, readPlan } from '../core/run/plan';
import { parseGpuSetting } from '../core/container/gpu';
import { parseSize } from '../core/format';
import { givenEnvValues } from '../core/container/runtime';
import { formatParams } from '../core/run/sweep';
import { templatesDir } from '../core/scaffold/templateFiles';
import { terminalText } from '../core/terminalText';
import type { CliIO } from './io';
import { UsageError, asUsage, cliLogger } from './io';
import type { BatchBackend } from '../core/backends/backend';
import { batchBackends, findBackend, openRunsOf, reconcileOpenRuns } from '../core/backends/index';
import { localBackend } from '../core/backends/local';
import { isLocal } from '../core/run/records';

export const runHelp = `mlc run --config FILE [--image REF] [--gpu auto|all|none|0,1] [--parallel N] [--env NAME[=VALUE]]…
        [--env-file FILE]… [--mount SPEC]… [--detach] [--dir DIR] -- COMMAND…
mlc run --resume SWEEP [--env NAME=VALUE]… [--detach] [--dir DIR] [--allow-image-privileges]
mlc run --on BACKEND --config FILE [--parallel N] [--dry-run] [the backend's flags…] -- COMMAND…

Runs COMMAND in the experiment image with the project mounted at /workspace (the working directory) and the
hyper-parameter YAML mounted read-only at /etc/mlc/config/<name>; its path is in $MLC_CONFIG, and $MLC_RUN_DIR is
the run's own folder for outputs. Output streams here and is kept in .mlcontainers/runs/<id>/output.log; a record
of the run (image, commit, config hash and content, command, times, exit code, GPUs) is in
.mlcontainers/runs.jsonl (see \`mlc runs\`). A run outlives this command: killed, the container runs on, and
\`mlc runs\` (or \`mlc logs\`, or the VS Code view) records it when it ends.

A sweep: every list in the YAML is an axis and the runs cover the grid (lr: [0.1, 0.01] with
batch_size: [32, 64] is 4 runs, each with its own config). To pass a list as one value, wrap it: [[64, 64]].
The sweep's plan is kept in .mlcontainers/sweeps/<id>.json; if this command dies before every point started,
\`mlc run --resume <id>\` starts only the points that never started.

  --config FILE     hyper-parameter YAML (e.g. configs/experiment.yaml)
  --image REF       image to run in (default: <project>:latest, the last \`mlc build\`)
  --devcontainer FILE  devcontainer.json whose image to run, when the folder has several
  --code WHICH      workspace: the project folder mounted at /workspace (default); image: the code built
                    into the image (COPY . /workspace), to rerun an image exactly as built — only the run's
                    folder is mounted then, and the record's commit is the image's
  --gpu MODE        auto (GPU when the preflight passes, else CPU with a note), all, none, or device ids
                    (default: auto)
  --parallel N      runs at a time in a sweep (default: one per GPU, one on CPU); the GPUs are shared out
  --shm-size SIZE   /dev/shm size for data loaders (default: 8g; devcontainer.json runArgs --shm-size wins)
  --env NAME[=VALUE]  a variable for the runs; NAME alone takes this shell's value (HF_TOKEN, WANDB_API_KEY).
                    Values never reach a record, label, log or plan: records keep the names
  --env-file FILE   variables from a docker env file (NAME=VALUE lines, # comments), read when each sweep starts
  --mount SPEC      a mount, in docker's syntax: type=bind,source=/data/imagenet,target=/data,readonly

devcontainer.json's containerEnv, remoteEnv, mounts, runArgs (--shm-size, --ulimit, --cap-add, --device, --ipc,
-e, --mount, -v; other flags are refused) and remoteUser/containerUser apply too, with \${localEnv:VAR} and
\${localWorkspaceFolder} substituted. On Linux, the runs run as the owner of the project folder when the image's
user has another uid, so what they write is yours (updateRemoteUserUID: false turns that off).
What the image's devcontainer.metadata label asks (privileged, capabilities, security options, bind mounts of host
paths) applies without asking only where it comes from a Feature devcontainer.json lists; otherwise the run is
refused with what the image asks, until you agree once for that image:
  --allow-image-privileges  grant it; remembered per image id in ~/.config/ml-containers/image-privileges.json
                    ($XDG_CONFIG_HOME), which VS Code's "Allow for this image" writes too
  --detach          start in the background, print the run ids and return (\`mlc logs\`, \`mlc stop\`, \`mlc runs\`)
  --resume SWEEP    start the points of SWEEP that never started
  --json            with --detach: print {"sweep", "runs"} as JSON
  --dir DIR         project folder (default: .)
  --host URL        Docker host instead of DOCKER_HOST / the docker context
  --on BACKEND      submit the runs to a run backend instead of running them here (${batchBackends()
    .map((b) => b.id)
    .join(', ')}):
                    returns once it took them; \`mlc runs\`, \`mlc logs\` and \`mlc stop\` follow them there
  --dry-run         with --on: print what would be submitted (the batch script), and submit nothing

Exit code: a single run's own (130 when stopped); for a sweep, 0 when every run succeeded, else 1; with
--detach or --on, 0 once the runs are submitted.
${batchBackends()
  .map((b) => b.flags.help)
  .join('\n')}`;

export const runsHelp = `mlc runs [--dir DIR] [--image REF] [--last N] [--json]
mlc runs --compare [RUN RUN… | --sweep ID] [--top K --by METRIC] [--group-seeds [--seed-key KEY]] [--json]

Lists the project's experiment runs, running ones (with their time so far) beside finished ones: status and exit
code, the image tag and the commit the code came from, the config and its hash, sweep values, duration and GPUs.
Runs whose container ended while no client followed it are recorded first.

  --image REF  only runs in this image (a tag, or an id prefix)
  --last N     only the last N runs (default: 20; 0 for all)
  --json       print the records as JSON lines (with --compare: the comparison as one JSON object)
  --compare    lay the named runs side by side: their sweep values, each metric's last value (* the best:
               lowest for loss/error-like names, else highest), image and commit, the config keys that
               differ, and the packages that differ between their images (as \`mlc diff\`)
  --sweep ID   compare every run of a sweep (--compare alone: the latest sweep, named on stderr)
  --top K --by METRIC  only the K runs best at METRIC (lowest for loss/error-like names, else highest), best first
  --group-seeds  runs that differ only in their seed as one row: each metric's mean ± standard deviation
               (--json: "seedGroups"); --seed-key KEY names the seed's sweep key (default: seed)
  --host URL   Docker host instead of DOCKER_HOST / the docker context`;

export const logsHelp = `mlc logs RUN [-f] [--dir DIR]

Prints a run's output: from its container while it exists, else from .mlcontainers/runs/RUN/output.log.
  -f, --follow  keep printing until the run ends (then it is recorded, and its container removed)
  --json        print {"run": <its record>, "output": <the output so far>} as one JSON object
  --host URL    Docker host instead of DOCKER_HOST / the docker context`;

export const stopHelp = `mlc stop RUN|SWEEP [--dir DIR]

Stops a run, or every running point of a sweep and the points not started yet (SIGTERM, SIGKILL after 10 s); they
are recorded as cancelled.
  --host URL  Docker host instead of DOCKER_HOST / the docker context`;

export async function run(args: string[], io: CliIO, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      config: { type: 'string' },
      image: { type: 'string' },
      devcontainer: { type: 'string' },
      code: { type: 'string', default: 'workspace' },
      gpu: { type: 'string', default: 'auto' },
      parallel: { type: 'string' },
      'shm-size': { type: 'string', default: '8g' },
      detach: { type: 'boolean', default: false },
      resume: { type: 'string' },
      json: { type: 'boolean', default: false },
      dir: { type: 'string', default: '.' },
      host: { type: 'string' },
      env: { type: 'string', multiple: true, default: [] },
      'env-file': { type: 'string', multiple: true, default: [] },
      mount: { type: 'string', multiple: true, default: [] },
      on: { type: 'string' },
      ...backendFlags(),
      'dry-run': { type: 'boolean', default: false },
      'allow-image-privileges': { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: true,
  });
  const flags = values as Record<string, string | boolean | string[] | undefined>;
  const backend = values.on === undefined ? undefined : findBackend(values.on);
  if (values.on !== undefined && !backend)
    throw new UsageError(
      `--on takes ${batchBackends()
        .map((b) => b.id)
        .join(' or ')} (or nothing, to run here), not "${values.on}"`,
    );
  for (const other of batchBackends()) {
    const stray = Object.keys(other.flags.options).find((k) => flags[k] !== undefined && !(backend && k in backend.flags.options));
    if (stray) throw new UsageError(`--${stray} is for ${other.title}: add --on ${other.id}`);
  }
  if (!backend && values['dry-run']) throw new UsageError('--dry-run shows what --on would submit: add --on BACKEND');
  if (backend && values.gpu !== 'auto')
    throw new UsageError(
      `on ${backend.title} the GPUs come from the allocation: ask for them with its flags instead of --gpu (mlc run --help)`,
    );
  // Checked before the plan is made, so a value the backend cannot take leaves nothing behind.
  const backendOptions = backend ? asUsage(() => backend.flags.parse(flags)) : undefined;
  const folder = path.resolve(values.dir);
  const engine = machineEngine(values.host, {}, io.env);
  const log = cliLogger(io, 'run');
  // NAME=VALUE given here lives in this process and the scheduler's environment only; the plan keeps NAME.
  const hostEnv = { ...io.env, ...givenEnvValues(values.env) };
  const project = await openProject(folder, { devcontainer: values.devcontainer, templatesDir: templatesDir() });
  const catalog = project.catalog;

  let plan: ExperimentPlan;
  let points: PlannedPoint[] | undefined;
  if (values.resume) {
    if (values.config || positionals.length || values['env-file'].length || values.mount.length)
      throw new UsageError(
        '--resume takes the sweep id (and --env NAME=VALUE for values not kept on disk) only: its config, command and mounts are in its plan',
      );
    plan = await readPlan(folder, values.resume);
    await checkPlanImage(engine, plan, hostEnv, { allowImagePrivileges: values['allow-image-privileges'], signal });
    await reconcileRuns({ engine, workspace: folder, log, signal });
    points = pendingPoints(plan, (await readRuns(folder)).runs);
    // A plan written and not yet submitted (VS Code's Run Experiment to a backend) goes there whole; a started one not.
    if (backend && points.length < plan.points.length)
      throw new UsageError(
        `--resume on ${backend.title} takes a plan none of whose points has started; a backend takes a sweep whole: \`mlc stop\` it and submit it again`,
      );
    if (!points.length) {
      io.err(`sweep ${plan.id}: every point has started; \`mlc runs\` shows them.`);
      return 0;
    }
    // `mlc stop SWEEP` left a marker that makes its scheduler start no further point; asking to resume is asking for
    // them again. The scheduler of a plan (Run Experiment, --detach) keeps it: a stop given while it started holds.
    if (io.env[SCHEDULER_ENV] !== plan.id) await clearSweepStopped(folder, plan.id);
    io.err(`sweep ${plan.id}: resuming ${points.length} of ${plan.points.length} points that never started.`);
  } else {
    if (!values.config) throw new UsageError('--config FILE is required (the hyper-parameter YAML, e.g. configs/experiment.yaml)');
    if (!positionals.length)
      throw new UsageError('give the command after `--`, e.g. mlc run --config configs/experiment.yaml -- python train.py');
    const parallel = values.parallel === undefined ? undefined : Number(values.parallel);
    if (parallel !== undefined && !(Number.isInteger(parallel) && parallel >= 1))
      throw new UsageError(`--parallel wants a whole number of runs, not "${values.parallel}"`);
    const code = values.code;
    if (code !== 'workspace' && code !== 'image') throw new UsageError(`--code is workspace or image, not "${code}"`);
    const gpu = asUsage(() => parseGpuSetting(values.gpu));
    const shm = asUsage(() => parseSize(values['shm-size']));
    plan = await planExperiment({
      engine,
      workspace: folder,
      config: path.resolve(values.config),
      image: values.image ?? project.imageRef,
      command: positionals,
      code,
      // In a backend the job's script hands the container the GPUs of its allocation.
      gpu: backend ? 'none' : gpu,
      ...(parallel !== undefined ? { parallel } : {}),
      shmSizeBytes: shm,
      runtime: {
        env: values.env,
        envFiles: values['env-file'].map((f) => path.resolve(f)),
        mounts: values.mount,
        allowImagePrivileges: values['allow-image-privileges'],
      },
      devcontainer: values.devcontainer,
      hostEnv,
      git: new GitCli(),
      log,
      signal,
      ...(values['dry-run'] ? { dryRun: true } : {}),
    });
  }

  if (backend)
    return submitPlan(
      backend,
      plan,
      { hostEnv, engine, options: backendOptions, dryRun: values['dry-run'], json: values.json, host: values.host },
      io,
      signal,
    );

  if (values.detach) return detach(plan, points ?? plan.points, { folder, host: values.host, json: values.json, env: hostEnv }, io, signal);

  const result = await executePlan({
    engine,
    plan,
    hostEnv,
    ...(points ? { points } : {}),
    log,
    ...(catalog ? { catalog } : {}),
    onLine: (r, line, stream) => {
      const prefixed = `${r.size > 1 ? `[${r.point.index + 1}/${r.size}] ` : ''}${terminalText(line)}`;
      if (stream === 'stdout') io.out(prefixed);
      else io.err(prefixed);
    },
    signal,
  });
  const single = result.records.length === 1 && !result.records[0]?.sweep ? result.records[0] : undefined;
  if (single) {
    io.err(`log: ${single.log}`);
    // Cancelled (Ctrl-C): 130, as a shell reports an interrupted command.
    return single.status === 'cancelled' || single.exitCode === null ? 130 : Math.min(single.exitCode, 255);
  }
  const ok = result.records.filter((r) => r.status === 'succeeded').length;
  const failed = result.records
    .filter((r) => r.status !== 'succeeded')
    .map((r) => `${(r.sweep?.index ?? 0) + 1}: ${r.status === 'failed' ? `exit ${String(r.exitCode)}` : r.status}`);
  io.err(
    `sweep ${plan.id}: ${ok} of ${result.records.length + result.notStarted} runs succeeded${failed.length ? ` (${failed.join(', ')})` : ''}${result.notStarted ? `, ${result.notStarted} not started (\`mlc run --resume ${plan.id}\`)` : ''}; \`mlc runs\` lists them, logs in .mlcontainers/runs/.`,
  );
  return ok === result.records.length && !result.notStarted ? 0 : 1;
}

/**
 * Hands the plan to a background `mlc run --resume`, detached from this terminal (its own session, output to
 * .mlcontainers/sweeps/<id>.log), and returns once the first run has started or the scheduler has failed.
 */
async function detach(
  plan: ExperimentPlan,
  points: readonly PlannedPoint[],
  o: { folder: string; host: string | undefined; json: boolean; env: Record<string, string | undefined> },
  io: CliIO,
  signal: AbortSignal,
): Promise<number> {
  const launch = schedulerLaunch({
    nodePath: process.execPath,
    cliPath: cliPath(),
    planId: plan.id,
    workspace: o.folder,
    host: o.host,
    env: { ...o.env },
  });
  const logFile = launch.logFile;
  let exited: number | null | undefined;
  void startScheduler(launch).exited.then((code) => (exited = code));
  const first = points[0]?.runId;
  for (
    const deadline = Date.now() + 120_000;
    Date.now() < deadline && exited === undefined && !signal.aborted;
    await new Promise((r) => setTimeout(r, 200))
  ) {
    if ((await readRuns(o.folder)).runs.some((r) => r.id === first)) break;
  }
  if (exited !== undefined && exited !== 0 && !(await readRuns(o.folder)).runs.some((r) => r.id === first)) {
    io.err(schedulerLogTail(logFile));
    return 1;
  }
  const ids = points.map((p) => p.runId);
  if (o.json) io.out(JSON.stringify({ sweep: plan.sweep ? plan.id : null, runs: ids }));
  else for (const id of ids) io.out(id);
  io.err(
    `${plan.sweep ? `sweep ${plan.id}: ${ids.length} runs` : `run ${plan.id}`} in the background: \`mlc logs ${ids[0] ?? plan.id} -f\`, \`mlc stop ${plan.id}\`, \`mlc runs\`; scheduler log ${path.relative(o.folder, logFile)}.`,
  );
  return 0;
}

/** This CLI's own script, to start it again in the background. */
function cliPath(): string {
  return process.argv[1] ?? path.join(__dirname, 'cli.js');
}

export async function runs(args: string[], io: CliIO, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      dir: { type: 'string', default: '.' },
      image: { type: 'string' },
      last: { type: 'string', default: '20' },
      json: { type: 'boolean', default: false },
      compare: { type: 'boolean', default: false },
      sweep: { type: 'string' },
      top: { type: 'string' },
      by: { type: 'string' },
      'group-seeds': { type: 'boolean', default: false },
      'seed-key': { type: 'string', default: 'seed' },
      host: { type: 'string' },
    },
    strict: true,
    allowPositionals: true,
  });
  const top = values.top === undefined ? undefined : Number(values.top);
  if (top !== undefined && !(Number.isInteger(top) && top >= 1))
    throw new UsageError(`--top wants a whole number of runs, not "${values.top}"`);
  if ((top === undefined) !== (values.by === undefined))
    throw new UsageError('--top K and --by METRIC go together: mlc runs --compare --top 5 --by val_acc');
  const comparing = values.compare || values.sweep || top !== undefined || values['group-seeds'];
  const shape = {
    ...(top !== undefined && values.by ? { top: { k: top, by: values.by } } : {}),
    ...(values['group-seeds'] ? { seedKey: values['seed-key'] } : {}),
  };
  if (comparing)
    return compare(
      values.sweep ? { sweep: values.sweep } : { ids: positionals },
      { dir: values.dir, host: values.host, json: values.json, ...shape },
      io,
      signal,
    );
  if (positionals.length) throw new UsageError(`unexpected ${positionals.join(' ')}: to compare runs, pass --compare RUN RUN…`);
  const last = Number(values.last);
  if (!(Number.isInteger(last) && last >= 0)) throw new UsageError(`--last wants a whole number, not "${values.last}"`);
  const folder = path.resolve(values.dir);
  let read = await readRuns(folder);
  if (await reconcileAll(folder, values.host, io, signal, read.runs)) read = await readRuns(folder);
  const { runs: all, skipped } = read;
  if (skipped) for (const note of read.notes) io.err(note);
  const image = values.image;
  const chosen = (
    image
      ? all.filter(
          (r) =>
            r.image.ref === image ||
            r.image.tags.includes(image) ||
            r.image.id.replace(/^sha256:/, '').startsWith(image.replace(/^sha256:/, '')),
        )
      : all
  ).slice(last ? -last : 0);
  if (values.json) {
    for (const r of chosen) io.out(JSON.stringify(r));
    return 0;
  }
  if (!chosen.length) {
    io.err(all.length ? 'No run matches.' : 'No runs yet: `mlc run --config configs/experiment.yaml -- python train.py` starts one.');
    return 0;
  }
  for (const line of formatRuns(
    [...chosen].sort((a, b) => a.start.localeCompare(b.start) || a.id.localeCompare(b.id)),
    Date.now(),
  ))
    io.out(line);
  return 0;
}

/**
 * `--compare`: the named runs, a sweep, or with neither the latest sweep (said on stderr); `--top K --by METRIC`
 * keeps the K best at METRIC; `--group-seeds` folds runs that differ only in their seed into one row (mean ± std).
 */
async function compare(
  which: { ids?: string[]; sweep?: string },
  o: { dir: string; host: string | undefined; json: boolean; top?: { k: number; by: string }; seedKey?: string },
  io: CliIO,
  signal: AbortSignal,
): Promise<number> {
  if (which.ids?.length === 1)
    throw new UsageError(
      'name two or more runs to compare (mlc runs --compare RUN RUN…), a sweep with --sweep ID, or nothing for the latest sweep',
    );
  const folder = path.resolve(o.dir);
  await reconcileAll(folder, o.host, io, signal, (await readRuns(folder)).runs);
  const all = (await readRuns(folder)).runs;
  if (!which.sweep && !which.ids?.length) {
    const sweep = latestSweep(all);
    if (!sweep)
      throw new UsageError(
        'no sweep in this project yet: name two or more runs to compare (mlc runs --compare RUN RUN…), or run a sweep first',
      );
    io.err(`comparing the latest sweep, ${sweep} (\`--sweep ID\` for another)`);
    which = { sweep };
  }
  const engine = machineEngine(o.host, {}, io.env);
  let comparison = await compareRuns(selectRuns(all, which), imageLocks(engine, folder, signal));
  if (o.top) comparison = topRuns(comparison, o.top.by, o.top.k);
  const groups = o.seedKey !== undefined ? groupSeeds(comparison, o.seedKey) : undefined;
  if (o.json) {
    io.out(JSON.stringify(groups ? { ...comparison, seedGroups: groups } : comparison));
    return 0;
  }
  for (const line of groups ? formatSeedGroups(comparison, groups, o.seedKey!) : formatComparison(comparison)) io.out(line);
  return 0;
}

/** Seed groups as a table: the group's first run and size, the shared sweep values, each metric as mean ± std. */
export function formatSeedGroups(c: RunComparison, groups: readonly SeedGroup[], seedKey: string): string[] {
  const paramKeys = varyingParamKeys(c).filter((k) => k !== seedKey && !k.endsWith(`.${seedKey}`));
  const header = ['GROUP', 'RUNS', ...paramKeys, ...c.metricNames];
  const cell = (v: unknown): string => (typeof v === 'string' ? v : (JSON.stringify(v) ?? '-'));
  const rows = groups.map((g) => [
    g.runs[0]!,
    String(g.runs.length),
    ...paramKeys.map((k) => cell(g.params[k])),
    ...c.metricNames.map((m) => {
      const s = g.metrics[m];
      return s ? `${Number(s.mean.toPrecision(4))} ± ${Number(s.std.toPrecision(2))}` : '-';
    }),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  return [
    ...[header, ...rows].map((row) =>
      row
        .map((x, i) => x.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    ),
    '',
    `runs that differ only in ${seedKey} are one row: mean ± standard deviation over their seeds`,
  ];
}

/** The comparison as a table (varying sweep values, then metrics; * marks the best), then what differs. */
export function formatComparison(c: RunComparison): string[] {
  const paramKeys = varyingParamKeys(c);
  const header = ['RUN', 'STATUS', 'IMAGE', 'COMMIT', ...paramKeys, ...c.metricNames];
  const rows = c.runs.map((r) => [
    r.id,
    r.statusText,
    r.image.ref,
    commitCell(r.commit, r.dirty),
    ...paramKeys.map((k) => (typeof r.params[k] === 'string' ? (r.params[k] as string) : (JSON.stringify(r.params[k]) ?? '-'))),
    ...c.metricNames.map((m) => (r.metrics[m] === undefined ? '-' : `${String(r.metrics[m])}${c.best[m]?.run === r.id ? '*' : ''}`)),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const lines = [header, ...rows].map((row) =>
    row
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd(),
  );
  if (c.metricNames.length)
    lines.push('', `* best: ${c.metricNames.map((m) => `${m} ${c.best[m]?.lowerIsBetter ? 'lowest' : 'highest'}`).join(', ')}`);
  else
    lines.push(
      '',
      'No metrics recorded: write $MLC_RUN_DIR/metrics.jsonl (one {"step": N, "loss": …} per line), a Lightning CSVLogger, DVCLive or TensorBoard files.',
    );
  lines.push(`config keys that differ: ${c.configKeys.length ? c.configKeys.join(', ') : 'none'}`);
  for (const d of c.data)
    lines.push(
      `data that differs at ${d.target}: ${Object.entries(d.runs)
        .map(([run, id]) => `${run} ${id}`)
        .join(', ')}`,
    );
  for (const p of c.packages)
    lines.push(
      `packages ${p.from.slice(7, 19)} → ${p.to.slice(7, 19)}: ${p.lines.length ? '' : 'no differences'}`,
      ...p.lines.map((l) => `  ${l}`),
    );
  return lines;
}

/**
 * Records the runs that ended while no client followed them, asking each backend that has runs open (this engine,
 * a batch system); one that does not answer is a note, and its runs are listed as last recorded. Returns whether a record changed.
 */
async function reconcileAll(
  folder: string,
  host: string | undefined,
  io: CliIO,
  signal: AbortSignal,
  records: readonly RunRecord[],
): Promise<boolean> {
  if (!fs.existsSync(path.join(folder, RUNS_FILE))) return false;
  // This engine first: only a run on record as running can have a container to finish, so with none it is not asked.
  const backends = [localBackend(() => machineEngine(host, { timeoutMs: 5_000 }, io.env)), ...batchBackends()];
  const { changed, failed } = await reconcileOpenRuns(backends, records, { workspace: folder, log: cliLogger(io, 'runs'), signal });
  for (const f of failed) io.err(`note: ${f.backend.title} did not answer (${f.message}); its runs are listed as last recorded.`);
  return changed;
}

/** Submits the plan to the backend (or prints its script with --dry-run) and prints the run ids. */
async function submitPlan(
  backend: BatchBackend,
  plan: ExperimentPlan,
  o: {
    hostEnv: Readonly<Record<string, string | undefined>>;
    engine: Engine;
    options: unknown;
    dryRun: boolean;
    json: boolean;
    host: string | undefined;
  },
  io: CliIO,
  signal: AbortSignal,
): Promise<number> {
  const submission = await backend.submit(plan, {
    engine: o.engine,
    hostEnv: o.hostEnv,
    options: o.options,
    ...(o.host ? { host: o.host } : {}),
    recorder: { node: process.execPath, cli: cliPath() },
    dryRun: o.dryRun,
    log: cliLogger(io, backend.id),
    signal,
  });
  if (o.dryRun) {
    if (submission.script) io.out(submission.script.replace(/\n$/, ''));
    return 0;
  }
  if (o.json) io.out(JSON.stringify({ sweep: plan.sweep ? plan.id : null, runs: submission.runs, job: submission.job }));
  else for (const id of submission.runs) io.out(id);
  const what = plan.sweep ? `sweep ${plan.id}: ${submission.runs.length} runs` : `run ${plan.id}`;
  io.err(
    `${what} submitted to ${backend.title} as job ${submission.job ?? '?'}${submission.scriptFile ? ` (script ${submission.scriptFile})` : ''}: \`mlc runs\`, \`mlc logs ${submission.runs[0] ?? plan.id}\`, \`mlc stop ${plan.id}\`.`,
  );
  return 0;
}

/** The flags of every backend, for `mlc run`'s parser: each is refused below unless its backend is the one asked for. */
function backendFlags(): Record<string, { type: 'string'; multiple?: boolean } | { type: 'boolean' }> {
  return Object.assign({}, ...batchBackends().map((b) => b.flags.options)) as Record<
    string,
    { type: 'string'; multiple?: boolean } | { type: 'boolean' }
  >;
}

/** `mlc logs -f` of a run a backend took: its output.log as the job writes it, until the backend says the job ended. */
async function followBackendLog(backend: BatchBackend, folder: string, record: RunRecord, io: CliIO, signal: AbortSignal): Promise<number> {
  let offset = 0;
  let pending = '';
  const drain = async (): Promise<void> => {
    // The job appends as it runs; the run can still make it a link or a FIFO, which is read as nothing.
    const kept = await readRunOutput(folder, record.id, offset);
    if (kept.size <= offset) return;
    offset = kept.size;
    const parts = (pending + kept.text).split('\n');
    pending = parts.pop() ?? '';
    for (const line of parts) io.out(terminalText(line));
  };
  const context = { workspace: folder, log: cliLogger(io, 'logs'), signal };
  while (!signal.aborted) {
    await drain();
    if (!(await backend.isLive(record, context))) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  await drain();
  if (pending) io.out(terminalText(pending));
  if (signal.aborted) return 130;
  await reconcileAll(
    folder,
    undefined,
    io,
    signal,
    (await readRuns(folder)).runs.filter((r) => r.id === record.id),
  );
  const final = (await readRuns(folder)).runs.find((r) => r.id === record.id);
  if (final && final.status !== 'running')
    io.err(`run ${record.id} ${final.status}${final.exitCode !== null ? ` (exit ${final.exitCode})` : ''}`);
  return 0;
}

/** The engine answered for a container that is gone (404) or being removed (409). */
function containerGone(e: unknown): boolean {
  return e instanceof EngineError && (e.statusCode === 404 || e.statusCode === 409);
}

export async function logs(args: string[], io: CliIO, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      follow: { type: 'boolean', short: 'f', default: false },
      json: { type: 'boolean', default: false },
      dir: { type: 'string', default: '.' },
      host: { type: 'string' },
    },
    strict: true,
    allowPositionals: true,
  });
  const [id, ...extra] = positionals;
  if (!id || extra.length) throw new UsageError('give one run id, e.g. mlc logs 20261125-101500-ab12 (mlc runs lists them)');
  if (values.json && values.follow) throw new UsageError('--json prints the output so far with the record; follow with -f without --json');
  const folder = path.resolve(values.dir);
  const engine = machineEngine(values.host, {}, io.env);
  const log = cliLogger(io, 'logs');
  // A run a backend took has no container of ours to ask (its job owns it): the engine is asked only for this engine's.
  const known = (await readRuns(folder)).runs.find((r) => r.id === id);
  const container = known && !isLocal(known) ? undefined : (await findRunContainers(engine, folder, signal)).find((c) => c.runId === id);
  const print = async (text: string): Promise<void> => {
    if (values.json) io.out(JSON.stringify({ run: (await readRuns(folder)).runs.find((r) => r.id === id) ?? null, output: text }));
    // --json carries the bytes as they are; a terminal gets them without controls (output.log keeps them all).
    else if (text) io.out(terminalText(text.replace(/\n$/, '')));
  };
  if (!container) {
    const record = (await readRuns(folder)).runs.find((r) => r.id === id);
    if (!record) throw new UsageError(`no run ${id} in this project: \`mlc runs\` lists them`);
    // A backend's job writes the run's output.log as it runs: that file is the log.
    const backend = isLocal(record) ? undefined : findBackend(record.backend ?? '');
    if (backend && record.status === 'running' && values.follow) return followBackendLog(backend, folder, record, io, signal);
    const kept = await readRunOutput(folder, record.id);
    if (kept.refused) io.err(kept.refused);
    await print(kept.text);
    return 0;
  }
  // The run's own process (mlc run, its detached scheduler, mlc runs) may finish it between the listing and the logs
  // request: the engine then answers 404 or 409 ("marked for removal"), and the output is what that process keeps.
  const kept = async (printed: boolean): Promise<number> => {
    for (let i = 0; i < 300 && !signal.aborted; i++) {
      const record = (await readRuns(folder)).runs.find((r) => r.id === id);
      if (record && record.status !== 'running') {
        if (!printed) {
          const output = await readRunOutput(folder, id);
          if (output.refused) io.err(output.refused);
          await print(output.text);
        }
        if (values.follow) io.err(`run ${id} ${record.status}${record.exitCode !== null ? ` (exit ${record.exitCode})` : ''}`);
        return 0;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    if (signal.aborted) return 130;
    throw new UsageError(`run ${id}'s container went away and its record is still open: \`mlc runs\` closes it, then \`mlc logs ${id}\``);
  };
  if (!values.follow) {
    const text = await engine.containerLogs(container.containerId, 'all', signal).catch((e: unknown) => {
      if (containerGone(e)) return undefined;
      throw e;
    });
    if (text === undefined) return kept(false);
    if (!container.running) await finishRun({ engine, workspace: folder, containerId: container.containerId, log });
    await print(text);
    return 0;
  }
  let pending = '';
  let printed = false;
  const followed = await engine
    .followLogs(
      container.containerId,
      (chunk) => {
        printed = true;
        const parts = (pending + chunk.toString('utf8')).split('\n');
        pending = parts.pop() ?? '';
        for (const line of parts) io.out(terminalText(line));
      },
      signal,
    )
    .then(
      () => true,
      (e: unknown) => {
        if (containerGone(e)) return false;
        throw e;
      },
    );
  if (pending) io.out(terminalText(pending));
  if (signal.aborted) return 130;
  if (!followed) return kept(printed);
  await engine.waitContainer(container.containerId, signal).catch(() => undefined);
  const record = await finishRun({ engine, workspace: folder, containerId: container.containerId, log });
  if (record) io.err(`run ${id} ${record.status}${record.exitCode !== null ? ` (exit ${record.exitCode})` : ''}`);
  return 0;
}

export async function stop(args: string[], io: CliIO, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { dir: { type: 'string', default: '.' }, host: { type: 'string' } },
    strict: true,
    allowPositionals: true,
  });
  const [target, ...extra] = positionals;
  if (!target || extra.length) throw new UsageError('give one run or sweep id, e.g. mlc stop 20261125-101500-ab12 (mlc runs lists them)');
  const folder = path.resolve(values.dir);
  const engine = machineEngine(values.host, {}, io.env);
  const log = cliLogger(io, 'stop');
  const isSweep = fs.existsSync(path.join(folder, PLANS_DIR, `${target}.json`)) && (await readPlan(folder, target)).sweep;
  // A sweep's scheduler, wherever it runs, starts nothing more; then its running points stop.
  if (isSweep) await markSweepStopped(folder, target);
  // Each backend that holds an open run of the target stops its own; the engine is asked only for this engine's runs.
  const records = (await readRuns(folder)).runs.filter((r) => r.id === target || r.sweep?.id === target);
  const stopped: string[] = [];
  for (const backend of [localBackend(() => engine), ...batchBackends()]) {
    if (openRunsOf(backend, records).length) stopped.push(...(await backend.stop(target, { workspace: folder, log, signal })));
  }
  if (!stopped.length && !isSweep) {
    const record = (await readRuns(folder)).runs.find((r) => r.id === target);
    if (!record) throw new UsageError(`no run or sweep ${target} in this project: \`mlc runs\` lists them`);
    io.err(`run ${target} is not running (${record.status}).`);
    return 0;
  }
  for (const id of stopped) io.out(id);
  io.err(
    `${stopped.length} run(s) stopped${isSweep ? `; sweep ${target} starts no further point (\`mlc run --resume ${target}\` would)` : ''}.`,
  );
  return 0;
}

/** One row per run, columns aligned. */
export function formatRuns(records: readonly RunRecord[], nowMs: number): string[] {
  const rows = records.map((r) => [
    r.id,
    statusText(runStatus(r)),
    primaryTag(r),
    commitCell(r.commit, r.dirty),
    `${r.config.path}@${r.config.sha256.slice(0, 8)}`,
    formatDuration((r.end ? Date.parse(r.end) : nowMs) - Date.parse(r.start)),
    formatAge(Date.parse(r.start) / 1000, nowMs),
    `gpu:${r.gpus}`,
    formatParams(r.params),
  ]);
  const header = ['RUN', 'STATUS', 'IMAGE', 'COMMIT', 'CONFIG', 'TOOK', 'STARTED', 'GPU', 'PARAMS'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  return [header, ...rows].map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

/** The image's commit tag when it has one, else the reference the run named. */
function primaryTag(r: RunRecord): string {
  return commitTag(r.image.tags, r.image.revision ?? undefined) ?? r.image.ref;
}
